// T=0 (ISO 7816-3 10.3) card side procedure sequences, the APDU-to-TPDU mapping (12.2), and the
// inverse convention on the wire (8.1).
#include <doctest/doctest.h>

#include "cards/apdu/iso_card.h"
#include "cards/atr/convention.h"
#include "cards/profiles.h"
#include "cards/t0/t0.h"
#include "test_support.h"

using namespace readerlab::cards;
using namespace readerlab::cards::test;

namespace {

std::string card_says(t0::CardSide& side, std::string_view from_interface) {
  return to_hex(side.receive(hex(from_interface)));
}

}  // namespace

TEST_CASE("T=0 case 1: the card answers SW1 SW2 right after the header") {
  IsoCard card = powered_card("t0-basic");
  t0::CardSide side(card);
  CHECK(card_says(side, "00 20 00 80 00") == "63 C3");  // VERIFY status query
  CHECK(side.waiting_for_header());
}

TEST_CASE("T=0 case 2: INS, then all Le bytes, then SW1 SW2; header in pieces") {
  IsoCard card = powered_card("t0-basic");
  t0::CardSide side(card);
  CHECK(card_says(side, "00 A4 00 0C 02") == "A4");  // SELECT: the card asks for Lc bytes
  CHECK(card_says(side, "01 01") == "90 00");
  CHECK(card_says(side, "00 B0 00") == "");  // half a header: the card waits
  CHECK(card_says(side, "02 04") == "B0 02 03 04 05 90 00");
}

TEST_CASE("T=0 case 3: INS asks for all data, INS xor FF for one byte at a time") {
  IsoCard card = powered_card("t0-basic");
  t0::CardSide side(card);
  CHECK(card_says(side, "00 A4 00 0C 02") == "A4");
  CHECK(card_says(side, "01 01") == "90 00");
  CHECK(card_says(side, "00 D6 00 00 02") == "D6");
  CHECK(card_says(side, "AA BB") == "90 00");
  CHECK(card.file_contents(0x0101)->at(1) == 0xBB);

  t0::CardSideOptions one_by_one;
  one_by_one.one_byte_at_a_time = true;
  t0::CardSide slow_side(card, one_by_one);
  CHECK(card_says(slow_side, "00 D6 00 00 03") == "29");  // D6 xor FF
  CHECK(card_says(slow_side, "01") == "29");
  CHECK(card_says(slow_side, "02") == "29");
  CHECK(card_says(slow_side, "03") == "90 00");
  CHECK(card_says(slow_side, "00 B0 00 00 03") == "4F 01 4F 02 4F 03 90 00");
}

TEST_CASE("T=0 case 4 goes as case 3 then 61xx and GET RESPONSE") {
  IsoCard card = powered_card("t0-basic");
  t0::CardSide side(card);
  CHECK(card_says(side, "80 10 00 00 03") == "10");
  CHECK(card_says(side, "01 02 03") == "61 03");
  CHECK(card_says(side, "00 C0 00 00 03") == "C0 01 02 03 90 00");

  t0::InterfaceSide reader;
  const auto result = reader.transmit(hex("80 10 00 00 03 01 02 03 00"), side);
  CHECK(result.error == t0::Error::none);
  CHECK(to_hex(result.response) == "01 02 03 90 00");
  CHECK(result.tpdus == 2);
}

TEST_CASE("T=0 case 2 with a wrong Le: 6Cxx and the re-issued header") {
  IsoCard card = powered_card("t0-basic");
  t0::CardSide side(card);
  t0::InterfaceSide reader;
  REQUIRE(to_hex(reader.transmit(hex("00 A4 00 0C 02 01 02"), side).response) == "90 00");
  CHECK(card_says(side, "00 B0 00 00 00") == "6C 10");
  const auto result = reader.transmit(hex("00 B0 00 00 00"), side);
  CHECK(result.error == t0::Error::none);
  CHECK(result.tpdus == 2);
  CHECK(result.response.size() == 16 + 2);
  CHECK(to_hex(std::span(result.response).last(2)) == "90 00");
}

