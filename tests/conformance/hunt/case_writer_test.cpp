// The case readerlab fuzz writes: a header the runner reads (@seed included), the schedule, the
// original body wrapped, and the invariant checks at the end.
#include "conformance/hunt/case_writer.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace readerlab;

namespace {

struct Folder {
  fs::path root = fs::temp_directory_path() / ("readerlab-case-writer-" + std::to_string(::getpid()));
  Folder() { fs::create_directories(root / "area"); }
  ~Folder() { fs::remove_all(root); }
  conformance::CaseInfo write(const fs::path& name, const std::string& text) {
    std::ofstream(root / name) << text;
    return conformance::read_case_info(root, root / name);
  }
};

const char* kOriginal =
    "-- @title: a card is inserted\n"
    "-- @covers: pcsc:SCardConnect, ccid:PC_to_RDR_XfrBlock\n"
    "-- @drivers: libccid, reference-rdf\n"
    "-- @timeout: 30\n"
    "\n"
    "local context, name = pcsc.setup()\n"
    "pcsc.insert_and_wait(context, name, \"t1-fs\") -- a comment in the body stays\n";

}  // namespace

TEST_CASE("the written case carries the seed, the driver, the schedule, the body and the checks") {
  Folder folder;
  const auto original = folder.write("area/inserted.lua", kOriginal);
  REQUIRE(original.metadata_error.empty());
  conformance::hunt::TrialCase trial;
  trial.driver = "planted-stall";
  trial.hunt_seed = 42;
  trial.trial_number = 7;
  trial.trial_seed = 1234567890123;
  auto stall = scenarios::parse_fault_spec({{"kind", "stall"}, {"endpoint", "bulk-in"}, {"after", 2}});
  REQUIRE(stall);
  trial.schedule = {*stall};
  trial.finding = "driver unhealthy after the faults: SCardConnect failed (see user@host)";
  trial.drawn_schedule = "usb stall (endpoint bulk-in; after 5, times 3); ccid late (delay 100 ms)";

  const auto text = conformance::hunt::compose_case(original, kOriginal, trial);
  const auto found = folder.write("found-42-7.lua", text);
  CHECK(found.metadata_error == "");
  CHECK(found.seed == std::optional<std::uint64_t>(1234567890123));
  CHECK(found.drivers == std::vector<std::string>{"planted-stall"});
  CHECK(found.timeout == std::chrono::seconds(30) + conformance::hunt::kHealthCheckTime);
  CHECK(found.covers == original.covers);
  CHECK(found.title.find("area/inserted") != std::string::npos);

  CHECK(text.find("lab.faults{\n  " + scenarios::to_lua(*stall) + ",\n}") != std::string::npos);
  CHECK(text.find("lab.under_faults(function()\n\nlocal context, name = pcsc.setup()\n") != std::string::npos);
  CHECK(text.find("-- a comment in the body stays\nend)\n") != std::string::npos);
  CHECK(text.ends_with("lab.check_driver_healthy()\n"));
  // The original's header is not in the body, and no free comment reads as metadata.
  CHECK(text.find("@title: a card is inserted") == std::string::npos);
  CHECK(text.find("user(at)host") != std::string::npos);
  CHECK(text.find("after 5, times 3") != std::string::npos);
}

TEST_CASE("a schedule shrunk to nothing writes no lab.faults call") {
  Folder folder;
  const auto original = folder.write("area/inserted.lua", kOriginal);
  conformance::hunt::TrialCase trial;
  trial.driver = "reference-rdf";
  const auto text = conformance::hunt::compose_case(original, kOriginal, trial);
  CHECK(text.find("lab.faults") == std::string::npos);
  CHECK(text.find("no faults") != std::string::npos);
  CHECK(folder.write("found.lua", text).metadata_error == "");
}
