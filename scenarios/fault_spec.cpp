#include "scenarios/fault_spec.h"

#include "emulator/ccid/messages.h"
#include "emulator/ccid/reader.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <utility>

namespace readerlab::scenarios {
namespace {

using nlohmann::json;

// Bounds that keep a fault spec from asking for what no case needs and a run cannot afford:
// the delays and windows of the lab's other waits (remove_after), a storm long enough to pass
// any driver's patience, sizes within one extended-APDU message (CCID 6.1.4: 65544 + header).
constexpr std::int64_t kMaxMilliseconds = 600000;
constexpr std::int64_t kMaxStorm = 1000;
constexpr std::int64_t kMaxEvents = 1000000000;
constexpr std::int64_t kMaxSize = 65554;
constexpr std::size_t kMaxSizes = 64;
constexpr std::int64_t kMaxReaders = 127;  // USB 2.0 9.4.6: device addresses 1-127
constexpr std::int64_t kMaxChunk = 65536;

constexpr std::array kCcidKinds = {ccid::FaultKind::wrong_seq,
                                   ccid::FaultKind::wrong_slot,
                                   ccid::FaultKind::length_short,
                                   ccid::FaultKind::length_long,
                                   ccid::FaultKind::unknown_type,
                                   ccid::FaultKind::error,
                                   ccid::FaultKind::duplicate,
                                   ccid::FaultKind::no_response,
                                   ccid::FaultKind::late,
                                   ccid::FaultKind::time_extension_storm,
                                   ccid::FaultKind::hardware_error,
                                   ccid::FaultKind::spurious_slot_change,
                                   ccid::FaultKind::missing_slot_change};
constexpr std::array kUsbKinds = {
    usb::FaultKind::stall,        usb::FaultKind::nak,         usb::FaultKind::short_packet,
    usb::FaultKind::babble,       usb::FaultKind::missing_zlp, usb::FaultKind::split,
    usb::FaultKind::control_fail, usb::FaultKind::needs_reset, usb::FaultKind::disconnect};
constexpr std::array kTransportKinds = {usbredir::TransportFaultKind::latency,
                                        usbredir::TransportFaultKind::split_writes, usbredir::TransportFaultKind::drop};

// CCID 6.1 PC_to_RDR message types by the name the spec gives them (without "PC_to_RDR_").
constexpr std::array<std::pair<const char*, ccid::Command>, 14> kCommands = {{
    {"IccPowerOn", ccid::Command::icc_power_on},
    {"IccPowerOff", ccid::Command::icc_power_off},
    {"GetSlotStatus", ccid::Command::get_slot_status},
    {"XfrBlock", ccid::Command::xfr_block},
    {"GetParameters", ccid::Command::get_parameters},
    {"ResetParameters", ccid::Command::reset_parameters},
    {"SetParameters", ccid::Command::set_parameters},
    {"Escape", ccid::Command::escape},
    {"IccClock", ccid::Command::icc_clock},
    {"T0APDU", ccid::Command::t0_apdu},
    {"Secure", ccid::Command::secure},
    {"Mechanical", ccid::Command::mechanical},
    {"Abort", ccid::Command::abort},
    {"SetDataRateAndClockFrequency", ccid::Command::set_data_rate_and_clock_frequency},
}};

// Control requests a control-fail fault may single out: the standard ones (USB 2.0 9.4,
// Table 9-4) and the CCID class requests (CCID 5.3). ABORT shares bRequest 1 with
// CLEAR_FEATURE; the fault filters on bRequest alone, so both names are the same fault.
constexpr std::array<std::pair<const char*, std::uint8_t>, 14> kRequests = {{
    {"GET_STATUS", 0x00},                                          // USB 2.0 9.4.5
    {"CLEAR_FEATURE", 0x01},                                       // USB 2.0 9.4.1
    {"SET_FEATURE", 0x03},                                         // USB 2.0 9.4.9
    {"SET_ADDRESS", 0x05},                                         // USB 2.0 9.4.6
    {"GET_DESCRIPTOR", 0x06},                                      // USB 2.0 9.4.3
    {"SET_DESCRIPTOR", 0x07},                                      // USB 2.0 9.4.8
    {"GET_CONFIGURATION", 0x08},                                   // USB 2.0 9.4.2
    {"SET_CONFIGURATION", 0x09},                                   // USB 2.0 9.4.7
    {"GET_INTERFACE", 0x0A},                                       // USB 2.0 9.4.4
    {"SET_INTERFACE", 0x0B},                                       // USB 2.0 9.4.10
    {"SYNCH_FRAME", 0x0C},                                         // USB 2.0 9.4.11
    {"ABORT", ccid::kRequestAbort},                                // CCID 5.3.1
    {"GET_CLOCK_FREQUENCIES", ccid::kRequestGetClockFrequencies},  // CCID 5.3.2
    {"GET_DATA_RATES", ccid::kRequestGetDataRates},                // CCID 5.3.3
}};

constexpr std::array<std::pair<const char*, std::uint8_t>, 3> kEndpoints = {{
    {"bulk-out", ccid::kBulkOut},
    {"bulk-in", ccid::kBulkIn},
    {"interrupt-in", ccid::kInterruptIn},
}};

std::string hex_byte(unsigned value) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", value & 0xFFu);
  return text;
}

std::string command_name(std::uint8_t type) {
  for (const auto& [name, command] : kCommands)
    if (static_cast<std::uint8_t>(command) == type) return name;
  return hex_byte(type);
}

std::string request_name(std::uint8_t request) {
  for (const auto& [name, value] : kRequests)
    if (value == request) return name;
  return std::to_string(request);
}

std::string endpoint_name(std::uint8_t endpoint) {
  for (const auto& [name, address] : kEndpoints)
    if (address == endpoint) return name;
  return hex_byte(endpoint);
}

// Which of the kind-specific fields a kind takes.
enum Field : unsigned {
  kCommand = 1u << 0,
  kError = 1u << 1,
  kCount = 1u << 2,
  kDelay = 1u << 3,
  kEndpoint = 1u << 4,
  kRequest = 1u << 5,
  kDuration = 1u << 6,
  kSizes = 1u << 7,
  kChunk = 1u << 8,
  kSlot = 1u << 9,
};

unsigned fields_of(ccid::FaultKind kind) {
  switch (kind) {
    case ccid::FaultKind::error: return kCommand | kError;
    case ccid::FaultKind::late: return kCommand | kDelay;
    case ccid::FaultKind::time_extension_storm: return kCommand | kCount;
    case ccid::FaultKind::wrong_slot: return kCommand | kSlot;
    case ccid::FaultKind::spurious_slot_change:
    case ccid::FaultKind::missing_slot_change: return 0;
    default: return kCommand;
  }
}

unsigned fields_of(usb::FaultKind kind) {
  switch (kind) {
    case usb::FaultKind::stall: return kEndpoint;
    case usb::FaultKind::nak: return kEndpoint | kDuration;
    case usb::FaultKind::short_packet:
    case usb::FaultKind::split: return kEndpoint | kSizes;
    case usb::FaultKind::babble:
    case usb::FaultKind::missing_zlp: return kEndpoint;
    case usb::FaultKind::control_fail: return kRequest;
    case usb::FaultKind::needs_reset: return 0;
    case usb::FaultKind::disconnect: return kDuration;
  }
  return 0;
}

unsigned fields_of(usbredir::TransportFaultKind kind) {
  switch (kind) {
    case usbredir::TransportFaultKind::latency: return kDelay;
    case usbredir::TransportFaultKind::split_writes: return kChunk;
    case usbredir::TransportFaultKind::drop: return 0;
  }
  return 0;
}

unsigned fields_of(const FaultSpec& spec) {
  return std::visit([](const auto& fault) { return fields_of(fault.kind); }, spec.fault);
}

// Endpoints each kind may act on: IN faults on IN endpoints, STALL and NAK on any.
bool endpoint_fits(usb::FaultKind kind, std::uint8_t endpoint) {
  const bool in = (endpoint & 0x80) != 0;  // USB 2.0 9.6.6: bit 7 of bEndpointAddress is the direction
  switch (kind) {
    case usb::FaultKind::stall:
    case usb::FaultKind::nak: return true;
    case usb::FaultKind::short_packet:
    case usb::FaultKind::babble:
    case usb::FaultKind::missing_zlp:
    case usb::FaultKind::split: return in;
    default: return false;
  }
}

Error field_error(const std::string& field, std::string what) { return error(field, std::move(what)); }

std::string type_name(const json& value) {
  if (value.is_boolean()) return "a boolean";
  if (value.is_string()) return "a string";
  if (value.is_number()) return "a number";
  if (value.is_array()) return "a list";
  if (value.is_object()) return "a table";
  return "nothing";
}

// A whole number in [min, max] (a Lua float with an integral value counts: Lua turns 1e3 into 1000.0).
Expected<std::int64_t> whole_number(const json& fields, const std::string& field, std::int64_t min, std::int64_t max) {
  const json& value = fields.at(field);
  std::int64_t number = 0;
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(max))
      return field_error(field, std::to_string(value.get<std::uint64_t>()) + " is above " + std::to_string(max));
    number = value.get<std::int64_t>();
  } else if (value.is_number_float()) {
    const double real = value.get<double>();
    if (!std::isfinite(real) || std::floor(real) != real)
      return field_error(field, "must be a whole number, not " + value.dump());
    if (real < static_cast<double>(min) || real > static_cast<double>(max))
      return field_error(field, value.dump() + " is outside " + std::to_string(min) + ".." + std::to_string(max));
    number = static_cast<std::int64_t>(real);
  } else {
    return field_error(field, "must be a whole number, not " + type_name(value));
  }
  if (number < min || number > max)
    return field_error(field,
                       std::to_string(number) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
  return number;
}

