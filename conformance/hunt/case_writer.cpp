#include "conformance/hunt/case_writer.h"

#include <sstream>

namespace readerlab::conformance::hunt {
namespace {

// A free comment line of the header must not look like metadata ("-- @key: value"): the runner
// reads every '@' in the header as a key.
std::string comment_text(std::string text) {
  for (std::size_t at = text.find('@'); at != std::string::npos; at = text.find('@', at)) text.replace(at, 1, "(at)");
  for (auto& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

}  // namespace

std::string case_body(const std::string& source) {
  std::istringstream in(source);
  std::string line, body;
  bool in_header = true;
  while (std::getline(in, line)) {
    if (in_header && line.rfind("--", 0) == 0) continue;
    in_header = false;
    body += line + "\n";
  }
  return body;
}

std::string compose_case(const CaseInfo& original, const std::string& original_source, const TrialCase& trial) {
  std::ostringstream out;
  const std::string where = "seed " + std::to_string(trial.hunt_seed) + ", trial " + std::to_string(trial.trial_number);
  out << "-- @title: " << trial.driver << " under faults in " << original.id << " (readerlab fuzz, " << where << ")\n";
  out << "-- @drivers: " << trial.driver << "\n";
  out << "-- @seed: " << trial.trial_seed << "\n";
  out << "-- @timeout: " << (original.timeout + kHealthCheckTime).count() << "\n";
  if (!original.covers.empty()) out << "-- @covers: " << join(original.covers) << "\n";
  out << "-- @memory: " << original.limits.memory_bytes << " B\n";
  out << "-- @instructions: " << original.limits.instructions_per_call << "\n";
  out << "--\n";
  out << "-- "
      << comment_text("Written by readerlab fuzz --driver " + trial.driver + " --seed " +
                      std::to_string(trial.hunt_seed) + " (trial " + std::to_string(trial.trial_number) + ").")
      << "\n";
  if (!trial.finding.empty()) out << "-- What broke: " << comment_text(trial.finding) << "\n";
  if (!trial.drawn_schedule.empty()) out << "-- The schedule drawn: " << comment_text(trial.drawn_schedule) << "\n";
  out << "-- The schedule below: " << comment_text(describe(trial.schedule)) << "\n";
  out << "-- "
      << comment_text("The body of " + original.id +
                      " runs under it: its own failures are logged, not "
                      "counted (a driver may fail calls under faults); "
                      "lab.check_driver_healthy() then checks what must "
                      "hold once the faults are gone.")
      << "\n\n";
  if (!trial.schedule.empty()) out << "lab.faults" << to_lua(trial.schedule) << "\n\n";
  out << "lab.under_faults(function()\n" << case_body(original_source) << "end)\n\n";
  out << "lab.check_driver_healthy()\n";
  return out.str();
}

}  // namespace readerlab::conformance::hunt
