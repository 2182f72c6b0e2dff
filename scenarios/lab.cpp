#include "scenarios/lab.h"

#include "scenarios/prelude.h"
#include "scenarios/reader_profiles.h"

#include "emulator/usbredir/client.h"

#include <iostream>
#include <stdexcept>
#include <string_view>

namespace readerlab::scenarios {
namespace {

struct LabContext {
  Rig* rig;
  DriverPort* port;
  CaseRecord* record;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// A CCID message header alone (CCID 6.1: 10 bytes); anything from there up makes a reader
// model a driver must cope with, however malformed.
constexpr std::int64_t kMinConfiguredMessageLength = 10;

LabContext& context(lua_State* L) { return *static_cast<LabContext*>(lua_touserdata(L, lua_upvalueindex(1))); }

// Lua errors unwind with longjmp, which must not cross C++ frames that own objects: the body
// runs inside try, and the error is raised only after its locals are gone.
// Errors name the line of the case, not of the prelude function that called in here.
void push_case_position(lua_State* L) {
  lua_Debug frame;
  for (int level = 1; lua_getstack(L, level, &frame); ++level) {
    lua_getinfo(L, "Sl", &frame);
    if (frame.currentline > 0 && std::string_view(frame.short_src) != "scenarios/lua/prelude.lua") {
      lua_pushfstring(L, "%s:%d: ", frame.short_src, frame.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}

// A body may have pushed values before it threw: they go. A body that returns lets the
// sandbox check its limits, so a call that waited past the case's deadline ends the case.
template <int (*Body)(lua_State*, LabContext&)>
int guarded(lua_State* L) {
  const int base = lua_gettop(L);
  char message[512];
  int results = -1;
  try {
    results = Body(L, context(L));
  } catch (const std::exception& e) {
    snprintf(message, sizeof message, "%s", e.what());
  }
  if (results >= 0) {
    cards::lua::Sandbox::charge(L, 1);
    return results;
  }
  lua_settop(L, base);
  push_case_position(L);
  lua_pushstring(L, message);
  lua_concat(L, 2);
  return lua_error(L);
}

// A wait the script asks for, cut to what is left of the case's time (a negative one is none).
std::chrono::milliseconds bounded_wait(lua_State* L, lua_Integer asked_ms) {
  const auto left = cards::lua::Sandbox::time_left(L);
  if (asked_ms <= 0) return std::chrono::milliseconds(0);
  return asked_ms < left.count() ? std::chrono::milliseconds(asked_ms) : left;
}

// Pushes a string the host made: with the cap lifted, so a refusal cannot raise through the
// caller's C++ frames.
void push_host_string(lua_State* L, std::string_view text) {
  cards::lua::Sandbox::HostAccess uncapped(cards::lua::Sandbox::of(L));
  lua_pushlstring(L, text.data(), text.size());
}

std::size_t reader_index(lua_State* L, LabContext& lab, int arg) {
  const lua_Integer index = luaL_checkinteger(L, arg);
  if (index < 1 || static_cast<std::size_t>(index) > lab.rig->reader_count())
    throw std::out_of_range("no reader " + std::to_string(index) + " (the rig has " +
                            std::to_string(lab.rig->reader_count()) + ")");
  return static_cast<std::size_t>(index - 1);
}

int reader_count(lua_State* L, LabContext& lab) {
  lua_pushinteger(L, static_cast<lua_Integer>(lab.rig->reader_count()));
  return 1;
}

// A slot as a case names it: 1 for the first (bSlot 0), up to the reader's slot count.
std::uint8_t slot_index(lua_State* L, LabContext& lab, std::size_t reader, int arg) {
  const lua_Integer slot = luaL_optinteger(L, arg, 1);
  const auto count = lab.rig->reader(reader).reader->config().slot_count;
  if (slot < 1 || slot > count)
    throw std::out_of_range("no slot " + std::to_string(slot) + " (reader " + std::to_string(reader + 1) + " has " +
                            std::to_string(count) + ", numbered from 1)");
  return static_cast<std::uint8_t>(slot - 1);
}

// A card the reader locked in (PC_to_RDR_Mechanical, CCID 6.1.12) stays where it is.
void refuse_locked(LabContext& lab, std::size_t index, std::uint8_t slot, const char* what) {
  if (lab.rig->reader(index).reader->card_locked(slot))
    throw std::runtime_error(std::string(what) + ": the card of reader " + std::to_string(index + 1) +
                             " is locked in (PC_to_RDR_Mechanical lock); the host must unlock it first");
}

// lab._insert(index, card, slot): slot 1 when not given.
int insert(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  const char* card = luaL_checkstring(L, 2);
  const std::uint8_t slot = slot_index(L, lab, index, 3);  // may raise: before any C++ object
  refuse_locked(lab, index, slot, "insert");
  lab.rig->insert(index, card, slot);
  return 0;
}

int remove(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  const std::uint8_t slot = slot_index(L, lab, index, 2);
  refuse_locked(lab, index, slot, "remove");
  lab.rig->remove(index, slot);
  return 0;
}

// lab._keypad(index, {digits = "1234", new_digits = "5678", confirm_digits = "5678",
// confirm = true, timeout = false, cancel = false, slot = 1}): what the PIN pad's user does at
// the reader's next PC_to_RDR_Secure commands (CCID 6.1.11), until the next keypad{}.
int keypad(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  const nlohmann::json fields = to_json(L, 2);
  if (!fields.is_object()) throw std::invalid_argument("keypad takes a table of named fields");
  auto& reader = *lab.rig->reader(index).reader;
  ccid::KeypadScript script;
  std::int64_t slot = 1;
  const auto digits_of = [](const std::string& key, const nlohmann::json& value) {
    if (!value.is_string()) throw std::invalid_argument(key + " must be a string of digits, not " + value.dump());
    const auto text = value.get<std::string>();
    for (const char c : text)
      if (c < '0' || c > '9') throw std::invalid_argument(key + ": '" + text + "' has a key the PIN pad lacks");
    return text;
  };
  for (const auto& [key, value] : fields.items()) {
    if (key == "digits") {
      script.digits = digits_of(key, value);
    } else if (key == "new_digits") {
      script.new_digits = digits_of(key, value);
    } else if (key == "confirm_digits") {
      script.confirm_digits = digits_of(key, value);
    } else if (key == "confirm" && value.is_boolean()) {
      script.confirm = value.get<bool>();
    } else if (key == "timeout" && value.is_boolean()) {
      script.timeout = value.get<bool>();
    } else if (key == "cancel" && value.is_boolean()) {
      script.cancel = value.get<bool>();
    } else if (key == "slot" && value.is_number_integer() && value.get<std::int64_t>() >= 1 &&
               value.get<std::int64_t>() <= reader.config().slot_count) {
      slot = value.get<std::int64_t>();
    } else {
      throw std::invalid_argument(key + ": unknown field or invalid value " + value.dump() + " for keypad");
    }
  }
  reader.set_keypad(static_cast<std::uint8_t>(slot - 1), std::move(script));
  return 0;
}

std::chrono::milliseconds hand_delay(lua_State* L, const char* what) {
  const auto delay_ms = luaL_checkinteger(L, 2);
  if (delay_ms < 0 || delay_ms > 600000)
    throw std::out_of_range(std::string(what) + ": delay " + std::to_string(delay_ms) + " ms is outside 0..600000");
  return std::chrono::milliseconds(delay_ms);
}

// lab._remove_after(index, delay_ms, slot)
int remove_after(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  const auto delay = hand_delay(L, "remove_after");
  const std::uint8_t slot = slot_index(L, lab, index, 3);
  lab.rig->remove_after(index, delay, slot);
  return 0;
}

// lab._insert_after(index, delay_ms, card, slot)
int insert_after(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  const auto delay = hand_delay(L, "insert_after");
  const char* card = luaL_checkstring(L, 3);
  const std::uint8_t slot = slot_index(L, lab, index, 4);
  lab.rig->insert_after(index, delay, card, slot);
  return 0;
}

int power_glitch(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  const auto gap_ms = luaL_optinteger(L, 2, 0);
  if (gap_ms < 0 || gap_ms > 600000)
    throw std::out_of_range("gap_ms: " + std::to_string(gap_ms) + " is outside 0..600000");
  lab.rig->power_glitch(index, bounded_wait(L, gap_ms));
  return 0;
}

int unplug(lua_State* L, LabContext& lab) {
  lab.rig->unplug(reader_index(L, lab, 1));
  return 0;
}

int replug(lua_State* L, LabContext& lab) {
  lab.rig->replug(reader_index(L, lab, 1));
  return 0;
}

// lab._configure(index, {profile = NAME, exchange = "tpdu"|"short-apdu"|"extended-apdu", product = ...,
// serial = ..., max_message_length = n, pin_support = 0..3, lcd = wLcdLayout, mechanical = dwMechanical,
// class_envelope = bClassEnvelope, ...}): a reader profile (scenarios/readers/NAME.lua) first, the other fields on top
// of it.
int configure(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  const nlohmann::json fields = to_json(L, 2);
  if (!fields.is_object()) throw std::invalid_argument("configure takes a table of named fields");
  ccid::ReaderConfig config = lab.rig->reader(index).reader->config();
  std::optional<ccid::EscapeHandler> escape;  // none: the model's handler stays
  if (const auto profile_field = fields.find("profile"); profile_field != fields.end()) {
    if (!profile_field->is_string()) throw std::invalid_argument("profile: a reader profile's name expected");
    const auto profile = find_reader_profile(profile_field->get<std::string>());
    if (!profile) throw std::invalid_argument("profile: " + profile.error().message());
    const bool card_timing = config.card_timing;
    config = profile->config;
    config.card_timing = card_timing;
    // The handler outlives the case: its errors go to the run's standard error.
    escape = make_escape_handler(*profile, [](const std::string& what) {
      std::cerr << "readerlab: reader profile escape handler: " << what << "\n";
    });
  }
  for (const auto& [key, value] : fields.items()) {
    if (key == "profile") {
      continue;
    } else if (key == "exchange") {
      const std::string level = value.is_string() ? value.get<std::string>() : "";
      if (level == "tpdu")
        config.set_exchange_level(ccid::ExchangeLevel::tpdu);
      else if (level == "short-apdu")
        config.set_exchange_level(ccid::ExchangeLevel::short_apdu);
      else if (level == "extended-apdu")
        config.set_exchange_level(ccid::ExchangeLevel::extended_apdu);
      else
        throw std::invalid_argument("exchange must be \"tpdu\", \"short-apdu\" or \"extended-apdu\"");
    } else if (key == "card_timing" && value.is_boolean()) {
      config.card_timing = value.get<bool>();
    } else if (key == "product" && value.is_string()) {
      config.product = value.get<std::string>();
    } else if (key == "serial" && value.is_string()) {
      config.serial_number = value.get<std::string>();
    } else if (key == "max_message_length" && value.is_number_integer() &&
               value.get<std::int64_t>() >= kMinConfiguredMessageLength && value.get<std::int64_t>() <= 65554) {
      // Below CCID's own minimum on purpose: a malformed reader model (issue 11).
      config.max_message_length = static_cast<std::uint32_t>(value.get<std::int64_t>());
    } else if (key == "class_descriptor_length" && value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
               value.get<std::int64_t>() <= 255) {
      // A wrong bLength of the CCID class descriptor (CCID 5.1: 0x36).
      config.class_descriptor_length = static_cast<std::uint8_t>(value.get<std::int64_t>());
    } else if (key == "pin_support" && value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
               value.get<std::int64_t>() <= 3) {
      // bPINSupport (CCID 5.1): bit 0 verification, bit 1 modification.
      config.pin_support = static_cast<std::uint8_t>(value.get<std::int64_t>());
    } else if (key == "lcd" && value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
               value.get<std::int64_t>() <= 0xFFFF) {
      // wLcdLayout (CCID 5.1): lines in the high byte, characters a line in the low byte.
      config.lcd_layout = static_cast<std::uint16_t>(value.get<std::int64_t>());
    } else if (key == "mechanical" && value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
               value.get<std::int64_t>() <= 0x0F) {
      // dwMechanical (CCID 5.1): accept, eject, capture, lock/unlock.
      config.mechanical = static_cast<std::uint32_t>(value.get<std::int64_t>());
    } else if (key == "max_ifsd" && value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
               value.get<std::int64_t>() <= 254) {
      // dwMaxIFSD (CCID 5.1); 0 is the malformed model, 254 the ISO 7816-3 11.4.2 maximum.
      config.max_ifsd = static_cast<std::uint32_t>(value.get<std::int64_t>());
    } else if (key == "class_envelope" && value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
               value.get<std::int64_t>() <= 0xFF) {
      // bClassEnvelope (CCID 5.1): the class of the ENVELOPEs carrying extended APDUs to a T=0 card.
      config.class_envelope = static_cast<std::uint8_t>(value.get<std::int64_t>());
    } else {
      throw std::invalid_argument(key + ": unknown field or invalid value " + value.dump() + " for configure");
    }
  }
  lab.rig->configure(index, std::move(config), std::move(escape));
  return 0;
}

// lab._wait_change_read(index, timeout_ms): true once the host has read the reader's pending
// slot-change notification (the driver knows the card left or came), false on timeout.
int wait_change_read(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  const auto timeout = bounded_wait(L, luaL_optinteger(L, 2, 5000));
  auto& reader = *lab.rig->reader(index).reader;
  lua_pushboolean(L, usbredir::run_until(
                         lab.rig->io(), [&] { return !reader.notification_pending(); }, timeout));
  return 1;
}

int reader_info(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  auto& entry = lab.rig->reader(index);
  const auto& config = entry.reader->config();
  // Every slot, 1-based as the case names them: {present, powered, card}.
  nlohmann::json slots = nlohmann::json::array();
  for (std::uint8_t slot = 0; slot < config.slot_count; ++slot)
    slots.push_back({{"present", entry.reader->card_present(slot)},
                     {"powered", entry.reader->card_powered(slot)},
                     {"card", lab.rig->card_in(index, slot)}});
  nlohmann::json info = {{"manufacturer", config.manufacturer},
                         {"product", config.product},
                         {"serial", config.serial_number},
                         {"vendor_id", config.vendor_id},
                         {"product_id", config.product_id},
                         {"slots", slots},
                         {"present", entry.reader->card_present()},
                         {"powered", entry.reader->card_powered()},
                         {"plugged", entry.plugged},
                         {"connected", lab.rig->connected(index)},
                         {"card", entry.inserted_profile},
                         {"commands", entry.reader->commands_handled()},
                         {"exchange", ccid::to_string(config.exchange_level())},
                         {"protocol", entry.reader->protocol()},
                         {"fi_di", entry.reader->protocol_data().empty() ? 0 : entry.reader->protocol_data()[0]},
                         {"time_extensions", entry.reader->time_extensions_sent()},
                         {"pps_exchanges", entry.reader->pps_exchanges()},
                         {"max_message_length", config.max_message_length},
                         {"default_clock_khz", config.default_clock_khz},
                         {"max_data_rate", config.max_data_rate_bps.value_or(config.announced_data_rates().back())}};
  push_json(L, info);
  return 1;
}

int sleep_ms(lua_State* L, LabContext& lab) {
  const lua_Integer ms = luaL_checkinteger(L, 1);
  if (ms < 0) throw std::out_of_range("lab.sleep takes 0 ms or more");
  lab.rig->sleep(bounded_wait(L, ms));
  return 0;
}

int now_ms(lua_State* L, LabContext& lab) {
  const auto elapsed = std::chrono::steady_clock::now() - lab.started;
  lua_pushnumber(L, std::chrono::duration<double, std::milli>(elapsed).count());
  return 1;
}

// lab.log(text) and print(...): one line of the case's log (cut when very long).
int log(lua_State* L, LabContext& lab) {
  cards::lua::Sandbox::push_printed(L, 1);
  std::size_t length = 0;
  const char* text = lua_tolstring(L, -1, &length);
  lab.record->log.emplace_back(text, length);
  return 0;
}

int metric(lua_State* L, LabContext& lab) {
  // Every argument is read before a C++ object exists: a bad one raises a Lua error.
  const char* name = luaL_checkstring(L, 1);
  const lua_Number value = luaL_checknumber(L, 2);
  const char* unit = luaL_optstring(L, 3, "");
  lab.record->metrics.push_back({name, value, unit});
  return 0;
}

int check(lua_State* L, LabContext& lab) {
  const bool ok = lua_toboolean(L, 1) != 0;
  if (!ok) {
    const char* message = luaL_optstring(L, 2, "check failed");
    push_case_position(L);
    lab.record->failed_checks.push_back(lua_tostring(L, -1) + std::string(message));
    lua_pop(L, 1);
  }
  lua_pushboolean(L, ok);
  return 1;
}

int send(lua_State* L, LabContext& lab) {
  const char* call = luaL_checkstring(L, 1);
  nlohmann::json request = lua_istable(L, 2) ? to_json(L, 2) : nlohmann::json::object();
  if (!request.is_object()) throw std::invalid_argument("driver call arguments must be a table with named fields");
  request["call"] = call;
  lab.record->calls_made.emplace_back(call);
  lua_pushinteger(L, static_cast<lua_Integer>(lab.port->send(std::move(request))));
  return 1;
}

int wait(lua_State* L, LabContext& lab) {
  const auto id = static_cast<std::uint64_t>(luaL_checkinteger(L, 1));
  const auto timeout = bounded_wait(L, luaL_optinteger(L, 2, 30000));
  auto reply = lab.port->wait(id, timeout);
  if (!reply) {
    lua_pushnil(L);
    return 1;
  }
  lab.rig->note_driver_answer();
  // A host driver port says which IOCTLs the call caused: the report lists them per case.
  if (const auto ioctls = reply->find("ioctls"); ioctls != reply->end() && ioctls->is_array())
    for (const auto& name : *ioctls)
      if (name.is_string()) lab.record->calls_made.push_back(name.get<std::string>());
  push_json(L, *reply);
  return 1;
}

// One fault spec from a Lua table; the error names the field ("kind: unknown fault kind ...").
FaultSpec fault_from(const nlohmann::json& fields, const std::string& which) {
  auto spec = parse_fault_spec(fields);
  if (!spec) throw std::invalid_argument(spec.error().message() + which);
  return std::move(*spec);
}

void arm(LabContext& lab, const std::vector<FaultSpec>& schedule) {
  const auto armed = lab.rig->arm_faults(schedule);
  if (!armed) throw std::out_of_range(armed.error().message());
}

// lab.faults{ {kind = ...}, ... }: a whole schedule, armed in order (nothing when one is bad).
int faults_schedule(lua_State* L, LabContext& lab) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const nlohmann::json list = to_json(L, 1);
  std::vector<FaultSpec> schedule;
  if (list.is_array()) {
    for (std::size_t i = 0; i < list.size(); ++i)
      schedule.push_back(fault_from(list[i], " (fault " + std::to_string(i + 1) + " of the schedule)"));
  } else if (!list.empty()) {
    throw std::invalid_argument("lab.faults takes a list of faults, e.g. lab.faults{ {kind = \"stall\"} }");
  }
  arm(lab, schedule);
  return 0;
}

// lab._fault(index, {kind = ...}): one fault on reader `index`.
int fault(lua_State* L, LabContext& lab) {
  const auto index = reader_index(L, lab, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  nlohmann::json fields = to_json(L, 2);
  if (!fields.is_object()) throw std::invalid_argument("fault: takes a table of named fields");
  if (fields.contains("reader") && fields["reader"] != static_cast<std::int64_t>(index + 1))
    throw std::invalid_argument("reader: the fault is for lab.reader(" + std::to_string(index + 1) + ")");
  fields["reader"] = static_cast<std::int64_t>(index + 1);
  arm(lab, {fault_from(fields, "")});
  return 0;
}

int clear_faults(lua_State* L, LabContext& lab) {
  lab.rig->clear_faults(reader_index(L, lab, 1));
  return 0;
}

// lab.firings(): every firing of the case so far, {level, kind, detail, event, at_ms, fault}
// (fault: the 1-based place of the fault in the case's schedule).
int firings(lua_State* L, LabContext& lab) {
  collect_faults(*lab.rig, *lab.record);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& firing : lab.record->firings)
    list.push_back({{"level", firing.level},
                    {"kind", firing.kind},
                    {"detail", firing.detail},
                    {"event", firing.event},
                    {"at_ms", firing.at_ms},
                    {"fault", firing.fault_index + 1}});
  push_json(L, list);
  return 1;
}

// lab.outcome(kind, text): what the driver did under a fault kind, for the fault x driver table.
int outcome(lua_State* L, LabContext& lab) {
  const char* kind = luaL_checkstring(L, 1);
  const char* text = luaL_checkstring(L, 2);
  lab.record->outcomes.emplace_back(kind, text);
  return 0;
}

int driver_name(lua_State* L, LabContext& lab) {
  push_host_string(L, lab.port->name());
  return 1;
}

// lab._failed_check_count(): how many checks failed so far (lab.under_faults).
int failed_check_count(lua_State* L, LabContext& lab) {
  lua_pushinteger(L, static_cast<lua_Integer>(lab.record->failed_checks.size()));
  return 1;
}

// lab._forgive_failed_checks(n): the checks failed after the first n become log lines: what the
// driver did under injected faults, which a case run by readerlab fuzz does not count.
int forgive_failed_checks(lua_State* L, LabContext& lab) {
  const lua_Integer kept = luaL_checkinteger(L, 1);
  auto& failed = lab.record->failed_checks;
  if (kept < 0 || static_cast<std::size_t>(kept) > failed.size()) throw std::out_of_range("no such failed check");
  for (auto it = failed.begin() + kept; it != failed.end(); ++it)
    lab.record->log.push_back("under the faults (not counted): " + *it);
  failed.resize(static_cast<std::size_t>(kept));
  return 0;
}

// lab._disarm_faults(index): readerlab fuzz's "the faults are gone" (lab.check_driver_healthy).
int disarm_faults(lua_State* L, LabContext& lab) {
  lab.rig->disarm_faults(reader_index(L, lab, 1));
  return 0;
}

}  // namespace

void collect_faults(Rig& rig, CaseRecord& record) {
  for (auto& firing : rig.take_firings()) record.firings.push_back(std::move(firing));
  const auto& armed = rig.armed_faults();
  for (std::size_t i = record.faults_armed.size(); i < armed.size(); ++i)
    record.faults_armed.push_back(describe(armed[i]));
}

void install_lab(LuaSandbox& sandbox, Rig& rig, DriverPort& port, CaseRecord& record) {
  lua_State* L = sandbox.state();
  {
    // Outside any protected call: a refusal here would abort the process.
    cards::lua::Sandbox::HostAccess uncapped(sandbox.sandbox());
    auto* lab = static_cast<LabContext*>(lua_newuserdatauv(L, sizeof(LabContext), 0));
    new (lab) LabContext{&rig, &port, &record};
    lua_setfield(L, LUA_REGISTRYINDEX, "readerlab.lab");  // keeps the context alive with the state

    static const luaL_Reg functions[] = {{"reader_count", guarded<reader_count>},
                                         {"_insert", guarded<insert>},
                                         {"_remove", guarded<remove>},
                                         {"_remove_after", guarded<remove_after>},
                                         {"_insert_after", guarded<insert_after>},
                                         {"_unplug", guarded<unplug>},
                                         {"_power_glitch", guarded<power_glitch>},
                                         {"_replug", guarded<replug>},
                                         {"_reader_info", guarded<reader_info>},
                                         {"_configure", guarded<configure>},
                                         {"_keypad", guarded<keypad>},
                                         {"_wait_change_read", guarded<wait_change_read>},
                                         {"sleep", guarded<sleep_ms>},
                                         {"now_ms", guarded<now_ms>},
                                         {"log", guarded<log>},
                                         {"metric", guarded<metric>},
                                         {"check", guarded<check>},
                                         {"send", guarded<send>},
                                         {"wait", guarded<wait>},
                                         {"driver_name", guarded<driver_name>},
                                         {"faults", guarded<faults_schedule>},
                                         {"_fault", guarded<fault>},
                                         {"_clear_faults", guarded<clear_faults>},
                                         {"firings", guarded<firings>},
                                         {"outcome", guarded<outcome>},
                                         {"_failed_check_count", guarded<failed_check_count>},
                                         {"_forgive_failed_checks", guarded<forgive_failed_checks>},
                                         {"_disarm_faults", guarded<disarm_faults>},
                                         {nullptr, nullptr}};
    lua_newtable(L);
    lua_pushlightuserdata(L, lab);
    luaL_setfuncs(L, functions, 1);
    lua_setglobal(L, "lab");
    // The sandbox takes print away from every script; a case's goes to its log.
    lua_pushlightuserdata(L, lab);
    lua_pushcclosure(L, guarded<log>, 1);
    lua_setglobal(L, "print");
    // Lua seeds math.random from the clock when it opens the library; a case replays from the
    // run's seed instead (readerlab run --seed).
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, static_cast<lua_Integer>(rig.seed()));
    lua_call(L, 1, 0);
    lua_pop(L, 1);
  }

  const auto prelude = sandbox.run_helper(kPrelude, "scenarios/lua/prelude.lua");
  if (!prelude) throw std::runtime_error("the lab prelude failed: " + prelude.error().message());
}

}  // namespace readerlab::scenarios
