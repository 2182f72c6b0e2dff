// ISO 7816-4 file system and security commands on the readerlab tree (see cards/profiles.cpp).
#include <doctest/doctest.h>

#include "cards/apdu/iso_card.h"
#include "cards/profiles.h"
#include "test_support.h"

using namespace readerlab::cards;
using namespace readerlab::cards::test;

TEST_CASE("SELECT child DF, child EF, parent, and paths from the MF and the current DF") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 A4 01 0C 02 50 00") == "90 00");  // child DF of the MF
  CHECK(send(card, "00 A4 02 0C 02 50 00") == "6A 82");  // 5000 is no EF
  CHECK(send(card, "00 A4 02 0C 02 50 01") == "90 00");  // child EF of DF 5000
  CHECK(send(card, "00 A4 01 0C 02 51 00") == "90 00");  // nested DF
  CHECK(send(card, "00 A4 02 04 02 51 01 00") ==
        "62 0E 80 02 00 08 82 01 01 83 02 51 01 88 01 08 90 00");    // FCP of EF 5101
  CHECK(send(card, "00 A4 03 0C") == "90 00");                       // parent of 5100: 5000
  CHECK(send(card, "00 A4 03 0C") == "90 00");                       // parent of 5000: the MF
  CHECK(send(card, "00 A4 03 0C") == "6A 82");                       // the MF has no parent
  CHECK(send(card, "00 A4 08 0C 04 50 00 51 00") == "90 00");        // path from the MF
  CHECK(send(card, "00 A4 08 0C 06 3F 00 50 00 50 02") == "90 00");  // leading 3F00 tolerated
  CHECK(send(card, "00 A4 09 0C 02 50 03") == "90 00");              // path from the current DF 5000
  CHECK(send(card, "00 A4 09 0C 04 50 01 50 02") == "6A 82");        // an EF cannot hold files
  CHECK(send(card, "00 A4 08 0C 03 50 00 51") == "67 00");
  CHECK(send(card, "00 A4 08 0C 04 50 00 59 99") == "6A 82");
  CHECK(send(card, "00 A4 0A 0C 02 50 00") == "6A 86");
  CHECK(send(card, "00 A4 08 02 02 50 00") == "6A 86");  // occurrence only for names
  // P1=00 finds the parent's children from a nested DF: 5001 from inside 5100.
  CHECK(send(card, "00 A4 08 0C 04 50 00 51 00") == "90 00");
  CHECK(send(card, "00 A4 00 0C 02 50 01") == "90 00");
}

TEST_CASE("SELECT answers FCI, FCP, FMD or nothing as P2 asks") {
  IsoCard card = powered_card("t1-fs");
  const std::string body =
      "82 01 38 83 02 50 00 84 0B F0 72 65 61 64 65 72 6C 61 62 02 A5 09 50 07 "
      "72 65 63 6F 72 64 73";
  CHECK(send(card, "00 A4 00 00 02 50 00 00") == "6F 1F " + body + " 90 00");
  CHECK(send(card, "00 A4 00 04 02 50 00 00") == "62 1F " + body + " 90 00");
  CHECK(send(card, "00 A4 00 08 02 50 00 00") == "64 1F " + body + " 90 00");
  CHECK(send(card, "00 A4 00 0C 02 50 00") == "90 00");
  // A record EF: descriptor, data coding byte, record size 0008, 4 records.
  CHECK(send(card, "00 A4 00 04 02 50 01 00") == "62 0E 82 05 02 21 00 08 04 83 02 50 01 88 01 08 90 00");
}

TEST_CASE("READ RECORD by number, current, first, last, next, previous; SFI addressing") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 B2 01 0C 00") == "69 81");  // SFI 1 of the MF is transparent EF 0101
  CHECK(send(card, "00 A4 01 0C 02 50 00") == "90 00");
  CHECK(send(card, "00 B2 01 04 00") == "69 86");                          // no current EF yet
  CHECK(send(card, "00 B2 02 0C 00") == "02 02 02 02 02 02 02 02 90 00");  // SFI 1, record 2
  CHECK(send(card, "00 B2 00 04 00") == "02 02 02 02 02 02 02 02 90 00");  // current record
  CHECK(send(card, "00 B2 00 02 00") == "03 03 03 03 03 03 03 03 90 00");  // next
  CHECK(send(card, "00 B2 00 03 00") == "02 02 02 02 02 02 02 02 90 00");  // previous
  CHECK(send(card, "00 B2 00 01 00") == "04 04 04 04 04 04 04 04 90 00");  // last
  CHECK(send(card, "00 B2 00 02 00") == "6A 83");                          // no next
  CHECK(send(card, "00 B2 00 00 00") == "01 01 01 01 01 01 01 01 90 00");  // first
  CHECK(send(card, "00 B2 05 04 00") == "6A 83");
  CHECK(send(card, "00 B2 01 04 04") == "01 01 01 01 90 00");              // Le shorter
  CHECK(send(card, "00 B2 01 04 0A") == "01 01 01 01 01 01 01 01 62 82");  // Le longer
  CHECK(send(card, "00 B2 01 14 00") == "66 69 72 73 74 90 00");
  CHECK(send(card, "00 B2 02 14 00") == "73 65 63 6F 6E 64 20 72 65 63 6F 72 64 90 00");
  CHECK(send(card, "00 B2 01 04") == "67 00");
  CHECK(send(card, "00 B2 01 07 00") == "6A 86");
  CHECK(send(card, "00 B0 00 00 01") == "69 81");  // READ BINARY on a record EF
  CHECK(send(card, "00 B2 01 FC 00") == "6A 86");  // SFI 31 is RFU
}

