#include "conformance/suite.h"

#include "scenarios/lua_sandbox.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

namespace readerlab::conformance {
namespace {

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// "a, b ,c" -> {"a", "b", "c"}; empty items are dropped.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    item = trim(item);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// What a case's header may ask for: limits within these bounds, never none.
constexpr std::chrono::seconds kMaxCaseTimeout{3600};
constexpr std::uint64_t kMinCaseMemory = 1u << 20, kMaxCaseMemory = 1u << 30;
constexpr std::uint64_t kMinCaseInstructions = 1'000'000, kMaxCaseInstructions = 10'000'000'000;

// A unit's name and how many of the bare number it stands for.
using Units = std::vector<std::pair<std::string, std::uint64_t>>;

// "12", "12k", "12 M", "3 GiB" with `units`; nullopt when malformed or too big.
std::optional<std::uint64_t> parse_count(const std::string& text, const Units& units) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  const std::uint64_t number = std::stoull(text.substr(0, digits));
  const std::string unit = trim(text.substr(digits));
  if (unit.empty()) return number;
  for (const auto& [name, factor] : units)
    if (unit == name) return number > UINT64_MAX / factor ? std::nullopt : std::optional(number * factor);
  return std::nullopt;
}

// Reads one limit of the header into `value`; the message when it is malformed or outside min..max.
std::string parse_limit(const std::string& key, const std::string& text, const Units& units, std::uint64_t min,
                        std::uint64_t max, std::uint64_t& value) {
  const auto parsed = parse_count(text, units);
  if (!parsed) return "@" + key + " is not a number with a unit";
  if (*parsed < min || *parsed > max)
    return "@" + key + " must be between " + std::to_string(min) + " and " + std::to_string(max);
  value = *parsed;
  return {};
}

}  // namespace

bool CaseInfo::applies_to(const std::string& driver) const {
  return drivers.empty() || std::find(drivers.begin(), drivers.end(), driver) != drivers.end();
}

CaseInfo read_case_info(const std::filesystem::path& cases_root, const std::filesystem::path& file) {
  CaseInfo info;
  info.path = file;
  info.id = std::filesystem::relative(file, cases_root).replace_extension().generic_string();
  std::ifstream in(file);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("--", 0) != 0) break;
    const auto at = line.find('@');
    if (at == std::string::npos) continue;
    const auto colon = line.find(':', at);
    if (colon == std::string::npos) {
      info.metadata_error = file.string() + ":" + std::to_string(number) + ": metadata line needs '@key: value'";
      continue;
    }
    const std::string key = trim(line.substr(at + 1, colon - at - 1));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "title") {
      info.title = value;
    } else if (key == "covers") {
      info.covers = split_list(value);
    } else if (key == "drivers") {
      info.drivers = split_list(value);
    } else if (key == "spec") {
      info.spec = value;
    } else if (key == "seed") {
      std::uint64_t seed = 0;
      const auto [end, failure] = std::from_chars(value.data(), value.data() + value.size(), seed);
      if (failure == std::errc() && end == value.data() + value.size())
        info.seed = seed;
      else
        info.metadata_error = file.string() + ":" + std::to_string(number) + ": @seed is not a whole number";
    } else if (key == "timeout" || key == "memory" || key == "instructions") {
      std::uint64_t parsed = 0;
      std::string problem;
      if (key == "timeout") {
        problem = parse_limit(key, value, {{"s", 1}}, 1, kMaxCaseTimeout.count(), parsed);
        if (problem.empty()) info.timeout = std::chrono::seconds(parsed);
      } else if (key == "memory") {
        problem = parse_limit(key, value, {{"B", 1}, {"KiB", 1u << 10}, {"MiB", 1u << 20}, {"GiB", 1u << 30}},
                              kMinCaseMemory, kMaxCaseMemory, parsed);
        if (problem.empty()) info.limits.memory_bytes = static_cast<std::size_t>(parsed);
      } else {
        problem = parse_limit(key, value, {{"k", 1'000}, {"M", 1'000'000}, {"G", 1'000'000'000}}, kMinCaseInstructions,
                              kMaxCaseInstructions, parsed);
        if (problem.empty()) info.limits.instructions_per_call = parsed;
      }
      if (!problem.empty()) info.metadata_error = file.string() + ":" + std::to_string(number) + ": " + problem;
    } else {
      info.metadata_error = file.string() + ":" + std::to_string(number) + ": unknown metadata key '" + key + "'";
    }
  }
  if (info.title.empty() && info.metadata_error.empty())
    info.metadata_error = file.string() + ":1: the case has no '-- @title:' line";
  return info;
}

std::vector<CaseInfo> discover_cases(const std::filesystem::path& cases_root) {
  std::vector<CaseInfo> cases;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cases_root))
    if (entry.is_regular_file() && entry.path().extension() == ".lua")
      cases.push_back(read_case_info(cases_root, entry.path()));
  std::sort(cases.begin(), cases.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return cases;
}

