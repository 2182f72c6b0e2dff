#include <doctest/doctest.h>

#include "cards/apdu/iso_card.h"
#include "cards/atr/atr.h"
#include "cards/profiles.h"
#include "test_support.h"

using namespace readerlab::cards;
using namespace readerlab::cards::test;

namespace {

constexpr std::string_view kAid = "F0 72 65 61 64 65 72 6C 61 62 01";

std::string counting_bytes(std::size_t from, std::size_t count) {
  Bytes bytes;
  for (std::size_t i = 0; i < count; ++i) bytes.push_back(static_cast<std::uint8_t>(from + i));
  return to_hex(bytes);
}

// FCI of the readerlab application: 6F { 84 AID, A5 { 50 "readerlab", 87 01 01 } }.
const std::string kFci = "6F 1D 84 0B " + std::string(kAid) + " A5 0E 50 09 72 65 61 64 65 72 6C 61 62 87 01 01";

}  // namespace

TEST_CASE("command APDU cases, short and extended (ISO 7816-4 5.1)") {
  auto c1 = parse_command_apdu(hex("00 A4 04 00"));
  REQUIRE(c1);
  CHECK(c1->apdu_case() == 1);

  auto c2 = parse_command_apdu(hex("00 B0 00 00 00"));
  REQUIRE(c2);
  CHECK(c2->apdu_case() == 2);
  CHECK(c2->ne == 256);

  auto c3 = parse_command_apdu(hex("00 D6 00 00 02 AA BB"));
  REQUIRE(c3);
  CHECK(c3->apdu_case() == 3);
  CHECK(c3->data == hex("AA BB"));

  auto c4 = parse_command_apdu(hex("00 A4 04 00 02 F0 72 10"));
  REQUIRE(c4);
  CHECK(c4->apdu_case() == 4);
  CHECK(c4->ne == 16);

  auto c2e = parse_command_apdu(hex("00 B0 00 00 00 00 00"));
  REQUIRE(c2e);
  CHECK(c2e->extended);
  CHECK(c2e->ne == 65536);

  auto c3e = parse_command_apdu(hex("00 D6 00 00 00 00 02 AA BB"));
  REQUIRE(c3e);
  CHECK(c3e->apdu_case() == 3);
  CHECK(c3e->extended);

  auto c4e = parse_command_apdu(hex("80 10 00 00 00 00 02 AA BB 01 00"));
  REQUIRE(c4e);
  CHECK(c4e->apdu_case() == 4);
  CHECK(c4e->ne == 256);

  for (std::string_view bad : {"", "00", "00 A4", "00 A4 04", "00 A4 04 00 00 00", "00 A4 04 00 0B F0 72",
                               "00 A4 04 00 02 F0 72 00 00", "00 A4 04 00 00 00 00 00", "00 D6 00 00 00 00 03 AA BB",
                               "00 D6 00 00 00 00 02 AA BB 00", "00 D6 00 00 00 00 02 AA BB 00 00 00"}) {
    INFO(bad);
    CHECK_FALSE(parse_command_apdu(hex(bad)).has_value());
  }
}

TEST_CASE("malformed APDUs get 6700 and the card keeps serving") {
  IsoCard card = powered_card("t1-fs");
  for (std::string_view bad : {"", "00", "00 A4", "00 A4 04", "00 A4 04 00 0B F0 72", "00 A4 04 00 00 00",
                               "00 A4 04 00 00 00 00 00", "00 A4 04 00 00 00 0B F0 72", "00 B0 00 00 00 00 01 00 00"}) {
    INFO(bad);
    CHECK(send(card, bad) == "67 00");
  }
  CHECK(send(card, "00 A4 04 00 0B " + std::string(kAid) + " 00") == kFci + " 90 00");
}

TEST_CASE("SELECT by AID returns the FCI") {
  IsoCard card = powered_card("t1-fs");
  const std::string select = "00 A4 04 00 0B " + std::string(kAid);
  CHECK(send(card, select + " 00") == kFci + " 90 00");
  CHECK(send(card, select) == "90 00");                                                // case 3: no data expected
  CHECK(send(card, "00 A4 04 0C 0B " + std::string(kAid)) == "90 00");                 // P2: no answer
  CHECK(sw_of(send(card, "00 A4 04 04 0B " + std::string(kAid) + " 00")) == "90 00");  // FCP
  // Extended encoding of the same command.
  CHECK(send(card, "00 A4 04 00 00 00 0B " + std::string(kAid) + " 00 00") == kFci + " 90 00");
}

