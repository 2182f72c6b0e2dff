// A run dealt into slices for CI matrices (readerlab run --shard K/N): which slice each run of
// a case falls to, so that N machines together run exactly what one would, and what a report
// says about the slice it holds.
#pragma once

#include "base/error.h"
#include "conformance/suite.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace readerlab::conformance {

struct Shard {
  std::size_t index = 1;  // K, counted from 1
  std::size_t count = 1;  // N
};

// "K/N" with 1 <= K <= N. The error says what is wrong with the text; the caller names the option.
Expected<Shard> parse_shard(std::string_view text);

// One column of a run: a driver under test, on one reader profile for libccid --reader, and the
// cases it runs there in order. A run of a case in a column is the unit shards are dealt.
struct RunColumn {
  std::string driver;  // "libccid", "reference-rdf", ...
  std::string reader;  // libccid's reader profile (readerlab run --reader); empty: none
  std::vector<CaseInfo> cases;
};

std::size_t count_runs(const std::vector<RunColumn>& columns);

// A shard's part of a run. Counting the runs column after column from 0, run i goes to shard
// i mod N + 1: the N shards are disjoint, together they are the whole run, their sizes differ by
// one at most, and each keeps the run's order. A column left with no run is dropped.
std::vector<RunColumn> deal_shard(const std::vector<RunColumn>& columns, Shard shard);

// What the reports of a shard say about it.
struct ShardNote {
  Shard shard;
  std::size_t runs = 0;        // the shard's
  std::size_t total_runs = 0;  // the whole run's
  std::string id() const;      // "1/2", as --shard takes it
  std::string line() const;    // "shard 1 of 2: 40 of 80 runs"
};

}  // namespace readerlab::conformance
