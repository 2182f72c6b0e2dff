// The case runner on a rig without a guest: what happens to broken cases, checks and
// expectations does not depend on the driver.
#include "conformance/report.h"
#include "conformance/suite.h"
#include "tests/conformance/no_driver.h"

#include <doctest/doctest.h>

#include <fstream>
#include <set>

namespace fs = std::filesystem;
using namespace readerlab;

namespace {

using test::NoDriver;

struct Bench {
  fs::path root = fs::temp_directory_path() / ("readerlab-cases-" + std::to_string(::getpid()));
  boost::asio::io_context io;
  scenarios::Rig rig{io, nullptr};
  NoDriver port;

  Bench() {
    fs::remove_all(root);
    fs::create_directories(root / "area");
    usbredir::SocketAddress address;
    address.host = "127.0.0.1";
    rig.add_reader(address);
  }
  ~Bench() { fs::remove_all(root); }

  conformance::CaseInfo write(const std::string& name, const std::string& text) {
    std::ofstream(root / "area" / name) << text;
    return conformance::read_case_info(root, root / "area" / name);
  }
};

}  // namespace

TEST_CASE("a case with a syntax error fails with its file and line, and the next case still runs") {
  Bench bench;
  auto broken = bench.write("broken.lua", "-- @title: broken\nlocal x = = 1\n");
  auto good = bench.write(
      "good.lua",
      "-- @title: good\nlab.reader(1):insert('t1-fs')\nlab.check(lab.reader(1):info().present, 'present')\n");
  const auto first = conformance::run_case(broken, bench.rig, bench.port, {});
  CHECK(first.outcome == conformance::Outcome::fail);
  CHECK(first.message.find("broken.lua:2:") != std::string::npos);
  const auto second = conformance::run_case(good, bench.rig, bench.port, {});
  CHECK(second.outcome == conformance::Outcome::pass);
  CHECK(second.message.empty());
}

TEST_CASE("metadata is read from the header") {
  Bench bench;
  auto info = bench.write("meta.lua",
                          "-- @title: a title\n-- @covers: pcsc:SCardConnect, ccid:XfrBlock\n-- @spec: CCID 6.1.4\n"
                          "-- @timeout: 7\nlocal a = 1\n");
  CHECK(info.id == "area/meta");
  CHECK(info.title == "a title");
  CHECK(info.covers == std::vector<std::string>{"pcsc:SCardConnect", "ccid:XfrBlock"});
  CHECK(info.spec == "CCID 6.1.4");
  CHECK(info.timeout == std::chrono::seconds(7));
  CHECK(info.metadata_error.empty());
}

TEST_CASE("a header without a title or with an unknown key fails the case") {
  Bench bench;
  auto untitled = bench.write("untitled.lua", "local a = 1\n");
  CHECK_FALSE(untitled.metadata_error.empty());
  auto unknown = bench.write("unknown.lua", "-- @title: t\n-- @colour: blue\n");
  CHECK(unknown.metadata_error.find("unknown.lua:2") != std::string::npos);
  CHECK(conformance::run_case(unknown, bench.rig, bench.port, {}).outcome == conformance::Outcome::fail);
}

TEST_CASE("failed checks fail the case with the line of the first one; the case runs to its end") {
  Bench bench;
  auto info = bench.write(
      "checks.lua", "-- @title: checks\nlab.check_eq(1, 2, 'one')\nlab.check(false, 'two')\nlab.metric('m', 3, 'u')\n");
  const auto result = conformance::run_case(info, bench.rig, bench.port, {});
  CHECK(result.outcome == conformance::Outcome::fail);
  CHECK(result.message.find("checks.lua:2:") != std::string::npos);
  CHECK(result.record.failed_checks.size() == 2);
  REQUIRE(result.record.metrics.size() == 1);
  CHECK(result.record.metrics[0].value == 3);
}

TEST_CASE("an expected failure counts as passed, and an unexpected pass as failed") {
  Bench bench;
  auto failing = bench.write("failing.lua", "-- @title: f\nlab.fail('known bug')\n");
  auto passing = bench.write("passing.lua", "-- @title: p\n");
  conformance::Expectations expectations;
  expectations.expected_failures["area/failing"] = "known bug";
  expectations.expected_failures["area/passing"] = "was broken";
  conformance::RunSummary summary;
  summary.results.push_back(conformance::run_case(failing, bench.rig, bench.port, expectations));
  summary.results.push_back(conformance::run_case(passing, bench.rig, bench.port, expectations));
  CHECK(summary.results[0].outcome == conformance::Outcome::expected_fail);
  CHECK(summary.results[1].outcome == conformance::Outcome::unexpected_pass);
  CHECK(conformance::closing_line(summary) == "1 passed, 1 failed");
}