TEST_CASE("SELECT by AID: partial name, next occurrence, not found, bad parameters") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 A4 04 00 05 F0 72 65 61 64 00") == kFci + " 90 00");
  // The next occurrences: DF 5000 (..02), then the nested DF 5100 (..03), then none.
  CHECK(sw_of(send(card, "00 A4 04 02 05 F0 72 65 61 64 00")) == "90 00");
  CHECK(send(card, "00 A4 04 0E 05 F0 72 65 61 64") == "90 00");
  CHECK(send(card, "00 A4 04 0E 05 F0 72 65 61 64") == "6A 82");
  CHECK(send(card, "00 A4 04 00 05 A0 00 00 00 03 00") == "6A 82");
  CHECK(send(card, "00 A4 04 00 0C " + std::string(kAid) + " 02 00") == "6A 82");  // too long
  CHECK(send(card, "00 A4 05 00 02 3F 00") == "6A 86");
  CHECK(send(card, "00 A4 04 10 05 F0 72 65 61 64 00") == "6A 86");
  CHECK(send(card, "00 A4 04 01 05 F0 72 65 61 64 00") == "6A 86");  // "last" occurrence
}

TEST_CASE("an FCI longer than Le is fetched with GET RESPONSE") {
  IsoCard card = powered_card("t1-fs");
  const std::string first = send(card, "00 A4 04 00 0B " + std::string(kAid) + " 10");
  CHECK(sw_of(first) == "61 0F");
  const std::string rest = send(card, "00 C0 00 00 0F");
  CHECK(sw_of(rest) == "90 00");
  CHECK(first.substr(0, first.size() - 6) + " " + rest.substr(0, rest.size() - 6) == kFci);
  CHECK(send(card, "00 C0 00 00 0F") == "69 85");  // nothing pending any more
}

TEST_CASE("SELECT by FID: MF, EF, not found") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 A4 00 00 02 3F 00") == "90 00");
  CHECK(send(card, "00 A4 00 00 02 3F 00 00") == "6F 07 82 01 38 83 02 3F 00 90 00");
  CHECK(send(card, "00 A4 00 00") == "90 00");  // empty data selects the MF
  CHECK(send(card, "00 A4 02 00 02 01 01 00") == "6F 0E 80 02 01 00 82 01 01 83 02 01 01 88 01 08 90 00");
  CHECK(send(card, "00 A4 00 00 02 01 01") == "90 00");
  CHECK(send(card, "00 A4 00 00 02 7F 7F") == "6A 82");
  CHECK(send(card, "00 A4 00 00 01 3F") == "67 00");
  // EFs live under the MF: P1=02 from inside the application finds nothing.
  CHECK(send(card, "00 A4 04 0C 0B " + std::string(kAid)) == "90 00");
  CHECK(send(card, "00 A4 02 0C 02 01 01") == "6A 82");
}

TEST_CASE("READ BINARY: offsets, end of file, beyond the end, no current EF") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 B0 00 00 10") == "69 86");
  CHECK(send(card, "00 A4 00 0C 02 01 01") == "90 00");
  CHECK(send(card, "00 B0 00 00 00") == counting_bytes(0, 256) + " 90 00");
  CHECK(send(card, "00 B0 00 10 10") == counting_bytes(0x10, 16) + " 90 00");
  CHECK(send(card, "00 B0 00 F0 20") == counting_bytes(0xF0, 16) + " 62 82");
  CHECK(send(card, "00 B0 01 00 01") == "6B 00");
  CHECK(send(card, "00 B0 7F FF 01") == "6B 00");
  CHECK(send(card, "00 B0 00 00") == "67 00");                                     // no Le
  CHECK(send(card, "00 B0 00 00 00 01 00") == counting_bytes(0, 256) + " 90 00");  // extended
  CHECK(send(card, "00 B0 00 00 00 00 00") == counting_bytes(0, 256) + " 62 82");  // Ne 65536
}