TEST_CASE("UPDATE RECORD and APPEND RECORD on linear fixed, variable and cyclic EFs") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 A4 08 0C 02 50 00") == "90 00");
  // Linear fixed: exact size only.
  CHECK(send(card, "00 DC 03 0C 08 AA AA AA AA AA AA AA AA") == "90 00");
  CHECK(send(card, "00 B2 03 0C 00") == "AA AA AA AA AA AA AA AA 90 00");
  CHECK(send(card, "00 DC 03 0C 02 AA AA") == "67 00");
  CHECK(send(card, "00 DC 09 0C 08 AA AA AA AA AA AA AA AA") == "6A 83");
  CHECK(send(card, "00 E2 00 08 08 BB BB BB BB BB BB BB BB") == "6A 84");  // 4 of 4 used
  // Linear variable: any size up to 32, room for 5 records.
  CHECK(send(card, "00 E2 00 10 03 01 02 03") == "90 00");
  CHECK(send(card, "00 B2 00 14 00") == "01 02 03 90 00");  // the appended one is current
  CHECK(send(card, "00 B2 03 14 00") == "01 02 03 90 00");
  CHECK(send(card, "00 DC 01 14 01 FF") == "90 00");
  CHECK(send(card, "00 B2 01 14 00") == "FF 90 00");
  CHECK(send(card, "00 E2 00 10 01 04") == "90 00");
  CHECK(send(card, "00 E2 00 10 01 05") == "90 00");
  CHECK(send(card, "00 E2 00 10 01 06") == "6A 84");
  CHECK(card.file_records(0x5002)->size() == 5);
  // Cyclic: needs the PIN; the newest becomes record 1 and the oldest drops out.
  CHECK(send(card, "00 E2 00 18 04 00 00 00 04") == "69 82");
  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "90 00");
  CHECK(send(card, "00 E2 00 18 04 00 00 00 04") == "90 00");
  CHECK(send(card, "00 B2 01 1C 00") == "00 00 00 04 90 00");
  CHECK(send(card, "00 B2 03 1C 00") == "00 00 00 02 90 00");
  CHECK(card.file_records(0x5003)->size() == 3);
  CHECK(send(card, "00 E2 01 18 04 00 00 00 05") == "6A 86");
  CHECK(send(card, "00 DC 01 08 08 AA AA AA AA AA AA AA AA 00") == "67 00");
  // Records persist across a reset; the current record does not.
  REQUIRE(card.reset(ResetKind::warm));
  CHECK(send(card, "00 A4 08 0C 04 50 00 50 01") == "90 00");
  CHECK(send(card, "00 B2 00 04 00") == "6A 83");
  CHECK(send(card, "00 B2 03 04 00") == "AA AA AA AA AA AA AA AA 90 00");
}

TEST_CASE("READ BINARY of a PIN-protected EF in a nested DF") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 A4 08 0C 06 50 00 51 00 51 01") == "90 00");
  CHECK(send(card, "00 B0 00 00 00") == "69 82");
  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "90 00");
  CHECK(send(card, "00 B0 00 00 08") == "73 65 63 72 65 74 21 21 90 00");
  CHECK(send(card, "00 B0 81 00 02") == "73 65 90 00");  // SFI 1 of DF 5100
}