TEST_CASE("a known failure with a text counts only when the case fails with that text") {
  Bench bench;
  auto failing = bench.write("failing.lua", "-- @title: f\nlab.fail('no RDF_ATR_PARSE callback')\n");
  const auto file = bench.root / "known.txt";
  std::ofstream(file) << "# comment\narea/failing RAW is not offered | RDF_ATR_PARSE\n";
  auto expectations = conformance::load_expectations(file);
  CHECK(expectations.expected_failures["area/failing"] == "RAW is not offered");
  CHECK(expectations.failure_must_contain["area/failing"] == std::vector<std::string>{"RDF_ATR_PARSE"});
  CHECK(conformance::run_case(failing, bench.rig, bench.port, expectations).outcome ==
        conformance::Outcome::expected_fail);

  expectations.failure_must_contain["area/failing"] = {"STATUS_NO_MEDIA"};
  const auto other = conformance::run_case(failing, bench.rig, bench.port, expectations);
  CHECK(other.outcome == conformance::Outcome::fail);
  CHECK(other.message.find("failed otherwise than its known failure (\"STATUS_NO_MEDIA\")") != std::string::npos);
  CHECK(other.message.find("no RDF_ATR_PARSE callback") != std::string::npos);
}

TEST_CASE("a known failure may name several texts, one of which the failure must contain") {
  Bench bench;
  auto failing = bench.write("failing.lua", "-- @title: f\nlab.fail('the driver died: SCARD_E_NO_SERVICE')\n");
  const auto file = bench.root / "known.txt";
  std::ofstream(file) << "area/failing wrong data, or the daemon aborts | WRONG DATA || SCARD_E_NO_SERVICE\n";
  auto expectations = conformance::load_expectations(file);
  CHECK(expectations.expected_failures["area/failing"] == "wrong data, or the daemon aborts");
  CHECK(expectations.failure_must_contain["area/failing"] ==
        std::vector<std::string>{"WRONG DATA", "SCARD_E_NO_SERVICE"});
  CHECK(conformance::run_case(failing, bench.rig, bench.port, expectations).outcome ==
        conformance::Outcome::expected_fail);

  expectations.failure_must_contain["area/failing"] = {"WRONG DATA", "STATUS_NO_MEDIA"};
  const auto other = conformance::run_case(failing, bench.rig, bench.port, expectations);
  CHECK(other.outcome == conformance::Outcome::fail);
  CHECK(other.message.find("(\"WRONG DATA\" or \"STATUS_NO_MEDIA\")") != std::string::npos);
}

TEST_CASE("a known failure marked '?' depends on timing: a pass is PASS, a failure must still match") {
  Bench bench;
  auto passing = bench.write("passing.lua", "-- @title: p\nlab.check(true, 'fine')\n");
  auto failing = bench.write("failing.lua", "-- @title: f\nlab.fail('card was not reported present')\n");
  const auto file = bench.root / "known.txt";
  std::ofstream(file) << "?area/passing a race | not reported present\n?area/failing a race | not reported present\n"
                         "area/strict always | not reported present\n";
  auto expectations = conformance::load_expectations(file);
  CHECK(expectations.intermittent == std::set<std::string>{"area/passing", "area/failing"});
  CHECK(expectations.expected_failures.count("area/passing") == 1);
  CHECK(conformance::run_case(passing, bench.rig, bench.port, expectations).outcome == conformance::Outcome::pass);
  CHECK(conformance::run_case(failing, bench.rig, bench.port, expectations).outcome ==
        conformance::Outcome::expected_fail);
  expectations.failure_must_contain["area/failing"] = {"SCARD_E_NO_SERVICE"};
  CHECK(conformance::run_case(failing, bench.rig, bench.port, expectations).outcome == conformance::Outcome::fail);
  // Without the mark a pass of a known failure is still reported.
  expectations.intermittent.clear();
  CHECK(conformance::run_case(passing, bench.rig, bench.port, expectations).outcome ==
        conformance::Outcome::unexpected_pass);
}

