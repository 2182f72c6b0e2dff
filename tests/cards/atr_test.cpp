#include <doctest/doctest.h>

#include <set>

#include "cards/atr/atr.h"
#include "test_support.h"

using namespace readerlab::cards;
using readerlab::cards::test::hex;
using readerlab::cards::test::to_hex;

namespace {

Atr parse_ok(std::string_view text) {
  const auto bytes = hex(text);
  const auto result = parse_atr(bytes);
  INFO("ATR ", text, ": ", to_string(result.error), " at ", result.offset);
  REQUIRE(result.error == AtrError::none);
  REQUIRE(result.atr.has_value());
  return *result.atr;
}

void check_error(std::string_view text, AtrError error, std::size_t offset) {
  const auto result = parse_atr(hex(text));
  INFO("ATR ", text);
  CHECK(result.error == error);
  CHECK(result.offset == offset);
  CHECK_FALSE(result.atr.has_value());
}

// A JCOP card (JavaCard OS, T=1): every global byte of group 1 and T=1 specific bytes.
constexpr std::string_view kJcop = "3B F8 13 00 00 81 31 FE 45 4A 43 4F 50 76 32 34 31 B7";

}  // namespace

TEST_CASE("JCOP ATR: interface bytes, T=1 parameters, historical bytes and TCK") {
  const Atr atr = parse_ok(kJcop);
  CHECK_FALSE(atr.inverse_convention);
  CHECK(atr.t0 == 0xF8);
  REQUIRE(atr.groups.size() == 3);
  CHECK(atr.groups[0].ta == 0x13);
  CHECK(atr.groups[0].tb == 0x00);
  CHECK(atr.groups[0].tc == 0x00);
  CHECK(atr.groups[0].td == 0x81);
  CHECK(atr.groups[1].td == 0x31);
  CHECK(atr.groups[2].ta == 0xFE);
  CHECK(atr.groups[2].tb == 0x45);
  CHECK(std::string(atr.historical.begin(), atr.historical.end()) == "JCOPv241");
  CHECK(atr.tck == 0xB7);

  CHECK(atr.fi_di() == 0x13);
  CHECK(atr.extra_guard_time() == 0);
  CHECK(atr.supports(1));
  CHECK_FALSE(atr.supports(0));
  CHECK(atr.first_protocol() == 1);
  CHECK_FALSE(atr.specific_mode());
  CHECK(atr.ifsc() == 254);
  CHECK(atr.bwi_cwi() == 0x45);
  CHECK_FALSE(atr.uses_crc());
}

TEST_CASE("JCOP ATR description names every field") {
  const std::string text = describe_atr(parse_ok(kJcop));
  INFO(text);
  CHECK(text.find("direct convention") != std::string::npos);
  CHECK(text.find("K=8") != std::string::npos);
  CHECK(text.find("Fi=372 (f max 5 MHz), Di=4, 93 cycles/ETU") != std::string::npos);
  CHECK(text.find("extra guard time N=0") != std::string::npos);
  CHECK(text.find("T=1 IFSC 254") != std::string::npos);
  CHECK(text.find("BWI=4 CWI=5") != std::string::npos);
  CHECK(text.find("4A 43 4F 50 76 32 34 31") != std::string::npos);
  CHECK(text.find("\"JCOPv241\"") != std::string::npos);
  CHECK(text.find("TCK   B7  ok") != std::string::npos);
}

TEST_CASE("minimal ATR 3B 02 14 50 takes every ISO 7816-3 default") {
  const Atr atr = parse_ok("3B 02 14 50");
  CHECK(atr.groups.empty());
  CHECK(atr.historical == hex("14 50"));
  CHECK_FALSE(atr.tck.has_value());
  CHECK(atr.fi_di() == 0x11);
  CHECK(atr.extra_guard_time() == 0);
  CHECK(atr.waiting_integer() == 10);
  CHECK(atr.supports(0));
  CHECK_FALSE(atr.supports(1));
  CHECK(atr.first_protocol() == 0);
  CHECK_FALSE(atr.specific_mode());
  CHECK(atr.ifsc() == 32);
  CHECK(atr.bwi_cwi() == 0x4D);
  CHECK_FALSE(atr.uses_crc());
  const std::string text = describe_atr(atr);
  CHECK(text.find("absent (only T=0 indicated)") != std::string::npos);
}

TEST_CASE("inverse convention ATR arrives decoded with TS 3F") {
  const Atr atr = parse_ok("3F 65 25 08 33 04 20 90 00");
  CHECK(atr.inverse_convention);
  CHECK(atr.groups[0].tb == 0x25);
  CHECK(atr.extra_guard_time() == 8);
  CHECK(atr.supports(0));
  CHECK(atr.historical == hex("33 04 20 90 00"));
  CHECK(build_atr(atr) == hex("3F 65 25 08 33 04 20 90 00"));
  CHECK(describe_atr(atr).find("inverse convention") != std::string::npos);
}

