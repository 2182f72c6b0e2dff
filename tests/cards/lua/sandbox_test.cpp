// The sandbox a card script runs in: what it may not reach, and how a script that breaks the
// rules or fails leaves a mute card and a message rather than a crash.
#include <doctest/doctest.h>

#include <lua.hpp>

#include "support.h"

using namespace readerlab::cards;
using namespace readerlab::cards::test_lua;

namespace {

// A card whose on_apdu body is `body` (it starts on line 4 of the file).
std::string handler_card(std::string_view body) {
  return card_text("function on_apdu(apdu)\n" + std::string(body) + "\nend\n");
}

// Resets `card`, sends one command, and checks the card broke: mute now and after.
void check_breaks(LuaCard& card, std::string_view expected_start, const std::vector<std::string>& log) {
  REQUIRE(card.reset(ResetKind::cold));
  CHECK(card.transmit_apdu(hex("00 B0 00 00 01")).status == CardStatus::mute);
  CHECK(card.broken());
  INFO("last error: ", card.last_error());
  CHECK(card.last_error().rfind(expected_start, 0) == 0);
  REQUIRE_FALSE(log.empty());
  CHECK(log.back() == "card 'test' broke and goes mute: " + card.last_error());
  CHECK_FALSE(card.reset(ResetKind::cold));
  CHECK(card.transmit_apdu(hex("00 B0 00 00 01")).status == CardStatus::mute);
  CHECK_FALSE(card.answer_pps(hex("FF 01 FE")));
  CHECK(card.memory_in_use() == 0);  // the Lua state is gone
}

}  // namespace

