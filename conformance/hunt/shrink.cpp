#include "conformance/hunt/shrink.h"

namespace readerlab::conformance::hunt {
namespace {

class Shrinker {
 public:
  Shrinker(Schedule schedule, const StillBreaks& still_breaks, std::size_t max_tries)
      : still_breaks_(still_breaks), max_tries_(max_tries) {
    result_.schedule = std::move(schedule);
  }

  ShrinkResult run() {
    drop_faults();
    for (std::size_t index = 0; index < result_.schedule.size(); ++index) simplify_trigger(index);
    return std::move(result_);
  }

 private:
  // Runs the candidate when tries are left; keeps it when it still breaks.
  bool keep_if_breaks(Schedule candidate) {
    if (result_.tries >= max_tries_) {
      result_.exhausted = true;
      return false;
    }
    ++result_.tries;
    if (!still_breaks_(candidate)) return false;
    result_.schedule = std::move(candidate);
    return true;
  }

  void drop_faults() {
    std::size_t index = 0;
    while (index < result_.schedule.size()) {
      Schedule candidate = result_.schedule;
      candidate.erase(candidate.begin() + static_cast<std::ptrdiff_t>(index));
      // A drop that still breaks shifts the next fault into this place: try it there.
      if (!keep_if_breaks(std::move(candidate))) ++index;
    }
  }

  // Tries `field` = target, then halves it towards target while that still breaks.
  void lower(std::size_t index, std::uint64_t faults::Trigger::*field, std::uint64_t target) {
    auto value = [&] { return trigger_of(result_.schedule[index]).*field; };
    auto with = [&](std::uint64_t candidate_value) {
      Schedule candidate = result_.schedule;
      trigger_of(candidate[index]).*field = candidate_value;
      return candidate;
    };
    if (value() == target) return;
    if (keep_if_breaks(with(target))) return;
    while (value() / 2 > target && keep_if_breaks(with(value() / 2))) {
    }
  }

  void simplify_trigger(std::size_t index) {
    lower(index, &faults::Trigger::after, 0);
    // times 0 is "no limit", the least simple: try a single firing, then a few.
    if (trigger_of(result_.schedule[index]).times == 0) {
      Schedule candidate = result_.schedule;
      trigger_of(candidate[index]).times = 1;
      if (!keep_if_breaks(std::move(candidate))) {
        candidate = result_.schedule;
        trigger_of(candidate[index]).times = 16;
        keep_if_breaks(std::move(candidate));
      }
    }
    if (trigger_of(result_.schedule[index]).times != 0) lower(index, &faults::Trigger::times, 1);
    if (trigger_of(result_.schedule[index]).probability < 1.0) {
      Schedule candidate = result_.schedule;
      trigger_of(candidate[index]).probability = 1.0;
      keep_if_breaks(std::move(candidate));
    }
    const auto& trigger = trigger_of(result_.schedule[index]);
    if (trigger.from.count() != 0 || trigger.until) {
      Schedule candidate = result_.schedule;
      trigger_of(candidate[index]).from = std::chrono::milliseconds(0);
      trigger_of(candidate[index]).until.reset();
      keep_if_breaks(std::move(candidate));
    }
  }

  const StillBreaks& still_breaks_;
  std::size_t max_tries_;
  ShrinkResult result_;
};

}  // namespace

ShrinkResult shrink_schedule(Schedule schedule, const StillBreaks& still_breaks, std::size_t max_tries) {
  return Shrinker(std::move(schedule), still_breaks, max_tries).run();
}

}  // namespace readerlab::conformance::hunt
