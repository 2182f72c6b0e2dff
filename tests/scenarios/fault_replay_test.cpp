// Faults from cases (lab.faults, lab.reader(i):fault, lab.firings, lab.outcome) through the real
// rig and the in-process reference RDF driver: the same run seed replays the same fault
// schedule, another seed gives another; a malformed fault fails the case with its file, line
// and field; the record and the reports carry what was armed and what fired.
#include "conformance/report.h"
#include "conformance/suite.h"
#include "hosts/windows_model/port/rdf_port.h"
#include "hosts/windows_model/rdf/rdf_registry.h"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <tuple>

namespace readerlab {
namespace {

struct TempFolder {
  std::filesystem::path path;
  TempFolder() {
    char pattern[] = "/tmp/readerlab-fault-replay-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// A rig with one reader and the reference driver on it, in-process; cases run one after another.
struct Bench {
  TempFolder folder;
  boost::asio::io_context io;
  scenarios::Rig rig{io, nullptr};
  std::unique_ptr<windows_model::RdfPort> port;
  int cases = 0;

  explicit Bench(std::uint64_t seed) {
    rig.set_seed(seed);
    usbredir::SocketAddress address;
    address.is_unix = true;
    address.path = (folder.path / "reader1.sock").string();
    rig.add_reader(address);
    const auto* driver = windows_model::find_rdf_driver("reference-rdf");
    REQUIRE(driver != nullptr);
    port = std::make_unique<windows_model::RdfPort>(rig, windows_model::RdfTransport::in_process, *driver);
  }

  conformance::CaseResult run(const std::string& body) {
    const auto file = folder.path / "faults" / ("case" + std::to_string(++cases) + ".lua");
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << "-- @title: faults\n-- @timeout: 60\n" << body;
    return conformance::run_case(conformance::read_case_info(folder.path, file), rig, *port, {});
  }
};

conformance::CaseResult run_case_text(std::uint64_t seed, const std::string& body) { return Bench(seed).run(body); }

// Twenty APDUs under two faults that fire by chance: a one-message time-extension storm on
// XfrBlock's answers (p = 0.5) and a 1 ms NAK on bulk-IN (p = 0.3). Both leave every answer right.
const char* const kChanceCase = R"(
local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name)
lab.faults{ { kind = "time-extension-storm", command = "XfrBlock", count = 1, probability = 0.5, times = 0 },
            { kind = "nak", endpoint = "bulk-in", duration_ms = 1, probability = 0.3, times = 0 } }
for i = 1, 20 do
  lab.check_eq((pcsc.transmit(card, protocol, "80100000 02 a1a2 00")), "a1a29000", "ECHO " .. i)
end
lab.outcome("ccid time-extension-storm", "SCardTransmit -> SCARD_S_SUCCESS")
pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
)";

using Schedule = std::vector<std::tuple<std::size_t, std::string, std::uint64_t>>;

Schedule schedule_of(const conformance::CaseResult& result) {
  Schedule schedule;
  for (const auto& firing : result.record.firings) schedule.emplace_back(firing.fault_index, firing.kind, firing.event);
  return schedule;
}

std::string failure_of(const conformance::CaseResult& result) {
  return result.message.empty() && !result.record.failed_checks.empty() ? result.record.failed_checks.front()
                                                                        : result.message;
}

}  // namespace

TEST_CASE("the same seed replays the same fault schedule through the reference driver; another seed gives another") {
  const auto first = run_case_text(42, kChanceCase);
  REQUIRE_MESSAGE(first.outcome == conformance::Outcome::pass, failure_of(first));
  const auto schedule = schedule_of(first);
  // Both faults fired, some of their events only (chance, not every time).
  std::size_t storms = 0, naks = 0;
  for (const auto& [index, kind, event] : schedule) (index == 0 ? storms : naks) += 1;
  CHECK(storms > 0);
  CHECK(storms < 20);
  CHECK(naks > 0);
  REQUIRE(first.record.faults_armed.size() == 2);
  CHECK(first.record.faults_armed[0] == "ccid time-extension-storm (command XfrBlock, count 1; every time, p=0.5)");

  const auto again = run_case_text(42, kChanceCase);
  REQUIRE_MESSAGE(again.outcome == conformance::Outcome::pass, failure_of(again));
  CHECK(schedule_of(again) == schedule);

  const auto other = run_case_text(43, kChanceCase);
  REQUIRE_MESSAGE(other.outcome == conformance::Outcome::pass, failure_of(other));
  CHECK(schedule_of(other) != schedule);
}

TEST_CASE("a malformed fault fails its case with the file, line and field, and the faults already armed stay") {
  const auto result = run_case_text(1,
                                    "lab.reader(1):fault{ kind = \"late\", delay_ms = 1000 }\n"
                                    "lab.faults{ { kind = \"stall\" }, { kind = \"stall\", probability = 2 } }\n"
                                    "lab.log(\"not reached\")\n");
  CHECK(result.outcome == conformance::Outcome::fail);
  CHECK_MESSAGE(
      result.message.find("case1.lua:4: probability: 2 is outside 0..1 (fault 2 of the schedule)") != std::string::npos,
      result.message);
  CHECK(result.record.log.empty());
  // The bad schedule armed nothing; the fault before it is in the record.
  REQUIRE(result.record.faults_armed.size() == 1);
  CHECK(result.record.faults_armed[0] == "ccid late (delay 1000 ms; once)");

  const auto unknown = run_case_text(1, "lab.reader(1):fault{ kind = \"melt\" }\n");
  CHECK(unknown.message.find("case1.lua:3: kind: unknown fault kind 'melt'") != std::string::npos);
  const auto reader = run_case_text(1, "lab.faults{ { kind = \"stall\", reader = 2 } }\n");
  CHECK_MESSAGE(reader.message.find("case1.lua:3: reader: no reader 2 (the rig has 1)") != std::string::npos,
                reader.message);
}

TEST_CASE("a fault armed in one case is gone in the next, and lab.firings lists what fired") {
  Bench bench(7);
  const auto result = bench.run(R"(
local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name)
lab.reader(1):fault{ kind = "error", error = "XFR_PARITY_ERROR", command = "XfrBlock" }
local _, reply = pcsc.transmit(card, protocol, "80100000 02 a1a2 00")
lab.check(reply.rv ~= 0, "the transmit under the fault failed")
local firings = lab.firings()
lab.check_eq(#firings, 1, "firings")
lab.check_eq(firings[1].level, "ccid", "level")
lab.check_eq(firings[1].kind, "error", "kind")
lab.check_eq(firings[1].fault, 1, "fault")
lab.check_eq(firings[1].event, 1, "event")
lab.reader(1):clear_faults()
lab.check_eq((pcsc.transmit(card, protocol, "80100000 02 a1a2 00")), "a1a29000", "ECHO after clear_faults")
lab.outcome("ccid error XFR_PARITY_ERROR", "SCardTransmit -> " .. reply.rv_name)
)");
  REQUIRE_MESSAGE(result.outcome == conformance::Outcome::pass, failure_of(result));
  REQUIRE(result.record.outcomes.size() == 1);
  CHECK(result.record.outcomes[0].first == "ccid error XFR_PARITY_ERROR");

  // The reports: the seed, the schedule with its firing, the fault x driver table.
  TempFolder folder;
  conformance::RunSummary summary;
  summary.driver = "reference-rdf";
  summary.seed = 7;
  summary.results.push_back(result);
  conformance::write_markdown(folder.path / "report.md", summary);
  conformance::write_junit(folder.path / "junit.xml", summary);
  std::stringstream markdown, junit;
  markdown << std::ifstream(folder.path / "report.md").rdbuf();
  junit << std::ifstream(folder.path / "junit.xml").rdbuf();
  CHECK(markdown.str().find("- seed: 7") != std::string::npos);
  CHECK(markdown.str().find("## Faults x drivers") != std::string::npos);
  CHECK(markdown.str().find("| ccid error XFR_PARITY_ERROR | SCardTransmit -> SCARD_") != std::string::npos);
  CHECK(markdown.str().find("- fault 1: ccid error (command XfrBlock, error XFR_PARITY_ERROR; once)") !=
        std::string::npos);
  CHECK(markdown.str().find("  - fired: ccid error event 1 at ") != std::string::npos);
  CHECK(junit.str().find(
            "<property name=\"fault\" value=\"ccid error (command XfrBlock, error XFR_PARITY_ERROR; once)\"/>") !=
        std::string::npos);
  CHECK(junit.str().find("<property name=\"firing\" value=\"ccid error event 1 at ") != std::string::npos);

  // The next case on the rig starts with no fault armed and none logged: the same transmit works.
  const auto next = bench.run(R"(
lab.reader(1):fault{ kind = "error", error = "XFR_PARITY_ERROR", command = "XfrBlock", after = 1 }
local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name)
lab.check_eq((pcsc.transmit(card, protocol, "80100000 02 a1a2 00")), "a1a29000", "ECHO")
lab.check_eq(#lab.firings(), 0, "firings")
)");
  // Armed in that case, never fired (after 1): the case after it meets no fault either.
  const auto third = bench.run(R"(
local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name)
for i = 1, 3 do lab.check_eq((pcsc.transmit(card, protocol, "80100000 02 a1a2 00")), "a1a29000", "ECHO " .. i) end
)");
  CHECK_MESSAGE(third.outcome == conformance::Outcome::pass, failure_of(third));
  CHECK_MESSAGE(next.outcome == conformance::Outcome::pass, failure_of(next));
}

}  // namespace readerlab
