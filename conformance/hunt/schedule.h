// The random side of `readerlab fuzz` (issue 11 item 4): which case a trial runs and which
// faults it runs under, drawn from the hunt's seed and the trial's number only, so that the same
// seed gives the same trials (and a break found once is found again).
#pragma once

#include "scenarios/fault_spec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace readerlab::conformance::hunt {

using Schedule = std::vector<scenarios::FaultSpec>;

// What one trial runs: the case (an index into the driver's cases) and the schedule armed at its
// start, and the seed its rig runs with (the cards' random choices and the faults' own streams).
struct Trial {
  std::uint64_t number = 0;  // 1-based
  std::uint64_t seed = 0;    // the rig's seed for this trial (written to the found case's @seed)
  std::size_t case_index = 0;
  Schedule schedule;
};

struct DrawOptions {
  bool transport_faults = false;      // the driver reaches the reader over usbredir: socket faults apply
  std::size_t case_count = 1;         // how many cases there are to choose from (at least 1)
  std::vector<std::string> left_out;  // kinds the place the driver runs cannot take faithfully
};

// Trial `number` of the hunt seeded `seed`: 1 to 4 faults over scenarios::fault_kind_names()
// (without the transport kinds unless asked), each with random parameters and a random trigger
// (after 0..12 events; once, a few times or without limit; always or with a probability).
Trial draw_trial(std::uint64_t seed, std::uint64_t number, const DrawOptions& options);

// "usb stall (endpoint bulk-in; after 3, once); ccid late (...)", or "no faults".
std::string describe(const Schedule& schedule);

// The schedule as the argument of lab.faults: "{\n  {kind = ...},\n}".
std::string to_lua(const Schedule& schedule);

// A fault's trigger, whatever its level.
inline faults::Trigger& trigger_of(scenarios::FaultSpec& spec) {
  return std::visit([](auto& fault) -> faults::Trigger& { return fault.trigger; }, spec.fault);
}
inline const faults::Trigger& trigger_of(const scenarios::FaultSpec& spec) {
  return std::visit([](const auto& fault) -> const faults::Trigger& { return fault.trigger; }, spec.fault);
}

}  // namespace readerlab::conformance::hunt
