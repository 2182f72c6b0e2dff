// The shrinker of readerlab fuzz: a schedule that broke a driver becomes the simplest that still
// breaks it, whatever the "still breaks?" question answers.
#include "conformance/hunt/shrink.h"

#include <doctest/doctest.h>

using namespace readerlab;
using conformance::hunt::Schedule;
using conformance::hunt::shrink_schedule;
using conformance::hunt::trigger_of;

namespace {

scenarios::FaultSpec usb_fault(usb::FaultKind kind, std::uint8_t endpoint, faults::Trigger trigger) {
  usb::Fault fault;
  fault.kind = kind;
  fault.endpoint = endpoint;
  fault.trigger = trigger;
  return {0, fault};
}

scenarios::FaultSpec ccid_fault(ccid::FaultKind kind, faults::Trigger trigger) {
  ccid::Fault fault;
  fault.kind = kind;
  fault.trigger = trigger;
  return {0, fault};
}

bool is_stall_on_bulk_in(const scenarios::FaultSpec& spec) {
  const auto* fault = std::get_if<usb::Fault>(&spec.fault);
  return fault && fault->kind == usb::FaultKind::stall && fault->endpoint == 0x82;
}

}  // namespace

TEST_CASE("the faults that do not matter are dropped and the trigger of the one that does is simplified") {
  faults::Trigger noisy;
  noisy.after = 9;
  noisy.times = 0;
  noisy.probability = 0.4;
  noisy.until = std::chrono::milliseconds(4000);
  const Schedule drawn = {ccid_fault(ccid::FaultKind::late, {}), usb_fault(usb::FaultKind::stall, 0x82, noisy),
                          ccid_fault(ccid::FaultKind::duplicate, noisy), usb_fault(usb::FaultKind::nak, 0x01, {})};
  std::vector<Schedule> asked;
  // The driver breaks whenever a bulk-IN stall fires at all.
  const auto result = shrink_schedule(drawn, [&](const Schedule& candidate) {
    asked.push_back(candidate);
    return std::any_of(candidate.begin(), candidate.end(), is_stall_on_bulk_in);
  });
  REQUIRE(result.schedule.size() == 1);
  CHECK(is_stall_on_bulk_in(result.schedule[0]));
  const auto& trigger = trigger_of(result.schedule[0]);
  CHECK(trigger.after == 0);
  CHECK(trigger.times == 1);
  CHECK(trigger.probability == 1.0);
  CHECK_FALSE(trigger.until.has_value());
  CHECK(result.tries == asked.size());
  CHECK_FALSE(result.exhausted);
}

TEST_CASE("a change is kept only while the schedule still breaks") {
  faults::Trigger late_stall;
  late_stall.after = 13;
  late_stall.times = 6;
  // The bug needs at least 3 transfers before the stall, and two stalls.
  const auto breaks = [](const Schedule& candidate) {
    for (const auto& spec : candidate)
      if (is_stall_on_bulk_in(spec) && trigger_of(spec).after >= 3 && trigger_of(spec).times >= 2) return true;
    return false;
  };
  const Schedule drawn = {usb_fault(usb::FaultKind::stall, 0x82, late_stall)};
  const auto result = shrink_schedule(drawn, breaks);
  REQUIRE(result.schedule.size() == 1);
  CHECK(breaks(result.schedule));
  // Halved while it still broke: after 13 -> 6 -> 3 (0 and 1 would not break), times 6 -> 3
  // (1 would not).
  CHECK(trigger_of(result.schedule[0]).after == 3);
  CHECK(trigger_of(result.schedule[0]).times == 3);
}

TEST_CASE("two faults that break only together both stay") {
  const Schedule drawn = {ccid_fault(ccid::FaultKind::late, {}), ccid_fault(ccid::FaultKind::wrong_seq, {}),
                          usb_fault(usb::FaultKind::stall, 0x82, {})};
  const auto result = shrink_schedule(drawn, [](const Schedule& candidate) {
    bool late = false, stall = false;
    for (const auto& spec : candidate) {
      const auto* fault = std::get_if<ccid::Fault>(&spec.fault);
      late = late || (fault && fault->kind == ccid::FaultKind::late);
      stall = stall || is_stall_on_bulk_in(spec);
    }
    return late && stall;
  });
  REQUIRE(result.schedule.size() == 2);
  CHECK(std::get<ccid::Fault>(result.schedule[0].fault).kind == ccid::FaultKind::late);
  CHECK(is_stall_on_bulk_in(result.schedule[1]));
}

TEST_CASE("the shrinker stops at its limit of tries and says so") {
  faults::Trigger trigger;
  trigger.after = 100;
  const Schedule drawn(4, usb_fault(usb::FaultKind::stall, 0x82, trigger));
  std::size_t runs = 0;
  const auto result = shrink_schedule(
      drawn,
      [&](const Schedule&) {
        ++runs;
        return false;
      },
      3);
  CHECK(runs == 3);
  CHECK(result.tries == 3);
  CHECK(result.exhausted);
  CHECK(result.schedule.size() == 4);
}