TEST_CASE("READ BINARY by short EF identifier selects the EF") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 B0 81 05 03") == "05 06 07 90 00");
  CHECK(send(card, "00 B0 00 08 02") == "08 09 90 00");  // EF 0101 is now current
  CHECK(send(card, "00 B0 9E 00 01") == "6A 82");        // SFI 30: no such EF
  CHECK(send(card, "00 B0 A1 00 01") == "6A 86");        // b7-b6 of P1 must be 00
}

TEST_CASE("UPDATE BINARY writes, persists across reset, and guards PIN-protected EFs") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 D6 00 00 01 00") == "69 86");
  CHECK(send(card, "00 A4 00 0C 02 01 01") == "90 00");
  CHECK(send(card, "00 D6 00 10 03 AA BB CC") == "90 00");
  CHECK(send(card, "00 B0 00 0F 05") == "0F AA BB CC 13 90 00");
  CHECK(send(card, "00 D6 00 FF 02 01 02") == "6A 84");
  CHECK(send(card, "00 D6 01 01 01 01") == "6B 00");
  CHECK(send(card, "00 D6 00 00") == "67 00");
  REQUIRE(card.reset(ResetKind::warm));
  CHECK(send(card, "00 B0 81 10 03") == "AA BB CC 90 00");

  CHECK(send(card, "00 D6 82 00 02 12 34") == "69 82");
  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "90 00");
  CHECK(send(card, "00 D6 82 00 02 12 34") == "90 00");
  CHECK(card.file_contents(0x0102)->at(1) == 0x34);
}

TEST_CASE("GET CHALLENGE is deterministic for a seed") {
  IsoCard first = powered_card("t1-fs");
  IsoCard second = powered_card("t1-fs");
  const std::string challenge = send(first, "00 84 00 00 08");
  CHECK(sw_of(challenge) == "90 00");
  CHECK(challenge.size() == 8 * 3 + 5);
  CHECK(send(second, "00 84 00 00 08") == challenge);
  CHECK(send(first, "00 84 00 00 08") != challenge);  // the sequence moves on

  auto profile = builtin_profile("t1-fs");
  IsoCard reseeded(std::move(*profile), 12345);
  REQUIRE(reseeded.reset(ResetKind::cold));
  CHECK(send(reseeded, "00 84 00 00 08") != challenge);

  CHECK(send(first, "00 84 00 00 00").size() == 256 * 3 + 5);  // Le=00 is 256
  CHECK(send(first, "00 84 00 00") == "67 00");
  CHECK(send(first, "00 84 01 00 08") == "6A 86");
}

TEST_CASE("VERIFY counts tries, blocks, and reports status without data") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 20 00 80") == "63 C3");
  CHECK(send(card, "00 20 00 80 04 30 30 30 30") == "63 C2");
  CHECK(send(card, "00 20 00 80") == "63 C2");
  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "90 00");
  CHECK(card.pin_tries_left() == 3);
  CHECK(send(card, "00 20 00 80") == "90 00");
  CHECK(send(card, "00 20 FF 80") == "90 00");  // reset the verification status
  CHECK(send(card, "00 20 00 80") == "63 C3");
  CHECK(send(card, "00 20 00 82 04 31 32 33 34") == "6A 88");
  CHECK(send(card, "00 20 01 80 04 31 32 33 34") == "6A 86");
  CHECK(send(card, "00 20 00 80 04 31 32 33 34 00") == "67 00");

  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "90 00");
  REQUIRE(card.reset(ResetKind::warm));
  CHECK(send(card, "00 20 00 80") == "63 C3");  // verified state does not survive a reset

  CHECK(send(card, "00 20 00 80 02 39 39") == "63 C2");
  CHECK(send(card, "00 20 00 80 02 39 39") == "63 C1");
  CHECK(send(card, "00 20 00 80 02 39 39") == "63 C0");
  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "69 83");
  CHECK(send(card, "00 20 00 80") == "69 83");
  REQUIRE(card.reset(ResetKind::cold));
  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "69 83");  // the counter is persistent
}

