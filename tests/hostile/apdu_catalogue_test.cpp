// Malformed and impossible command APDUs, one row each, and the status word the ISO card
// answers as ISO 7816-4 says: 6700 wrong length (5.1 encoding, or Lc/Le the command cannot
// have), 6E00 class not supported, 6D00 instruction not supported, 6881 / 6882 / 6884 for the
// CLA functions (5.1.1), 6A86 wrong P1-P2, and the command's own errors (7.x). After each row
// the same card still selects its application.
#include "tests/cards/test_support.h"
#include "tests/hostile/hostile_support.h"

namespace readerlab::hostile {
namespace {

struct Entry {
  const char* name;
  const char* apdu;              // the command, hex ("XX*N" repeats)
  std::uint16_t sw;              // SW1 SW2 it must get, ISO 7816-4 5.1.3
  const char* before = nullptr;  // a command sent first (to make a file current)
};

// Status words of ISO 7816-4 5.1.3 Tables 5 and 6.
constexpr std::uint16_t k6700 = 0x6700;  // wrong length
constexpr std::uint16_t k6881 = 0x6881;  // logical channel not supported
constexpr std::uint16_t k6882 = 0x6882;  // secure messaging not supported
constexpr std::uint16_t k6884 = 0x6884;  // command chaining not supported
constexpr std::uint16_t k6981 = 0x6981;  // command incompatible with file structure
constexpr std::uint16_t k6985 = 0x6985;  // conditions of use not satisfied
constexpr std::uint16_t k6986 = 0x6986;  // command not allowed (no current EF)
constexpr std::uint16_t k6A82 = 0x6A82;  // file or application not found
constexpr std::uint16_t k6A84 = 0x6A84;  // not enough memory space in the file
constexpr std::uint16_t k6A86 = 0x6A86;  // incorrect parameters P1-P2
constexpr std::uint16_t k6A88 = 0x6A88;  // referenced data not found
constexpr std::uint16_t k6B00 = 0x6B00;  // wrong parameters P1-P2 (offset outside the EF)
constexpr std::uint16_t k6D00 = 0x6D00;  // instruction code not supported
constexpr std::uint16_t k6E00 = 0x6E00;  // class not supported

constexpr const char* kSelectEf0101 = "00 A4 00 0C 02 01 01";

const Entry kCatalogue[] = {
    // Encodings ISO 7816-4 5.1 does not allow.
    {"empty command", "", k6700},
    {"CLA INS P1 only", "00 A4 04", k6700},
    {"Lc 0B with 2 data bytes", "00 A4 04 00 0B F0 72", k6700},
    {"Lc 02 with 4 data bytes", "00 A4 00 0C 02 3F 00 12 34", k6700},
    {"extended Lc 0000", "00 A4 04 00 00 00 00 F0", k6700},
    {"extended Lc FFFF with 3 data bytes", "00 D6 00 00 00 FF FF 01 02 03", k6700},
    {"a body of 00 00", "00 B0 00 00 00 00", k6700},
    {"extended Lc FFFF and 65538 bytes after it", "00 D6 00 00 00 FF FF 00*65538", k6700},
    {"Lc FF with 256 data bytes", "00 D6 00 00 FF 00*256 00", k6700},
    // CLA (5.1.1).
    {"CLA FF", "FF A4 00 00", k6E00},
    {"CLA 20 (reserved 001x xxxx)", "20 A4 00 00", k6E00},
    {"CLA 90, a proprietary class the card lacks", "90 10 00 00", k6E00},
    {"CLA 03: logical channel 3 never opened", "03 B0 00 00 01", k6881},
    {"CLA 4F: logical channel 19", "4F B0 00 00 01", k6881},
    {"CLA 0C: secure messaging", "0C B0 00 00 01", k6882},
    {"CLA 10: command chaining", "10 A4 00 00 02 3F 00", k6884},
    // INS.
    {"INS EE", "00 EE 00 00", k6D00},
    {"INS 60, a T=0 procedure byte", "00 60 00 00", k6D00},
    {"INS B1, READ BINARY with an odd INS", "00 B1 00 00 00", k6D00},
    {"proprietary CLA 80 with INS EE", "80 EE 00 00", k6D00},
    // SELECT (7.1.1).
    {"SELECT P1 05", "00 A4 05 00 02 3F 00", k6A86},
    {"SELECT P2 F0, RFU bits", "00 A4 00 F0 02 3F 00", k6A86},
    {"SELECT by FID with 3 bytes", "00 A4 00 0C 03 3F 00 00", k6700},
    {"SELECT of an absent FID", "00 A4 00 0C 02 EE EE", k6A82},
    {"SELECT a path of odd length", "00 A4 08 0C 03 3F 00 01", k6700},
    {"SELECT by name of an absent application", "00 A4 04 00 05 A0 00 00 00 99 00", k6A82},
    // READ / UPDATE BINARY (7.2).
    {"READ BINARY without Le", "00 B0 00 00", k6700},
    {"READ BINARY with data", "00 B0 00 00 01 00", k6700},
    {"READ BINARY with no current EF", "00 B0 00 00 10", k6986},
    {"READ BINARY with SFI and RFU bits in P1", "00 B0 E1 00 10", k6A86},
    {"READ BINARY at offset 7FFF of a 256-byte EF", "00 B0 7F FF 01", k6B00, kSelectEf0101},
    {"UPDATE BINARY past the end", "00 D6 00 FF 02 01 02", k6A84, kSelectEf0101},
    {"UPDATE BINARY without data", "00 D6 00 00", k6700},
    // Records (7.3).
    {"READ RECORD with SFI 31 (RFU)", "00 B2 01 FC 00", k6A86},
    {"READ RECORD of a transparent EF", "00 B2 01 0C 00", k6981},
    {"READ RECORD without Le", "00 B2 01 0C", k6700},
    {"APPEND RECORD with P1 01", "00 E2 01 08 01 00", k6A86},
    // Security (7.5).
    {"VERIFY with Le", "00 20 00 80 04 31 32 33 34 00", k6700},
    {"VERIFY P1 01", "00 20 01 80 04 31 32 33 34", k6A86},
    {"VERIFY of an unknown reference", "00 20 00 85 04 31 32 33 34", k6A88},
    {"CHANGE REFERENCE DATA P1 02", "00 24 02 80 08 31 32 33 34 35 36 37 38", k6A86},
    {"RESET RETRY COUNTER with Le", "00 2C 00 80 00", k6700},
    {"GET CHALLENGE with P1 01", "00 84 01 00 08", k6A86},
    {"GET CHALLENGE without Le", "00 84 00 00", k6700},
    // Data objects, channels, GET RESPONSE (7.4, 7.1.2, 7.6.1).
    {"GET DATA of an absent tag", "00 CA 01 01 00", k6A88},
    {"PUT DATA without data", "00 DA 01 01", k6700},
    {"MANAGE CHANNEL closing channel 0", "00 70 80 00", k6A86},
    {"MANAGE CHANNEL P1 40", "00 70 40 00", k6A86},
    {"MANAGE CHANNEL with data", "00 70 00 00 01 01", k6700},
    {"GET RESPONSE with nothing pending", "00 C0 00 00 10", k6985},
    {"GET RESPONSE with P1 01", "00 C0 01 00 10", k6A86},
};

std::uint16_t sw_of(const cards::CardResponse& response) {
  REQUIRE(response.status == cards::CardStatus::ok);
  REQUIRE(response.data.size() >= 2);
  return cards::status_of(response.data);
}

}  // namespace

std::size_t apdu_catalogue_size() { return std::size(kCatalogue); }

TEST_CASE("hostile command APDUs get the ISO 7816-4 status word and the card keeps answering") {
  for (const Entry& entry : kCatalogue) {
    const std::string name = entry.name;
    CAPTURE(name);
    auto card = cards::test::powered_card("t1-fs");
    if (entry.before) REQUIRE(sw_of(card.transmit_apdu(bytes_of(entry.before))) == 0x9000);
    const auto response = card.transmit_apdu(bytes_of(entry.apdu));
    const std::string response_hex = to_hex(response.data);
    CAPTURE(response_hex);
    CHECK(sw_of(response) == entry.sw);
    // An error answer carries no data (ISO 7816-4 5.1.3: only warnings may).
    CHECK(response.data.size() == 2);

    const auto after = card.transmit_apdu(select_application());
    CHECK(sw_of(after) == 0x9000);
  }
}

}  // namespace readerlab::hostile