TEST_CASE("T=0 mapping: Ne stops GET RESPONSE, 61xx stays for the application") {
  IsoCard card = powered_card("t0-basic");
  t0::CardSide side(card);
  t0::InterfaceSide reader;
  Bytes echo = hex("80 10 00 00 20");
  for (std::uint8_t i = 0; i < 0x20; ++i) echo.push_back(i);
  echo.push_back(0x10);  // Le = 16 of 32
  const auto result = reader.transmit(echo, side);
  REQUIRE(result.error == t0::Error::none);
  CHECK(result.response.size() == 16 + 2);
  CHECK(to_hex(std::span(result.response).last(2)) == "61 10");
  const auto rest = reader.transmit(hex("00 C0 00 00 10"), side);
  CHECK(rest.response.front() == 0x10);
  CHECK(to_hex(std::span(rest.response).last(2)) == "90 00");

  // Extended Ne with short data: P3 = Lc, then GET RESPONSE for all 200 bytes.
  Bytes long_echo = hex("80 10 00 00 00 00 C8");
  for (int i = 0; i < 200; ++i) long_echo.push_back(static_cast<std::uint8_t>(i));
  long_echo.push_back(0x00);
  long_echo.push_back(0x00);
  const auto long_result = reader.transmit(long_echo, side);
  CHECK(long_result.response.size() == 202);
  CHECK(long_result.tpdus == 2);

  // Case 2E: P3 = 00 (256), the rest through 61xx; GET CHALLENGE answers exactly Ne.
  const auto challenge = reader.transmit(hex("00 84 00 00 00 01 00"), side);
  CHECK(challenge.response.size() == 258);
}

TEST_CASE("T=0 errors: conflict, mute, deactivated, invalid INS, unknown INS, malformed") {
  IsoCard card = powered_card("t0-basic");
  t0::InterfaceSide reader;

  t0::CardSideOptions bad;
  bad.bad_procedure_byte = 0x42;
  t0::CardSide bad_side(card, bad);
  CHECK(reader.transmit(hex("00 B0 81 00 04"), bad_side).error == t0::Error::procedure_byte_conflict);
  CHECK(reader.transmit(hex("00 B0 81 00 04"), bad_side).error == t0::Error::none);  // once only

  t0::CardSideOptions mute;
  mute.mute = true;
  t0::CardSide mute_side(card, mute);
  CHECK(reader.transmit(hex("00 B0 00 00 04"), mute_side).error == t0::Error::mute);

  t0::CardSide side(card);
  CHECK(to_hex(reader.transmit(hex("00 12 00 00 05 01 02 03 04 05"), side).response) == "6D 00");
  CHECK(card_says(side, "00 12 00 00 05") == "6D 00");  // refused after the header
  CHECK(reader.transmit(hex("00 62 00 00"), side).error == t0::Error::invalid_ins);
  CHECK(card_says(side, "00 92 00 00 00") == "6D 00");
  CHECK(reader.transmit(hex("00 B0 00"), side).error == t0::Error::malformed_command);
  CHECK(reader.transmit_tpdu(hex("00 D6 00 00 03 01"), side).error == t0::Error::malformed_command);
  Bytes too_long = hex("00 D6 00 00 00 01 00");
  too_long.resize(too_long.size() + 256, 0xAA);
  CHECK(reader.transmit(too_long, side).error == t0::Error::command_too_long);

  // Both sides expecting data: the card asks for Lc, the reader waits for Le bytes.
  CHECK(reader.transmit(hex("80 10 00 00 04"), side).error == t0::Error::mute);

  card.deactivate();
  t0::CardSide off_side(card);
  CHECK(reader.transmit(hex("00 B0 00 00 04"), off_side).error == t0::Error::card_deactivated);
  CHECK_FALSE(t0::to_string(t0::Error::procedure_byte_conflict).empty());
}