TEST_CASE("the sandbox has no io, os, package, require, debug, coroutine, nor code loading") {
  const char* text = R"(
local forbidden = {"io", "os", "package", "require", "debug", "coroutine", "load", "loadfile",
                   "dofile", "loadstring", "collectgarbage", "warn", "module"}
local present = {}
for _, name in ipairs(forbidden) do
  if _G[name] ~= nil then present[#present + 1] = name end
end
if string.dump ~= nil then present[#present + 1] = "string.dump" end
if ("").dump ~= nil then present[#present + 1] = "(''):dump" end
assert(#present == 0, "present: " .. table.concat(present, ", "))
assert(string and table and math and utf8 and pcall and xpcall and setmetatable)
atr = "3B 00"
)";
  load_ok(text);
  CHECK(load_error("local f = io.open('/etc/passwd')") ==
        "cards/test.lua:1: attempt to index a nil value (global 'io')");
  CHECK(load_error("os.exit(1)") == "cards/test.lua:1: attempt to index a nil value (global 'os')");
  CHECK(load_error("require('os')") == "cards/test.lua:1: attempt to call a nil value (global 'require')");
  CHECK(load_error("load('return 1')()") == "cards/test.lua:1: attempt to call a nil value (global 'load')");
}

TEST_CASE("bytecode is refused") {
  lua_State* L = luaL_newstate();
  REQUIRE(luaL_loadstring(L, "atr = '3B 00'") == LUA_OK);
  std::string bytecode;
  lua_dump(
      L,
      [](lua_State*, const void* data, std::size_t size, void* out) {
        static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
        return 0;
      },
      &bytecode, 0);
  lua_close(L);
  REQUIRE(bytecode.size() > 4);
  CHECK(load_error(bytecode) == "cards/test.lua: bytecode is refused (a script is Lua source text)");
}

TEST_CASE("the global table's metatable and __gc finalizers are out of reach") {
  CHECK(load_error("setmetatable(_G, nil)") == "cards/test.lua:1: cannot change a protected metatable");
  CHECK(load_error("setmetatable({}, { __gc = function() end })") ==
        "cards/test.lua:1: __gc finalizers are not available to a script");
  CHECK(load_error("assert(getmetatable(_G) == false, 'visible')\nerror('done', 0)") == "cards/test.lua:2: done");
}

TEST_CASE("a runtime error in on_apdu: the card goes mute, the message names file and line") {
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  local x = apdu.cla + 1\n  error('boom')"), &log);
  check_breaks(*card, "cards/test.lua:5: boom", log);
  CHECK(card->last_error() == "cards/test.lua:5: boom");
}

TEST_CASE("an error in on_reset: no ATR, and the card stays broken") {
  std::vector<std::string> log;
  auto card = load_ok(card_text("function on_reset(kind)\n  return nil .. kind\nend\n"), &log);
  CHECK_FALSE(card->reset(ResetKind::cold));
  CHECK(card->broken());
  CHECK(card->last_error() == "cards/test.lua:4: attempt to concatenate a nil value");
  CHECK(card->transmit_apdu(hex("00 B0 00 00 01")).status == CardStatus::mute);
  CHECK(log.size() == 1);
}

TEST_CASE("an endless loop in on_apdu spends the instruction budget: mute") {
  std::vector<std::string> log;
  auto card =
      load_ok(handler_card("  local n = 0\n  while true do\n    n = n + 1\n  end"), &log, with_budget(10'000'000));
  check_breaks(*card, "cards/test.lua:", log);
  CHECK(card->last_error().find("instruction budget of 10000000 per call is spent") != std::string::npos);
  const int line = std::stoi(card->last_error().substr(std::string("cards/test.lua:").size()));
  CHECK(line >= 5);
  CHECK(line <= 7);
}

TEST_CASE("pcall and xpcall cannot catch the instruction budget") {
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  while true do\n"
                                   "    pcall(function() while true do end end)\n"
                                   "    xpcall(function() while true do end end, function(m) return m end)\n"
                                   "  end"),
                      &log, with_budget(200'000));
  check_breaks(*card, "cards/test.lua:", log);
  CHECK(card->last_error().find("instruction budget of 200000") != std::string::npos);
}

TEST_CASE("the budget is per call: many calls that each stay within it are fine") {
  auto card = load_ok(handler_card("  local n = 0\n  for i = 1, 20000 do n = n + i end\n  return 0x9000"), nullptr,
                      with_budget(200'000));
  REQUIRE(card->reset(ResetKind::cold));
  for (int i = 0; i < 50; ++i) CHECK(exchange(*card, "00 00 00 00") == "9000");
  CHECK_FALSE(card->broken());
}

TEST_CASE("an endless loop while the card file runs is a load error") {
  const auto error = load_error("atr = '3B 00'\nwhile true do end\n", with_budget(100'000));
  CHECK(error == "cards/test.lua:2: the instruction budget of 100000 per call is spent (an endless loop?)");
}

TEST_CASE("a memory hog reaches the memory cap: mute") {
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  local t = {} while true do t[#t+1] = string.rep('x', 1e6) end"), &log);
  check_breaks(*card, "cards/test.lua:4: the memory cap of 8388608 bytes is reached", log);
}

TEST_CASE("pcall cannot catch the memory cap") {
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  local kept = {}\n"
                                   "  while true do\n"
                                   "    pcall(function() kept[#kept + 1] = string.rep('y', 1e5) end)\n"
                                   "  end"),
                      &log);
  check_breaks(*card, "cards/test.lua:6: the memory cap of 8388608 bytes is reached", log);
}

TEST_CASE("a single huge allocation is refused, the process never sees it") {
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  local s = string.rep('z', 1 << 30)"), &log);
  check_breaks(*card, "cards/test.lua:4: the memory cap", log);
}

TEST_CASE("a memory hog while the card file runs is a load error") {
  const auto error = load_error("local t = {}\nfor i = 1, 100 do t[i] = string.rep('x', 1e6) end\n");
  CHECK(error == "cards/test.lua:2: the memory cap of 8388608 bytes is reached");
}

TEST_CASE("on_apdu answers that are not answers break the card at the return") {
  const struct {
    const char* body;
    const char* message;
  } cases[] = {
      {"  return {}",
       "cards/test.lua:4: on_apdu returned table, nil (nil, false, a status word, hex, or bytes and a status "
       "word)"},
      {"  return true", "cards/test.lua:4: on_apdu returned true (nil to fall through, false to stay mute)"},
      {"  return 0x10000", "cards/test.lua:4: on_apdu returned a status word that is not 0..0xFFFF"},
      {"  return 'zz'",
       "cards/test.lua:4: on_apdu returned \"zz\", not a response in hex (data and SW1 SW2, 2..65538 bytes)"},
      {"  return '90'",
       "cards/test.lua:4: on_apdu returned \"90\", not a response in hex (data and SW1 SW2, 2..65538 bytes)"},
      {"  return string.rep('x', 70000), 0x9000",
       "cards/test.lua:4: on_apdu returned 70000 bytes of data, more than 65536"},
  };
  for (const auto& answer_case : cases) {
    CAPTURE(answer_case.body);
    std::vector<std::string> log;
    auto card = load_ok(handler_card(answer_case.body), &log);
    check_breaks(*card, answer_case.message, log);
    CHECK(card->last_error() == answer_case.message);
  }
}

TEST_CASE("on_apdu answers: status word, hex, bytes and status word, silence, fall-through") {
  auto card =
      load_ok(handler_card("  if apdu.ins == 1 then return 0x6A82 end\n"
                           "  if apdu.ins == 2 then return '01 02 90 00' end\n"
                           "  if apdu.ins == 3 then return apdu.data, 0x9000 end\n"
                           "  if apdu.ins == 4 then return false end\n"
                           "  if apdu.ins == 5 then return hex.encode(apdu.bytes) .. '9000' end\n"
                           "  if apdu.ins == 6 then return string.pack('>I4B', apdu.ne, apdu.case), 0x9000 end\n"
                           "  if apdu.malformed then return 0x6F00 end"));
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(exchange(*card, "80 01 00 00") == "6A82");
  CHECK(exchange(*card, "80 02 00 00") == "01029000");
  CHECK(exchange(*card, "80 03 00 00 02 AB CD") == "ABCD9000");
  CHECK(card->transmit_apdu(hex("80 04 00 00")).status == CardStatus::mute);
  CHECK(exchange(*card, "80 05 01 02 00") == "80050102009000");
  CHECK(exchange(*card, "80 06 00 00 00 00 00") == "00010000029000");  // extended Le 0000: 65536
  CHECK(exchange(*card, "80 07") == "6F00");
  CHECK(exchange(*card, "00 A4 00 0C 02 3F 00") == "9000");  // falls through to SELECT MF
  CHECK_FALSE(card->broken());
}

TEST_CASE("print and card.log write to the card's log - a throwing logger changes nothing") {
  std::vector<std::string> log;
  auto card = load_ok(
      handler_card("  print('ins', apdu.ins, nil, true)\n  card.log(hex.encode('\\1\\2'))\n  return 0x9000"), &log);
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(exchange(*card, "80 2A 00 00") == "9000");
  REQUIRE(log.size() == 2);
  CHECK(log[0] == "[test] ins\t42\tnil\ttrue");
  CHECK(log[1] == "[test] 0102");

  LuaCardOptions throwing;
  throwing.logger = [](const std::string&) { throw std::runtime_error("logger down"); };
  auto loud = load_lua_card_text(handler_card("  print('x')\n  error('then fail')"), kChunk, throwing);
  REQUIRE(loud);
  REQUIRE(loud.value()->reset(ResetKind::cold));
  CHECK(loud.value()->transmit_apdu(hex("00 00 00 00")).status == CardStatus::mute);
  CHECK(loud.value()->last_error() == "cards/test.lua:5: then fail");
}

TEST_CASE("hook arguments are checked - a bad one is a script error") {
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  card.wtx(0)"), &log);
  check_breaks(*card, "cards/test.lua:4: bad argument #1 to 'wtx' (1..255)", log);
}

TEST_CASE("misbehaviour hooks accumulate into ProtocolFaults - a reset forgets them") {
  auto card =
      load_ok(handler_card("  card.mute() card.mute(2) card.wrong_edc() card.garbage(4) card.wtx(9)\n"
                           "  card.bad_procedure_byte(0x6E) card.drop_off() card.delay_ms(5) card.delay_ms(7)\n"
                           "  return 0x9000"));
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(exchange(*card, "00 00 00 00") == "9000");
  const auto faults = card->take_protocol_faults();
  CHECK(faults.mute_exchanges == 3);
  CHECK(faults.corrupt_edc_blocks == 1);
  CHECK(faults.garbage_answers == 4);
  CHECK(faults.wtx_request == std::optional<std::uint8_t>(9));
  CHECK(faults.bad_procedure_byte == std::optional<std::uint8_t>(0x6E));
  CHECK(faults.drop_off);
  CHECK(faults.delay == std::chrono::milliseconds(12));
  exchange(*card, "00 00 00 00");
  REQUIRE(card->reset(ResetKind::warm));
  CHECK_FALSE(card->take_protocol_faults().any());
}

TEST_CASE("card.wait_etu follows the Fi/Di negotiated by PPS") {
  auto card = load_ok(
      "atr = { protocols = {1}, ta1 = 0x96 }\n"
      "function on_apdu(apdu) card.wait_etu(1000) return 0x9000 end\n");
  REQUIRE(card->reset(ResetKind::cold));
  // Fi=512 Di=32 after PPS: 16 clock cycles an ETU, 1000 ETU = 4 ms at 4 MHz.
  REQUIRE(card->answer_pps(hex("FF 11 96 78")));
  CHECK(exchange(*card, "00 00 00 00") == "9000");
  CHECK(card->take_protocol_faults().delay == std::chrono::milliseconds(4));
}

TEST_CASE("on_reset may answer another ATR, which PPS then follows") {
  auto card =
      load_ok(card_text("function on_reset(kind)\n"
                        "  return '3B 90 96 01 07'\n"  // TA1 96, TD1 T=1, TCK
                        "end\n"));
  const auto atr = card->reset(ResetKind::cold);
  REQUIRE(atr);
  CHECK(to_hex(*atr) == "3B90960107");
  const auto pps = card->answer_pps(hex("FF 11 96 78"));
  REQUIRE(pps);
  CHECK(to_hex(*pps) == "FF119678");
}

TEST_CASE("on_reset answers that are not ATRs break the card") {
  std::vector<std::string> log;
  auto card = load_ok(card_text("function on_reset(kind)\n  return 'nope'\nend\n"), &log);
  CHECK_FALSE(card->reset(ResetKind::cold));
  CHECK(card->last_error() == "cards/test.lua:4: on_reset returned \"nope\", not an ATR in hex (2..33 bytes)");
}

TEST_CASE("math.random is seeded from the options: the same seed, the same card") {
  const std::string text = handler_card("  return string.pack('>I4', math.random(0, 0xFFFFFFFF)), 0x9000");
  auto first = load_ok(text, nullptr, with_seed(5));
  auto second = load_ok(text, nullptr, with_seed(5));
  REQUIRE(first->reset(ResetKind::cold));
  REQUIRE(second->reset(ResetKind::cold));
  CHECK(exchange(*first, "00 00 00 00") == exchange(*second, "00 00 00 00"));
}

TEST_CASE("card.iso is the built-in behaviour - card.protocol and card.pin_verified report it") {
  auto card = load_ok(
      card_text("pin = '1234'\n"
                "function on_apdu(apdu)\n"
                "  if apdu.ins ~= 0x01 then return nil end\n"
                "  local verify = card.iso(hex.decode('00 20 00 80 04 31 32 33 34'))\n"
                "  return string.char(card.protocol(), card.pin_verified() and 1 or 0) .. verify:sub(1, -3), 0x9000\n"
                "end\n"));
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(exchange(*card, "80 01 00 00") == "01019000");
  CHECK(card->iso_card().pin_verified());
}

TEST_CASE("card functions called while the card file runs: no card yet, no crash") {
  CHECK(load_error("atr = '3B 00'\ncard.iso('\\0\\164\\0\\0')\n") ==
        "cards/test.lua:2: card.iso: no answer (call it from a handler, with the card powered)");
  auto card =
      load_ok("atr = '3B 00'\nassert(card.protocol() == nil)\nassert(card.pin_verified() == false)\ncard.mute(3)\n");
  REQUIRE(card->reset(ResetKind::cold));
  CHECK_FALSE(card->take_protocol_faults().any());  // the reset forgot them
}

TEST_CASE("endless recursion, in Lua or through pcall, breaks the card and nothing else") {
  for (const char* body :
       {"  local function f(n) return f(n + 1) + 1 end\n  return f(1)",
        "  local t = setmetatable({}, {__index = function(t, k) return t[k .. 'x'] end})\n  return t.a"}) {
    CAPTURE(body);
    std::vector<std::string> log;
    auto card = load_ok(handler_card(body), &log);
    check_breaks(*card, "cards/test.lua:", log);
  }
  // The innermost pcall catches the C stack overflow; the script goes on and falls through.
  auto card = load_ok(handler_card("  local function f() return pcall(f) end\n  f()"));
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(exchange(*card, "00 A4 00 0C 02 3F 00") == "9000");
  CHECK_FALSE(card->broken());
}

TEST_CASE("a memory cap too small for the libraries is a load error, not a crash") {
  int refused = 0;
  for (std::size_t limit = 0; limit <= 40'000; limit += 500) {
    CAPTURE(limit);
    LuaCardOptions options;
    options.memory_limit = limit;
    auto loaded = load_lua_card_text("atr = '3B 00'", kChunk, options);
    if (loaded) continue;
    ++refused;
    INFO("error: ", loaded.error().message());
    CHECK(loaded.error().message().rfind("cards/test.lua", 0) == 0);
    CHECK(loaded.error().message().find("memory cap") != std::string::npos);
  }
  CHECK(refused > 0);
}

TEST_CASE("a pattern that could backtrack for ages breaks the card instead of hanging the emulator") {
  const std::string script = R"lua(
name = "patterns"
atr = "3B 00"
function on_apdu(apdu)
  if apdu.ins == 0x01 then
    local subject = string.rep("a", 200)
    return string.find(subject, "a-a-a-a-b") and "6A80" or "9000"
  end
  if apdu.ins == 0x02 then
    return string.find("readerlab card", "card", 1, true) and "9000" or "6F00"
  end
  return string.match("abc123", "%a+(%d+)") == "123" and "9000" or "6F00"
end
)lua";
  auto loaded = readerlab::cards::load_lua_card_text(script, "patterns.lua");
  REQUIRE(loaded);
  auto& card = *loaded.value();
  REQUIRE(card.reset(readerlab::cards::ResetKind::cold));
  CHECK(card.transmit_apdu(std::vector<std::uint8_t>{0x00, 0x03, 0x00, 0x00}).data ==
        std::vector<std::uint8_t>{0x90, 0x00});
  CHECK(card.transmit_apdu(std::vector<std::uint8_t>{0x00, 0x02, 0x00, 0x00}).data ==
        std::vector<std::uint8_t>{0x90, 0x00});
  const auto costly = card.transmit_apdu(std::vector<std::uint8_t>{0x00, 0x01, 0x00, 0x00});
  CHECK(costly.status == readerlab::cards::CardStatus::mute);
  CHECK(card.last_error().find("too costly") != std::string::npos);
  CHECK(card.last_error().find("patterns.lua:") != std::string::npos);
}

// --- the time each call may take: C functions that do unbounded work in one instruction ---

TEST_CASE("table.move over a huge range spends the budget instead of looping in C") {
  std::vector<std::string> log;
  // table.move({}, 1, 1e15, 2) looped in C for ever, outside the instruction count.
  auto card = load_ok(handler_card("  table.move({}, 1, 5e7, 2)\n  return 0x9000"), &log, with_budget(1'000'000));
  check_breaks(*card, "cards/test.lua:", log);
  CHECK(card->last_error().find("instruction budget of 1000000") != std::string::npos);
}

TEST_CASE("string building in a loop spends the budget: upper, hex.encode, print") {
  for (const char* work : {"s:upper()", "hex.encode(s)", "print(s)", "s:rep(2)", "table.concat({s, s})",
                           "string.format('%s', s)", "s:gsub('b', 'c')"}) {
    CAPTURE(work);
    std::vector<std::string> log;
    // Each call handles a MiB; 20 of them passed a budget of 100000 instructions.
    auto card =
        load_ok(handler_card("  local s = string.rep('a', 1 << 20)\n  for i = 1, 20 do local r = " + std::string(work) +
                             " end\n  return 0x9000"),
                &log, with_budget(100'000));
    check_breaks(*card, "cards/test.lua:", log);
    CHECK(card->last_error().find("instruction budget of 100000") != std::string::npos);
  }
}

TEST_CASE("a character class as long as the pattern counts: a huge set over a long subject is refused") {
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  local set = '[' .. string.rep('b', 200000) .. ']'\n"
                                   "  return string.find(string.rep('a', 2000), set) and 0x6A80 or 0x9000"),
                      &log);
  check_breaks(*card, "cards/test.lua:", log);
  CHECK(card->last_error().find("too costly") != std::string::npos);
}

TEST_CASE("an xpcall handler runs under the budget: it cannot loop on after the budget is spent") {
  std::vector<std::string> log;
  auto card =
      load_ok(handler_card("  xpcall(function() while true do end end,\n"
                           "         function(m) for i = 1, 2e6 do end print('handler finished') return m end)\n"
                           "  return 0x9000"),
              &log, with_budget(100'000));
  check_breaks(*card, "cards/test.lua:", log);
  CHECK(card->last_error().find("instruction budget of 100000") != std::string::npos);
  for (const auto& line : log) CHECK(line.find("handler finished") == std::string::npos);
  // An ordinary error still reaches the handler, whose answer xpcall returns.
  auto handled =
      load_ok(handler_card("  local ok, m = xpcall(function() error('inner', 0) end,\n"
                           "                       function(m) return 'handled ' .. m end)\n"
                           "  assert(not ok and m == 'handled inner', tostring(m))\n  return 0x9000"));
  REQUIRE(handled->reset(ResetKind::cold));
  CHECK(exchange(*handled, "00 00 00 00") == "9000");
}

TEST_CASE("a call past its wall-clock time fails, whatever its instruction budget") {
  LuaCardOptions options = with_budget(std::uint64_t{1} << 60);
  options.time_per_call = std::chrono::milliseconds(1);
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  while true do pcall(function() while true do end end) end"), &log, options);
  check_breaks(*card, "cards/test.lua:", log);
  CHECK(card->last_error().find("the time budget of 1 ms is spent") != std::string::npos);
}

TEST_CASE("card.delay_ms and card.wait_etu are cut to 30 s, and the card's log says so") {
  std::vector<std::string> log;
  auto card = load_ok(handler_card("  if apdu.ins == 1 then card.delay_ms(600000) else card.wait_etu(10000000) end\n"
                                   "  return 0x9000"),
                      &log);
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(exchange(*card, "00 01 00 00") == "9000");
  CHECK(card->take_protocol_faults().delay == std::chrono::milliseconds(30'000));
  REQUIRE_FALSE(log.empty());
  CHECK(log.back() == "[test] line 4: card.delay_ms asks for 600000 ms of delay; cut to 30000 ms");
  CHECK(exchange(*card, "00 02 00 00") == "9000");
  CHECK(card->take_protocol_faults().delay == std::chrono::milliseconds(30'000));
  CHECK(log.back().find("card.wait_etu asks for") != std::string::npos);
}

TEST_CASE("a card that trips a limit breaks alone: another card in the same process keeps answering") {
  std::vector<std::string> log;
  auto hog = load_ok(handler_card("  local s = string.rep('a', 1 << 20)\n  while true do s:upper() end"), &log);
  auto neighbour = load_ok(handler_card("  return 0x9000"));
  REQUIRE(hog->reset(ResetKind::cold));
  REQUIRE(neighbour->reset(ResetKind::cold));
  CHECK(exchange(*neighbour, "00 00 00 00") == "9000");
  CHECK(hog->transmit_apdu(hex("00 00 00 00")).status == CardStatus::mute);
  CHECK(hog->last_error().rfind("cards/test.lua:5: the ", 0) == 0);
  CHECK(exchange(*neighbour, "00 00 00 00") == "9000");
  CHECK_FALSE(neighbour->broken());
}
