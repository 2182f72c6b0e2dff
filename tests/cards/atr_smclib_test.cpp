// The ATR cases of ../shared/spec/smclib.md ("ATR parsing" of SmartcardUpdateCardCapabilities
// and the PC/SC test cards): what smclib refuses with UNRECOGNIZED_MEDIA, the parser reports
// as an error, and the IBM test card's ATR decodes with the values a driver would use.
#include "cards/atr/atr.h"
#include "cards/atr/convention.h"

#include "test_support.h"

#include <doctest/doctest.h>

using namespace readerlab::cards;
using readerlab::cards::test::hex;

TEST_CASE("the IBM T=1 test card's ATR of the PC/SC test suite") {
  const auto parsed = parse_atr(hex("3B EF 00 FF 81 31 86 45 49 42 4D 20 4D 46 43 34 30 30 30 30 38 33 31 43"));
  REQUIRE(parsed.atr);
  const Atr& atr = *parsed.atr;
  CHECK(atr.supports(1));
  CHECK_FALSE(atr.supports(0));
  CHECK(atr.extra_guard_time() == 0xFF);  // TC1 = FF: the minimum guard time (N = 255)
  CHECK(atr.ifsc() == 0x86);              // TA3: IFSC 134
  CHECK(atr.bwi_cwi() == 0x45);           // TB3: BWI 4, CWI 5
  CHECK_FALSE(atr.uses_crc());
  CHECK(std::string(atr.historical.begin(), atr.historical.end()) == "IBM MFC40000831");
  CHECK(build_atr(atr) == hex("3B EF 00 FF 81 31 86 45 49 42 4D 20 4D 46 43 34 30 30 30 30 38 33 31 43"));
}

TEST_CASE("ATRs smclib answers with UNRECOGNIZED_MEDIA are errors here too") {
  struct Case {
    const char* atr;
    AtrError error;
  };
  const Case cases[] = {
      {"3C 00", AtrError::bad_ts},                 // TS neither 3B nor 3F
      {"3B 9B 13 81 31 FE", AtrError::truncated},  // T0 promises more
      {"3B 10 10", AtrError::rfu_fi_di},           // Dl 0
      {"3B 10 1A", AtrError::rfu_fi_di},           // Dl 0xA
      {"3B 10 71", AtrError::rfu_fi_di},           // Fl 7
      {"3B 80 01", AtrError::missing_tck},         // T=1 indicated, no TCK
      {"3B 80 01 80", AtrError::wrong_tck},        // T=1 indicated, TCK wrong (81 expected)
  };
  for (const auto& c : cases) {
    CAPTURE(c.atr);
    CHECK(parse_atr(hex(c.atr)).error == c.error);
  }
}

TEST_CASE("smclib's defaults for an ATR that is silent: Fl = Dl = 1, WI 10, IFSC 32, CWI 13, BWI 4") {
  const auto parsed = parse_atr(hex("3B 80 01 81"));  // only TD1 = 01 (T=1), TCK 81
  REQUIRE(parsed.atr);
  CHECK(parsed.atr->fi_di() == 0x11);
  CHECK(parsed.atr->waiting_integer() == 10);
  CHECK(parsed.atr->ifsc() == 32);
  CHECK(parsed.atr->bwi_cwi() == 0x4D);
}

TEST_CASE("TS read as 03 on the wire is the inverse convention, whose decoded TS is 3F") {
  CHECK(convention_of_wire_ts(0x03) == Convention::inverse);
  CHECK(convention_of_wire_ts(0x3B) == Convention::direct);
  // smclib's SmartcardInvertData examples: reverse the bits, then complement.
  CHECK(to_wire(hex("3F"), Convention::inverse) == hex("03"));
  CHECK(to_wire(hex("00"), Convention::inverse) == hex("FF"));
  CHECK(to_wire(hex("FE"), Convention::inverse) == hex("80"));
  CHECK(to_wire(hex("23"), Convention::inverse) == hex("3B"));
}
