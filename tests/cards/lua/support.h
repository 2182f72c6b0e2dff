// Helpers shared by the Lua card tests.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "cards/apdu/apdu.h"
#include "cards/lua/card_file.h"
#include "cards/lua/lua_card.h"
#include "tests/support/hex.h"

namespace readerlab::cards::test_lua {

inline constexpr const char* kChunk = "cards/test.lua";

inline Bytes hex(std::string_view text) { return test::hex(text); }

// Without separators, as a card script's hex.encode writes them.
inline std::string to_hex(const Bytes& bytes) { return readerlab::to_hex(bytes); }

// A test of the instruction budget gives the wall clock room: a loaded machine must not turn
// the budget's failure into the deadline's.
inline LuaCardOptions with_budget(std::uint64_t instructions) {
  LuaCardOptions options;
  options.instruction_budget = instructions;
  options.time_per_call = std::chrono::minutes(1);
  return options;
}

inline LuaCardOptions with_seed(std::uint64_t seed) {
  LuaCardOptions options;
  options.seed = seed;
  return options;
}

// A card from text that must load; the messages it logs go to `log`.
inline std::unique_ptr<LuaCard> load_ok(std::string_view text, std::vector<std::string>* log = nullptr,
                                        LuaCardOptions options = {}) {
  if (log) options.logger = [log](const std::string& line) { log->push_back(line); };
  auto loaded = load_lua_card_text(text, kChunk, std::move(options));
  INFO("load error: ", (loaded ? std::string() : loaded.error().message()));
  REQUIRE(loaded);
  return std::move(loaded).value();
}

inline std::string load_error(std::string_view text, LuaCardOptions options = {}) {
  auto loaded = load_lua_card_text(text, kChunk, std::move(options));
  REQUIRE_FALSE(loaded);
  CHECK_FALSE(loaded.error().message().empty());
  return loaded.error().message();
}

// The response (data and SW) of an exchange that the card answers.
inline std::string exchange(Card& card, std::string_view command) {
  const auto response = card.transmit_apdu(hex(command));
  INFO("command ", command);
  REQUIRE(response.status == CardStatus::ok);
  return to_hex(response.data);
}

// A minimal card text with the given extra lines after a T=1 ATR.
inline std::string card_text(std::string_view body) {
  return "name = \"test\"\natr = \"3B 80 01 81\"\n" + std::string(body);
}

}  // namespace readerlab::cards::test_lua