Expected<std::string> text(const json& fields, const std::string& field) {
  const json& value = fields.at(field);
  if (!value.is_string()) return field_error(field, "must be a string, not " + type_name(value));
  return value.get<std::string>();
}

std::string names_of(const auto& table) {
  std::string names;
  for (const auto& [name, value] : table) names += (names.empty() ? "" : ", ") + std::string(name);
  return names;
}

struct KindChoice {
  std::variant<ccid::FaultKind, usb::FaultKind, usbredir::TransportFaultKind> kind;
  std::string level;
};

std::optional<KindChoice> find_kind(const std::string& name) {
  if (const auto kind = ccid::fault_kind_from_string(name)) return KindChoice{*kind, "ccid"};
  if (const auto kind = usb::fault_kind_from_string(name)) return KindChoice{*kind, "usb"};
  if (const auto kind = usbredir::transport_fault_kind_from_string(name)) return KindChoice{*kind, "transport"};
  return std::nullopt;
}

Expected<faults::Trigger> parse_trigger(const json& fields) {
  faults::Trigger trigger;
  if (fields.contains("after")) {
    const auto after = whole_number(fields, "after", 0, kMaxEvents);
    if (!after) return after.error();
    trigger.after = static_cast<std::uint64_t>(*after);
  }
  if (fields.contains("times")) {
    const auto times = whole_number(fields, "times", 0, kMaxEvents);
    if (!times) return times.error();
    trigger.times = static_cast<std::uint64_t>(*times);
  }
  if (fields.contains("from_ms")) {
    const auto from = whole_number(fields, "from_ms", 0, kMaxMilliseconds);
    if (!from) return from.error();
    trigger.from = std::chrono::milliseconds(*from);
  }
  if (fields.contains("until_ms")) {
    const auto until = whole_number(fields, "until_ms", 1, kMaxMilliseconds);
    if (!until) return until.error();
    if (*until <= trigger.from.count())
      return field_error(
          "until_ms", std::to_string(*until) + " must be after from_ms (" + std::to_string(trigger.from.count()) + ")");
    trigger.until = std::chrono::milliseconds(*until);
  }
  if (fields.contains("probability")) {
    const json& value = fields.at("probability");
    if (!value.is_number()) return field_error("probability", "must be a number, not " + type_name(value));
    const double probability = value.get<double>();
    if (!(probability >= 0.0 && probability <= 1.0))
      return field_error("probability", value.dump() + " is outside 0..1");
    trigger.probability = probability;
  }
  return trigger;
}

