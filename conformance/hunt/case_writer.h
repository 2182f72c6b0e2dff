// The Lua case a hunt trial runs, and the one `readerlab fuzz` writes when a driver broke: the
// same text, so that `readerlab run --driver D --case FILE` runs exactly what broke the driver.
#pragma once

#include "conformance/hunt/schedule.h"
#include "conformance/suite.h"

#include <cstdint>
#include <string>

namespace readerlab::conformance::hunt {

struct TrialCase {
  std::string driver;           // the driver the hunt ran on (@drivers)
  std::uint64_t hunt_seed = 0;  // readerlab fuzz --seed
  std::uint64_t trial_number = 0;
  std::uint64_t trial_seed = 0;  // the rig's seed (@seed)
  Schedule schedule;             // armed first, as lab.faults{...}
  std::string drawn_schedule;    // the schedule the trial drew, before shrinking (for the header)
  std::string finding;           // what broke, empty while it is only a trial
};

// Extra time the invariant checks at the end get on top of the original case's @timeout.
inline constexpr std::chrono::seconds kHealthCheckTime{60};

// The case's text: a metadata header (@title, @drivers, @seed, @timeout, the original's @covers
// and limits), comment lines saying where it came from, then
//   lab.faults{...}                          -- the schedule (left out when it is empty)
//   lab.under_faults(function() <body> end)  -- the original case's body
//   lab.check_driver_healthy()               -- the invariants
// `original_source` is the original case file's text; its header comment lines are dropped.
std::string compose_case(const CaseInfo& original, const std::string& original_source, const TrialCase& trial);

// The body of a case file: what follows its leading comment lines.
std::string case_body(const std::string& source);

}  // namespace readerlab::conformance::hunt