TEST_CASE("a later expectations file replaces a case's line, and '!' takes a known failure back") {
  Bench bench;
  std::ofstream(bench.root / "driver.txt")
      << "area/a fails always | text a\narea/b fails | text b\narea/c fails | text c\n";
  std::ofstream(bench.root / "reader.txt")
      << "?area/a a race here | other text\n!area/b this reader's path is another\n";
  auto expectations = conformance::load_expectations(bench.root / "driver.txt");
  const auto later = conformance::load_expectations(bench.root / "reader.txt");
  CHECK(later.passes.count("area/b") == 1);
  CHECK(later.expected_failures.count("area/b") == 0);
  conformance::merge_expectations(expectations, later);
  CHECK(expectations.expected_failures.at("area/a") == "a race here");
  CHECK(expectations.failure_must_contain.at("area/a") == std::vector<std::string>{"other text"});
  CHECK(expectations.intermittent == std::set<std::string>{"area/a"});
  CHECK(expectations.expected_failures.count("area/b") == 0);
  CHECK(expectations.failure_must_contain.count("area/b") == 0);
  CHECK(expectations.expected_failures.at("area/c") == "fails");
  auto passing = bench.write("b.lua", "-- @title: b\nlab.check(true, 'fine')\n");
  CHECK(conformance::run_case(passing, bench.rig, bench.port, expectations).outcome == conformance::Outcome::pass);

  // "?*": any case without a line of its own may fail with that text, and only with it.
  std::ofstream(bench.root / "any.txt") << "?* a driver's hang on unplug | did not let it go\n";
  conformance::merge_expectations(expectations, conformance::load_expectations(bench.root / "any.txt"));
  auto hung = bench.write("hung.lua", "-- @title: h\nlab.fail('the driver did not let it go')\n");
  auto other = bench.write("other.lua", "-- @title: o\nlab.fail('wrong data')\n");
  CHECK(conformance::run_case(hung, bench.rig, bench.port, expectations).outcome ==
        conformance::Outcome::expected_fail);
  CHECK(conformance::run_case(other, bench.rig, bench.port, expectations).outcome == conformance::Outcome::fail);
  CHECK(conformance::run_case(passing, bench.rig, bench.port, expectations).outcome == conformance::Outcome::pass);
}

TEST_CASE("an unknown card profile or reader index is an error with the case's line") {
  Bench bench;
  auto card = bench.write("card.lua", "-- @title: c\n\nlab.reader(1):insert('no-such-card')\n");
  const auto result = conformance::run_case(card, bench.rig, bench.port, {});
  CHECK(result.message.find("unknown card profile 'no-such-card'") != std::string::npos);
  auto reader = bench.write("reader.lua", "-- @title: r\nlab.reader(9)\n");
  CHECK(conformance::run_case(reader, bench.rig, bench.port, {}).message.find("reader.lua:2:") != std::string::npos);
}

TEST_CASE("an unanswered driver call fails the case instead of hanging") {
  Bench bench;
  auto info = bench.write("call.lua", "-- @title: call\nlab.call('ListReaders', {context = 1}, 50)\n");
  const auto result = conformance::run_case(info, bench.rig, bench.port, {});
  CHECK(result.outcome == conformance::Outcome::fail);
  CHECK(result.message.find("did not answer") != std::string::npos);
}

TEST_CASE("the JUnit report lists every case and the failures") {
  Bench bench;
  conformance::RunSummary summary;
  summary.driver = "none";
  summary.results.push_back(conformance::run_case(bench.write("a.lua", "-- @title: a\n"), bench.rig, bench.port, {}));
  summary.results.push_back(
      conformance::run_case(bench.write("b.lua", "-- @title: b\nlab.fail('x < y & z')\n"), bench.rig, bench.port, {}));
  const auto file = bench.root / "junit.xml";
  conformance::write_junit(file, summary);
  std::ifstream in(file);
  const std::string xml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(xml.find("tests=\"2\" failures=\"1\"") != std::string::npos);
  CHECK(xml.find("name=\"area/b\"") != std::string::npos);
  CHECK(xml.find("x &lt; y &amp; z") != std::string::npos);
}
