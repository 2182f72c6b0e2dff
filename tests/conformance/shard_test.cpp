// readerlab run --shard K/N: what a CI matrix relies on. The text is checked before anything
// runs, and the N shards of a run run every run of a case exactly once between them.
#include "conformance/shard.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

using namespace readerlab::conformance;

namespace {

std::vector<CaseInfo> cases_named(std::initializer_list<const char*> ids) {
  std::vector<CaseInfo> cases;
  for (const auto* id : ids) {
    CaseInfo info;
    info.id = id;
    cases.push_back(info);
  }
  return cases;
}

// "driver@reader case" for every run of a case in the columns, in their order.
std::vector<std::string> runs_of(const std::vector<RunColumn>& columns) {
  std::vector<std::string> runs;
  for (const auto& column : columns)
    for (const auto& info : column.cases) runs.push_back(column.driver + "@" + column.reader + " " + info.id);
  return runs;
}

// libccid on two reader profiles and an RDF driver: 3 + 3 + 4 runs.
std::vector<RunColumn> sample_run() {
  return {RunColumn{"libccid", "gempc-twin", cases_named({"pcsc/a", "pcsc/b", "pcsc/c"})},
          RunColumn{"libccid", "spr532", cases_named({"pcsc/a", "pcsc/b", "pcsc/c"})},
          RunColumn{"reference-rdf", "", cases_named({"ioctl/a", "ioctl/b", "pcsc/a", "pcsc/b"})}};
}

}  // namespace

TEST_CASE("--shard takes K/N with 1 <= K <= N, and says what is wrong with anything else") {
  const auto shard = parse_shard("2/3");
  REQUIRE(shard);
  CHECK(shard->index == 2);
  CHECK(shard->count == 3);
  CHECK(parse_shard("1/1"));
  const auto refused = [](const char* text) {
    const auto parsed = parse_shard(text);
    REQUIRE_FALSE(parsed);
    return parsed.error().message();
  };
  CHECK(refused("0/2") == "'0/2': shards count from 1 (1/2 to 2/2)");
  CHECK(refused("3/2") == "'3/2': there are only 2 shards (1/2 to 2/2)");
  CHECK(refused("1/0") == "'1/0': N is 0; a run is dealt into 1 shard or more");
  CHECK(refused("2") == "'2' is not K/N (the K-th of N shards, e.g. 1/4)");
  for (const char* text :
       {"a/b", "1/", "/2", "-1/2", "1/-2", " 1/2", "1/2 ", "1/2/3", "+1/2", "1.0/2", "1/99999999999999999999999"})
    CHECK(refused(text).find("is not K/N: K and N are whole numbers") != std::string::npos);
}

TEST_CASE("the N shards of a run are disjoint, make the whole run in its order, and differ in size by one at most") {
  const auto whole = sample_run();
  const auto all_runs = runs_of(whole);
  REQUIRE(count_runs(whole) == 10);
  for (std::size_t count = 1; count <= 12; ++count) {
    CAPTURE(count);
    std::vector<std::string> together;
    std::size_t smallest = all_runs.size(), largest = 0;
    for (std::size_t index = 1; index <= count; ++index) {
      const auto runs = runs_of(deal_shard(whole, Shard{index, count}));
      // Each shard keeps the run's order, so a shard's runs are a subsequence of the whole run's.
      CHECK(std::includes(
          all_runs.begin(), all_runs.end(), runs.begin(), runs.end(), [&](const std::string& a, const std::string& b) {
            return std::find(all_runs.begin(), all_runs.end(), a) < std::find(all_runs.begin(), all_runs.end(), b);
          }));
      together.insert(together.end(), runs.begin(), runs.end());
      smallest = std::min(smallest, runs.size());
      largest = std::max(largest, runs.size());
    }
    CHECK(together.size() == all_runs.size());  // with the set below: each run once
    CHECK(std::set<std::string>(together.begin(), together.end()) ==
          std::set<std::string>(all_runs.begin(), all_runs.end()));
    CHECK(largest - smallest <= 1);
  }
}

TEST_CASE("a shard drops the columns none of whose runs fell to it, and is empty beyond the number of runs") {
  const auto whole = sample_run();
  // Of 10 runs dealt to 8 shards, shard 6 gets run 5 only: spr532's third case.
  const auto sixth = deal_shard(whole, Shard{6, 8});
  REQUIRE(sixth.size() == 1);
  CHECK(sixth[0].driver == "libccid");
  CHECK(sixth[0].reader == "spr532");
  CHECK(runs_of(sixth) == std::vector<std::string>{"libccid@spr532 pcsc/c"});
  CHECK(deal_shard(whole, Shard{11, 12}).empty());
  CHECK(deal_shard({}, Shard{1, 1}).empty());
}

TEST_CASE("a shard's note reads as the reports print it") {
  const ShardNote note{Shard{1, 2}, 5, 10};
  CHECK(note.id() == "1/2");
  CHECK(note.line() == "shard 1 of 2: 5 of 10 runs");
}