TEST_CASE("GET DATA answers profile data objects") {
  IsoCard card = powered_card("t1-fs");
  const auto atr = parse_atr(*builtin_atr("t1-fs"));
  REQUIRE(atr.atr);
  CHECK(send(card, "00 CA 5F 52 00") == to_hex(atr.atr->historical) + " 90 00");
  CHECK(sw_of(send(card, "00 CA 9F 7F 00")) == "90 00");
  CHECK(send(card, "00 CA 00 42 00") == "6A 88");
  CHECK(send(card, "00 CA 9F 7F") == "67 00");
  // "readerlab t1-fs serial 00000001" is 31 bytes: 4 now, 27 (1B) left for GET RESPONSE.
  CHECK(send(card, "00 CA 9F 7F 04") == "72 65 61 64 61 1B");
  CHECK(sw_of(send(card, "00 C0 00 00 1B")) == "90 00");
}

TEST_CASE("ECHO returns the command data byte for byte") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "80 10 00 00 05 01 02 03 04 05 00") == "01 02 03 04 05 90 00");
  CHECK(send(card, "80 10 00 00 05 01 02 03 04 05") == "90 00");
  CHECK(send(card, "80 10 00 00 04") == "00 01 02 03 90 00");
  CHECK(send(card, "80 10 00 00") == "90 00");
  CHECK(send(card, "80 10 00 00 05 01 02 03 04 05 02") == "01 02 61 03");

  Bytes big = {0x80, 0x10, 0x00, 0x00, 0x00, 0x03, 0xE8};
  for (int i = 0; i < 1000; ++i) big.push_back(static_cast<std::uint8_t>(i * 7));
  big.push_back(0x00);
  big.push_back(0x00);
  const auto response = card.transmit_apdu(big);
  REQUIRE(response.data.size() == 1002);
  CHECK(std::equal(response.data.begin(), response.data.end() - 2, big.begin() + 7));
  CHECK(response.data[1000] == 0x90);
}

TEST_CASE("class and instruction checks") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "FF A4 04 00 05 F0 72 65 61 64 00") == "6E 00");
  CHECK(send(card, "FF CA 00 00 00") == "6E 00");  // a PC/SC reader pseudo-APDU
  CHECK(send(card, "20 A4 00 00") == "6E 00");     // reserved class
  CHECK(send(card, "90 10 00 00 01 AA") == "6E 00");
  CHECK(send(card, "01 A4 00 00") == "68 81");
  CHECK(send(card, "41 A4 00 00") == "68 81");
  CHECK(send(card, "0C A4 00 00") == "68 82");
  CHECK(send(card, "10 A4 00 00") == "68 84");
  CHECK(send(card, "00 12 00 00") == "6D 00");
  CHECK(send(card, "00 10 00 00 01 AA") == "6D 00");  // ECHO is proprietary only
  CHECK(send(card, "80 A4 00 00") == "6D 00");
}

TEST_CASE("reset clears the selection; deactivation and power state") {
  auto profile = builtin_profile("t1-fs");
  IsoCard card(std::move(*profile));
  CHECK(card.transmit_apdu(hex("00 A4 00 00")).status == CardStatus::deactivated);
  CHECK(card.reset(ResetKind::cold) == builtin_atr("t1-fs"));
  CHECK(send(card, "00 A4 00 0C 02 01 01") == "90 00");
  CHECK(send(card, "00 B0 00 00 01") == "00 90 00");
  REQUIRE(card.reset(ResetKind::warm));
  CHECK(send(card, "00 B0 00 00 01") == "69 86");
  card.deactivate();
  CHECK(card.transmit_apdu(hex("00 B0 00 00 01")).status == CardStatus::deactivated);
}

TEST_CASE("protocol selection follows the ATR") {
  IsoCard dual = powered_card("t0-t1");
  CHECK(dual.selected_protocol() == Protocol::t0);
  dual.select_protocol(Protocol::t1);
  CHECK(dual.selected_protocol() == Protocol::t1);

  IsoCard t1_only = powered_card("t1-fs");
  CHECK(t1_only.selected_protocol() == Protocol::t1);
  t1_only.select_protocol(Protocol::t0);
  CHECK(t1_only.selected_protocol() == Protocol::t1);
}

TEST_CASE("a mute card gives no ATR and no answer") {
  auto card = make_builtin_card("mute");
  REQUIRE(card);
  CHECK_FALSE(card->reset(ResetKind::cold).has_value());
  CHECK(card->transmit_apdu(hex("00 A4 00 00")).status == CardStatus::mute);
}