const std::set<std::string>& common_fields() {
  static const std::set<std::string> names = {"kind",  "level",   "reader",   "after",
                                              "times", "from_ms", "until_ms", "probability"};
  return names;
}

// The kind-specific fields by name.
const std::array<std::pair<const char*, Field>, 10> kKindFields = {{{"command", kCommand},
                                                                    {"slot", kSlot},
                                                                    {"error", kError},
                                                                    {"count", kCount},
                                                                    {"delay_ms", kDelay},
                                                                    {"endpoint", kEndpoint},
                                                                    {"request", kRequest},
                                                                    {"duration_ms", kDuration},
                                                                    {"sizes", kSizes},
                                                                    {"chunk", kChunk}}};

Expected<ccid::Fault> parse_ccid(const json& fields, ccid::FaultKind kind) {
  ccid::Fault fault;
  fault.kind = kind;
  if (fields.contains("command")) {
    const json& value = fields.at("command");
    if (value.is_string()) {
      std::string name = value.get<std::string>();
      if (name.rfind("PC_to_RDR_", 0) == 0) name = name.substr(10);
      bool found = false;
      for (const auto& [known, command] : kCommands)
        if (name == known) {
          fault.command = static_cast<std::uint8_t>(command);
          found = true;
        }
      if (!found) return field_error("command", "unknown command '" + name + "' (" + names_of(kCommands) + ")");
    } else {
      return field_error("command", "must be a PC_to_RDR message name, not " + type_name(value));
    }
  }
  if (kind == ccid::FaultKind::error) {
    if (!fields.contains("error"))
      return field_error("error", "kind error needs the bError name (CCID 6.2.6), e.g. error = \"ICC_MUTE\"");
    const auto name = text(fields, "error");
    if (!name) return name.error();
    const auto code = ccid::slot_error_from_name(*name);
    if (!code) return field_error("error", "unknown bError name '" + *name + "' (CCID 6.2.6 Table 6.2-2)");
    fault.error = *code;
  }
  if (kind == ccid::FaultKind::time_extension_storm) {
    // A storm nobody sized: more requests than a short driver patience (libccid waits for them
    // all), fewer than a run would notice.
    fault.count = 10;
    if (fields.contains("count")) {
      const auto count = whole_number(fields, "count", 1, kMaxStorm);
      if (!count) return count.error();
      fault.count = static_cast<std::uint32_t>(*count);
    }
  }
  if (kind == ccid::FaultKind::wrong_slot && fields.contains("slot")) {
    // CCID 6.2: bSlot is one byte; a value above the reader's bMaxSlotIndex names no slot.
    const auto slot = whole_number(fields, "slot", 0, 255);
    if (!slot) return slot.error();
    fault.slot = static_cast<std::uint8_t>(*slot);
  }
  if (kind == ccid::FaultKind::late) {
    if (!fields.contains("delay_ms")) return field_error("delay_ms", "kind late needs delay_ms (how late)");
    const auto delay = whole_number(fields, "delay_ms", 1, kMaxMilliseconds);
    if (!delay) return delay.error();
    fault.delay = std::chrono::milliseconds(*delay);
  }
  return fault;
}

