// A case's header may raise the sandbox's limits, within bounds; the case then runs under them.
#include "conformance/suite.h"
#include "tests/conformance/no_driver.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace readerlab;

namespace {

using test::NoDriver;

struct Cases {
  fs::path root = fs::temp_directory_path() / ("readerlab-case-limits-" + std::to_string(::getpid()));
  Cases() { fs::create_directories(root / "area"); }
  ~Cases() { fs::remove_all(root); }
  conformance::CaseInfo write(const std::string& text) {
    std::ofstream(root / "area" / "case.lua") << text;
    return conformance::read_case_info(root, root / "area" / "case.lua");
  }
};

}  // namespace

TEST_CASE("@memory and @instructions raise a case's limits; values outside their bounds are header errors") {
  Cases cases;
  const auto raised = cases.write("-- @title: t\n-- @memory: 64 MiB\n-- @instructions: 50M\n-- @timeout: 5\n");
  CHECK(raised.metadata_error.empty());
  CHECK(raised.limits.memory_bytes == 64u << 20);
  CHECK(raised.limits.instructions_per_call == 50'000'000);
  CHECK(raised.timeout == std::chrono::seconds(5));

  const auto plain = cases.write("-- @title: t\n");
  CHECK(plain.limits.memory_bytes == 8u << 20);
  CHECK(plain.limits.instructions_per_call == 10'000'000);

  for (const char* line : {"-- @memory: 2 GiB", "-- @memory: lots", "-- @memory: 12 MB", "-- @instructions: 11G",
                           "-- @instructions: -1", "-- @timeout: 0", "-- @timeout: 99999", "-- @timeout: soon"}) {
    CAPTURE(line);
    const auto info = cases.write(std::string("-- @title: t\n") + line + "\n");
    CHECK(info.metadata_error.find("case.lua:2: @") != std::string::npos);
  }
}

TEST_CASE("a case runs under the memory cap its header asks for") {
  Cases cases;
  boost::asio::io_context io;
  scenarios::Rig rig{io, nullptr};
  NoDriver port;
  const char* body = "local s = string.rep('x', 16 * 1024 * 1024)\nlab.check(#s == 16 * 1024 * 1024, 'built')\n";
  const auto capped = conformance::run_case(cases.write(std::string("-- @title: t\n") + body), rig, port, {});
  CHECK(capped.outcome == conformance::Outcome::fail);
  CHECK(capped.message.find("case.lua:2: the memory cap of 8388608 bytes is reached") != std::string::npos);
  const auto roomy =
      conformance::run_case(cases.write(std::string("-- @title: t\n-- @memory: 64 MiB\n") + body), rig, port, {});
  CHECK(roomy.outcome == conformance::Outcome::pass);
}
