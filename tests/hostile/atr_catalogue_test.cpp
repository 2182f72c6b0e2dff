// Malformed answers to reset, one row each: the ATR parser names the error and the offset
// of the byte at fault (ISO 7816-3 clause 8), `readerlab atr` prints both, and a reader
// powering a card that answers it fails the IccPowerOn with the CCID 6.2.6 code (BAD_ATR_TS,
// BAD_ATR_TCK, else ICC_MUTE) while the card in the slot beside it still works.
#include "cards/atr/atr.h"
#include "tests/hostile/hostile_support.h"

namespace readerlab::hostile {
namespace {

using cards::AtrError;

struct Entry {
  const char* name;
  const char* atr;          // as the reader decodes it, TS first (hex, "XX*N" repeats)
  AtrError error;           // the parser's error
  std::size_t offset;       // the byte at fault (the length when bytes are missing)
  std::uint8_t ccid_error;  // bError of the IccPowerOn answer
};

// CCID 6.2.6 Table 6.2-2.
constexpr std::uint8_t kBadAtrTs = 0xF8, kBadAtrTck = 0xF7, kIccMute = 0xFE;

const Entry kCatalogue[] = {
    {"no byte at all", "", AtrError::empty, 0, kIccMute},
    // TS, ISO 7816-3 8.1: 3B direct or 3F inverse convention.
    {"TS 00", "00 00", AtrError::bad_ts, 0, kBadAtrTs},
    {"TS 3C", "3C 00", AtrError::bad_ts, 0, kBadAtrTs},
    {"TS 03, an inverse TS read in direct convention", "03 00", AtrError::bad_ts, 0, kBadAtrTs},
    {"33 bytes FF", "FF*33", AtrError::bad_ts, 0, kBadAtrTs},
    // Fewer bytes than T0 and TDi announce (8.2.2, 8.2.3).
    {"TS alone", "3B", AtrError::truncated, 1, kIccMute},
    {"T0 announces 15 historical bytes, 3 come", "3B 0F 01 02 03", AtrError::truncated, 5, kIccMute},
    {"T0 announces TA1 TB1 TC1 TD1, none come", "3B F0", AtrError::truncated, 2, kIccMute},
    {"TD1 announces TD2, which is missing", "3B 80 80", AtrError::truncated, 3, kIccMute},
    {"historical bytes cut after the interface bytes", "3B 92 11 00 01", AtrError::truncated, 5, kIccMute},
    // At most 33 bytes, 8.2.1.
    {"a TD chain running past 33 bytes", "3B 80 80*40", AtrError::too_long, 33, kIccMute},
    {"TS, T0 and 32 further bytes", "3B 8F 80*17 01*15", AtrError::too_long, 33, kIccMute},
    // TCK, 8.2.5: present when a protocol other than T=0 is indicated; T0..TCK XOR to 00.
    {"T=1 indicated, TCK missing", "3B 80 01", AtrError::missing_tck, 3, kBadAtrTck},
    {"T=15 indicated, TCK missing", "3B 80 0F", AtrError::missing_tck, 3, kBadAtrTck},
    {"T=1 with TCK 00 instead of 81", "3B 80 01 00", AtrError::wrong_tck, 3, kBadAtrTck},
    {"the bad-atr card: TCK 87 instead of 78", "3B 89 81 31 FE 45 80 57 62 61 64 2D 61 74 72 87", AtrError::wrong_tck,
     15, kBadAtrTck},
    // TA1 naming an RFU Fi or Di (Tables 7 and 8).
    {"TA1 Fi code 7 (RFU)", "3B 10 71", AtrError::rfu_fi_di, 2, kIccMute},
    {"TA1 Fi code F (RFU)", "3B 10 F1", AtrError::rfu_fi_di, 2, kIccMute},
    {"TA1 Di code 0 (RFU)", "3B 10 10", AtrError::rfu_fi_di, 2, kIccMute},
    {"TA1 Di code A (RFU)", "3B 10 1A", AtrError::rfu_fi_di, 2, kIccMute},
    // Bytes after the end the structure gives.
    {"a byte after a T=0 ATR", "3B 00 00", AtrError::trailing_bytes, 2, kIccMute},
    {"a byte after TCK", "3B 80 01 81 00", AtrError::trailing_bytes, 4, kIccMute},
};

// A card whose only trait is the ATR it answers.
class AtrCard final : public cards::Card {
 public:
  explicit AtrCard(Bytes atr) : atr_(std::move(atr)) {}
  std::string name() const override { return "hostile-atr"; }
  std::optional<Bytes> reset(cards::ResetKind) override { return atr_; }
  void deactivate() override {}
  void select_protocol(cards::Protocol) override {}
  cards::CardResponse transmit_apdu(std::span<const std::uint8_t>) override {
    return {cards::CardStatus::ok, {0x6D, 0x00}};
  }

 private:
  Bytes atr_;
};

}  // namespace

std::size_t atr_catalogue_size() { return std::size(kCatalogue); }

TEST_CASE("hostile ATRs: the parser names the error and its offset") {
  for (const Entry& entry : kCatalogue) {
    const std::string name = entry.name;
    CAPTURE(name);
    const Bytes atr = bytes_of(entry.atr);
    const auto parsed = cards::parse_atr(atr);
    CHECK_FALSE(parsed.atr.has_value());
    CHECK(cards::to_string(parsed.error) == cards::to_string(entry.error));
    CHECK(parsed.offset == entry.offset);
    // What `readerlab atr HEX` prints ends with the offset and the error's name.
    const std::string printed = cards::describe_atr_bytes(atr);
    CAPTURE(printed);
    CHECK(printed.find("error at offset " + std::to_string(entry.offset) + ": " + cards::to_string(entry.error)) !=
          std::string::npos);
  }
}

TEST_CASE("hostile ATRs: IccPowerOn fails with the CCID code and the slot beside it still works") {
  for (const Entry& entry : kCatalogue) {
    const std::string name = entry.name;
    CAPTURE(name);
    ccid::ReaderConfig config;
    config.slot_count = 2;
    ccid::Reader reader(config);
    reader.insert(std::make_unique<AtrCard>(bytes_of(entry.atr)), 0);
    reader.insert(cards::make_builtin_card("t1-fs"), 1);
    const Bytes answer = reader.handle_message(ccid::test::command(ccid::Command::icc_power_on, 0x33));
    const std::string answer_hex = to_hex(answer);
    CAPTURE(answer_hex);
    REQUIRE(answer.size() == ccid::kHeaderSize);  // no ATR passed on
    CHECK(ccid::test::type_of(answer) == 0x80);   // RDR_to_PC_DataBlock, CCID 6.2.1
    CHECK(ccid::test::seq_of(answer) == 0x33);
    CHECK(ccid::test::status_of(answer) == ccid::test::kInactiveFailed);
    CHECK(ccid::test::error_of(answer) == entry.ccid_error);
    CHECK_FALSE(reader.card_powered(0));

    check_slot_serves(reader, 1, "t1-fs", 0x40);
  }
}

}  // namespace readerlab::hostile
