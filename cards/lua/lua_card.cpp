#include "cards/lua/lua_card.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <lua.hpp>
#include <sstream>
#include <system_error>
#include <utility>

#include "base/bytes.h"
#include "cards/apdu/apdu.h"
#include "cards/atr/atr.h"
#include "cards/lua/card_file.h"
#include "cards/lua/sandbox.h"
#include "cards/pps/pps.h"

namespace readerlab::cards {

// The state behind a LuaCard. The C functions a script calls reach it through the sandbox;
// they keep no C++ object with a destructor in their own frames (a Lua error would skip it),
// so whatever needs one happens in the noexcept members below, which return first.
struct LuaCard::Impl {
  LuaCardOptions options;
  std::string file;
  std::string name, description;
  Bytes declared_atr;
  bool mute = false;
  std::unique_ptr<lua::Sandbox> sandbox;  // released when the card breaks
  std::optional<IsoCard> iso;
  std::string last_error;

  // The session.
  bool powered = false;
  bool answered_reset = false;
  bool pps_allowed = false;
  Bytes current_atr;
  std::uint8_t fi_di = kDefaultFiDi;
  ProtocolFaults faults;

  // The call in progress, read by the trampolines.
  const char* reset_kind = "cold";
  std::span<const std::uint8_t> command;
  std::optional<CommandApdu> parsed_command;
  std::string command_hex;
  Bytes scratch;             // what a host function hands back to the script
  std::string scratch_text;  // the same, as text

  static constexpr std::uint8_t kDefaultFiDi = 0x11;  // Fd=372, Dd=1, ISO 7816-3 8.3

