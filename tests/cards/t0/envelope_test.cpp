// Extended command APDUs over T=0: the interface side's ENVELOPE chains and the card side
// that gathers them (ISO/IEC 7816-4:1995 annex A.3E.2 and A.4E.2, 7.2 ENVELOPE), the answer
// through GET RESPONSE, and what breaks a chain.
#include <doctest/doctest.h>

#include "cards/apdu/iso_card.h"
#include "cards/lua/lua_card.h"
#include "cards/profiles.h"
#include "cards/t0/t0.h"
#include "tests/cards/test_support.h"

using namespace readerlab::cards;
using namespace readerlab::cards::test;

namespace {

std::string card_says(t0::CardSide& side, std::string_view from_interface) {
  return to_hex(side.receive(hex(from_interface)));
}

Bytes pattern(std::size_t n) {
  Bytes data(n);
  for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return data;
}

// CLA INS P1 P2, extended Lc, the data, and an extended Le (0000 = 65536) when asked.
Bytes extended_apdu(std::string_view header, const Bytes& data, bool with_le) {
  Bytes apdu = hex(header);
  apdu.push_back(0x00);
  apdu.push_back(static_cast<std::uint8_t>(data.size() >> 8));
  apdu.push_back(static_cast<std::uint8_t>(data.size() & 0xFF));
  apdu.insert(apdu.end(), data.begin(), data.end());
  if (with_le) {
    apdu.push_back(0x00);
    apdu.push_back(0x00);
  }
  return apdu;
}

t0::CardSideOptions envelope_card() {
  t0::CardSideOptions options;
  options.envelope = true;
  return options;
}

t0::InterfaceOptions envelope_reader(std::optional<std::uint8_t> envelope_class) {
  t0::InterfaceOptions options;
  options.envelope = true;
  options.envelope_class = envelope_class;
  return options;
}

Bytes with_ok(Bytes data) {
  data.push_back(0x90);
  data.push_back(0x00);
  return data;
}

}  // namespace

TEST_CASE("extended-t0 is a T=0 card whose ATR announces extended Lc/Le and which takes ENVELOPE") {
  CHECK(to_hex(*builtin_atr("extended-t0")) == "3B 0C 80 73 00 00 40 56 65 78 74 2D 74 30");
  auto card = make_builtin_card("extended-t0");
  REQUIRE(card != nullptr);
  CHECK(card->protocol_behaviour().t0_envelope);
  CHECK_FALSE(make_builtin_card("t0-basic")->protocol_behaviour().t0_envelope);
}

TEST_CASE("ENVELOPE byte by byte: pieces answered 9000, the empty end answers 61xx, GET RESPONSE fetches") {
  IsoCard card = powered_card("extended-t0");
  const std::string direct = send(card, "00 B0 84 00 00 00 10");  // READ BINARY SFI 4, extended Le 16
  t0::CardSide side(card, envelope_card());
  CHECK(card_says(side, "00 C2 00 00 04") == "C2");
  CHECK(card_says(side, "00 B0 84 00") == "90 00");
  CHECK(card_says(side, "00 C2 00 00 03") == "C2");
  CHECK(card_says(side, "00 00 10") == "90 00");
  CHECK(card_says(side, "00 C2 00 00 00") == "61 10");
  CHECK(card_says(side, "00 C0 00 00 20") == "6C 10");  // more than waits: the exact count, kept
  CHECK(card_says(side, "00 C0 00 00 08") == "C0 " + direct.substr(0, 8 * 3 - 1) + " 61 08");
  CHECK(card_says(side, "00 C0 00 00 08") == "C0 " + direct.substr(8 * 3));
  CHECK(card_says(side, "00 C0 00 00 08") == "69 85");  // nothing waits any more: the card's own answer
}

TEST_CASE("an extended APDU with 300 and 3000 data bytes reaches a T=0 card whole and its answer comes back whole") {
  for (std::size_t size : {std::size_t{300}, std::size_t{3000}}) {
    CAPTURE(size);
    IsoCard card = powered_card("extended-t0");
    t0::CardSide side(card, envelope_card());
    t0::InterfaceSide reader(envelope_reader(0x00));  // ECHO is CLA 80: ENVELOPE in class 00
    const Bytes data = pattern(size);
    const Bytes apdu = extended_apdu("80 10 00 00", data, true);
    const auto result = reader.transmit(apdu, side);
    REQUIRE(result.error == t0::Error::none);
    CHECK(result.response == with_ok(data));
    const std::size_t envelopes = (apdu.size() + 254) / 255 + 1;  // pieces of 255, then the empty end
    const std::size_t get_responses = (size + 255) / 256;
    CHECK(result.tpdus == envelopes + get_responses);
  }
}

