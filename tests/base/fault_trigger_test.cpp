#include <doctest/doctest.h>

#include "base/fault_trigger.h"

#include <algorithm>
#include <vector>

using readerlab::faults::ArmedTrigger;
using readerlab::faults::Trigger;
using namespace std::chrono_literals;

namespace {

std::vector<bool> fire_pattern(const Trigger& trigger, std::uint64_t seed, int events) {
  const auto t0 = ArmedTrigger::Clock::now();
  ArmedTrigger armed(trigger, seed, t0);
  std::vector<bool> fired;
  for (int i = 0; i < events; ++i) fired.push_back(armed.fire(t0));
  return fired;
}

}  // namespace

TEST_CASE("a fault with the default trigger fires once, at the first event") {
  CHECK(fire_pattern({}, 1, 4) == std::vector<bool>{true, false, false, false});
}

TEST_CASE("after N lets N events through, times bounds the firings, 0 times means every event") {
  Trigger t;
  t.after = 2;
  t.times = 2;
  CHECK(fire_pattern(t, 1, 6) == std::vector<bool>{false, false, true, true, false, false});
  t.after = 0;
  t.times = 0;
  CHECK(fire_pattern(t, 1, 3) == std::vector<bool>{true, true, true});
}

TEST_CASE("a window fires only between its start and its end after arming") {
  Trigger t;
  t.times = 0;
  t.from = 100ms;
  t.until = 200ms;
  const auto t0 = ArmedTrigger::Clock::now();
  ArmedTrigger armed(t, 1, t0);
  CHECK_FALSE(armed.fire(t0 + 50ms));
  CHECK(armed.fire(t0 + 100ms));
  CHECK(armed.fire(t0 + 199ms));
  CHECK_FALSE(armed.fire(t0 + 200ms));
  CHECK(armed.spent(t0 + 200ms));
}

TEST_CASE("a probability draws from the fault's seed: the same seed fires on the same events") {
  Trigger t;
  t.times = 0;
  t.probability = 0.3;
  const auto a = fire_pattern(t, readerlab::faults::fault_seed(42, 0), 200);
  CHECK(a == fire_pattern(t, readerlab::faults::fault_seed(42, 0), 200));
  CHECK(a != fire_pattern(t, readerlab::faults::fault_seed(43, 0), 200));
  CHECK(a != fire_pattern(t, readerlab::faults::fault_seed(42, 1), 200));
  const auto fired = std::count(a.begin(), a.end(), true);
  CHECK(fired > 30);
  CHECK(fired < 90);
}
