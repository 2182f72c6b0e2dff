// Random inputs at the two card parsers: every answer comes back, nothing crashes.
#include <doctest/doctest.h>

#include <random>

#include "cards/apdu/iso_card.h"
#include "cards/atr/atr.h"
#include "cards/pps/pps.h"
#include "cards/profiles.h"
#include "cards/t0/t0.h"

using namespace readerlab::cards;

TEST_CASE("20000 random ATRs: parse never fails to return; valid ones round-trip") {
  std::mt19937 random(20240501);
  std::size_t valid = 0;
  for (int round = 0; round < 20000; ++round) {
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

TEST_CASE("20000 random APDUs: the card always answers with a status word") {
  std::mt19937 random(7816);
  const std::uint8_t instructions[] = {0xA4, 0xB0, 0xD6, 0x84, 0x20, 0xCA, 0xC0, 0x10,
                                       0x00, 0xB2, 0xDC, 0xE2, 0x24, 0x2C, 0xDA, 0x70};
  const std::uint8_t classes[] = {0x00, 0x80, 0xFF, 0x01, 0x02, 0x03, 0x40, 0x10};
  for (std::string_view name : {"t1-fs", "t0-basic"}) {
    auto card = make_builtin_card(name);
    REQUIRE(card->reset(ResetKind::cold));
    for (int round = 0; round < 10000; ++round) {
      Bytes apdu;
      const auto shape = random() % 4;
      if (shape == 0) {  // raw noise of any length up to 300
        apdu.resize(random() % 300);
        for (auto& byte : apdu) byte = static_cast<std::uint8_t>(random());
      } else {  // a plausible header, then a random body that may or may not be consistent
        apdu = {classes[random() % std::size(classes)], instructions[random() % std::size(instructions)],
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

TEST_CASE("20000 random APDUs to the parser: encode again gives the same bytes") {
  std::mt19937 random(5141);
  for (int round = 0; round < 20000; ++round) {
    Bytes bytes(random() % 12 == 0 ? random() % 70000 : random() % 300);
    for (auto& byte : bytes) byte = static_cast<std::uint8_t>(random() % 3 == 0 ? 0 : random());
    const auto apdu = parse_command_apdu(bytes);
    if (!apdu) continue;
    REQUIRE(apdu->data.size() <= 65535);
    REQUIRE(apdu->ne.value_or(1) <= 65536);
    REQUIRE(build_command_apdu(*apdu) == bytes);
  }
}

TEST_CASE("20000 random PPS requests: parse, card answer and outcome never misbehave") {
  std::mt19937 random(9);
  const auto atr = *parse_atr(*builtin_atr("t0-t1")).atr;
  std::size_t answered = 0;
  for (int round = 0; round < 20000; ++round) {
    Bytes bytes(random() % 8);
    for (auto& byte : bytes) byte = static_cast<std::uint8_t>(random());
    if (!bytes.empty() && random() % 2) bytes[0] = 0xFF;
    if (bytes.size() >= 2 && random() % 2) {  // often a right PCK
      std::uint8_t check = 0;
      for (std::size_t i = 0; i + 1 < bytes.size(); ++i) check ^= bytes[i];
      bytes.back() = check;
    }
    const auto parsed = parse_pps(bytes);
    CHECK((parsed.error == PpsError::none) == parsed.pps.has_value());
    if (parsed.pps) CHECK(build_pps(*parsed.pps) == bytes);
    const auto reaction = static_cast<PpsReaction>(random() % 3);
    const auto answer = answer_pps_request(atr, reaction, bytes);
    CHECK(answer.response.has_value() == answer.agreed.has_value());
    if (answer.response) {
      ++answered;
      REQUIRE(parsed.pps);
      CHECK(pps_outcome(*parsed.pps, *answer.response) == answer.agreed);
    }
  }
  CHECK(answered > 0);
}

TEST_CASE("20000 random byte chunks to t0::CardSide, and random APDUs through both T=0 sides") {
  std::mt19937 random(1003);
  auto card = make_builtin_card("t0-basic");
  REQUIRE(card->reset(ResetKind::cold));
  t0::CardSideOptions options;
  t0::CardSide side(*card, options);
  for (int round = 0; round < 20000; ++round) {
    Bytes chunk(random() % 12);
    for (auto& byte : chunk) byte = static_cast<std::uint8_t>(random() % 4 == 0 ? random() % 8 : random());
    const auto answer = side.receive(chunk);
    REQUIRE(answer.size() <= 2 * 256 + 16);
    if (random() % 1000 == 0) REQUIRE(card->reset(ResetKind::warm));
  }
  t0::InterfaceSide reader;
  for (int round = 0; round < 5000; ++round) {
    t0::CardSideOptions faults;
    faults.one_byte_at_a_time = random() % 4 == 0;
    faults.null_bytes = static_cast<unsigned>(random() % 3);
    if (random() % 10 == 0) faults.bad_procedure_byte = static_cast<std::uint8_t>(random());
    faults.mute = random() % 50 == 0;
    t0::CardSide faulty(*card, faults);
    Bytes apdu = {static_cast<std::uint8_t>(random() % 3 == 0 ? 0x80 : random() % 4),
                  static_cast<std::uint8_t>(random()), static_cast<std::uint8_t>(random() % 4),
                  static_cast<std::uint8_t>(random() % 4)};
    const auto body = random() % 5;
    for (unsigned i = 0; i < body * 3; ++i) apdu.push_back(static_cast<std::uint8_t>(random()));
    const auto result = reader.transmit(apdu, faulty);
    if (result.error == t0::Error::none)
      REQUIRE(result.response.size() >= 2);
    else
      REQUIRE(result.response.empty());
  }
}