TEST_CASE("the ENVELOPE class: the APDU's own (interindustry) or a fixed one; a proprietary class is refused 6D00") {
  IsoCard card = powered_card("extended-t0");
  const Bytes data = pattern(300);
  const Bytes update = extended_apdu("00 D6 84 00", data, false);  // UPDATE BINARY SFI 4, offset 0
  {
    t0::CardSide side(card, envelope_card());
    t0::InterfaceSide own_class(envelope_reader(std::nullopt));
    const auto result = own_class.transmit(update, side);
    REQUIRE(result.error == t0::Error::none);
    CHECK(to_hex(result.response) == "90 00");
    CHECK(result.tpdus == 3);
  }
  // What the card holds now is the 300 bytes, read back in short pieces.
  const std::string first = send(card, "00 B0 84 00 00");
  const std::string rest = send(card, "00 B0 01 00 2C");
  CHECK(first == to_hex(with_ok(Bytes(data.begin(), data.begin() + 256))));
  CHECK(rest == to_hex(with_ok(Bytes(data.begin() + 256, data.end()))));
  {
    // ECHO's class 80 echoed: 80 C2 is no command of this card.
    t0::CardSide side(card, envelope_card());
    t0::InterfaceSide own_class(envelope_reader(std::nullopt));
    const auto result = own_class.transmit(extended_apdu("80 10 00 00", data, true), side);
    REQUIRE(result.error == t0::Error::none);
    CHECK(to_hex(result.response) == "6D 00");
    CHECK(result.tpdus == 1);  // the chain stops at the first refused piece
  }
  {
    t0::CardSide side(card, envelope_card());
    t0::InterfaceSide fixed_80(envelope_reader(0x80));
    const auto result = fixed_80.transmit(update, side);
    REQUIRE(result.error == t0::Error::none);
    CHECK(to_hex(result.response) == "6D 00");
  }
}

TEST_CASE("a card without ENVELOPE answers 6D00 to the first piece; no ENVELOPE on the reader: command_too_long") {
  IsoCard card = powered_card("t0-basic");
  t0::CardSide side(card);
  t0::InterfaceSide reader(envelope_reader(0x00));
  const auto result = reader.transmit(extended_apdu("80 10 00 00", pattern(300), true), side);
  REQUIRE(result.error == t0::Error::none);
  CHECK(to_hex(result.response) == "6D 00");
  CHECK(result.tpdus == 1);

  IsoCard envelope_taker = powered_card("extended-t0");
  t0::CardSide taker_side(envelope_taker, envelope_card());
  t0::InterfaceSide no_envelope;
  CHECK(no_envelope.transmit(extended_apdu("00 D6 84 00", pattern(300), false), taker_side).error ==
        t0::Error::command_too_long);
}

TEST_CASE("t0::transmit_apdu maps Nc above 255 onto ENVELOPE for a card that takes it") {
  auto card = make_builtin_card("extended-t0");
  REQUIRE(card->reset(ResetKind::cold));
  const auto result = t0::transmit_apdu(*card, extended_apdu("00 D6 84 00", pattern(400), false));
  REQUIRE(result.error == t0::Error::none);
  CHECK(to_hex(result.response) == "90 00");
  CHECK(result.tpdus == 3);
}