TEST_CASE("T=0 NULL bytes stretch time and are counted; the limit turns them into mute") {
  IsoCard card = powered_card("t0-basic");
  t0::CardSideOptions options;
  options.null_bytes = 3;
  t0::CardSide side(card, options);
  CHECK(card_says(side, "00 B0 81 00 02") == "60 60 60 B0 00 01 90 00");
  CHECK(card_says(side, "00 D6 00 00 01") == "D6");  // asking for data takes no time
  CHECK(card_says(side, "07") == "60 60 60 90 00");
  t0::InterfaceSide reader;
  const auto result = reader.transmit(hex("80 10 00 00 01 AA 00"), side);
  CHECK(result.response == hex("AA 90 00"));
  CHECK(result.null_bytes == 6);
  t0::InterfaceSide impatient({Convention::direct, 2});
  CHECK(impatient.transmit(hex("00 B0 00 00 02"), side).error == t0::Error::mute);
}

TEST_CASE("t0::exchange and t0::transmit_apdu run a T=0 exchange on a cards::Card&") {
  auto card = make_builtin_card("t0-basic");
  REQUIRE(card->reset(ResetKind::cold));
  const std::string aid = "F0 72 65 61 64 65 72 6C 61 62 01";
  const auto first = t0::exchange(*card, hex("00 A4 04 00 0B " + aid));
  CHECK(to_hex(first.response) == "61 1F");
  const auto fci = t0::exchange(*card, hex("00 C0 00 00 1F"));
  CHECK(fci.response.size() == 0x1F + 2);
  CHECK(fci.response.front() == 0x6F);
  const auto apdu = t0::transmit_apdu(*card, hex("00 A4 04 00 0B " + aid + " 00"));
  CHECK(apdu.response == fci.response);
  CHECK(apdu.tpdus == 2);  // case 3, then GET RESPONSE with Le = min(1F, Ne)

  auto mute = make_builtin_card("mute");
  mute->reset(ResetKind::cold);
  CHECK(t0::transmit_apdu(*mute, hex("00 B0 00 00 01")).error == t0::Error::mute);
}

TEST_CASE("inverse convention: 3F travels as 03, every byte inverted and reversed") {
  CHECK(invert_and_reverse(0x3F) == 0x03);
  CHECK(invert_and_reverse(0x03) == 0x3F);
  CHECK(invert_and_reverse(0x00) == 0xFF);
  CHECK(invert_and_reverse(0x01) == 0x7F);
  CHECK(invert_and_reverse(0x80) == 0xFE);
  for (unsigned value = 0; value < 256; ++value) {
    const auto byte = static_cast<std::uint8_t>(value);
    REQUIRE(invert_and_reverse(invert_and_reverse(byte)) == byte);
  }
  const Bytes atr = *builtin_atr("inverse");
  const Bytes wire = to_wire(atr, Convention::inverse);
  CHECK(wire[0] == 0x03);
  CHECK(convention_of_wire_ts(wire[0]) == Convention::inverse);
  CHECK(convention_of_wire_ts(0x3B) == Convention::direct);
  CHECK_FALSE(convention_of_wire_ts(0x3F).has_value());
  CHECK(from_wire(wire, Convention::inverse) == atr);
  CHECK(to_wire(atr, Convention::direct) == atr);
  CHECK(convention_of_atr(atr) == Convention::inverse);
}

TEST_CASE("inverse convention on both sides of a T=0 exchange") {
  IsoCard card = powered_card("inverse");
  t0::CardSideOptions inverse;
  inverse.convention = Convention::inverse;
  t0::CardSide side(card, inverse);
  // READ BINARY header as the line carries it, and the card's answer likewise.
  const Bytes wire_header = to_wire(hex("00 B0 81 00 02"), Convention::inverse);
  CHECK(to_hex(wire_header) == "FF F2 7E FF BF");
  const Bytes answer = side.receive(wire_header);
  CHECK(to_hex(from_wire(answer, Convention::inverse)) == "B0 00 01 90 00");
  t0::InterfaceSide reader({Convention::inverse});
  CHECK(to_hex(reader.transmit(hex("00 B0 00 02 02"), side).response) == "02 03 90 00");
  // A reader decoding the direct way sees garbage procedure bytes.
  t0::InterfaceSide direct_reader;
  CHECK(direct_reader.transmit(hex("00 B0 00 02 02"), side).error != t0::Error::none);
  // t0::exchange picks the convention from the card's ATR.
  CHECK(to_hex(t0::exchange(card, hex("00 B0 00 04 01")).response) == "04 90 00");
}