  void log(std::string_view text) const noexcept {
    if (!options.logger) return;
    try {
      options.logger(std::string(text));
    } catch (...) {
      // A logger that throws must not take the card (or the emulator) down with it.
    }
  }
  void log_from_script(const char* text, std::size_t length) const noexcept {
    try {
      log("[" + name + "] " + std::string(text, length));
    } catch (...) {
    }
  }
  // The script's card.iso: the built-in answer into `scratch`; false when there is none.
  bool run_iso(std::span<const std::uint8_t> bytes) noexcept {
    if (!iso) return false;  // the card file is still running: no card yet
    try {
      auto response = iso->transmit_apdu(bytes);
      if (response.status != CardStatus::ok) return false;
      scratch = std::move(response.data);
      return true;
    } catch (...) {
      return false;
    }
  }
  bool decode_hex(std::string_view text) noexcept {
    try {
      auto bytes = readerlab::parse_hex(text);
      if (!bytes) return false;
      scratch = std::move(*bytes);
      return true;
    } catch (...) {
      return false;
    }
  }
  bool encode_hex(std::span<const std::uint8_t> bytes) noexcept {
    try {
      scratch_text = readerlab::to_hex(bytes);
      return true;
    } catch (...) {
      return false;
    }
  }
  // A script failure: the card is mute from now on, like firmware that crashed.
  void break_card(const std::string& message) {
    last_error = message;
    log("card '" + name + "' broke and goes mute: " + message);
    sandbox.reset();
  }
  std::string at_current_line() const {
    const int line = sandbox->current_line();
    return line > 0 ? file + ":" + std::to_string(line) : file;
  }
  // The Fi/Di in force after the ATR: TA1 at once in specific mode, else Fd/Dd until PPS.
  void update_fi_di_from_atr() {
    const auto parsed = parse_atr(current_atr);
    fi_di = parsed.atr && parsed.atr->specific_mode() ? parsed.atr->fi_di() : kDefaultFiDi;
  }
};

namespace {

constexpr std::size_t kMaxCardFileBytes = 1u << 20;
constexpr std::size_t kMaxResponseData = kExtendedMaxNe;  // ISO 7816-4 5.1
constexpr std::size_t kMaxAtrBytes = 33;                  // ISO 7816-3 8.2.1
// A card's delays are capped: drivers give a card seconds, not minutes, to answer, so a longer
// delay shows nothing a shorter one would not, and it would stall the reader for as long.
constexpr std::chrono::milliseconds kMaxCardDelay{30'000};
constexpr lua_Integer kMaxEtu = 10'000'000;
constexpr lua_Integer kMaxFaultCount = 1000;
constexpr std::uint64_t kAssumedClockHz = 4'000'000;  // CCID readers commonly clock cards at 4 MHz
constexpr unsigned kMaxPendingFaults = 100'000;

LuaCard::Impl& host(lua_State* L) { return *static_cast<LuaCard::Impl*>(lua::Sandbox::host_of(L)); }

unsigned add_capped(unsigned count, lua_Integer more) {
  return static_cast<unsigned>(std::min<lua_Integer>(count + more, kMaxPendingFaults));
}

lua_Integer count_argument(lua_State* L, int index, lua_Integer max) {
  const lua_Integer count = luaL_optinteger(L, index, 1);
  luaL_argcheck(L, count >= 0 && count <= max, index, "out of range");
  return count;
}

// --- card.* --------------------------------------------------------------------------------

// Adds `ms` to the delay before the next answer, up to kMaxCardDelay; a delay cut short says
// so in the card's log (with the line that asked), so the test engineer knows.
void add_delay(lua_State* L, const char* what, lua_Integer requested_ms) {
  auto& card = host(L);
  const auto asked = card.faults.delay.count() + std::min<lua_Integer>(requested_ms, kMaxCardDelay.count() + 1);
  if (asked > kMaxCardDelay.count()) {
    lua_Debug caller;
    const int line = lua_getstack(L, 1, &caller) && lua_getinfo(L, "l", &caller) ? caller.currentline : 0;
    char message[160];
    const int length =
        std::snprintf(message, sizeof message, "line %d: %s asks for %lld ms of delay; cut to %lld ms", line, what,
                      static_cast<long long>(requested_ms), static_cast<long long>(kMaxCardDelay.count()));
    card.log_from_script(message, static_cast<std::size_t>(std::clamp(length, 0, int{sizeof message} - 1)));
  }
  card.faults.delay = std::chrono::milliseconds(std::min<lua_Integer>(asked, kMaxCardDelay.count()));
}

int card_delay_ms(lua_State* L) {
  const lua_Integer ms = luaL_checkinteger(L, 1);
  luaL_argcheck(L, ms >= 0, 1, "a delay is 0 ms or more");
  add_delay(L, "card.delay_ms", ms);
  return 0;
}

// One ETU lasts F/D clock cycles (ISO 7816-3 7.1); ProtocolFaults counts milliseconds.
int card_wait_etu(lua_State* L) {
  const lua_Integer etu = luaL_checkinteger(L, 1);
  luaL_argcheck(L, etu >= 0 && etu <= kMaxEtu, 1, "0..10000000 ETU");
  auto& card = host(L);
  std::uint64_t f = clock_rate_conversion_factor(static_cast<std::uint8_t>(card.fi_di >> 4));
  std::uint64_t d = baud_rate_adjustment_factor(static_cast<std::uint8_t>(card.fi_di & 0x0F));
  if (f == 0 || d == 0) f = 372, d = 1;  // RFU codes: the defaults, ISO 7816-3 8.3
  const std::uint64_t divisor = d * kAssumedClockHz;
  const std::uint64_t ms = (static_cast<std::uint64_t>(etu) * f * 1000 + divisor - 1) / divisor;
  add_delay(L, "card.wait_etu", static_cast<lua_Integer>(ms));
  return 0;
}

int card_wtx(lua_State* L) {
  const lua_Integer multiplier = luaL_checkinteger(L, 1);
  luaL_argcheck(L, multiplier >= 1 && multiplier <= 255, 1, "1..255");  // S(WTX) INF, ISO 7816-3 11.6.2.3
  host(L).faults.wtx_request = static_cast<std::uint8_t>(multiplier);
  return 0;
}

int card_mute(lua_State* L) {
  auto& faults = host(L).faults;
  faults.mute_exchanges = add_capped(faults.mute_exchanges, count_argument(L, 1, kMaxFaultCount));
  return 0;
}

int card_wrong_edc(lua_State* L) {
  auto& faults = host(L).faults;
  faults.corrupt_edc_blocks = add_capped(faults.corrupt_edc_blocks, count_argument(L, 1, kMaxFaultCount));
  return 0;
}

int card_garbage(lua_State* L) {
  auto& faults = host(L).faults;
  faults.garbage_answers = add_capped(faults.garbage_answers, count_argument(L, 1, kMaxFaultCount));
  return 0;
}

int card_bad_procedure_byte(lua_State* L) {
  const lua_Integer value = luaL_checkinteger(L, 1);
  luaL_argcheck(L, value >= 0 && value <= 0xFF, 1, "a byte");
  host(L).faults.bad_procedure_byte = static_cast<std::uint8_t>(value);
  return 0;
}

int card_drop_off(lua_State* L) {
  host(L).faults.drop_off = true;
  return 0;
}

int card_iso(lua_State* L) {
  std::size_t length = 0;
  const char* bytes = luaL_checklstring(L, 1, &length);
  auto& card = host(L);
  if (!card.run_iso({reinterpret_cast<const std::uint8_t*>(bytes), length})) {
    return luaL_error(L, "card.iso: no answer (call it from a handler, with the card powered)");
  }
  lua_pushlstring(L, reinterpret_cast<const char*>(card.scratch.data()), card.scratch.size());
  return 1;
}

int card_protocol(lua_State* L) {
  const auto& iso = host(L).iso;
  const auto protocol = iso ? iso->selected_protocol() : std::nullopt;
  if (protocol) {
    lua_pushinteger(L, static_cast<lua_Integer>(*protocol));
  } else {
    lua_pushnil(L);
  }
  return 1;
}

int card_pin_verified(lua_State* L) {
  const auto& iso = host(L).iso;
  lua_pushboolean(L, iso && iso->pin_verified());
  return 1;
}

// print and card.log: the arguments as tostring shows them, separated by tabs.
int card_log(lua_State* L) {
  lua::Sandbox::push_printed(L, 1);
  std::size_t length = 0;
  const char* text = lua_tolstring(L, -1, &length);
  host(L).log_from_script(text, length);
  return 0;
}

int hex_encode(lua_State* L) {
  std::size_t length = 0;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(luaL_checklstring(L, 1, &length));
  lua::Sandbox::charge(L, lua::Sandbox::byte_cost(length) * 3);  // reads one byte, writes two
  auto& card = host(L);
  if (!card.encode_hex({bytes, length})) return luaL_error(L, "hex.encode: out of memory");
  lua_pushlstring(L, card.scratch_text.data(), card.scratch_text.size());
  return 1;
}

int hex_decode(lua_State* L) {
  std::size_t length = 0;
  const char* text = luaL_checklstring(L, 1, &length);
  lua::Sandbox::charge(L, lua::Sandbox::byte_cost(length) * 2);
  auto& card = host(L);
  if (!card.decode_hex({text, length})) return luaL_error(L, "hex.decode: not hex");
  lua_pushlstring(L, reinterpret_cast<const char*>(card.scratch.data()), card.scratch.size());
  return 1;
}

int open_card_api(lua_State* L) {
  lua::open_card_file_functions(L);
  static const luaL_Reg card_functions[] = {{"delay_ms", card_delay_ms},
                                            {"wait_etu", card_wait_etu},
                                            {"wtx", card_wtx},
                                            {"mute", card_mute},
                                            {"wrong_edc", card_wrong_edc},
                                            {"garbage", card_garbage},
                                            {"bad_procedure_byte", card_bad_procedure_byte},
                                            {"drop_off", card_drop_off},
                                            {"iso", card_iso},
                                            {"protocol", card_protocol},
                                            {"pin_verified", card_pin_verified},
                                            {"log", card_log},
                                            {nullptr, nullptr}};
  luaL_newlib(L, card_functions);
  lua_setglobal(L, "card");
  static const luaL_Reg hex_functions[] = {{"encode", hex_encode}, {"decode", hex_decode}, {nullptr, nullptr}};
  luaL_newlib(L, hex_functions);
  lua_setglobal(L, "hex");
  lua_pushcfunction(L, card_log);
  lua_setglobal(L, "print");
  // Lua seeds math.random from the time; a run must replay from its seed.
  lua_getglobal(L, LUA_MATHLIBNAME);
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, static_cast<lua_Integer>(host(L).options.seed.value_or(1)));
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  return 0;
}

// --- trampolines: the handler calls, run inside the sandbox's protected call ----------------

int call_on_reset(lua_State* L) {
  const auto& card = host(L);
  lua_pushglobaltable(L);
  lua_pushliteral(L, "on_reset");
  if (lua_rawget(L, -2) != LUA_TFUNCTION) return 0;
  lua_pushstring(L, card.reset_kind);
  lua_call(L, 1, 1);
  return 1;
}

void set_integer(lua_State* L, const char* key, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, key);
}

int call_on_apdu(lua_State* L) {
  const auto& card = host(L);
  lua_pushglobaltable(L);
  lua_pushliteral(L, "on_apdu");
  if (lua_rawget(L, -2) != LUA_TFUNCTION) return 0;
  lua_createtable(L, 0, 12);
  const auto& command = card.command;
  if (command.size() >= 4) {
    set_integer(L, "cla", command[0]);
    set_integer(L, "ins", command[1]);
    set_integer(L, "p1", command[2]);
    set_integer(L, "p2", command[3]);
  }
  if (card.parsed_command) {
    const auto& parsed = *card.parsed_command;
    lua_pushlstring(L, reinterpret_cast<const char*>(parsed.data.data()), parsed.data.size());
    lua_setfield(L, -2, "data");
    if (parsed.ne) set_integer(L, "ne", static_cast<lua_Integer>(*parsed.ne));
    lua_pushboolean(L, parsed.extended);
    lua_setfield(L, -2, "extended");
    set_integer(L, "case", parsed.apdu_case());
  } else {
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "data");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "malformed");
  }
  lua_pushlstring(L, reinterpret_cast<const char*>(command.data()), command.size());
  lua_setfield(L, -2, "bytes");
  lua_pushlstring(L, card.command_hex.data(), card.command_hex.size());
  lua_setfield(L, -2, "hex");
  lua_call(L, 1, 2);
  return 2;
}