TEST_CASE("CHANGE REFERENCE DATA with old and new, or new after VERIFY") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 24 00 80 08 30 30 30 30 35 35 35 35") == "63 C2");  // wrong old PIN
  CHECK(send(card, "00 24 00 80 08 31 32 33 34 35 35 35 35") == "90 00");
  CHECK(card.pin_tries_left() == 3);
  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "63 C2");
  CHECK(send(card, "00 20 00 80 04 35 35 35 35") == "90 00");
  CHECK(send(card, "00 24 01 80 05 36 36 36 36 36") == "90 00");  // verified: new only
  CHECK(send(card, "00 24 01 80 02 36 36") == "6A 80");           // too short
  CHECK(send(card, "00 24 00 80 04 36 36 36 36") == "67 00");     // no new value
  CHECK(send(card, "00 24 02 80 04 36 36 36 36") == "6A 86");
  CHECK(send(card, "00 24 00 85 08 31 32 33 34 35 35 35 35") == "6A 88");
  REQUIRE(card.reset(ResetKind::warm));
  CHECK(send(card, "00 24 01 80 04 37 37 37 37") == "69 82");  // not verified after reset
  CHECK(send(card, "00 20 00 80 05 36 36 36 36 36") == "90 00");
}

TEST_CASE("RESET RETRY COUNTER with the PUK unblocks and sets a new PIN") {
  IsoCard card = powered_card("t1-fs");
  for (int i = 0; i < 3; ++i) send(card, "00 20 00 80 02 39 39");
  CHECK(send(card, "00 20 00 80 04 31 32 33 34") == "69 83");
  CHECK(send(card, "00 2C 00 80 0C 30 30 30 30 30 30 30 30 34 33 32 31") == "63 C9");
  CHECK(card.puk_tries_left() == 9);
  CHECK(send(card, "00 2C 00 80 0C 31 32 33 34 35 36 37 38 34 33 32 31") == "90 00");
  CHECK(card.puk_tries_left() == 10);
  CHECK(card.pin_tries_left() == 3);
  CHECK(send(card, "00 20 00 80 04 34 33 32 31") == "90 00");
  // P1=01: PUK only, the PIN keeps its value.
  for (int i = 0; i < 3; ++i) send(card, "00 20 00 80 02 39 39");
  CHECK(send(card, "00 2C 01 80 08 31 32 33 34 35 36 37 38") == "90 00");
  CHECK(send(card, "00 20 00 80 04 34 33 32 31") == "90 00");
  CHECK(send(card, "00 2C 00 80 08 31 32 33 34 35 36 37 38") == "67 00");  // no new PIN
  CHECK(send(card, "00 2C 00 81 0C 31 32 33 34 35 36 37 38 34 33 32 31") == "6A 88");
  CHECK(send(card, "00 2C 03 80") == "6A 86");
  // The PUK blocks after 10 wrong tries: 63C0 on the last, then 6983.
  for (int i = 9; i >= 1; --i) {
    CHECK(send(card, "00 2C 01 80 08 30 30 30 30 30 30 30 30") == "63 C" + std::string(1, "0123456789"[i]));
  }
  CHECK(send(card, "00 2C 01 80 08 30 30 30 30 30 30 30 30") == "63 C0");
  CHECK(send(card, "00 2C 01 80 08 31 32 33 34 35 36 37 38") == "69 83");
  CHECK(send(card, "00 20 00 81") == "69 83");  // VERIFY status of the PUK
}

TEST_CASE("PUT DATA replaces, creates and guards data objects; GET DATA reads them") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "00 DA 01 01 03 0A 0B 0C") == "90 00");
  CHECK(send(card, "00 CA 01 01 00") == "0A 0B 0C 90 00");
  CHECK(send(card, "00 DA 01 01 01 0D") == "90 00");
  CHECK(send(card, "00 CA 01 01 00") == "0D 90 00");
  CHECK(send(card, "00 DA 9F 7F 01 00") == "69 85");  // read-only
  CHECK(send(card, "00 DA 01 01") == "67 00");
  REQUIRE(card.reset(ResetKind::cold));
  CHECK(send(card, "00 CA 01 01 00") == "0D 90 00");  // persistent like files
}

