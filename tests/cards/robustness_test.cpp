// Random inputs at the two card parsers: every answer comes back, nothing crashes.
#include <doctest/doctest.h>

#include <random>

#include "cards/apdu/iso_card.h"
#include "cards/atr/atr.h"
#include "cards/profiles.h"

using namespace readerlab::cards;

TEST_CASE("10000 random ATRs: parse never fails to return; valid ones round-trip") {
  std::mt19937 random(20240501);
  std::size_t valid = 0;
  for (int round = 0; round < 10000; ++round) {
    Bytes bytes(random() % 41);
    for (auto& byte : bytes) byte = static_cast<std::uint8_t>(random());
    // Mostly a valid TS, so the parser gets past the first byte.
    if (!bytes.empty() && random() % 4 != 0) bytes[0] = (random() % 2) ? 0x3B : 0x3F;
    const auto result = parse_atr(bytes);
    CHECK((result.error == AtrError::none) == result.atr.has_value());
    CHECK(result.offset <= std::max<std::size_t>(bytes.size(), 33));
    if (result.atr) {
      ++valid;
      CHECK(build_atr(*result.atr) == bytes);
      CHECK_FALSE(describe_atr(*result.atr).empty());
    }
    CHECK_FALSE(describe_atr_bytes(bytes).empty());
  }
  CHECK(valid > 0);
}

TEST_CASE("10000 random APDUs: the card always answers with a status word") {
  std::mt19937 random(7816);
  const std::uint8_t instructions[] = {0xA4, 0xB0, 0xD6, 0x84, 0x20, 0xCA, 0xC0, 0x10, 0x00};
  const std::uint8_t classes[] = {0x00, 0x80, 0xFF, 0x01, 0x40, 0x10};
  for (std::string_view name : {"t1-fs", "t0-basic"}) {
    auto card = make_builtin_card(name);
    REQUIRE(card->reset(ResetKind::cold));
    for (int round = 0; round < 5000; ++round) {
      Bytes apdu;
      const auto shape = random() % 4;
      if (shape == 0) {  // raw noise of any length up to 300
        apdu.resize(random() % 300);
        for (auto& byte : apdu) byte = static_cast<std::uint8_t>(random());
      } else {  // a plausible header, then a random body that may or may not be consistent
        apdu = {classes[random() % std::size(classes)],
                instructions[random() % std::size(instructions)],
                static_cast<std::uint8_t>(random() % 4 == 0 ? random() : random() % 3),
                static_cast<std::uint8_t>(random() % 4 == 0 ? random() : 0)};
        const auto body = random() % 5;
        if (body == 1) apdu.push_back(static_cast<std::uint8_t>(random()));
        if (body == 2 || body == 3) {
          const auto lc = random() % 20 + 1;
          apdu.push_back(static_cast<std::uint8_t>(lc + (random() % 8 == 0 ? 1 : 0)));
          for (unsigned i = 0; i < lc; ++i) apdu.push_back(static_cast<std::uint8_t>(random()));
          if (body == 3) apdu.push_back(static_cast<std::uint8_t>(random()));
        }
        if (body == 4) {  // extended form
          const auto lc = random() % 300;
          apdu.push_back(0x00);
          apdu.push_back(static_cast<std::uint8_t>(lc >> 8));
          apdu.push_back(static_cast<std::uint8_t>(lc));
          for (unsigned i = 0; i < lc; ++i) apdu.push_back(static_cast<std::uint8_t>(random()));
          if (random() % 2) {
            apdu.push_back(static_cast<std::uint8_t>(random()));
            apdu.push_back(static_cast<std::uint8_t>(random()));
          }
        }
      }
      const auto response = card->transmit_apdu(apdu);
      REQUIRE(response.status == CardStatus::ok);
      REQUIRE(response.data.size() >= 2);
      REQUIRE(response.data.size() <= 65536 + 2);
      if (random() % 500 == 0) REQUIRE(card->reset(ResetKind::warm));
    }
  }
}
