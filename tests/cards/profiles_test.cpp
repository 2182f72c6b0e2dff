#include <doctest/doctest.h>

#include <algorithm>

#include "cards/atr/atr.h"
#include "cards/profiles.h"
#include "test_support.h"

using namespace readerlab::cards;
using readerlab::cards::test::hex;
using readerlab::cards::test::to_hex;

TEST_CASE("built-in profiles are listed with descriptions") {
  const auto profiles = builtin_profiles();
  for (std::string_view name : {"t1-fs", "t0-basic", "t0-t1", "mute"}) {
    INFO(name);
    const auto found = std::find_if(profiles.begin(), profiles.end(),
                                    [&](const ProfileInfo& info) { return info.name == name; });
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
  CHECK(to_hex(*builtin_atr("t0-t1")) == "3B 87 80 31 80 45 80 55 74 30 2D 74 31 0A");
  for (std::string_view name : {"t1-fs", "t0-basic", "t0-t1"}) {
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

TEST_CASE("the readerlab application answers SELECT by AID on every file-system card") {
  for (std::string_view name : {"t1-fs", "t0-basic", "t0-t1"}) {
    INFO(name);
    auto card = make_builtin_card(name);
    REQUIRE(card->reset(ResetKind::cold));
    const auto response =
        card->transmit_apdu(hex("00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 01 00"));
    REQUIRE(response.data.size() > 2);
    CHECK(response.data[0] == 0x6F);
    CHECK(to_hex(std::span(response.data).last(2)) == "90 00");
  }
}
