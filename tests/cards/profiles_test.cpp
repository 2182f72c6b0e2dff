#include <doctest/doctest.h>

#include <algorithm>

#include "cards/atr/atr.h"
#include "cards/atr/convention.h"
#include "cards/pps/pps.h"
#include "cards/profiles.h"
#include "cards/t0/t0.h"
#include "test_support.h"

using namespace readerlab::cards;
using readerlab::cards::test::hex;
using readerlab::cards::test::to_hex;

TEST_CASE("built-in profiles are listed with descriptions") {
  const auto profiles = builtin_profiles();
  for (std::string_view name :
       {"t1-fs", "t0-basic", "t0-t1", "specific-ta2", "inverse", "extended", "slow", "mute", "bad-atr", "ibm-test"}) {
    INFO(name);
    const auto found =
        std::find_if(profiles.begin(), profiles.end(), [&](const ProfileInfo& info) { return info.name == name; });
    REQUIRE(found != profiles.end());
    CHECK_FALSE(found->description.empty());
    CHECK(make_builtin_card(name) != nullptr);
  }
  CHECK(make_builtin_card("no-such-card") == nullptr);
  CHECK_FALSE(builtin_atr("no-such-card").has_value());
  CHECK_FALSE(builtin_atr("mute").has_value());
}

TEST_CASE("built-in ATRs: exact bytes, and a card answers exactly them") {
  CHECK(to_hex(*builtin_atr("t1-fs")) == "3B 9B 13 81 31 FE 45 80 59 72 65 61 64 65 72 6C 61 62 30");
  CHECK(to_hex(*builtin_atr("t0-basic")) == "3B 0A 80 58 74 30 2D 62 61 73 69 63");
  CHECK(to_hex(*builtin_atr("t0-t1")) == "3B 97 96 80 31 80 45 80 55 74 30 2D 74 31 8C");
  CHECK(to_hex(*builtin_atr("specific-ta2")) == "3B 9A 13 91 81 31 FE 45 80 58 73 70 65 63 69 66 69 63 CB");
  CHECK(to_hex(*builtin_atr("inverse")) == "3F 09 80 57 69 6E 76 65 72 73 65");
  CHECK(to_hex(*builtin_atr("extended")) == "3B 8E 81 31 FE 45 80 73 00 00 40 58 65 78 74 65 6E 64 65 64 69");
  CHECK(to_hex(*builtin_atr("slow")) == "3B 86 80 31 80 15 80 54 73 6C 6F 77 71");
  // smclib.md 6 D, byte for byte
  CHECK(to_hex(*builtin_atr("ibm-test")) == "3B EF 00 FF 81 31 86 45 49 42 4D 20 4D 46 43 34 30 30 30 30 38 33 31 43");
  for (std::string_view name :
       {"t1-fs", "t0-basic", "t0-t1", "specific-ta2", "inverse", "extended", "slow", "ibm-test"}) {
    INFO(name);
    auto card = make_builtin_card(name);
    CHECK(card->name() == name);
    CHECK(card->reset(ResetKind::cold) == builtin_atr(name));
    CHECK(card->reset(ResetKind::warm) == builtin_atr(name));
    const auto parsed = parse_atr(*builtin_atr(name));
    CHECK(parsed.error == AtrError::none);
    CHECK(build_atr(*parsed.atr) == *builtin_atr(name));
  }
}

TEST_CASE("t1-fs offers T=1 only with IFSC 254 and a valid TCK") {
  const auto atr = *parse_atr(*builtin_atr("t1-fs")).atr;
  CHECK(atr.supports(1));
  CHECK_FALSE(atr.supports(0));
  CHECK(atr.groups[0].td == 0x81);
  CHECK(atr.ifsc() == 0xFE);
  CHECK(atr.bwi_cwi() == 0x45);
  CHECK(atr.tck.has_value());
  const std::string historical(atr.historical.begin(), atr.historical.end());
  CHECK(historical.find("readerlab") != std::string::npos);
}

