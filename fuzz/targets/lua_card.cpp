// The Lua card loader (cards/lua): any text as a card file, with a small memory cap and
// instruction budget; a card that loads is reset and sent a few commands, so its handlers
// (on_reset, on_apdu, the misbehaviour calls) run too. Errors are values: a broken script
// breaks its card, never the process.
#include "cards/lua/lua_card.h"
#include "fuzz/fuzz_input.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace readerlab::cards;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  LuaCardOptions options;
  options.memory_limit = 1u << 20;
  options.instruction_budget = 200'000;
  options.seed = 1;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto loaded = load_lua_card_text(text, "fuzz/card.lua", options);
  if (!loaded) {
    READERLAB_FUZZ_CHECK(!loaded.error().message().empty());
    return 0;
  }
  LuaCard& card = *loaded.value();
  (void)card.name();
  (void)card.description();
  if (!card.reset(ResetKind::cold)) return 0;
  (void)card.answer_pps(Bytes{0xFF, 0x11, 0x96, 0x78});
  card.select_protocol(Protocol::t1);
  const Bytes commands[] = {
      {0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00},              // SELECT MF
      {0x00, 0xB0, 0x81, 0x00, 0x10},                          // READ BINARY, SFI 1
      {0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34},  // VERIFY
      {0x00, 0x84, 0x00, 0x00, 0x08},                          // GET CHALLENGE
      {0x80, 0x10, 0x00, 0x00, 0x02, 0x01, 0x02, 0x00},        // ECHO
      {0x00, 0xA4},                                            // malformed
  };
  for (const auto& command : commands) {
    const auto answer = card.transmit_apdu(command);
    if (answer.status == CardStatus::ok) READERLAB_FUZZ_CHECK(answer.data.size() >= 2);
    (void)card.take_protocol_faults();
    (void)card.protocol_behaviour();
  }
  (void)card.reset(ResetKind::warm);
  card.deactivate();
  return 0;
}
