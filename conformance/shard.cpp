#include "conformance/shard.h"

#include <charconv>
#include <optional>

namespace readerlab::conformance {
namespace {

std::optional<std::size_t> whole_number(std::string_view digits) {
  std::size_t value = 0;
  const auto [end, failure] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || failure != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

}  // namespace

Expected<Shard> parse_shard(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return error("", quoted + " is not K/N (the K-th of N shards, e.g. 1/4)");
  const auto index = whole_number(text.substr(0, slash));
  const auto count = whole_number(text.substr(slash + 1));
  if (!index || !count) return error("", quoted + " is not K/N: K and N are whole numbers, e.g. 1/4");
  if (*count == 0) return error("", quoted + ": N is 0; a run is dealt into 1 shard or more");
  const std::string range =
      "1/" + std::to_string(*count) + " to " + std::to_string(*count) + "/" + std::to_string(*count);
  if (*index == 0) return error("", quoted + ": shards count from 1 (" + range + ")");
  if (*index > *count)
    return error("", quoted + ": there are only " + std::to_string(*count) + " shards (" + range + ")");
  return Shard{*index, *count};
}

std::size_t count_runs(const std::vector<RunColumn>& columns) {
  std::size_t runs = 0;
  for (const auto& column : columns) runs += column.cases.size();
  return runs;
}

std::vector<RunColumn> deal_shard(const std::vector<RunColumn>& columns, Shard shard) {
  std::vector<RunColumn> dealt;
  std::size_t run = 0;
  for (const auto& column : columns) {
    RunColumn mine{column.driver, column.reader, {}};
    for (const auto& info : column.cases)
      if (run++ % shard.count == shard.index - 1) mine.cases.push_back(info);
    if (!mine.cases.empty()) dealt.push_back(std::move(mine));
  }
  return dealt;
}

std::string ShardNote::id() const { return std::to_string(shard.index) + "/" + std::to_string(shard.count); }

std::string ShardNote::line() const {
  return "shard " + std::to_string(shard.index) + " of " + std::to_string(shard.count) + ": " + std::to_string(runs) +
         " of " + std::to_string(total_runs) + " runs";
}

}  // namespace readerlab::conformance
