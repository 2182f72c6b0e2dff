// readerlab fuzz's trials: drawn from the hunt's seed and the trial's number only, so that the
// same seed gives the same schedules and the same cases.
#include "conformance/hunt/schedule.h"

#include <doctest/doctest.h>

#include <set>

using namespace readerlab;
using conformance::hunt::draw_trial;
using conformance::hunt::DrawOptions;
using conformance::hunt::to_lua;

TEST_CASE("the same seed gives the same trials; another seed others") {
  DrawOptions options;
  options.case_count = 40;
  std::set<std::string> different;
  for (std::uint64_t number = 1; number <= 30; ++number) {
    const auto first = draw_trial(42, number, options);
    const auto again = draw_trial(42, number, options);
    CHECK(to_lua(first.schedule) == to_lua(again.schedule));
    CHECK(first.case_index == again.case_index);
    CHECK(first.seed == again.seed);
    CHECK(first.number == number);
    different.insert(to_lua(first.schedule));
  }
  // Thirty trials of one hunt are not one schedule thirty times.
  CHECK(different.size() > 20);
  std::size_t same_as_other_seed = 0;
  for (std::uint64_t number = 1; number <= 30; ++number)
    same_as_other_seed +=
        to_lua(draw_trial(42, number, options).schedule) == to_lua(draw_trial(43, number, options).schedule);
  CHECK(same_as_other_seed < 3);
}

TEST_CASE("a trial has 1 to 4 faults, every kind can be drawn, transport faults only over usbredir") {
  DrawOptions in_process;
  in_process.case_count = 5;
  DrawOptions usbredir = in_process;
  usbredir.transport_faults = true;
  std::set<std::string> kinds_in_process, kinds_usbredir;
  for (std::uint64_t number = 1; number <= 600; ++number) {
    const auto trial = draw_trial(7, number, in_process);
    CHECK(trial.schedule.size() >= 1);
    CHECK(trial.schedule.size() <= 4);
    CHECK(trial.case_index < 5);
    for (const auto& spec : trial.schedule) {
      CHECK(spec.level() != "transport");
      kinds_in_process.insert(spec.kind());
    }
    for (const auto& spec : draw_trial(7, number, usbredir).schedule) kinds_usbredir.insert(spec.kind());
  }
  const auto all = scenarios::fault_kind_names();
  std::size_t transport = 0;
  for (const auto& kind : all) {
    CAPTURE(kind);
    CHECK(kinds_usbredir.contains(kind));
    if (usbredir::transport_fault_kind_from_string(kind))
      ++transport;
    else
      CHECK(kinds_in_process.contains(kind));
  }
  CHECK(transport > 0);
  CHECK(kinds_usbredir.size() == all.size());
}
