// Hostile Lua card scripts, one row each. A card file that cannot become a card is refused
// with a message naming the file and the line; a card whose script fails while it is in a
// reader breaks as a card with faulty firmware would (no ATR, or mute: the reader answers
// ICC_MUTE, CCID 6.2.6) and says why with file and line. Either way the card in the slot
// beside it keeps working, and a good card loads right after.
#include "cards/lua/lua_card.h"
#include "tests/hostile/hostile_support.h"

namespace readerlab::hostile {
namespace {

constexpr const char* kFile = "cards/hostile.lua";

enum class Fails { at_load, at_reset, at_apdu };

struct Entry {
  const char* name;
  Fails fails;
  std::string text;     // the card file
  std::string message;  // the error, whole, or its beginning when it ends in "..."
};

// A card that loads and answers an APDU through this on_apdu body (line 4 of the file).
std::string on_apdu(const char* body) {
  return std::string("name = 'hostile'\natr = '3B 00'\nfunction on_apdu(apdu)\n") + body + "\nend\n";
}
// A card whose on_reset has this body (line 4 of the file).
std::string on_reset(const char* body) {
  return std::string("name = 'hostile'\natr = '3B 00'\nfunction on_reset(kind)\n") + body + "\nend\n";
}

const Entry kCatalogue[] = {
    // The file does not run.
    {"a function never closed", Fails::at_load, "name = 'x'\natr = '3B 00'\nfunction on_apdu(apdu)\n  return 0x9000\n",
     "cards/hostile.lua:5: 'end' expected (to close 'function' at line 3) near <eof>"},
    {"x = = 1", Fails::at_load, "atr = '3B 00'\nx = = 1\n", "cards/hostile.lua:2: ..."},
    {"a table nested 300 deep in the source", Fails::at_load,
     "atr = '3B 00'\nx = " + std::string(300, '{') + std::string(300, '}') + "\n", "cards/hostile.lua:2: ..."},
    {"bytecode instead of source", Fails::at_load, "\x1bLuaT\x19\x93\r\n\x1a\n",
     "cards/hostile.lua: bytecode is refused..."},
    {"error() while the file runs", Fails::at_load, "atr = '3B 00'\nerror('no such card', 0)\n",
     "cards/hostile.lua:2: no such card"},
    {"error() with a table", Fails::at_load, "atr = '3B 00'\nerror({})\n",
     "cards/hostile.lua:2: error object is a table"},
    {"endless recursion while the file runs", Fails::at_load,
     "atr = '3B 00'\nlocal function f() return 1 + f() end\nf()\n", "cards/hostile.lua:2: ..."},
    {"40 captures in a pattern", Fails::at_load, "atr = '3B 00'\nstring.find('x', string.rep('()', 40))\n",
     "cards/hostile.lua:2: ..."},
    {"a format width of 99999", Fails::at_load, "atr = '3B 00'\nlocal s = string.format('%99999d', 1)\n",
     "cards/hostile.lua:2: ..."},
    // What the sandbox leaves out (lua_card.h).
    {"io.open", Fails::at_load, "local f = io.open('/etc/passwd')\n",
     "cards/hostile.lua:1: attempt to index a nil value (global 'io')"},
    {"os.execute", Fails::at_load, "os.execute('reboot')\n",
     "cards/hostile.lua:1: attempt to index a nil value (global 'os')"},
    {"require", Fails::at_load, "require('os')\n",
     "cards/hostile.lua:1: attempt to call a nil value (global 'require')"},
    {"load", Fails::at_load, "load('return 1')()\n",
     "cards/hostile.lua:1: attempt to call a nil value (global 'load')"},
    {"dofile", Fails::at_load, "dofile('/etc/passwd')\n",
     "cards/hostile.lua:1: attempt to call a nil value (global 'dofile')"},
    {"string.dump", Fails::at_load, "atr = '3B 00'\nlocal b = string.dump(print)\n",
     "cards/hostile.lua:2: attempt to call a nil value (field 'dump')"},
    {"coroutine.wrap", Fails::at_load, "coroutine.wrap(print)\n",
     "cards/hostile.lua:1: attempt to index a nil value (global 'coroutine')"},
    {"debug.sethook", Fails::at_load, "debug.sethook()\n",
     "cards/hostile.lua:1: attempt to index a nil value (global 'debug')"},
    {"a __gc finalizer", Fails::at_load, "setmetatable({}, { __gc = function() end })\n",
     "cards/hostile.lua:1: __gc finalizers are not available..."},
    {"the global table's metatable", Fails::at_load, "setmetatable(_G, nil)\n",
     "cards/hostile.lua:1: cannot change a protected metatable"},
    // Limits while the file runs.
    {"an endless loop while the file runs", Fails::at_load, "atr = '3B 00'\nwhile true do end\n",
     "cards/hostile.lua:2: the ..."},
    {"100 MB of strings while the file runs", Fails::at_load,
     "local t = {}\nfor i = 1, 100 do t[i] = string.rep('x', 1e6) end\n",
     "cards/hostile.lua:2: the memory cap of 8388608 bytes is reached"},
    {"string.rep of 2^31 - 1 bytes", Fails::at_load, "atr = '3B 00'\nlocal s = string.rep('x', 2^31 - 1)\n",
     "cards/hostile.lua:2: the memory cap..."},
    // Declarations that are wrong.
    {"an ATR that is not hex", Fails::at_load, "name = 'x'\natr = '3B ZZ'\n",
     "cards/hostile.lua:2: field 'atr': not hex..."},
    {"an ATR of 34 bytes", Fails::at_load, "name = 'x'\natr = string.rep('3B', 34)\n",
     "cards/hostile.lua:2: field 'atr': 34 bytes, expected 2..33"},
    {"a FID that is a string", Fails::at_load, "atr = '3B 00'\nfiles = {\n  ef{ fid = 'x' },\n}\n",
     "cards/hostile.lua:3: field 'files[1].fid': a number expected, got string"},
    {"on_apdu that is a string", Fails::at_load, "atr = '3B 00'\non_apdu = 'return 0x9000'\n",
     "cards/hostile.lua:2: field 'on_apdu': a function expected, got string"},
    // The script fails while the card is in a reader.
    {"on_apdu raises an error", Fails::at_apdu, on_apdu("  error('boom')"), "cards/hostile.lua:4: boom"},
    {"on_apdu indexes nil", Fails::at_apdu, on_apdu("  return apdu.nothing.field"),
     "cards/hostile.lua:4: attempt to index a nil value (field 'nothing')"},
    {"on_apdu returns a table", Fails::at_apdu, on_apdu("  return {}"),
     "cards/hostile.lua:4: on_apdu returned table, nil..."},
    {"on_apdu returns status word 10000", Fails::at_apdu, on_apdu("  return 0x10000"),
     "cards/hostile.lua:4: on_apdu returned a status word that is not 0..0xFFFF"},
    {"on_apdu returns 'zz'", Fails::at_apdu, on_apdu("  return 'zz'"),
     "cards/hostile.lua:4: on_apdu returned \"zz\", not a response in hex..."},
    {"on_apdu returns 70000 bytes", Fails::at_apdu, on_apdu("  return string.rep('x', 70000), 0x9000"),
     "cards/hostile.lua:4: on_apdu returned 70000 bytes of data, more than 65536"},
    {"on_apdu loops for ever", Fails::at_apdu, on_apdu("  while true do end"), "cards/hostile.lua:4: the ..."},
    {"on_apdu loops in pcall for ever", Fails::at_apdu,
     on_apdu("  while true do pcall(function() while true do end end) end"), "cards/hostile.lua:4: the ..."},
    {"on_apdu eats memory", Fails::at_apdu, on_apdu("  local t = {} while true do t[#t+1] = string.rep('x', 1e6) end"),
     "cards/hostile.lua:4: the memory cap of 8388608 bytes is reached"},
    // Work done in C that the instruction count alone never sees (issue 8's hangs).
    {"table.move of 10^15 elements", Fails::at_apdu, on_apdu("  table.move({}, 1, 1e15, 2)"),
     "cards/hostile.lua:4: ..."},
    {"a 2 MiB bracket-class pattern over 10 KB", Fails::at_apdu,
     on_apdu("  local s = string.rep('a', 10000) return s:find(string.rep('[a-z]', 1 << 19))"),
     "cards/hostile.lua:4: ..."},
    {"upper() of 1 MiB for ever", Fails::at_apdu,
     on_apdu("  local s = string.rep('x', 1 << 20) while true do s = s:upper() end"), "cards/hostile.lua:4: ..."},
    {"hex.encode of 1 MiB for ever", Fails::at_apdu,
     on_apdu("  local s = string.rep('x', 1 << 20) while true do local h = hex.encode(s) end"),
     "cards/hostile.lua:4: ..."},
    {"print of 1 MiB for ever", Fails::at_apdu,
     on_apdu("  local s = string.rep('x', 1 << 20) while true do print(s) end"), "cards/hostile.lua:4: ..."},
    {"an xpcall handler that loops", Fails::at_apdu,
     on_apdu("  xpcall(function() while true do end end, function() while true do end end)"),
     "cards/hostile.lua:4: ..."},
    {"on_apdu gives card.mute a string", Fails::at_apdu, on_apdu("  card.mute('x')"), "cards/hostile.lua:4: ..."},
    {"on_reset raises an error", Fails::at_reset, on_reset("  return nil .. kind"),
     "cards/hostile.lua:4: attempt to concatenate a nil value"},
    {"on_reset answers 'zz'", Fails::at_reset, on_reset("  return 'zz'"), "cards/hostile.lua:4: ..."},
    {"on_reset loops for ever", Fails::at_reset, on_reset("  while true do end"), "cards/hostile.lua:4: the ..."},
};

void check_message(const std::string& actual, const std::string& expected) {
  INFO("message: ", actual);
  if (expected.ends_with("...")) {
    CHECK(actual.starts_with(expected.substr(0, expected.size() - 3)));
  } else {
    CHECK(actual == expected);
  }
}

std::unique_ptr<ccid::Reader> reader_beside_t1_fs() {
  ccid::ReaderConfig config;
  config.slot_count = 2;
  auto reader = std::make_unique<ccid::Reader>(config);
  reader->insert(cards::make_builtin_card("t1-fs"), 1);
  return reader;
}

}  // namespace

std::size_t lua_catalogue_size() { return std::size(kCatalogue); }

TEST_CASE("hostile Lua cards fail alone with file and line, and the card beside them keeps working") {
  using namespace ccid::test;
  for (const Entry& entry : kCatalogue) {
    const std::string name = entry.name;
    CAPTURE(name);
    auto reader = reader_beside_t1_fs();
    auto loaded = cards::load_lua_card_text(entry.text, kFile);
    if (entry.fails == Fails::at_load) {
      REQUIRE_FALSE(loaded);
      check_message(loaded.error().message(), entry.message);
    } else {
      REQUIRE(loaded);
      cards::LuaCard* card = loaded.value().get();
      reader->insert(std::move(loaded).value(), 0);
      const Bytes atr = reader->handle_message(command(ccid::Command::icc_power_on, 1));
      if (entry.fails == Fails::at_reset) {
        // No ATR: the reader saw a mute card (CCID 6.2.6 ICC_MUTE).
        CHECK(status_of(atr) == kInactiveFailed);
        CHECK(error_of(atr) == 0xFE);
      } else {
        REQUIRE(status_of(atr) == kActiveOk);
        const Bytes answer =
            reader->handle_message(command(ccid::Command::xfr_block, 2, bytes_of("80 10 00 00 01 AA")));
        CHECK((status_of(answer) & 0xC0) == 0x40);  // bmCommandStatus 1: failed
        CHECK(error_of(answer) == 0xFE);            // ICC_MUTE
      }
      CHECK(card->broken());
      check_message(card->last_error(), entry.message);
    }

    check_slot_serves(*reader, 1, "t1-fs", 0x50);
    // A good card loads and answers right after.
    auto good = cards::load_lua_card_text("name = 'good'\natr = '3B 00'\n", kFile);
    REQUIRE(good);
    REQUIRE(good.value()->reset(cards::ResetKind::cold).has_value());
    const auto echo = good.value()->transmit_apdu(bytes_of("80 10 00 00 01 AA 00"));
    CHECK(to_hex(echo.data) == "AA 90 00");
  }
}

}  // namespace readerlab::hostile