Expected<usb::Fault> parse_usb(const json& fields, usb::FaultKind kind) {
  usb::Fault fault;
  fault.kind = kind;
  if (fields.contains("endpoint")) {
    const auto name = text(fields, "endpoint");
    if (!name) return name.error();
    bool found = false;
    for (const auto& [known, address] : kEndpoints)
      if (*name == known) {
        fault.endpoint = address;
        found = true;
      }
    if (!found) return field_error("endpoint", "unknown endpoint '" + *name + "' (" + names_of(kEndpoints) + ")");
    if (!endpoint_fits(kind, fault.endpoint))
      return field_error("endpoint", std::string(usb::to_string(kind)) + " applies to IN endpoints, not " + *name);
  }
  if (fields.contains("request")) {
    const json& value = fields.at("request");
    if (value.is_string()) {
      const std::string name = value.get<std::string>();
      bool found = false;
      for (const auto& [known, request] : kRequests)
        if (name == known) {
          fault.request = request;
          found = true;
        }
      if (!found) return field_error("request", "unknown request '" + name + "' (" + names_of(kRequests) + ")");
    } else {
      const auto request = whole_number(fields, "request", 0, 255);
      if (!request) return request.error();
      fault.request = static_cast<std::uint8_t>(*request);
    }
  }
  if (fields.contains("duration_ms")) {
    const auto duration = whole_number(fields, "duration_ms", kind == usb::FaultKind::nak ? 1 : 0, kMaxMilliseconds);
    if (!duration) return duration.error();
    fault.duration = std::chrono::milliseconds(*duration);
  } else if (kind == usb::FaultKind::nak) {
    return field_error("duration_ms", "kind nak needs duration_ms (how long the endpoint answers nothing)");
  }
  if (fields.contains("sizes")) {
    const json& value = fields.at("sizes");
    if (!value.is_array()) return field_error("sizes", "must be a list of sizes, not " + type_name(value));
    if (value.empty() || value.size() > kMaxSizes)
      return field_error("sizes", "must hold 1 to " + std::to_string(kMaxSizes) + " sizes");
    for (std::size_t i = 0; i < value.size(); ++i) {
      const json entry = {{"sizes[" + std::to_string(i + 1) + "]", value[i]}};
      const auto size = whole_number(entry, entry.begin().key(), 1, kMaxSize);
      if (!size) return size.error();
      fault.sizes.push_back(static_cast<std::uint32_t>(*size));
    }
  }
  return fault;
}

