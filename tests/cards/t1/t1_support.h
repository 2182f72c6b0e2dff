// Helpers shared by the T=1 tests: hex text, an echo application, and a channel that joins an
// InterfaceSide to a CardSide while writing down each exchange in Annex A notation.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cards/t1/block.h"
#include "cards/t1/card_side.h"
#include "cards/t1/interface_side.h"
#include "tests/support/hex.h"

namespace readerlab::cards::t1::test {

using readerlab::test::hex;

// The card's application for most tests: answers the command itself followed by 90 00.
inline Bytes echo_apdu(std::span<const std::uint8_t> command) {
  Bytes response(command.begin(), command.end());
  response.push_back(0x90);
  response.push_back(0x00);
  return response;
}

// Joins the two sides; `transcript` gets one line per block sent by the interface device:
// "I(0,0) -> I(0,0)", or "-> timeout" when the card stays silent.
struct RecordingLink {
  CardSide& card;
  EdcKind edc;
  std::vector<std::string> transcript;

  InterfaceSide::Channel channel() {
    return [this](std::span<const std::uint8_t> block) -> std::optional<Bytes> {
      auto reply = card.receive(block);
      transcript.push_back(describe(block, edc) + " -> " + (reply ? describe(*reply, edc) : std::string("timeout")));
      return reply;
    };
  }
};

}  // namespace readerlab::cards::t1::test
