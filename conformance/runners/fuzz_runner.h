// `readerlab fuzz`, the hostile-device mode (issue 11 item 4): runs the cases of a driver under
// random fault schedules until the driver breaks, shrinks the schedule that broke it and writes a
// case that reproduces it. The drivers: an RDF driver on the host, or libccid (pcscd in the Linux
// guest).
//
// A trial runs one case (chosen from the driver's cases, its known failures left out) with a
// schedule of 1-4 faults armed at its start, then lab.check_driver_healthy() with the faults
// cleared. An RDF driver's trial runs in a fork()ed child with a fresh rig and driver; libccid's
// in one booted guest, booted again after a trial that broke it. The driver broke when
//  - the child died by a signal or exited otherwise than the trial does (a crash, a sanitizer
//    report: its output is in the trial's log), or pcscd is gone from the guest or has another pid,
//  - the child still ran at the case's timeout plus a margin (a call that hangs), or the guest's
//    agent no longer answers (its PC/SC call hangs in pcscd),
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
  // An RDF driver as `readerlab run --driver` names it (NAME or NAME-usbredir), or libccid.
  std::string driver;
  std::uint64_t seed = 0;
  std::optional<std::chrono::seconds> time;  // stop after this long without a break
  std::optional<std::uint64_t> runs;         // or after this many trials
  std::filesystem::path out_dir = "out";     // OUT/fuzz/found-<seed>-<trial>.lua, the trials' logs
  std::filesystem::path cases_dir;
  std::filesystem::path expectations_dir;
  std::filesystem::path guest_dir;  // libccid: the built guest (empty: the default, built when missing)
};

enum class HuntOutcome { nothing_found, found };

// Prints each trial and, on a break, the finding; the Error when the hunt cannot run at all (no
// case for the driver, an output folder that cannot be written).
Expected<HuntOutcome> run_hunt(const HuntOptions& options);

}  // namespace readerlab::conformance::hunt