Expected<usbredir::TransportFault> parse_transport(const json& fields, usbredir::TransportFaultKind kind) {
  usbredir::TransportFault fault;
  fault.kind = kind;
  if (kind == usbredir::TransportFaultKind::latency) {
    if (!fields.contains("delay_ms")) return field_error("delay_ms", "kind latency needs delay_ms (how late)");
    const auto delay = whole_number(fields, "delay_ms", 1, kMaxMilliseconds);
    if (!delay) return delay.error();
    fault.delay = std::chrono::milliseconds(*delay);
  }
  if (fields.contains("chunk")) {
    const auto chunk = whole_number(fields, "chunk", 1, kMaxChunk);
    if (!chunk) return chunk.error();
    fault.chunk = static_cast<std::size_t>(*chunk);
  }
  return fault;
}

std::string lua_string(const std::string& value) {
  std::string out = "\"";
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\%03u", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string lua_value(const json& value) {
  if (value.is_string()) return lua_string(value.get<std::string>());
  if (value.is_array()) {
    std::string items;
    for (const auto& item : value) items += (items.empty() ? "" : ", ") + lua_value(item);
    return "{" + items + "}";
  }
  if (value.is_number_float()) {
    char number[40];
    std::snprintf(number, sizeof number, "%.17g", value.get<double>());
    return number;
  }
  return value.dump();
}

// The fields in the order a person writes them: what, where, when, then the kind's own.
const std::array<const char*, 19> kFieldOrder = {
    "kind",        "level", "reader", "command", "slot",  "error",   "count",    "delay_ms",    "endpoint", "request",
    "duration_ms", "sizes", "chunk",  "after",   "times", "from_ms", "until_ms", "probability", ""};

}  // namespace