std::string default_name(const std::string& chunk_name) {
  auto stem = std::filesystem::path(chunk_name).stem().string();
  return stem.empty() ? chunk_name : stem;
}

bool plain_card_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

}  // namespace

LuaCard::LuaCard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LuaCard::~LuaCard() = default;

std::string LuaCard::name() const { return impl_->name; }
const std::string& LuaCard::description() const { return impl_->description; }
const std::string& LuaCard::file() const { return impl_->file; }
bool LuaCard::broken() const { return !impl_->sandbox; }
const std::string& LuaCard::last_error() const { return impl_->last_error; }
const Bytes& LuaCard::declared_atr() const { return impl_->declared_atr; }
const IsoCard& LuaCard::iso_card() const { return *impl_->iso; }
std::size_t LuaCard::memory_in_use() const { return impl_->sandbox ? impl_->sandbox->memory_in_use() : 0; }

std::optional<Bytes> LuaCard::reset(ResetKind kind) {
  Impl& card = *impl_;
  card.powered = true;
  card.pps_allowed = true;
  card.answered_reset = false;
  card.faults = {};  // a new session: misbehaviour asked before the reset is forgotten
  card.fi_di = Impl::kDefaultFiDi;
  if (!card.sandbox) return std::nullopt;
  card.iso->reset(kind);
  card.current_atr = card.declared_atr;
  bool answers = !card.mute;

  card.reset_kind = kind == ResetKind::cold ? "cold" : "warm";
  lua_State* L = card.sandbox->state();
  lua_pushcfunction(L, call_on_reset);
  if (auto called = card.sandbox->call(0, 1); !called) {
    card.break_card(called.error().message());
    return std::nullopt;
  }
  std::string problem;
  switch (lua_type(L, -1)) {
    case LUA_TNIL: break;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, -1)) {
        problem = "on_reset returned true (nil for the declared ATR, false for none, or hex)";
      } else {
        answers = false;
      }
      break;
    case LUA_TSTRING: {
      std::size_t length = 0;
      const char* text = lua_tolstring(L, -1, &length);
      auto atr = readerlab::parse_hex({text, length});
      if (!atr || atr->size() < 2 || atr->size() > kMaxAtrBytes) {
        problem = "on_reset returned \"" + std::string(text, std::min<std::size_t>(length, 80)) +
                  "\", not an ATR in hex (2..33 bytes)";
      } else {
        card.current_atr = std::move(*atr);
        answers = true;
      }
      break;
    }
    default: problem = std::string("on_reset returned a ") + lua_typename(L, lua_type(L, -1));
  }
  lua_pop(L, 1);
  if (!problem.empty()) {
    card.break_card(card.at_current_line() + ": " + problem);
    return std::nullopt;
  }
  card.update_fi_di_from_atr();
  card.answered_reset = answers;
  if (!answers) return std::nullopt;
  return card.current_atr;
}

