// Shrinking a fault schedule that broke a driver to the simplest one that still breaks it, so
// that the case `readerlab fuzz` writes shows the bug and little else.
#pragma once

#include "conformance/hunt/schedule.h"

#include <cstddef>
#include <functional>

namespace readerlab::conformance::hunt {

// Whether the driver still breaks under a schedule (readerlab fuzz re-runs the same case with the
// same seed). Called once per candidate.
using StillBreaks = std::function<bool(const Schedule&)>;

struct ShrinkResult {
  Schedule schedule;       // the simplest schedule found that still breaks
  std::size_t tries = 0;   // how many candidates were run
  bool exhausted = false;  // stopped at max_tries with simplifications left untried
};

// Drops faults one at a time (again from the start after each drop that still breaks), then
// moves each remaining fault's trigger towards the simplest: `after` to 0 (else halved while it
// still breaks), `times` to 1 (else halved), the probability to 1 (always), the time window
// away. A change is kept only while the schedule still breaks. `schedule` is assumed to break.
ShrinkResult shrink_schedule(Schedule schedule, const StillBreaks& still_breaks, std::size_t max_tries = 48);

}  // namespace readerlab::conformance::hunt