std::string FaultSpec::level() const {
  switch (fault.index()) {
    case 0: return "ccid";
    case 1: return "usb";
    default: return "transport";
  }
}

std::string FaultSpec::kind() const {
  return std::visit(
      [](const auto& armed) -> std::string {
        using T = std::decay_t<decltype(armed)>;
        if constexpr (std::is_same_v<T, usbredir::TransportFault>)
          return usbredir::to_string(armed.kind);
        else if constexpr (std::is_same_v<T, usb::Fault>)
          return usb::to_string(armed.kind);
        else
          return ccid::to_string(armed.kind);
      },
      fault);
}

Expected<FaultSpec> parse_fault_spec(const json& fields) {
  if (!fields.is_object()) return error("fault", "must be a table of named fields, not " + type_name(fields));
  if (!fields.contains("kind"))
    return error(
        "kind", "missing (one of " + [] {
          std::string names;
          for (const auto& name : fault_kind_names()) names += (names.empty() ? "" : ", ") + name;
          return names;
        }() + ")");
  const auto kind_name = text(fields, "kind");
  if (!kind_name) return kind_name.error();
  const auto choice = find_kind(*kind_name);
  if (!choice) return error("kind", "unknown fault kind '" + *kind_name + "' (readerlab's kinds: see the README)");

  FaultSpec spec;
  if (fields.contains("level")) {
    const auto level = text(fields, "level");
    if (!level) return level.error();
    if (*level != "ccid" && *level != "usb" && *level != "transport")
      return error("level", "unknown level '" + *level + "' (ccid, usb, transport)");
    if (*level != choice->level)
      return error("level", "kind " + *kind_name + " is a " + choice->level + " fault, not " + *level);
  }
  if (fields.contains("reader")) {
    const auto reader = whole_number(fields, "reader", 1, kMaxReaders);
    if (!reader) return reader.error();
    spec.reader = static_cast<std::size_t>(*reader - 1);
  }
  const auto trigger = parse_trigger(fields);
  if (!trigger) return trigger.error();

  const unsigned allowed = std::visit([](const auto& kind) { return fields_of(kind); }, choice->kind);
  for (const auto& [key, value] : fields.items()) {
    if (common_fields().count(key)) continue;
    bool known = false;
    for (const auto& [name, bit] : kKindFields) {
      if (key != name) continue;
      known = true;
      if ((allowed & bit) == 0) return error(key, "does not apply to kind " + *kind_name);
    }
    if (!known) return error(key, "unknown field");
  }

  if (const auto* kind = std::get_if<ccid::FaultKind>(&choice->kind)) {
    auto fault = parse_ccid(fields, *kind);
    if (!fault) return fault.error();
    fault->trigger = *trigger;
    spec.fault = std::move(*fault);
  } else if (const auto* usb_kind = std::get_if<usb::FaultKind>(&choice->kind)) {
    auto fault = parse_usb(fields, *usb_kind);
    if (!fault) return fault.error();
    fault->trigger = *trigger;
    spec.fault = std::move(*fault);
  } else {
    auto fault = parse_transport(fields, std::get<usbredir::TransportFaultKind>(choice->kind));
    if (!fault) return fault.error();
    fault->trigger = *trigger;
    spec.fault = std::move(*fault);
  }
  return spec;
}