TEST_CASE("t0-basic offers T=0 only without TCK; t0-t1 offers both") {
  const auto t0 = *parse_atr(*builtin_atr("t0-basic")).atr;
  CHECK(t0.supports(0));
  CHECK_FALSE(t0.supports(1));
  CHECK_FALSE(t0.tck.has_value());
  CHECK(t0.historical != parse_atr(*builtin_atr("t1-fs")).atr->historical);

  const auto dual = *parse_atr(*builtin_atr("t0-t1")).atr;
  CHECK(dual.supports(0));
  CHECK(dual.supports(1));
  CHECK(dual.first_protocol() == 0);
  CHECK(dual.ifsc() == 128);
}

TEST_CASE("t0-basic: a case 4 APDU runs as case 3, 61xx and GET RESPONSE at the T=0 level") {
  auto card = make_builtin_card("t0-basic");
  REQUIRE(card->reset(ResetKind::cold));
  const auto result = t0::transmit_apdu(*card, hex("80 10 00 00 04 CA FE BA BE 00"));
  CHECK(result.error == t0::Error::none);
  CHECK(to_hex(result.response) == "CA FE BA BE 90 00");
  CHECK(result.tpdus == 2);
  CHECK(to_hex(t0::exchange(*card, hex("80 10 00 00 04 CA FE BA BE")).response) == "61 04");
}

TEST_CASE("t0-t1: TA1=96 is only reachable through PPS; T=1 by PPS too") {
  const auto atr = *parse_atr(*builtin_atr("t0-t1")).atr;
  CHECK(atr.fi_di() == 0x96);
  CHECK(clock_rate_conversion_factor(0x9) == 512);
  CHECK(baud_rate_adjustment_factor(0x6) == 32);
  CHECK_FALSE(atr.specific_mode());
  auto profile = builtin_profile("t0-t1");
  IsoCard card(std::move(*profile));
  REQUIRE(card.reset(ResetKind::cold));
  CHECK(to_hex(*card.answer_pps(hex("FF 10 96 79"))) == "FF 10 96 79");
  CHECK(card.negotiated_parameters() == NegotiatedParameters{0, 0x96});
  CHECK(to_hex(t0::transmit_apdu(card, hex("00 B0 81 00 02")).response) == "00 01 90 00");
}

TEST_CASE("specific-ta2: TA2 fixes T=1 at TA1's rate; PPS gets no answer") {
  const auto atr = *parse_atr(*builtin_atr("specific-ta2")).atr;
  REQUIRE(atr.specific_mode());
  CHECK(*atr.groups[1].ta == 0x81);
  CHECK((*atr.groups[1].ta & 0x0F) == 1);
  CHECK(atr.fi_di() == 0x13);
  auto profile = builtin_profile("specific-ta2");
  IsoCard card(std::move(*profile));
  REQUIRE(card.reset(ResetKind::cold));
  CHECK(card.selected_protocol() == Protocol::t1);
  CHECK_FALSE(card.answer_pps(hex("FF 11 13 FD")).has_value());
  CHECK(to_hex(card.transmit_apdu(hex("00 B0 81 00 01")).data) == "00 90 00");
}

TEST_CASE("inverse: the ATR decodes from 03 on the wire and T=0 runs inverted") {
  const Bytes atr = *builtin_atr("inverse");
  const Bytes wire = to_wire(atr, Convention::inverse);
  CHECK(wire.front() == 0x03);
  const auto parsed = parse_atr(from_wire(wire, Convention::inverse));
  REQUIRE(parsed.atr);
  CHECK(parsed.atr->inverse_convention);
  auto card = make_builtin_card("inverse");
  REQUIRE(card->reset(ResetKind::cold));
  const auto convention = convention_of_atr(atr).value_or(Convention::direct);
  CHECK(convention == Convention::inverse);
  CHECK(t0::card_side_options(*card, convention).convention == Convention::inverse);
  // The same exchange with every byte on the wire in inverse convention.
  CHECK(to_hex(t0::transmit_apdu(*card, hex("00 B0 81 10 03"), convention).response) == "10 11 12 90 00");
}

