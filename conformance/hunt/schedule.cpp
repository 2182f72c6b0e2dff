#include "conformance/hunt/schedule.h"

#include "base/fault_trigger.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace readerlab::conformance::hunt {
namespace {

using nlohmann::json;

// The bError values of CCID 6.2.6 Table 6.2-2 a reader may answer a command with.
constexpr std::array<const char*, 14> kSlotErrors = {"ICC_MUTE",
                                                     "XFR_PARITY_ERROR",
                                                     "XFR_OVERRUN",
                                                     "HW_ERROR",
                                                     "BAD_ATR_TS",
                                                     "BAD_ATR_TCK",
                                                     "ICC_PROTOCOL_NOT_SUPPORTED",
                                                     "ICC_CLASS_NOT_SUPPORTED",
                                                     "PROCEDURE_BYTE_CONFLICT",
                                                     "DEACTIVATED_PROTOCOL",
                                                     "BUSY_WITH_AUTO_SEQUENCE",
                                                     "PIN_TIMEOUT",
                                                     "PIN_CANCELLED",
                                                     "CMD_SLOT_BUSY"};
constexpr std::array<const char*, 3> kEndpoints = {"bulk-out", "bulk-in", "interrupt-in"};

// A hunt's numbers come from a stream of their own, apart from the faults' streams that the
// same seeds feed (faults::fault_seed mixes the index in).
constexpr std::uint64_t kHuntStream = 0x68756e74;  // "hunt"

template <std::size_t N>
const char* pick(faults::Random& random, const std::array<const char*, N>& names) {
  return names[random.between(0, N - 1)];
}

// The kind's own parameters, drawn within what a real misbehaving device does and a driver's
// timeouts allow (a delay never longer than a couple of seconds: a slow case is not a hang).
void add_parameters(json& fields, const std::string& level, const std::string& kind, faults::Random& random) {
  if (level == "ccid") {
    if (kind == "error") fields["error"] = pick(random, kSlotErrors);
    if (kind == "late") fields["delay_ms"] = random.between(50, 1500);
    if (kind == "time-extension-storm") fields["count"] = random.between(1, 20);
  } else if (level == "usb") {
    if (kind == "stall" || kind == "nak") fields["endpoint"] = pick(random, kEndpoints);
    if (kind == "short-packet" || kind == "babble" || kind == "missing-zlp" || kind == "split")
      fields["endpoint"] = random.between(0, 1) == 0 ? "bulk-in" : "interrupt-in";
    if (kind == "nak") fields["duration_ms"] = random.between(10, 1000);
    if (kind == "disconnect") fields["duration_ms"] = random.between(0, 500);
    if (kind == "split") {
      // Odd sizes, as a device that splits a message where no packet boundary is.
      auto sizes = json::array();
      const auto count = random.between(1, 3);
      for (std::uint64_t i = 0; i < count; ++i) sizes.push_back(random.between(1, 31) | 1u);
      fields["sizes"] = sizes;
    }
    if (kind == "short-packet" && random.between(0, 1) == 0)
      fields["sizes"] = json::array({random.between(1, 9)});  // within the 10-byte CCID header
  } else if (level == "transport") {
    if (kind == "latency") fields["delay_ms"] = random.between(1, 200);
    if (kind == "split-writes") fields["chunk"] = random.between(1, 16);
  }
}

// Most faults fire soon and a few times; some keep firing (times 0) or fire by chance.
void add_trigger(json& fields, faults::Random& random) {
  fields["after"] = random.between(0, 1) == 0 ? random.between(0, 3) : random.between(0, 12);
  const auto times = random.between(0, 9);
  if (times >= 6) fields["times"] = times >= 8 ? 0 : random.between(2, 5);
  if (random.between(0, 3) == 0) fields["probability"] = static_cast<double>(random.between(1, 9)) / 10.0;
}

scenarios::FaultSpec parse_drawn(const json& fields) {
  auto spec = scenarios::parse_fault_spec(fields);
  // The fields come from the tables above: a refusal is readerlab's own mistake.
  if (!spec)
    throw std::logic_error("readerlab fuzz drew a fault the lab refuses: " + fields.dump() + ": " +
                           spec.error().message());
  return std::move(*spec);
}

std::string level_of(const std::string& kind) {
  if (ccid::fault_kind_from_string(kind)) return "ccid";
  if (usb::fault_kind_from_string(kind)) return "usb";
  return "transport";
}

}  // namespace

Trial draw_trial(std::uint64_t seed, std::uint64_t number, const DrawOptions& options) {
  // The kinds a trial may draw, with their levels, in the lab's order.
  std::vector<std::pair<std::string, std::string>> kinds;
  for (const auto& name : scenarios::fault_kind_names()) {
    const std::string level = level_of(name);
    if (level == "transport" && !options.transport_faults) continue;
    if (std::find(options.left_out.begin(), options.left_out.end(), name) != options.left_out.end()) continue;
    kinds.emplace_back(level, name);
  }

  faults::Random random(faults::fault_seed(seed ^ kHuntStream, number));
  Trial trial;
  trial.number = number;
  trial.seed = faults::fault_seed(seed, number);
  trial.case_index = options.case_count == 0 ? 0 : static_cast<std::size_t>(random.between(0, options.case_count - 1));
  const auto faults = random.between(1, 4);
  for (std::uint64_t i = 0; i < faults && !kinds.empty(); ++i) {
    const auto& [level, kind] = kinds[random.between(0, kinds.size() - 1)];
    json fields = {{"kind", kind}};
    add_parameters(fields, level, kind, random);
    add_trigger(fields, random);
    trial.schedule.push_back(parse_drawn(fields));
  }
  return trial;
}

std::string describe(const Schedule& schedule) {
  if (schedule.empty()) return "no faults";
  std::string text;
  for (const auto& spec : schedule) text += (text.empty() ? "" : "; ") + scenarios::describe(spec);
  return text;
}

std::string to_lua(const Schedule& schedule) {
  std::string text = "{\n";
  for (const auto& spec : schedule) text += "  " + scenarios::to_lua(spec) + ",\n";
  return text + "}";
}

}  // namespace readerlab::conformance::hunt