json to_json(const FaultSpec& spec) {
  json fields = json::object();
  fields["kind"] = spec.kind();
  if (spec.reader != 0) fields["reader"] = spec.reader + 1;
  const unsigned allowed = fields_of(spec);
  const faults::Trigger* trigger = nullptr;
  if (const auto* fault = std::get_if<ccid::Fault>(&spec.fault)) {
    trigger = &fault->trigger;
    if ((allowed & kCommand) && fault->command) fields["command"] = command_name(*fault->command);
    if (allowed & kError) fields["error"] = ccid::slot_error_name(fault->error);
    if (allowed & kCount) fields["count"] = fault->count;
    if (allowed & kDelay) fields["delay_ms"] = fault->delay.count();
    if ((allowed & kSlot) && fault->slot) fields["slot"] = *fault->slot;
  } else if (const auto* usb_fault = std::get_if<usb::Fault>(&spec.fault)) {
    trigger = &usb_fault->trigger;
    if ((allowed & kEndpoint) && usb_fault->endpoint != 0) fields["endpoint"] = endpoint_name(usb_fault->endpoint);
    if ((allowed & kRequest) && usb_fault->request) fields["request"] = request_name(*usb_fault->request);
    if ((allowed & kDuration) && (usb_fault->duration.count() != 0 || usb_fault->kind == usb::FaultKind::nak))
      fields["duration_ms"] = usb_fault->duration.count();
    if ((allowed & kSizes) && !usb_fault->sizes.empty()) fields["sizes"] = usb_fault->sizes;
  } else {
    const auto& transport = std::get<usbredir::TransportFault>(spec.fault);
    trigger = &transport.trigger;
    if (allowed & kDelay) fields["delay_ms"] = transport.delay.count();
    if ((allowed & kChunk) && transport.chunk != 1) fields["chunk"] = transport.chunk;
  }
  const faults::Trigger defaults;
  if (trigger->after != defaults.after) fields["after"] = trigger->after;
  if (trigger->times != defaults.times) fields["times"] = trigger->times;
  if (trigger->from != defaults.from) fields["from_ms"] = trigger->from.count();
  if (trigger->until) fields["until_ms"] = trigger->until->count();
  if (trigger->probability != defaults.probability) fields["probability"] = trigger->probability;
  return fields;
}

std::string to_lua(const FaultSpec& spec) {
  const json fields = to_json(spec);
  std::string out;
  for (const char* name : kFieldOrder) {
    if (*name == '\0' || !fields.contains(name)) continue;
    out += (out.empty() ? "" : ", ") + std::string(name) + " = " + lua_value(fields.at(name));
  }
  return "{" + out + "}";
}

std::string describe(const FaultSpec& spec) {
  const json fields = to_json(spec);
  std::string parameters;
  for (const char* name : kFieldOrder) {
    const std::string key = name;
    if (key.empty() || key == "kind" || key == "reader" || !fields.contains(key)) continue;
    if (key == "after" || key == "times" || key == "from_ms" || key == "until_ms" || key == "probability") continue;
    const json& value = fields.at(key);
    std::string shown;
    if (value.is_string())
      shown = value.get<std::string>();
    else if (value.is_array())
      for (const auto& item : value) shown += (shown.empty() ? "" : ",") + item.dump();
    else
      shown = value.dump();
    std::string label = key;
    if (label.size() > 3 && label.ends_with("_ms")) {
      label.resize(label.size() - 3);
      shown += " ms";
    }
    parameters += (parameters.empty() ? "" : ", ") + label + " " + shown;
  }
  const faults::Trigger& trigger =
      std::visit([](const auto& fault) -> const faults::Trigger& { return fault.trigger; }, spec.fault);
  std::string text = spec.level() + " " + spec.kind() + " (";
  if (!parameters.empty()) text += parameters + "; ";
  text += faults::describe(trigger) + ")";
  if (spec.reader != 0) text += " on reader " + std::to_string(spec.reader + 1);
  return text;
}

std::vector<std::string> fault_kind_names() {
  std::vector<std::string> names;
  for (const auto kind : kCcidKinds) names.emplace_back(ccid::to_string(kind));
  for (const auto kind : kUsbKinds) names.emplace_back(usb::to_string(kind));
  for (const auto kind : kTransportKinds) names.emplace_back(usbredir::to_string(kind));
  return names;
}

}  // namespace readerlab::scenarios