TEST_CASE("MANAGE CHANNEL opens and closes channels 1..3, each with its own current file") {
  IsoCard card = powered_card("t1-fs");
  CHECK(send(card, "01 A4 00 0C 02 01 01") == "68 81");  // channel 1 is closed
  CHECK(send(card, "00 70 00 00 01") == "01 90 00");
  CHECK(card.channel_open(1));
  CHECK(send(card, "00 A4 00 0C 02 01 01") == "90 00");  // channel 0: EF 0101
  CHECK(send(card, "01 A4 08 0C 04 50 00 51 00") == "90 00");
  CHECK(send(card, "01 A4 02 0C 02 51 01") == "90 00");  // channel 1: EF 5101
  CHECK(send(card, "00 B0 00 00 02") == "00 01 90 00");
  CHECK(send(card, "01 B0 00 00 02") == "69 82");  // EF 5101 needs the PIN
  CHECK(send(card, "01 20 00 80 04 31 32 33 34") == "90 00");
  CHECK(send(card, "01 B0 00 00 02") == "73 65 90 00");  // the security status is shared
  // Opened from channel 1, channel 2 starts with channel 1's current files.
  CHECK(send(card, "01 70 00 00 01") == "02 90 00");
  CHECK(send(card, "02 B0 00 02 02") == "63 72 90 00");
  CHECK(send(card, "00 70 00 03") == "90 00");     // open channel 3 by number
  CHECK(send(card, "00 70 00 03") == "69 85");     // already open
  CHECK(send(card, "00 70 00 00 01") == "6A 81");  // none free
  CHECK(send(card, "03 B0 00 00 01") == "69 86");  // opened from 0: MF, no EF
  CHECK(send(card, "00 70 80 02") == "90 00");
  CHECK(send(card, "02 B0 00 00 01") == "68 81");
  CHECK(send(card, "03 70 80 00") == "90 00");  // P2=00 closes the CLA's channel
  CHECK_FALSE(card.channel_open(3));
  CHECK(send(card, "00 70 80 00") == "6A 86");  // the basic channel stays open
  CHECK(send(card, "00 70 80 02") == "68 81");
  CHECK(send(card, "00 70 40 00") == "6A 86");
  CHECK(send(card, "00 70 00 00") == "67 00");  // opening with P2=00 needs Le
  REQUIRE(card.reset(ResetKind::warm));
  CHECK_FALSE(card.channel_open(1));
  CHECK(send(card, "01 B0 00 00 01") == "68 81");
}

TEST_CASE("extended card: one READ BINARY with Le=000000 returns the whole 64 KB EF") {
  IsoCard card = powered_card("extended");
  CHECK(send(card, "00 A4 00 0C 02 01 04") == "90 00");
  const auto response = card.transmit_apdu(hex("00 B0 00 00 00 00 00"));
  REQUIRE(response.data.size() == 65536 + 2);
  CHECK(response.data[65536] == 0x90);
  CHECK(response.data[65537] == 0x00);
  bool pattern = true;
  for (std::size_t i = 0; i < 65536; ++i) pattern = pattern && response.data[i] == static_cast<std::uint8_t>(i * 7);
  CHECK(pattern);
  // Its FCP gives the size on three bytes: 01 00 00.
  CHECK(send(card, "00 A4 00 04 02 01 04 00").substr(0, 17) == "62 0F 80 03 01 00");
  // A 4 KB answer: EF 0105 by SFI 5, and a 4 KB ECHO.
  const auto four_k = card.transmit_apdu(hex("00 B0 85 00 00 10 00"));
  REQUIRE(four_k.data.size() == 4096 + 2);
  CHECK(four_k.data[4095] == static_cast<std::uint8_t>(4095 * 3));
  const auto echo = card.transmit_apdu(hex("80 10 00 00 00 10 00"));
  REQUIRE(echo.data.size() == 4096 + 2);
  CHECK(to_hex(std::span(echo.data).last(2)) == "90 00");
}

TEST_CASE("under T=0 a case 3 SELECT answers 61xx and a too large Le answers 6Cxx") {
  IsoCard card = powered_card("t0-basic");
  REQUIRE(card.selected_protocol() == Protocol::t0);
  const std::string select = "00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 01";
  CHECK(send(card, select) == "61 1F");
  CHECK(send(card, "00 C0 00 00 00") == "6C 1F");  // Le 256 is too large: exact count
  CHECK(sw_of(send(card, "00 C0 00 00 10")) == "61 0F");
  CHECK(sw_of(send(card, "00 C0 00 00 0F")) == "90 00");
  CHECK(send(card, "00 A4 00 0C 02 01 02") == "90 00");
  CHECK(send(card, "00 B0 00 00 00") == "6C 10");  // a 16-byte EF
  CHECK(send(card, "00 B0 00 00 10") == "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 90 00");
  CHECK(send(card, "80 10 00 00 02 AB CD") == "61 02");  // ECHO's data waits for GET RESPONSE
  CHECK(send(card, "00 C0 00 00 02") == "AB CD 90 00");
  // A case 4 APDU handed over whole (APDU level) still answers at once.
  CHECK(send(card, "80 10 00 00 02 AB CD 00") == "AB CD 90 00");
  // T=1 keeps the APDU-level behaviour on the same tree.
  IsoCard t1 = powered_card("t1-fs");
  CHECK(send(t1, select) == "90 00");
}
