// Malformed and out-of-turn T=1 blocks, one row each (ISO 7816-3 clause 11).
//  - The card side, fed a block by the interface device, answers an invalid block with
//    R(N(R)) whose error bits say EDC/parity (0001) or other (0010) (11.3.2.2, 11.6.3 rule 7),
//    and then still answers the next good I-block.
//  - The interface side, given a bad answer by the card, recovers by 11.6.3: the R-block with
//    the error bits (or the S-request again), resynchronisation, and in the end it gives up
//    with "deactivate the card"; the next APDU (after a reset when it gave up) works.
#include "cards/apdu/iso_card.h"
#include "cards/t1/card_side.h"
#include "cards/t1/interface_side.h"
#include "tests/hostile/hostile_support.h"

namespace readerlab::hostile {
namespace {

using cards::t1::EdcKind;
using cards::t1::TransmitError;

// ECHO (CLA 80 INS 10) case 4 of the ISO card: the data come back with 90 00.
constexpr const char* kEcho = "80 10 00 00 02 AB CD 00";
constexpr const char* kEchoAnswer = "AB CD 90 00";

cards::IsoCard powered_iso_card() {
  auto profile = cards::builtin_profile("t1-fs");
  REQUIRE(profile.has_value());
  cards::IsoCard card(std::move(*profile));
  REQUIRE(card.reset(cards::ResetKind::cold).has_value());
  return card;
}

cards::t1::CardSide::ApduHandler handler_of(cards::IsoCard& card) {
  return [&card](std::span<const std::uint8_t> apdu) { return card.transmit_apdu(apdu).data; };
}

// --- the card side ---------------------------------------------------------------------

struct CardEntry {
  const char* name;
  EdcKind edc;
  const char* block;   // what the interface device sends, hex (LRC/CRC: the right EDC)
  const char* answer;  // the card's block, in the notation of cards::t1::describe
  // Hostile only for the IFSC 32 the card side gets here: t1-fs in a reader has IFSC 254 (TA3 FE).
  bool over_ifsc_32 = false;
};

const CardEntry kCardSide[] = {
    {"empty block", EdcKind::lrc, "", "R(0,other)"},
    {"NAD and PCB only", EdcKind::lrc, "00 00", "R(0,other)"},
    {"prologue without EDC", EdcKind::lrc, "00 00 00", "R(0,other)"},
    {"LEN FF (RFU, 11.3.2.3)", EdcKind::lrc, "00 00 FF LRC", "R(0,other)"},
    {"LEN 5 with 2 INF bytes", EdcKind::lrc, "00 00 05 00 B0 LRC", "R(0,other)"},
    {"LEN 0 and 10 bytes more", EdcKind::lrc, "00 00 00 00*10 LRC", "R(0,other)"},
    {"I(0) with a wrong LRC", EdcKind::lrc, "00 00 08 80 10 00 00 02 AB CD 00 FF", "R(0,EDC)"},
    {"I(0) with a wrong CRC", EdcKind::crc, "00 00 08 80 10 00 00 02 AB CD 00 00 00", "R(0,EDC)"},
    {"an LRC block to a CRC card", EdcKind::crc, "00 00 00 LRC", "R(0,other)"},
    {"a CRC block to an LRC card", EdcKind::lrc, "00 00 00 CRC", "R(0,other)"},
    {"I-block with PCB RFU bit 01", EdcKind::lrc, "00 01 00 LRC", "R(0,other)"},
    {"I-block with PCB RFU bits 1F", EdcKind::lrc, "00 1F 00 LRC", "R(0,other)"},
    {"R-block with b6 set", EdcKind::lrc, "00 A0 00 LRC", "R(0,other)"},
    {"R-block with error bits 0011", EdcKind::lrc, "00 83 00 LRC", "R(0,other)"},
    {"R-block with error bits 1111", EdcKind::lrc, "00 8F 00 LRC", "R(0,other)"},
    {"R-block carrying INF", EdcKind::lrc, "00 80 01 00 LRC", "R(0,other)"},
    {"S-block of type 00101", EdcKind::lrc, "00 C5 00 LRC", "R(0,other)"},
    {"S(VPP error) request from the interface device", EdcKind::lrc, "00 C4 00 LRC", "R(0,other)"},
    {"S(IFS request) with IFS 00 (11.4.2)", EdcKind::lrc, "00 C1 01 00 LRC", "R(0,other)"},
    {"S(IFS request) with IFS FF", EdcKind::lrc, "00 C1 01 FF LRC", "R(0,other)"},
    {"S(IFS request) with two INF bytes", EdcKind::lrc, "00 C1 02 20 20 LRC", "R(0,other)"},
    {"S(IFS request) without INF", EdcKind::lrc, "00 C1 00 LRC", "R(0,other)"},
    {"S(WTX request) from the interface device", EdcKind::lrc, "00 C3 01 01 LRC", "R(0,other)"},
    {"S(WTX request) without INF", EdcKind::lrc, "00 C3 00 LRC", "R(0,other)"},
    {"S(WTX response) never asked for", EdcKind::lrc, "00 E3 01 01 LRC", "R(0,other)"},
    {"S(IFS response) never asked for", EdcKind::lrc, "00 E1 01 20 LRC", "R(0,other)"},
    {"S(RESYNCH response) never asked for", EdcKind::lrc, "00 E0 00 LRC", "R(0,other)"},
    {"S(ABORT request) carrying INF", EdcKind::lrc, "00 C2 01 00 LRC", "R(0,other)"},
    {"I(1) when I(0) is expected", EdcKind::lrc, "00 40 08 80 10 00 00 02 AB CD 00 LRC", "R(0,other)"},
    {"I(0) of 33 bytes, over IFSC 32", EdcKind::lrc, "00 00 21 00*33 LRC", "R(0,other)", true},
    {"I(0) of 254 bytes, over IFSC 32", EdcKind::lrc, "00 00 FE 00*254 LRC", "R(0,other)", true},
    {"300 bytes FF", EdcKind::lrc, "FF*300", "R(0,other)"},
    // Well-formed but out of turn: the card names the I-block it waits for (11.6.2, 11.6.3).
    {"R(1) with nothing sent", EdcKind::lrc, "00 90 00 LRC", "R(0)"},
    {"R(0,EDC) with nothing sent", EdcKind::lrc, "00 81 00 LRC", "R(0)"},
    {"S(ABORT request) with no chain to abort", EdcKind::lrc, "00 C2 00 LRC", "S(ABORT response)"},
};

// --- the interface side ------------------------------------------------------------------

enum class Times { once, always };

struct LineEntry {
  const char* name;
  const char* answer;    // the card's answer replaced by this (hex); nullptr: nothing within BWT
  Times times;           // the first answer only, or every answer
  const char* recovery;  // the interface device's next block (describe notation)
  TransmitError error;   // how transmit() ends; none: the echo came through
};

const LineEntry kInterfaceSide[] = {
    {"no block within BWT", nullptr, Times::once, "R(0)", TransmitError::none},
    {"I-block with a wrong LRC", "00 00 04 AB CD 90 00 FF", Times::once, "R(0,EDC)", TransmitError::none},
    {"one byte", "00", Times::once, "R(0,other)", TransmitError::none},
    {"LEN FF", "00 00 FF 00 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"LEN above the bytes received", "00 00 10 90 00 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"I-block with PCB RFU bits", "00 05 02 90 00 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"I(1) when I(0) is expected", "00 40 02 90 00 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"R(0) asking for the command again", "00 80 00 LRC", Times::once, "I(0,0)", TransmitError::none},
    {"R(1) acknowledging a chain never sent", "00 90 00 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"R-block with error bits 0011", "00 83 00 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"S(RESYNCH request) from the card", "00 C0 00 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"S(IFS response) never asked for", "00 E1 01 20 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"S(WTX response) from the card", "00 E3 01 01 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"S(IFS request) for IFSC 00", "00 C1 01 00 LRC", Times::once, "R(0,other)", TransmitError::none},
    {"300 bytes of noise", "00*300", Times::once, "R(0,other)", TransmitError::none},
    {"S(ABORT request) from the card", "00 C2 00 LRC", Times::once, "S(ABORT response)",
     TransmitError::aborted_by_card},
    {"a card that never answers", nullptr, Times::always, "R(0)", TransmitError::deactivate_card},
    {"a card whose every block has a wrong LRC", "00 00 04 AB CD 90 00 FF", Times::always, "R(0,EDC)",
     TransmitError::deactivate_card},
    {"a card that asks for more time forever", "00 C3 01 01 LRC", Times::always, "S(WTX response,1)",
     TransmitError::too_many_card_requests},
    {"a card that asks for IFSC 1 forever", "00 C1 01 01 LRC", Times::always, "S(IFS response,1)",
     TransmitError::too_many_card_requests},
};

cards::t1::InterfaceParameters interface_parameters() {
  cards::t1::InterfaceParameters parameters;
  parameters.negotiate_ifsd = false;  // the first block is the command's I-block
  return parameters;
}

// The echo goes through a healthy line: what every row must still get afterwards.
void check_echo_comes_through(cards::t1::InterfaceSide& reader, cards::t1::CardSide& card) {
  const auto result =
      reader.transmit(bytes_of(kEcho), [&card](std::span<const std::uint8_t> block) { return card.receive(block); });
  INFO("the next APDU on the same line: ", cards::t1::to_string(result.error));
  CHECK(result.ok());
  CHECK(to_hex(result.response) == kEchoAnswer);
}

}  // namespace

std::size_t t1_catalogue_size() { return std::size(kCardSide) + std::size(kInterfaceSide); }

TEST_CASE("hostile T=1 blocks to the card side get an R-block with the error bits of ISO 7816-3 11.6.3") {
  for (const CardEntry& entry : kCardSide) {
    const std::string name = entry.name;
    CAPTURE(name);
    auto iso = powered_iso_card();
    cards::t1::CardSide card(handler_of(iso), 32, entry.edc);
    const Bytes block = bytes_of(entry.block);
    const auto answer = card.receive(block);
    REQUIRE(answer.has_value());
    CHECK(cards::t1::describe(*answer, entry.edc) == entry.answer);

    // The card still answers the next good I-block, the one it waits for.
    const Bytes echo = cards::t1::make_i_block(0, 0, false, bytes_of(kEcho), entry.edc);
    const auto next = card.receive(echo);
    REQUIRE(next.has_value());
    const auto parsed = cards::t1::parse_block(*next, entry.edc);
    REQUIRE(parsed.block.has_value());
    CHECK(cards::t1::describe(*parsed.block) == "I(0,0)");
    CHECK(to_hex(Bytes(parsed.block->inf.begin(), parsed.block->inf.end())) == kEchoAnswer);
  }
}

TEST_CASE("hostile T=1 answers from the card make the interface side recover as ISO 7816-3 11.6.3 says") {
  for (const LineEntry& entry : kInterfaceSide) {
    const std::string name = entry.name;
    CAPTURE(name);
    auto iso = powered_iso_card();
    cards::t1::CardSide card(handler_of(iso), 32, EdcKind::lrc);
    cards::t1::InterfaceSide reader(interface_parameters());
    std::vector<Bytes> sent;
    std::size_t answers = 0;
    const auto line = [&](std::span<const std::uint8_t> block) -> std::optional<Bytes> {
      sent.emplace_back(block.begin(), block.end());
      const bool hostile = answers++ == 0 || entry.times == Times::always;
      if (hostile && entry.times == Times::always) {
        // A broken line: the card never hears the interface device.
        if (!entry.answer) return std::nullopt;
        return bytes_of(entry.answer);
      }
      auto real = card.receive(block);
      if (!hostile) return real;
      if (!entry.answer) return std::nullopt;
      return bytes_of(entry.answer);
    };
    const auto result = reader.transmit(bytes_of(kEcho), line);
    CHECK(result.error == entry.error);
    if (entry.error == TransmitError::none) CHECK(to_hex(result.response) == kEchoAnswer);
    REQUIRE(sent.size() >= 2);
    CHECK(cards::t1::describe(sent[0], EdcKind::lrc) == "I(0,0)");
    CHECK(cards::t1::describe(sent[1], EdcKind::lrc) == entry.recovery);
    if (entry.error == TransmitError::deactivate_card) {
      // It gave up after resynchronisation failed (11.6.3 rule 6): S(RESYNCH request) was tried.
      CHECK(reader.statistics().resynch_requests == reader.parameters().max_resynch_requests);
      // The reader deactivates the card; after the next ATR both sides start afresh.
      card.reset();
      reader.reset();
    }
    if (entry.error == TransmitError::too_many_card_requests) {
      card.reset();
      reader.reset();
    }
    check_echo_comes_through(reader, card);
  }
}

}  // namespace readerlab::hostile

namespace readerlab::hostile {

// The same blocks as a driver at TPDU level sends them (CCID 6.1.4 XfrBlock carrying a T=1
// block): the card's R-block comes back in an RDR_to_PC_DataBlock, and the slot beside it
// still serves. A block too long for dwMaxCCIDMessageLength never reaches the card (bError 1).
TEST_CASE("hostile T=1 blocks through a TPDU-level reader reach the card and come back as its R-block") {
  using namespace ccid::test;
  for (const CardEntry& entry : kCardSide) {
    if (entry.edc != EdcKind::lrc || entry.over_ifsc_32) continue;  // t1-fs: LRC (no TC3), IFSC 254
    const std::string name = entry.name;
    CAPTURE(name);
    ccid::ReaderConfig config;
    config.slot_count = 2;
    config.set_exchange_level(ccid::ExchangeLevel::tpdu);
    ccid::Reader reader(config);
    reader.insert(cards::make_builtin_card("t1-fs"), 0);
    reader.insert(cards::make_builtin_card("t1-fs"), 1);
    REQUIRE(status_of(reader.handle_message(command(ccid::Command::icc_power_on, 1))) == kActiveOk);
    // A first exchange that is no PPS (ISO 7816-3 9.1: only the first may be): R(0), answered R(0).
    const Bytes first = reader.handle_message(command(ccid::Command::xfr_block, 2, bytes_of("00 80 00 LRC")));
    REQUIRE(to_hex(data_of(first)) == to_hex(bytes_of("00 80 00 LRC")));

    const Bytes block = bytes_of(entry.block);
    const Bytes answer = reader.handle_message(command(ccid::Command::xfr_block, 3, block));
    const std::string answer_hex = to_hex(answer);
    CAPTURE(answer_hex);
    REQUIRE(answer.size() >= ccid::kHeaderSize);
    CHECK(type_of(answer) == 0x80);  // RDR_to_PC_DataBlock, CCID 6.2.1
    if (ccid::kHeaderSize + block.size() > config.max_message_length) {
      CHECK(status_of(answer) == kActiveFailed);
      CHECK(error_of(answer) == 1);  // dwLength, CCID 6.2.6
    } else {
      CHECK(status_of(answer) == kActiveOk);
      CHECK(cards::t1::describe(data_of(answer), EdcKind::lrc) == entry.answer);
    }
    // The card still takes the I-block it waits for; the slot beside it serves too.
    const Bytes echo = reader.handle_message(
        command(ccid::Command::xfr_block, 4, cards::t1::make_i_block(0, 0, false, bytes_of(kEcho), EdcKind::lrc)));
    CHECK(cards::t1::describe(data_of(echo), EdcKind::lrc) == "I(0,0)");
    CHECK(to_hex(data_of(echo)).find(kEchoAnswer) != std::string::npos);
    const Bytes neighbour_atr = reader.handle_message(command(ccid::Command::icc_power_on, 5, {}, 1));
    CHECK(status_of(neighbour_atr) == kActiveOk);
    CHECK(data_of(neighbour_atr) == *cards::builtin_atr("t1-fs"));
  }
}

}  // namespace readerlab::hostile