TEST_CASE("extended: the ATR announces extended Lc/Le; 64 KB and 4 KB files") {
  const auto atr = *parse_atr(*builtin_atr("extended")).atr;
  const Bytes capabilities = {0x73, 0x00, 0x00, 0x40};  // ISO 7816-4 8.1.1.2.7, b7 of byte 3
  CHECK(std::search(atr.historical.begin(), atr.historical.end(), capabilities.begin(), capabilities.end()) !=
        atr.historical.end());
  auto card = make_builtin_card("extended");
  REQUIRE(card->reset(ResetKind::cold));
  const auto whole = card->transmit_apdu(hex("00 B0 84 00 00 00 00"));  // SFI 4, offset 0
  CHECK(whole.data.size() == 65536 + 2);
}

TEST_CASE("slow: 5 NULLs per answer under T=0; WTX and processing time for the engines") {
  const auto profile = *builtin_profile("slow");
  CHECK(profile.t0_null_bytes == 5);
  CHECK(profile.wtx_multiplier == 10);
  CHECK(profile.processing_ms == 1500);
  CHECK(parse_atr(profile.atr).atr->bwi_cwi() == 0x15);
  auto card = make_builtin_card("slow");
  REQUIRE(card->reset(ResetKind::cold));
  const auto result = t0::transmit_apdu(*card, hex("80 10 00 00 02 01 02 00"));
  CHECK(to_hex(result.response) == "01 02 90 00");
  CHECK(result.null_bytes == 10);  // one wait per TPDU
}

TEST_CASE("bad-atr: the TCK is wrong and says so; the card still answers") {
  const auto parsed = parse_atr(*builtin_atr("bad-atr"));
  CHECK(parsed.error == AtrError::wrong_tck);
  CHECK(parsed.offset == 15);
  auto card = make_builtin_card("bad-atr");
  REQUIRE(card->reset(ResetKind::cold) == builtin_atr("bad-atr"));
  CHECK(to_hex(card->transmit_apdu(hex("00 B0 81 00 01")).data) == "00 90 00");
}

namespace {

// The two patterns of ifdtest part D, alternating bytes: 55 AA 55 .. or 00 FF 00 ..
Bytes alternating(std::size_t n, std::uint8_t even, std::uint8_t odd) {
  Bytes bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = i % 2 == 0 ? even : odd;
  return bytes;
}

}  // namespace

TEST_CASE("ibm-test: T=1 only, and EF 0007 has to be selected first") {
  const auto atr = *parse_atr(*builtin_atr("ibm-test")).atr;
  CHECK(atr.supports(1));
  CHECK_FALSE(atr.supports(0));
  CHECK(atr.ifsc() == 134);  // so a 254-byte write reaches the card as a chain
  auto card = make_builtin_card("ibm-test");
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(to_hex(card->transmit_apdu(hex("00 B0 00 00 01")).data) == "69 86");  // no current EF
  CHECK(to_hex(card->transmit_apdu(hex("00 A4 00 0C 02 00 07")).data) == "90 00");
  CHECK(to_hex(card->transmit_apdu(hex("00 D6 00 00 01 5A")).data) == "90 00");
  CHECK(to_hex(card->transmit_apdu(hex("00 B0 00 00 01")).data) == "5A 90 00");
}

