// When an injected fault fires, and what fired: the part of fault injection every level shares
// (CCID messages in emulator/ccid, USB transfers in emulator/usb, the usbredir socket in
// emulator/usbredir). A level arms faults of its own kinds, each with a Trigger; every event the
// fault could apply to (a response, a transfer, a packet) asks the armed fault whether it fires
// now, and a firing is written to the shared FaultLog, the schedule a report prints.
//
// Random choices come from the fault's own stream, seeded from the run's seed and the fault's
// place in the schedule, so the same seed and the same events fire the same faults again.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::faults {

// Deterministic 64-bit generator (splitmix64): small, seedable, identical on every platform.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [0, 1).
  double unit();
  // Uniform in [low, high]; low when high < low.
  std::uint64_t between(std::uint64_t low, std::uint64_t high);

 private:
  std::uint64_t state_;
};

// A seed for the n-th fault of a schedule, mixed from the run's seed, so that two faults of one
// run draw different numbers and the same run draws the same ones.
std::uint64_t fault_seed(std::uint64_t run_seed, std::uint64_t fault_index);

// Combinations cover the issue's "once", "after N events", "for a time window" and "with a
// probability": the defaults fire once, at the first event.
struct Trigger {
  std::uint64_t after = 0;  // eligible events let through before the fault may fire
  std::uint64_t times = 1;  // firings at most; 0: no limit
  // Only events inside [from, until) after the fault was armed; until unset: no end.
  std::chrono::milliseconds from{0};
  std::optional<std::chrono::milliseconds> until;
  double probability = 1.0;  // each eligible event in the window fires with this chance

  bool operator==(const Trigger&) const = default;
};

// "after 3, times 2, 50..500 ms, p=0.25" for reports.
std::string describe(const Trigger& trigger);

class ArmedTrigger {
 public:
  using Clock = std::chrono::steady_clock;
  ArmedTrigger(Trigger trigger, std::uint64_t seed, Clock::time_point armed_at = Clock::now());

  // One eligible event: whether the fault fires on it. Counts the event either way.
  bool fire(Clock::time_point now = Clock::now());
  // No event can fire it any more (its firings are used up or its window is over).
  bool spent(Clock::time_point now = Clock::now()) const;

  const Trigger& trigger() const { return trigger_; }
  std::uint64_t events_seen() const { return events_seen_; }
  std::uint64_t times_fired() const { return times_fired_; }
  Clock::time_point armed_at() const { return armed_at_; }

 private:
  Trigger trigger_;
  Random random_;
  Clock::time_point armed_at_;
  std::uint64_t events_seen_ = 0;
  std::uint64_t times_fired_ = 0;
};

// One firing, as the report shows it.
struct Firing {
  std::string level;            // "ccid", "usb", "transport"
  std::string kind;             // the fault's name, e.g. "wrong-seq", "stall"
  std::string detail;           // what was done, e.g. "bSeq 07 -> 08 on RDR_to_PC_DataBlock"
  std::uint64_t event = 0;      // the eligible event it fired on (1-based, per fault)
  double at_ms = 0;             // since the fault was armed
  std::size_t fault_index = 0;  // the fault's place in the schedule (0-based)
};

// The firings of a run's faults, in order; levels append, the rig reads and clears it per case.
struct FaultLog {
  std::vector<Firing> firings;
};

}  // namespace readerlab::faults