Expectations load_expectations(const std::filesystem::path& file) {
  Expectations expectations;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find_first_of(" \t");
    std::string id = line.substr(0, space);
    if (id.size() > 1 && id[0] == '!') {
      expectations.passes[id.substr(1)] = space == std::string::npos ? "" : trim(line.substr(space));
      continue;
    }
    if (id.size() > 1 && id[0] == '?') {
      id.erase(0, 1);
      expectations.intermittent.insert(id);
    }
    std::string reason = space == std::string::npos ? "" : trim(line.substr(space));
    if (const auto bar = reason.rfind(" | "); bar != std::string::npos) {
      std::vector<std::string> texts;
      std::string rest = reason.substr(bar + 3);
      for (auto cut = rest.find(" || "); cut != std::string::npos; cut = rest.find(" || ")) {
        texts.push_back(trim(rest.substr(0, cut)));
        rest = rest.substr(cut + 4);
      }
      texts.push_back(trim(rest));
      expectations.failure_must_contain[id] = texts;
      reason = trim(reason.substr(0, bar));
    }
    expectations.expected_failures[id] = reason;
  }
  return expectations;
}

void merge_expectations(Expectations& base, const Expectations& later) {
  for (const auto& [id, reason] : later.passes) {
    base.expected_failures.erase(id);
    base.failure_must_contain.erase(id);
    base.intermittent.erase(id);
  }
  for (const auto& [id, reason] : later.expected_failures) {
    base.expected_failures[id] = reason;
    base.failure_must_contain.erase(id);
    if (later.intermittent.count(id) != 0)
      base.intermittent.insert(id);
    else
      base.intermittent.erase(id);
  }
  for (const auto& [id, texts] : later.failure_must_contain) base.failure_must_contain[id] = texts;
  for (const auto& [id, reason] : later.passes) base.passes[id] = reason;
}

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::pass: return "PASS";
    case Outcome::fail: return "FAIL";
    case Outcome::expected_fail: return "XFAIL";
    case Outcome::unexpected_pass: return "XPASS";
    case Outcome::skip: return "SKIP";
  }
  return "?";
}

bool counts_as_failure(Outcome outcome) { return outcome == Outcome::fail || outcome == Outcome::unexpected_pass; }

CaseResult run_case(const CaseInfo& info, scenarios::Rig& rig, scenarios::DriverPort& port,
                    const Expectations& expectations, const std::filesystem::path& trace_folder,
                    const std::vector<scenarios::FaultSpec>& schedule) {
  CaseResult result;
  result.info = info;
  const std::uint64_t run_seed = rig.seed();
  const auto started = std::chrono::steady_clock::now();
  std::string error = info.metadata_error;
  if (error.empty()) {
    try {
      // The last case's driver stops on the reader as that case left it, then the rig resets.
      port.begin_case();
      // A case with its own seed (@seed) makes its random choices from it; the run's comes back after.
      if (info.seed) rig.set_seed(*info.seed);
      if (!trace_folder.empty()) result.traces = rig.start_traces(trace_folder / info.id);
      rig.reset_to_baseline();
      if (const auto armed = rig.arm_faults(schedule); !armed)
        throw std::invalid_argument("the fault schedule: " + armed.error().message());
      const std::string source = read_file(info.path);
      scenarios::LuaSandbox sandbox(info.limits, info.path.generic_string());
      scenarios::install_lab(sandbox, rig, port, result.record);
      const auto run = sandbox.run(source, info.path.generic_string(), info.timeout);
      if (!run) error = run.error().message();
    } catch (const std::exception& e) {
      error = info.path.generic_string() + ": " + e.what();
    }
  }
  // What fired up to the case's end; a late firing (the driver's stop) belongs to no case.
  scenarios::collect_faults(rig, result.record);
  rig.set_seed(run_seed);
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const bool failed = !error.empty() || !result.record.failed_checks.empty();
  if (!error.empty())
    result.message = error;
  else if (failed)
    result.message = result.record.failed_checks.front();
  // A case without a line of its own takes the "*" line, when the driver has one.
  const std::string key =
      expectations.expected_failures.count(info.id) != 0 || expectations.passes.count(info.id) != 0 ? info.id : "*";
  const auto expected = expectations.expected_failures.find(key);
  if (expected == expectations.expected_failures.end()) {
    result.outcome = failed ? Outcome::fail : Outcome::pass;
  } else {
    const bool may_pass = expectations.intermittent.count(key) != 0;
    result.outcome = failed ? Outcome::expected_fail : (may_pass ? Outcome::pass : Outcome::unexpected_pass);
    if (!failed && !may_pass) result.message = "listed as an expected failure (" + expected->second + ") but passed";
    const auto must_contain = expectations.failure_must_contain.find(key);
    if (failed && must_contain != expectations.failure_must_contain.end() &&
        std::none_of(must_contain->second.begin(), must_contain->second.end(),
                     [&](const std::string& text) { return result.message.find(text) != std::string::npos; })) {
      std::string known;
      for (const auto& text : must_contain->second) known += (known.empty() ? "\"" : " or \"") + text + "\"";
      result.outcome = Outcome::fail;
      result.message = "failed otherwise than its known failure (" + known + "): " + result.message;
    }
  }
  return result;
}

}  // namespace readerlab::conformance