namespace readerlab::hostile {

// The same commands through a reader at short APDU level (CCID 6.1.4 XfrBlock): the card's
// status word comes back in the DataBlock; a command longer than a short APDU in a message
// longer than dwMaxCCIDMessageLength never reaches the card (bError 1, dwLength).
TEST_CASE("hostile command APDUs through a reader slot get the same status word, and the slot beside serves") {
  using namespace ccid::test;
  for (const Entry& entry : kCatalogue) {
    const std::string name = entry.name;
    CAPTURE(name);
    ccid::ReaderConfig config;
    config.slot_count = 2;
    ccid::Reader reader(config);
    reader.insert(cards::make_builtin_card("t1-fs"), 0);
    reader.insert(cards::make_builtin_card("t0-basic"), 1);
    REQUIRE(status_of(reader.handle_message(command(ccid::Command::icc_power_on, 1))) == kActiveOk);
    if (entry.before) {
      const Bytes before = reader.handle_message(command(ccid::Command::xfr_block, 2, bytes_of(entry.before)));
      REQUIRE(to_hex(data_of(before)) == "90 00");
    }
    const Bytes apdu = bytes_of(entry.apdu);
    const Bytes answer = reader.handle_message(command(ccid::Command::xfr_block, 3, apdu));
    const std::string answer_hex = to_hex(answer);
    CAPTURE(answer_hex);
    REQUIRE(answer.size() >= ccid::kHeaderSize);
    if (apdu.empty() || ccid::kHeaderSize + apdu.size() > config.max_message_length) {
      CHECK(status_of(answer) == kActiveFailed);
      CHECK(error_of(answer) == 1);  // dwLength, CCID 6.2.6
    } else {
      CHECK(status_of(answer) == kActiveOk);
      CHECK(data_of(answer) == cards::status_only(entry.sw));
    }
    check_slot_serves(reader, 0, "t1-fs", 0x10);
    check_slot_serves(reader, 1, "t0-basic", 0x20);
  }
}

}  // namespace readerlab::hostile