TEST_CASE("hostile ENVELOPE chains: an Lc that disagrees, an end without a chain, a chain cut by a mute card") {
  IsoCard card = powered_card("extended-t0");
  t0::InterfaceSide reader(envelope_reader(0x00));
  {
    // Lc says 300, 200 bytes follow: no APDU at all, nothing reaches the card.
    Bytes apdu = extended_apdu("80 10 00 00", pattern(300), true);
    apdu.erase(apdu.begin() + 7, apdu.begin() + 107);
    t0::CardSide side(card, envelope_card());
    const auto result = reader.transmit(apdu, side);
    CHECK(result.error == t0::Error::malformed_command);
    CHECK(result.tpdus == 0);
  }
  {
    t0::CardSide side(card, envelope_card());
    CHECK(card_says(side, "00 C2 00 00 00") == "67 00");  // an end with nothing gathered
    CHECK(card_says(side, "00 C2 00 00 02") == "C2");
    CHECK(card_says(side, "00 B0") == "90 00");
    CHECK(card_says(side, "00 C2 00 00 00") == "67 00");  // two bytes are no APDU: the card's 6700
    CHECK(card_says(side, "00 C2 00 00 04") == "C2");
    CHECK(card_says(side, "00 B0 84 00") == "90 00");
    CHECK(sw_of(card_says(side, "00 B0 84 00 02")) == "90 00");  // another command drops the chain
    CHECK(card_says(side, "00 C2 00 00 00") == "67 00");
  }
  {
    // A chain longer than the longest extended APDU (65544 bytes) is dropped with 6700.
    t0::CardSide side(card, envelope_card());
    std::size_t pieces = 0;
    std::string answer;
    const std::string piece = to_hex(Bytes(255, 0xA5));
    while (pieces < 300) {
      ++pieces;
      REQUIRE(card_says(side, "00 C2 00 00 FF") == "C2");
      answer = card_says(side, piece);
      if (answer != "90 00") break;
    }
    CHECK(answer == "67 00");
    CHECK(pieces == 65544 / 255 + 1);
    CHECK(card_says(side, "00 C2 00 00 00") == "67 00");  // nothing kept of it
  }
  {
    // The card falls silent after the first piece: the reader sees a mute card ...
    t0::CardSideOptions cut = envelope_card();
    cut.mute = true;
    cut.headers_before_mute = 1;
    t0::CardSide side(card, cut);
    const auto result = reader.transmit(extended_apdu("80 10 00 00", pattern(300), true), side);
    CHECK(result.error == t0::Error::mute);
    CHECK(result.response.empty());
  }
  // ... and the next exchange with the card goes through whole.
  t0::CardSide side(card, envelope_card());
  const Bytes data = pattern(300);
  const auto result = reader.transmit(extended_apdu("80 10 00 00", data, true), side);
  REQUIRE(result.error == t0::Error::none);
  CHECK(result.response == with_ok(data));
}

TEST_CASE("a chain outlasts its CardSide when the card keeps an EnvelopeState (one TPDU per exchange)") {
  IsoCard card = powered_card("extended-t0");
  t0::EnvelopeState kept;
  t0::CardSideOptions options = envelope_card();
  options.envelope_state = &kept;
  const std::string direct = send(card, "00 B0 84 00 00 00 04");
  {
    t0::CardSide first(card, options);
    CHECK(card_says(first, "00 C2 00 00 07") == "C2");
    CHECK(card_says(first, "00 B0 84 00 00 00 04") == "90 00");
  }
  {
    t0::CardSide end(card, options);
    CHECK(card_says(end, "00 C2 00 00 00") == "61 04");
  }
  t0::CardSide fetch(card, options);
  CHECK(card_says(fetch, "00 C0 00 00 04") == "C0 " + direct);
  CHECK_FALSE(kept.answer_waits);
}

TEST_CASE("a Lua card declares ENVELOPE with t0_envelope = true; another value is refused at load with its line") {
  const std::string head = "name = \"lua-envelope\"\natr = { protocols = {0} }\n";
  auto loaded = load_lua_card_text(head + "t0_envelope = true\n", "cards/lua-envelope.lua");
  REQUIRE(loaded);
  CHECK(loaded.value()->protocol_behaviour().t0_envelope);
  auto plain = load_lua_card_text(head, "cards/lua-envelope.lua");
  REQUIRE(plain);
  CHECK_FALSE(plain.value()->protocol_behaviour().t0_envelope);
  auto wrong = load_lua_card_text(head + "t0_envelope = 1\n", "cards/lua-envelope.lua");
  REQUIRE_FALSE(wrong);
  const std::string message = wrong.error().message();
  CHECK(message.find("cards/lua-envelope.lua:3") != std::string::npos);
  CHECK(message.find("t0_envelope") != std::string::npos);
  CHECK(message.find("true or false expected") != std::string::npos);
}