TEST_CASE("ibm-test: write and read back 1 to 254 bytes; above 128 writes fail, reads stop at 128") {
  auto card = make_builtin_card("ibm-test");
  REQUIRE(card->reset(ResetKind::cold));
  REQUIRE(to_hex(card->transmit_apdu(hex("00 A4 00 0C 02 00 07")).data) == "90 00");
  Bytes last_written;
  for (std::size_t n = 1; n <= 254; ++n) {
    INFO("n = ", n);
    // Alternating by length, so a read that returns the previous length's data fails.
    const Bytes data = n % 2 == 0 ? alternating(n, 0x00, 0xFF) : alternating(n, 0x55, 0xAA);
    Bytes write = {0x00, 0xD6, 0x00, 0x00, static_cast<std::uint8_t>(n)};
    write.insert(write.end(), data.begin(), data.end());
    const auto written = card->transmit_apdu(write);
    if (n <= 128) {
      REQUIRE(to_hex(written.data) == "90 00");
      last_written = data;
    } else {
      REQUIRE(to_hex(written.data) == "67 00");  // smclib.md 6 D
    }
    const auto read = card->transmit_apdu(Bytes{0x00, 0xB0, 0x00, 0x00, static_cast<std::uint8_t>(n)});
    REQUIRE(read.data.size() == std::min<std::size_t>(n, 128) + 2);
    REQUIRE(to_hex(std::span(read.data).last(2)) == "90 00");
    const Bytes expected(last_written.begin(),
                         last_written.begin() + static_cast<std::ptrdiff_t>(read.data.size() - 2));
    REQUIRE(Bytes(read.data.begin(), read.data.end() - 2) == expected);
  }
}

TEST_CASE("the readerlab application answers SELECT by AID on every file-system card") {
  for (std::string_view name : {"t1-fs", "t0-basic", "t0-t1"}) {
    INFO(name);
    auto card = make_builtin_card(name);
    REQUIRE(card->reset(ResetKind::cold));
    const auto response = card->transmit_apdu(hex("00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 01 00"));
    REQUIRE(response.data.size() > 2);
    CHECK(response.data[0] == 0x6F);
    CHECK(to_hex(std::span(response.data).last(2)) == "90 00");
  }
}

TEST_CASE("describe_card tells a built-in card's ATR, protocols, tree, AIDs and PIN counters from its model") {
  const auto text = describe_card("t1-fs");
  REQUIRE(text);
  INFO(*text);
  CHECK(text->find("ATR (cold reset): 3B 9B 13 81 31 FE 45 80 59 72 65 61 64 65 72 6C 61 62 30") != std::string::npos);
  CHECK(text->find("T=1") != std::string::npos);
  CHECK(text->find("protocols the card accepts: T=1\n") != std::string::npos);
  CHECK(text->find("EF 0101 transparent, 256 bytes, SFI 1") != std::string::npos);
  CHECK(text->find("EF 0102 transparent, 16 bytes, SFI 2, UPDATE needs the PIN") != std::string::npos);
  CHECK(text->find("DF 5000 \"records\", AID F07265616465726C616202") != std::string::npos);
  CHECK(text->find("EF 5003 cyclic, 3 of 3 records of 4 bytes, SFI 3, UPDATE/APPEND need the PIN") !=
        std::string::npos);
  CHECK(text->find("EF 5101 transparent, 8 bytes, SFI 1, READ needs the PIN") != std::string::npos);
  CHECK(text->find("PIN \"1234\", reference 80, 3 tries left") != std::string::npos);
  CHECK(text->find("PUK \"12345678\", reference 81, 10 tries left") != std::string::npos);
  // The extended card's own big files come from its profile, not from a shared text.
  const auto extended = describe_card("extended");
  REQUIRE(extended);
  CHECK(extended->find("EF 0104 transparent, 65536 bytes, SFI 4") != std::string::npos);
  CHECK(text->find("EF 0104") == std::string::npos);
}

TEST_CASE("describe_card reads a Lua card's declarations, and says so for a mute card and an unknown name") {
  const auto applet = describe_card("applet");
  REQUIRE(applet);
  INFO(*applet);
  CHECK(applet->find("Lua card") != std::string::npos);
  CHECK(applet->find("DF 5200 \"wallet\", AID F07265616465726C616220") != std::string::npos);
  CHECK(applet->find("EF 5201 cyclic, 0 of 4 records of 5 bytes, SFI 1") != std::string::npos);
  CHECK(applet->find("PIN \"1234\", reference 80, 3 tries left") != std::string::npos);
  const auto mute = describe_card("mute");
  REQUIRE(mute);
  CHECK(mute->find("ATR: none") != std::string::npos);
  const auto unknown = describe_card("no-such-card");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message().find("unknown card") != std::string::npos);
}
