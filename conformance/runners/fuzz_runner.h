// `readerlab fuzz`, the hostile-device mode (issue 11 item 4): runs the cases of an RDF driver on
// the host under random fault schedules until the driver breaks, shrinks the schedule that broke
// it and writes a case that reproduces it.
//
// A trial runs one case (chosen from the driver's cases, its known failures left out) with a
// schedule of 1-4 faults armed at its start, in a fork()ed child with a fresh rig and driver, and
// then lab.check_driver_healthy() with the faults cleared. The driver broke when
//  - the child died by a signal or exited otherwise than the trial does (a crash, a sanitizer
//    report: its output is in the trial's log),
//  - the child still ran at the case's timeout plus a margin (a call that hangs),
//  - an invariant failed once the faults were gone (see lab.check_driver_healthy in
//    scenarios/lua/prelude.lua).
// The case's own failures under the faults do not count: drivers may fail calls under faults.
#pragma once

#include "base/error.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace readerlab::conformance::hunt {

struct HuntOptions {
  std::string driver;  // an RDF driver as `readerlab run --driver` names it (NAME or NAME-usbredir)
  std::uint64_t seed = 0;
  std::optional<std::chrono::seconds> time;  // stop after this long without a break
  std::optional<std::uint64_t> runs;         // or after this many trials
  std::filesystem::path out_dir = "out";     // OUT/fuzz/found-<seed>-<trial>.lua, the trials' logs
  std::filesystem::path cases_dir;
  std::filesystem::path expectations_dir;
};

enum class HuntOutcome { nothing_found, found };

// Prints each trial and, on a break, the finding; the Error when the hunt cannot run at all (no
// case for the driver, an output folder that cannot be written).
Expected<HuntOutcome> run_hunt(const HuntOptions& options);

}  // namespace readerlab::conformance::hunt
