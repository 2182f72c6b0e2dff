#include "base/fault_trigger.h"

#include <cstdio>

namespace readerlab::faults {

std::uint64_t Random::next() {
  // splitmix64 (Steele, Lea, Flood 2014): constants of the published generator.
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Random::unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::uint64_t Random::between(std::uint64_t low, std::uint64_t high) {
  if (high <= low) return low;
  const std::uint64_t span = high - low;
  if (span == UINT64_MAX) return next();
  return low + next() % (span + 1);
}

std::uint64_t fault_seed(std::uint64_t run_seed, std::uint64_t fault_index) {
  Random mix(run_seed ^ (0xD1B54A32D192ED03ull * (fault_index + 1)));
  return mix.next();
}

std::string describe(const Trigger& trigger) {
  std::string text;
  auto add = [&](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (trigger.after > 0) add("after " + std::to_string(trigger.after));
  add(trigger.times == 0   ? std::string("every time")
      : trigger.times == 1 ? "once"
                           : std::to_string(trigger.times) + " times");
  if (trigger.from.count() > 0 || trigger.until)
    add(std::to_string(trigger.from.count()) + ".." + (trigger.until ? std::to_string(trigger.until->count()) : "") +
        " ms");
  if (trigger.probability < 1.0) {
    char p[32];
    std::snprintf(p, sizeof p, "p=%g", trigger.probability);
    add(p);
  }
  return text;
}

ArmedTrigger::ArmedTrigger(Trigger trigger, std::uint64_t seed, Clock::time_point armed_at)
    : trigger_(std::move(trigger)), random_(seed), armed_at_(armed_at) {}

bool ArmedTrigger::fire(Clock::time_point now) {
  ++events_seen_;
  if (trigger_.times != 0 && times_fired_ >= trigger_.times) return false;
  if (events_seen_ <= trigger_.after) return false;
  const auto since = now - armed_at_;
  if (since < trigger_.from) return false;
  if (trigger_.until && since >= *trigger_.until) return false;
  // Drawn only for a real chance, so that certain faults leave the stream alone.
  if (trigger_.probability < 1.0 && !(random_.unit() < trigger_.probability)) return false;
  ++times_fired_;
  return true;
}

bool ArmedTrigger::spent(Clock::time_point now) const {
  if (trigger_.times != 0 && times_fired_ >= trigger_.times) return true;
  return trigger_.until && now - armed_at_ >= *trigger_.until;
}

}  // namespace readerlab::faults
