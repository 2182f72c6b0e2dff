// Reporters for a conformance run: the console table, JUnit XML and a Markdown report.
#pragma once

#include "conformance/shard.h"
#include "conformance/suite.h"

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace readerlab::conformance {

struct RunSummary {
  std::string driver;  // e.g. "libccid (guest)"
  std::uint64_t seed = 0;
  std::vector<CaseResult> results;
  std::vector<std::pair<std::string, std::string>> facts;  // e.g. {"boot to first APDU", "6.8 s"}
  // One slice of a larger run (readerlab run --shard K/N): the JUnit testsuite's name carries it,
  // so that the testsuites of the shards a CI merges stay apart, and the reports say it.
  std::optional<ShardNote> shard;

  int passed() const;  // pass and expected failures
  int failed() const;  // failures and unexpected passes
};

void print_table(std::ostream& out, const RunSummary& summary);
// "N passed, N failed" as the last line.
std::string closing_line(const RunSummary& summary);
void write_junit(const std::filesystem::path& file, const RunSummary& summary);
void write_markdown(const std::filesystem::path& file, const RunSummary& summary);

// Several drivers in one run: one JUnit testsuite per driver, and a Markdown report with one
// column per driver, the coverage of every @covers item per driver, and the IOCTLs the PC/SC
// calls of a case cause on Windows (SCardConnect: POWER and SET_PROTOCOL, ...).
void write_junit(const std::filesystem::path& file, const std::vector<RunSummary>& summaries);
// coverage_items: items every report lists (a row with no case is printed as a gap).
void write_side_by_side(const std::filesystem::path& file, const std::vector<RunSummary>& summaries,
                        const std::vector<std::string>& coverage_items = {});
std::vector<std::string> load_coverage_items(const std::filesystem::path& file);

}  // namespace readerlab::conformance
