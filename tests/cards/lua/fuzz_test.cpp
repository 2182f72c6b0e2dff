// Random input to the loader and to a Lua card: errors or answers, never a crash (these run
// under ASan and UBSan in the sanitizer build).
#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "support.h"

using namespace readerlab::cards;
using namespace readerlab::cards::test_lua;

namespace {

std::string read_bundled(std::string_view name) {
  const auto path = find_lua_card(name);
  REQUIRE(path);
  std::ifstream in(*path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Small limits keep 5000 loads quick; what they guard is the same.
LuaCardOptions fuzz_options() {
  LuaCardOptions options;
  options.memory_limit = 1u << 20;
  options.instruction_budget = 100'000;
  return options;
}

}  // namespace

TEST_CASE("fuzz: 5000 random byte strings and mutated card files to the loader") {
  std::mt19937 random(20240611);
  const std::string applet = read_bundled("applet");
  const std::string hostile = read_bundled("hostile");
  const std::string tokens[] = {"end",
                                "{",
                                "}",
                                "(",
                                ")",
                                "=",
                                ",",
                                "ef{",
                                "df{",
                                "files",
                                "atr",
                                "'",
                                "\"",
                                "0x",
                                "function",
                                "while true do",
                                "string.rep('x', 1e7)",
                                "..",
                                "[[",
                                "]]",
                                "\\",
                                "--",
                                "nil",
                                "false",
                                "\x1bLua",
                                "\n"};
  int loaded = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    switch (round % 4) {
      case 0: {  // raw bytes
        text.resize(std::uniform_int_distribution<std::size_t>(0, 300)(random));
        for (auto& c : text) c = static_cast<char>(random());
        break;
      }
      case 1: {  // printable noise built from Lua tokens
        const auto count = std::uniform_int_distribution<int>(0, 60)(random);
        for (int i = 0; i < count; ++i) text += tokens[random() % std::size(tokens)] + std::string(" ");
        break;
      }
      default: {  // a bundled card with a few bytes changed, cut or inserted
        text = round % 4 == 2 ? applet : hostile;
        const auto edits = std::uniform_int_distribution<int>(1, 8)(random);
        for (int e = 0; e < edits && !text.empty(); ++e) {
          const std::size_t at = random() % text.size();
          switch (random() % 3) {
            case 0: text[at] = static_cast<char>(random()); break;
            case 1: text.erase(at, random() % 16); break;
            default: text.insert(at, tokens[random() % std::size(tokens)]); break;
          }
        }
      }
    }
    auto result = load_lua_card_text(text, "fuzz.lua", fuzz_options());
    if (result) {
      ++loaded;
      // Whatever loaded must survive a session.
      if (result.value()->reset(ResetKind::cold)) result.value()->transmit_apdu(hex("00 A4 00 00 02 3F 00"));
    } else {
      CHECK_FALSE(result.error().message().empty());
      CHECK(result.error().message().rfind("fuzz.lua", 0) == 0);
    }
  }
  CHECK(loaded > 0);  // some mutations are harmless
}

TEST_CASE("fuzz: 2000 random APDUs to each bundled Lua card") {
  for (const char* name : {"applet", "hostile"}) {
    CAPTURE(name);
    std::mt19937 random(7);
    auto loaded = load_lua_card(*find_lua_card(name));
    REQUIRE(loaded);
    auto& card = *loaded.value();
    REQUIRE(card.reset(ResetKind::cold));
    for (int i = 0; i < 2000; ++i) {
      Bytes command(std::uniform_int_distribution<std::size_t>(0, 270)(random));
      for (auto& byte : command) byte = static_cast<std::uint8_t>(random());
      // Often a well-formed header in the classes the scripts answer.
      if (command.size() >= 4 && i % 2 == 0) command[0] = (i % 4 == 0) ? 0x80 : 0x00;
      const auto response = card.transmit_apdu(command);
      if (response.status == CardStatus::ok) CHECK(response.data.size() >= 2);
      card.take_protocol_faults();
      if (i % 500 == 499) REQUIRE(card.reset(ResetKind::cold));
    }
    CHECK_FALSE(card.broken());
  }
}