void LuaCard::deactivate() {
  Impl& card = *impl_;
  card.powered = false;
  card.answered_reset = false;
  card.pps_allowed = false;
  card.iso->deactivate();
}

void LuaCard::select_protocol(Protocol protocol) { impl_->iso->select_protocol(protocol); }

std::optional<Bytes> LuaCard::answer_pps(std::span<const std::uint8_t> request) {
  Impl& card = *impl_;
  if (!card.powered || !card.sandbox || !card.answered_reset || !card.pps_allowed) return std::nullopt;
  card.pps_allowed = false;  // PPS only right after the ATR, ISO 7816-3 9.1
  // The ATR this session answered, which on_reset may have chosen.
  const auto parsed = parse_atr(card.current_atr);
  if (!parsed.atr) return std::nullopt;
  auto answer = answer_pps_request(*parsed.atr, card.iso->profile().pps_reaction, request);
  if (answer.agreed) {
    card.fi_di = answer.agreed->fi_di;
    if (answer.agreed->protocol <= 1) card.iso->select_protocol(static_cast<Protocol>(answer.agreed->protocol));
  }
  return answer.response;
}

namespace {

constexpr const char* kBadStatusWord = "on_apdu returned a status word that is not 0..0xFFFF";

// The status word at `index`, when it is an integer 0..FFFF.
std::optional<std::uint16_t> status_word_at(lua_State* L, int index) {
  int exact = 0;
  const lua_Integer status = lua_tointegerx(L, index, &exact);
  if (!exact || status < 0 || status > 0xFFFF) return std::nullopt;
  return static_cast<std::uint16_t>(status);
}

// on_apdu returned hex text: the data and SW1 SW2.
std::optional<CardResponse> hex_answer(lua_State* L, std::string& problem) {
  std::size_t length = 0;
  const char* text = lua_tolstring(L, -2, &length);
  auto response = readerlab::parse_hex({text, length});
  if (!response || response->size() < 2 || response->size() > kMaxResponseData + 2) {
    problem = "on_apdu returned \"" + std::string(text, std::min<std::size_t>(length, 80)) +
              "\", not a response in hex (data and SW1 SW2, 2..65538 bytes)";
    return std::nullopt;
  }
  return CardResponse{CardStatus::ok, std::move(*response)};
}

// on_apdu returned the data as bytes and the status word apart.
std::optional<CardResponse> bytes_answer(lua_State* L, std::string& problem) {
  std::size_t length = 0;
  const char* data = lua_tolstring(L, -2, &length);
  const auto status = status_word_at(L, -1);
  if (!status) {
    problem = kBadStatusWord;
    return std::nullopt;
  }
  if (length > kMaxResponseData) {
    problem = "on_apdu returned " + std::to_string(length) + " bytes of data, more than 65536";
    return std::nullopt;
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data);
  return CardResponse{CardStatus::ok, with_status(Bytes(bytes, bytes + length), *status)};
}

// What on_apdu's two results (on top of the stack) ask for: nothing (fall through to the
// built-in card), a response or silence; `problem` says why when they make no sense.
std::optional<CardResponse> read_apdu_answer(lua_State* L, std::string& problem) {
  const int first = lua_type(L, -2), second = lua_type(L, -1);
  if (first == LUA_TNIL) return std::nullopt;  // falls through, once the results are off the stack
  if (first == LUA_TBOOLEAN) {
    if (!lua_toboolean(L, -2)) return CardResponse{CardStatus::mute, {}};
    problem = "on_apdu returned true (nil to fall through, false to stay mute)";
    return std::nullopt;
  }
  if (first == LUA_TNUMBER && second == LUA_TNIL) {
    const auto status = status_word_at(L, -2);
    if (status) return CardResponse{CardStatus::ok, status_only(*status)};
    problem = kBadStatusWord;
    return std::nullopt;
  }
  if (first == LUA_TSTRING && second == LUA_TNIL) return hex_answer(L, problem);
  if (first == LUA_TSTRING && second == LUA_TNUMBER) return bytes_answer(L, problem);
  problem = std::string("on_apdu returned ") + lua_typename(L, first) + ", " + lua_typename(L, second) +
            " (nil, false, a status word, hex, or bytes and a status word)";
  return std::nullopt;
}

}  // namespace