TEST_CASE("global and specific bytes: WI, specific mode, CRC, T=15 class indicator") {
  CHECK(parse_ok("3B 80 40 80").waiting_integer() == 128);

  const Atr specific = parse_ok("3B 90 11 10 00");
  CHECK(specific.specific_mode());
  CHECK(describe_atr(specific).find("specific mode, T=0") != std::string::npos);

  const Atr crc = parse_ok("3B 80 81 41 01 41");
  CHECK(crc.uses_crc());
  CHECK(crc.ifsc() == 32);
  CHECK(describe_atr(crc).find("error detection: CRC") != std::string::npos);

  // T=15 in TD2 makes TCK mandatory even though only T=0 is a transmission protocol.
  const Atr global = parse_ok("3B 80 80 1F 07 18");
  CHECK(global.supports(0));
  CHECK(global.supports(15));
  CHECK(global.first_protocol() == 0);
  CHECK(describe_atr(global).find("classes: A (5 V) B (3 V) C (1.8 V)") != std::string::npos);
}

TEST_CASE("real-world ATRs parse and build back byte for byte") {
  for (std::string_view text : {
           kJcop,
           std::string_view("3B 02 14 50"),
           std::string_view("3F 65 25 08 33 04 20 90 00"),
           std::string_view("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A"),
           std::string_view("3B 6E 00 00 80 31 80 66 B0 84 12 01 6E 01 83 00 90 00"),
           std::string_view("3B 80 81 41 01 41"),
           std::string_view("3B 80 80 1F 07 18"),
           std::string_view("3B 90 11 10 00"),
       }) {
    INFO(text);
    CHECK(to_hex(build_atr(parse_ok(text))) == to_hex(hex(text)));
  }
}

TEST_CASE("build_atr recomputes presence nibbles and TCK") {
  Atr atr;
  atr.groups.push_back({0x96, std::nullopt, std::nullopt, 0x01});  // TD1 says T=1 only...
  atr.groups.push_back({std::nullopt, std::nullopt, std::nullopt, 0x01});
  atr.groups.push_back({0xFE, 0x45, std::nullopt, std::nullopt});  // ...but groups follow
  atr.historical = {'a', 'b', 'c'};
  const auto bytes = build_atr(atr);
  CHECK(to_hex(bytes) == "3B 93 96 81 31 FE 45 61 62 63 6E");
  const Atr back = parse_ok(to_hex(bytes));
  CHECK(back.ifsc() == 254);
  CHECK(back.fi_di() == 0x96);
  CHECK(back.tck == 0x6E);
}

TEST_CASE("each malformed ATR is reported distinctly with its offset") {
  check_error("", AtrError::empty, 0);
  check_error("3A 02 14 50", AtrError::bad_ts, 0);
  check_error("03 02 14 50", AtrError::bad_ts, 0);  // inverse convention left undecoded
  check_error("3B", AtrError::truncated, 1);
  check_error("3B 02 14", AtrError::truncated, 3);
  check_error("3B F8 13 00", AtrError::truncated, 4);
  check_error("3B F8 13 00 00 81 31 FE 45 4A 43 4F 50 76 32 34 31 B6", AtrError::wrong_tck, 17);
  check_error("3B F8 13 00 00 81 31 FE 45 4A 43 4F 50 76 32 34 31", AtrError::missing_tck, 17);
  check_error("3B 10 70", AtrError::rfu_fi_di, 2);  // Fi code 7 is RFU
  check_error("3B 10 E1", AtrError::rfu_fi_di, 2);  // Fi code 14 is RFU
  check_error("3B 10 10", AtrError::rfu_fi_di, 2);  // Di code 0 is RFU
  check_error("3B 10 1A", AtrError::rfu_fi_di, 2);  // Di code 10 is RFU
  check_error("3B 02 14 50 00", AtrError::trailing_bytes, 4);
  check_error("3B 02 14 50 44", AtrError::trailing_bytes, 4);  // no TCK for T=0 only
  // Four full groups and 15 historical bytes announce 34 bytes: one beyond the limit.
  check_error(
      "3B FF 11 00 00 F1 00 00 00 F1 20 45 00 F1 20 45 00 01"
      " 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F",
      AtrError::too_long, 33);
}

TEST_CASE("error names are distinct") {
  std::set<std::string> names;
  for (auto error : {AtrError::none, AtrError::empty, AtrError::bad_ts, AtrError::truncated, AtrError::too_long,
                     AtrError::missing_tck, AtrError::wrong_tck, AtrError::trailing_bytes, AtrError::rfu_fi_di}) {
    CHECK_FALSE(to_string(error).empty());
    names.insert(to_string(error));
  }
  CHECK(names.size() == 9);
}

TEST_CASE("describe_atr_bytes shows the structure of an ATR with a wrong TCK") {
  const std::string text = describe_atr_bytes(hex("3B F8 13 00 00 81 31 FE 45 4A 43 4F 50 76 32 34 31 B6"));
  INFO(text);
  CHECK(text.find("JCOPv241") != std::string::npos);
  CHECK(text.find("wrong (expected B7)") != std::string::npos);
  CHECK(text.find("error at offset 17") != std::string::npos);
  CHECK(describe_atr_bytes(hex("3A")).find("error at offset 0") != std::string::npos);
}
