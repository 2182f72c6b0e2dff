// Conformance cases: discovery, metadata, expectations and running one case.
#pragma once

#include "scenarios/driver_port.h"
#include "scenarios/lab.h"
#include "scenarios/rig.h"

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace readerlab::conformance {

// A case file starts with comment lines of the form "-- @key: value":
//   @title   one line saying what the case shows
//   @covers  comma-separated items it exercises, e.g. "pcsc:SCardTransmit, ccid:XfrBlock"
//   @spec    the clauses it checks
//   @timeout seconds (default 60, at most 3600): the wall-clock budget of the whole case; the
//            lab's waits are cut to what is left of it
//   @memory  the memory cap of the case's Lua state, e.g. "64 MiB" (default 8 MiB, at most 1 GiB)
//   @instructions  the case's instruction budget, e.g. "50M" (default 10M, at most 10G)
//   @drivers comma-separated drivers under test the case applies to (default: all)
//   @seed    the seed the case runs with instead of the run's (the cases readerlab fuzz writes)
struct CaseInfo {
  std::string id;  // path below the cases folder, without ".lua", e.g. "pcsc/reader-listed"
  std::filesystem::path path;
  std::string title;
  std::vector<std::string> covers;
  std::string spec;
  std::chrono::seconds timeout{60};
  scenarios::ScriptLimits limits;    // memory and instructions (time comes from timeout)
  std::vector<std::string> drivers;  // empty: every driver
  bool applies_to(const std::string& driver) const;
  std::optional<std::uint64_t> seed;  // @seed
  std::string metadata_error;         // non-empty when the header is malformed
};

CaseInfo read_case_info(const std::filesystem::path& cases_root, const std::filesystem::path& file);
// Every *.lua below the folder, sorted by id.
std::vector<CaseInfo> discover_cases(const std::filesystem::path& cases_root);

// Known failures of one driver: "<case id> <reason>" per line, '#' comments. A line may end
// in " | <text>": the failure must then contain that text to count as the known one, so that
// the case failing for another reason is still reported. " || " separates texts of which one
// must be there: a known failure whose symptom depends on timing. A line whose id starts
// with '?' is a known failure that depends on timing whether it happens at all: the case
// passing is PASS, its failing with the text is the known failure. A line whose id starts
// with '!' says the case passes there (its reason why): it takes back a known failure that an
// earlier file gave (merge_expectations). The id "*" (with '?': "?*") is the line of every case
// that has none of its own: a failure any case may meet on that driver, with its text.
struct Expectations {
  std::map<std::string, std::string> expected_failures;
  std::map<std::string, std::vector<std::string>> failure_must_contain;
  std::set<std::string> intermittent;
  std::map<std::string, std::string> passes;  // '!' lines: id -> why the case passes there
};
Expectations load_expectations(const std::filesystem::path& file);
// A later file over an earlier one: each of its lines replaces the earlier line of its case,
// a '!' line takes the case's known failure away.
void merge_expectations(Expectations& base, const Expectations& later);

enum class Outcome { pass, fail, expected_fail, unexpected_pass, skip };
const char* to_string(Outcome outcome);
bool counts_as_failure(Outcome outcome);

struct CaseResult {
  CaseInfo info;
  Outcome outcome = Outcome::fail;
  std::string message;  // first failure, with file and line
  std::chrono::milliseconds duration{0};
  scenarios::CaseRecord record;
  std::vector<std::filesystem::path> traces;  // the case's pcap files, one per reader (may be none)
};

// Runs one case in a fresh sandbox against the rig (reset to its baseline first). With a trace
// folder, every reader's USB transfers from the case's start go to
// <trace_folder>/<case id>/readerN.pcap, until the next case starts its traces: the driver's
// stop that the next case causes belongs to this case, which left the driver that way.
// A schedule (readerlab fuzz) is armed after the reset, before the case's first line, as the
// case's first faults; the record carries every fault armed and every firing.
CaseResult run_case(const CaseInfo& info, scenarios::Rig& rig, scenarios::DriverPort& port,
                    const Expectations& expectations, const std::filesystem::path& trace_folder = {},
                    const std::vector<scenarios::FaultSpec>& schedule = {});

}  // namespace readerlab::conformance