CardResponse LuaCard::transmit_apdu(std::span<const std::uint8_t> command) {
  Impl& card = *impl_;
  if (!card.powered) return {CardStatus::deactivated, {}};
  if (!card.sandbox || !card.answered_reset) return {CardStatus::mute, {}};
  card.pps_allowed = false;
  card.command = command;
  card.parsed_command = parse_command_apdu(command);
  card.command_hex = readerlab::to_hex(command);

  lua_State* L = card.sandbox->state();
  lua_pushcfunction(L, call_on_apdu);
  if (auto called = card.sandbox->call(0, 2); !called) {
    card.break_card(called.error().message());
    return {CardStatus::mute, {}};
  }
  std::string problem;
  std::optional<CardResponse> answer = read_apdu_answer(L, problem);
  lua_pop(L, 2);
  if (!problem.empty()) {
    card.break_card(card.at_current_line() + ": " + problem);
    return {CardStatus::mute, {}};
  }
  if (answer) return std::move(*answer);
  return card.iso->transmit_apdu(command);
}

ProtocolBehaviour LuaCard::protocol_behaviour() const {
  if (!impl_->sandbox) return {};
  return impl_->iso->protocol_behaviour();
}

ProtocolFaults LuaCard::take_protocol_faults() { return std::exchange(impl_->faults, ProtocolFaults{}); }

