// PPS, ISO 7816-3 section 9: codec, the card's answer, the interface device's check.
#include <doctest/doctest.h>

#include "cards/apdu/iso_card.h"
#include "cards/atr/atr.h"
#include "cards/pps/pps.h"
#include "cards/profiles.h"
#include "test_support.h"

using namespace readerlab::cards;
using readerlab::cards::test::hex;
using readerlab::cards::test::to_hex;

namespace {
Atr atr_of(std::string_view name) { return *parse_atr(*builtin_atr(name)).atr; }
}  // namespace

TEST_CASE("PPS requests are built with PCK making the XOR of all bytes 00") {
  CHECK(to_hex(build_pps({0, std::nullopt, std::nullopt, std::nullopt})) == "FF 00 FF");
  CHECK(to_hex(build_pps({1, std::nullopt, std::nullopt, std::nullopt})) == "FF 01 FE");
  CHECK(to_hex(build_pps({0, 0x96, std::nullopt, std::nullopt})) == "FF 10 96 79");
  CHECK(to_hex(build_pps({1, 0x13, std::nullopt, std::nullopt})) == "FF 11 13 FD");
  CHECK(to_hex(build_pps({1, 0x13, 0x01, 0x00})) == "FF 71 13 01 00 9C");
  const auto parsed = parse_pps(hex("FF 71 13 01 00 9C"));
  REQUIRE(parsed.pps);
  CHECK(parsed.pps->protocol == 1);
  CHECK(parsed.pps->pps1 == 0x13);
  CHECK(parsed.pps->pps2 == 0x01);
  CHECK(parsed.pps->pps3 == 0x00);
}

TEST_CASE("malformed PPS are told apart") {
  struct Case {
    std::string_view bytes;
    PpsError error;
    std::size_t offset;
  };
  for (const Case& c :
       {Case{"", PpsError::truncated, 0}, Case{"FE 00 FE", PpsError::bad_ppss, 0}, Case{"FF", PpsError::truncated, 1},
        Case{"FF 80 7F", PpsError::reserved_bit, 1}, Case{"FF 10 96", PpsError::truncated, 3},
        Case{"FF 10", PpsError::truncated, 2}, Case{"FF 10 96 78", PpsError::wrong_pck, 3},
        Case{"FF 00 FF 00", PpsError::trailing_bytes, 3}}) {
    INFO(c.bytes);
    const auto parsed = parse_pps(hex(c.bytes));
    CHECK_FALSE(parsed.pps.has_value());
    CHECK(parsed.error == c.error);
    CHECK(parsed.offset == c.offset);
    CHECK_FALSE(to_string(parsed.error).empty());
  }
}

TEST_CASE("the card echoes a PPS1 within TA1 and declines one beyond it") {
  const Atr dual = atr_of("t0-t1");  // TA1 = 96: Fi 512, Di 32
  auto echo = answer_pps_request(dual, PpsReaction::accept, hex("FF 10 96 79"));
  CHECK(to_hex(*echo.response) == "FF 10 96 79");
  CHECK(echo.agreed == NegotiatedParameters{0, 0x96});
  // Fi 372 Di 8 lies in Fd..Fi and Dd..Di: accepted as well.
  auto slower = answer_pps_request(dual, PpsReaction::accept, build_pps({1, 0x14, {}, {}}));
  CHECK(slower.response == build_pps({1, 0x14, {}, {}}));
  // Di 64 is beyond TA1's 32: the answer omits PPS1, so Fd and Dd stay.
  auto beyond = answer_pps_request(dual, PpsReaction::accept, build_pps({0, 0x97, {}, {}}));
  CHECK(to_hex(*beyond.response) == "FF 00 FF");
  CHECK(beyond.agreed == NegotiatedParameters{0, 0x11});
  // PPS2 and PPS3 are never echoed.
  auto extras = answer_pps_request(dual, PpsReaction::accept, build_pps({1, 0x96, 0x01, 0x00}));
  CHECK(extras.response == build_pps({1, 0x96, {}, {}}));
  // A protocol the ATR does not offer, a bad PCK: no answer.
  CHECK_FALSE(answer_pps_request(dual, PpsReaction::accept, build_pps({2, {}, {}, {}})).response);
  CHECK_FALSE(answer_pps_request(dual, PpsReaction::accept, hex("FF 10 96 78")).response);
  // The profile's reaction.
  CHECK(to_hex(*answer_pps_request(dual, PpsReaction::decline, hex("FF 10 96 79")).response) == "FF 00 FF");
  CHECK_FALSE(answer_pps_request(dual, PpsReaction::silent, hex("FF 10 96 79")).response);
  // Without TA1 only Fd/Dd can be agreed.
  const Atr plain = atr_of("t0-basic");
  CHECK(to_hex(*answer_pps_request(plain, PpsReaction::accept, hex("FF 10 96 79")).response) == "FF 00 FF");
  CHECK(to_hex(*answer_pps_request(plain, PpsReaction::accept, hex("FF 10 11 FE")).response) == "FF 10 11 FE");
}

TEST_CASE("a card in specific mode (TA2) answers no PPS") {
  const Atr specific = atr_of("specific-ta2");
  CHECK(specific.specific_mode());
  CHECK_FALSE(answer_pps_request(specific, PpsReaction::accept, hex("FF 11 13 FD")).response);
}

TEST_CASE("the interface device accepts an echo or a declined PPS1, nothing else") {
  const Pps request{0, 0x96, {}, {}};
  CHECK(pps_outcome(request, hex("FF 10 96 79")) == NegotiatedParameters{0, 0x96});
  CHECK(pps_outcome(request, hex("FF 00 FF")) == NegotiatedParameters{0, 0x11});
  CHECK_FALSE(pps_outcome(request, hex("FF 01 FE")));     // another protocol
  CHECK_FALSE(pps_outcome(request, hex("FF 10 95 7A")));  // PPS1 changed
  CHECK_FALSE(pps_outcome(request, hex("FF 10 96 78")));  // bad PCK
  CHECK_FALSE(pps_outcome(request, hex("FF 20 01 DE")));  // PPS2 never asked
  CHECK_FALSE(pps_outcome(request, {}));                  // silence
}

TEST_CASE("IsoCard::answer_pps: once, right after the ATR, and it switches the protocol") {
  auto profile = builtin_profile("t0-t1");
  IsoCard card(std::move(*profile));
  CHECK_FALSE(card.answer_pps(hex("FF 11 96 78")));  // not powered
  REQUIRE(card.reset(ResetKind::cold));
  CHECK(card.selected_protocol() == Protocol::t0);
  CHECK(to_hex(*card.answer_pps(hex("FF 11 96 78"))) == "FF 11 96 78");
  CHECK(card.selected_protocol() == Protocol::t1);
  CHECK(card.negotiated_parameters() == NegotiatedParameters{1, 0x96});
  CHECK_FALSE(card.answer_pps(hex("FF 10 96 79")));  // a second PPS is not answered
  REQUIRE(card.reset(ResetKind::warm));
  CHECK(card.selected_protocol() == Protocol::t0);
  CHECK_FALSE(card.negotiated_parameters());
  card.transmit_apdu(hex("00 A4 00 00"));
  CHECK_FALSE(card.answer_pps(hex("FF 11 96 78")));  // too late after an APDU
}