namespace {

// The card file's chunk run in a fresh sandbox with the card API, then its globals read.
LuaCardLoad load_into(std::unique_ptr<LuaCard::Impl> impl, std::string_view text, const std::string& chunk_name) {
  const lua::SandboxLimits limits{impl->options.memory_limit, impl->options.instruction_budget,
                                  impl->options.time_per_call};
  auto sandbox = lua::Sandbox::create(limits, chunk_name);
  if (!sandbox) return sandbox.error();
  impl->sandbox = std::move(sandbox).value();
  impl->sandbox->set_host(impl.get());
  lua_pushcfunction(impl->sandbox->state(), open_card_api);
  if (auto opened = impl->sandbox->call(0, 0); !opened) return opened.error();
  if (auto ran = impl->sandbox->run_chunk(text); !ran) return ran.error();
  auto declaration = lua::read_card_file(*impl->sandbox, text, default_name(chunk_name));
  if (!declaration) return declaration.error();
  CardProfile& profile = declaration->profile;
  impl->name = profile.name;
  impl->description = profile.description;
  impl->declared_atr = profile.atr;
  impl->mute = declaration->mute;
  const std::uint64_t seed = impl->options.seed.value_or(profile.challenge_seed);
  impl->iso.emplace(std::move(profile), seed);
  return std::make_unique<LuaCard>(std::move(impl));
}

}  // namespace

LuaCardLoad load_lua_card_text(std::string_view text, std::string chunk_name, LuaCardOptions options) {
  try {
    auto impl = std::make_unique<LuaCard::Impl>();
    impl->options = std::move(options);
    impl->file = chunk_name;
    return load_into(std::move(impl), text, chunk_name);
  } catch (const std::exception& failure) {
    return error(chunk_name, std::string("cannot load the card: ") + failure.what());
  }
}

LuaCardLoad load_lua_card(const std::filesystem::path& path, LuaCardOptions options) {
  const std::string chunk_name = path.string();
  std::error_code error_code;
  const auto size = std::filesystem::file_size(path, error_code);
  if (error_code) return error(chunk_name, "cannot read the card file (" + error_code.message() + ")");
  if (size > kMaxCardFileBytes) {
    return error(chunk_name, "the card file has " + std::to_string(size) + " bytes, more than 1 MiB");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return error(chunk_name, "cannot read the card file");
  return load_lua_card_text(text.str(), chunk_name, std::move(options));
}

std::filesystem::path bundled_lua_card_directory() {
  return std::filesystem::path(READERLAB_SOURCE_DIR) / "cards/profiles";
}

std::optional<std::filesystem::path> find_lua_card(std::string_view name, const std::filesystem::path& directory) {
  if (!plain_card_name(name)) return std::nullopt;
  auto path = directory / (std::string(name) + ".lua");
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  return path;
}

std::unique_ptr<Card> make_lua_card(std::string_view name, LuaCardOptions options,
                                    const std::filesystem::path& directory) {
  const auto path = find_lua_card(name, directory);
  if (!path) return nullptr;
  auto logger = options.logger;
  auto loaded = load_lua_card(*path, std::move(options));
  if (!loaded) {
    if (logger) logger(loaded.error().message());
    return nullptr;
  }
  return std::move(loaded).value();
}

std::vector<LuaCardInfo> list_lua_cards(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> paths;
  std::error_code error;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".lua" && it->is_regular_file(error)) paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<LuaCardInfo> cards;
  for (const auto& path : paths) {
    LuaCardInfo info;
    info.path = path;
    auto loaded = load_lua_card(path);
    if (loaded) {
      info.name = loaded.value()->name();
      info.description = loaded.value()->description();
    } else {
      info.name = path.stem().string();
      info.error = loaded.error().message();
    }
    cards.push_back(std::move(info));
  }
  return cards;
}

}  // namespace readerlab::cards
