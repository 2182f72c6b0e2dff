// Bad input: random bytes for the block parser and both protocol engines. They must answer
// with error values and valid blocks, never crash, hang or read out of bounds (this area
// runs under ASan and UBSan in the sanitizer build).
#include <doctest/doctest.h>

#include <iterator>
#include <random>

#include "t1_support.h"

using namespace readerlab::cards::t1;
using readerlab::cards::t1::test::echo_apdu;

namespace {

constexpr int kInputs = 20000;

// Half pure noise, half well-framed blocks with a random PCB and INF (correct LEN and EDC),
// so the input also gets past the frame checks into the protocol state machines.
Bytes random_input(std::mt19937_64& random, EdcKind edc) {
  if (random() % 2) {
    Bytes noise(random() % 300);
    for (auto& byte : noise) byte = static_cast<std::uint8_t>(random());
    return noise;
  }
  Bytes inf(random() % 4 == 0 ? random() % 255 : random() % 3);
  for (auto& byte : inf) byte = static_cast<std::uint8_t>(random());
  const auto nad = static_cast<std::uint8_t>(random() % 8 == 0 ? random() : 0);
  // PCBs of every block type the standard defines, and from time to time any byte at all.
  static constexpr std::uint8_t kDefinedPcbs[] = {0x00, 0x20, 0x40, 0x60, 0x80, 0x81, 0x82, 0x90, 0x91, 0x92,
                                                  0xC0, 0xC1, 0xC2, 0xC3, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4};
  const auto pcb =
      random() % 4 == 0 ? static_cast<std::uint8_t>(random()) : kDefinedPcbs[random() % std::size(kDefinedPcbs)];
  return encode_block(nad, pcb, inf, edc);
}

}  // namespace

TEST_CASE("fuzz: the block parser accepts exactly what it can encode again") {
  std::mt19937_64 random(0xf022'0001);
  std::size_t valid = 0;
  for (int i = 0; i < kInputs; ++i) {
    const auto edc = i % 2 ? EdcKind::crc : EdcKind::lrc;
    const auto input = random_input(random, edc);
    const auto result = parse_block(input, edc);
    REQUIRE(result.block.has_value() == (result.error == BlockError::none));
    if (result.block) {
      ++valid;
      CHECK(encode_block(result.block->nad, result.block->pcb, result.block->inf, edc) == input);
      CHECK(result.block->inf.size() <= kMaxInfSize);
      (void)describe(*result.block);
    }
  }
  CHECK(valid > 1000);
}

TEST_CASE("fuzz: CardSide answers random blocks with valid blocks and keeps working") {
  for (const auto edc : {EdcKind::lrc, EdcKind::crc}) {
    std::mt19937_64 random(edc == EdcKind::lrc ? 0xf022'0002 : 0xf022'0003);
    CardSide card(echo_apdu, 32, edc);
    std::size_t answers = 0;
    for (int i = 0; i < kInputs; ++i) {
      const auto input = random_input(random, edc);
      const auto reply = card.receive(input);
      if (!reply) continue;
      ++answers;
      const auto parsed = parse_block(*reply, edc);
      REQUIRE(parsed.block.has_value());
      CHECK(parsed.block->inf.size() <= card.ifsd());
    }
    CHECK(answers == kInputs);  // a powered card without faults answers every block
    // After the storm, S(RESYNCH) brings the card back to a known state (it may have been left
    // inside a chain), and it serves an ordinary exchange.
    REQUIRE(card.receive(make_s_block(0, SupervisoryType::resynch, false, edc)) ==
            make_s_block(0, SupervisoryType::resynch, true, edc));
    InterfaceParameters parameters;
    parameters.edc = edc;
    InterfaceSide reader(parameters);
    const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t> block) { return card.receive(block); };
    const Bytes apdu = {0x00, 0x84, 0x00, 0x00, 0x08};
    const auto result = reader.transmit(apdu, channel);
    REQUIRE(result.ok());
    CHECK(result.response == echo_apdu(apdu));
  }
}

TEST_CASE("fuzz: InterfaceSide against a card answering random bytes always terminates") {
  std::mt19937_64 random(0xf022'0004);
  InterfaceSide reader;
  std::size_t calls = 0;
  const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t>) -> std::optional<Bytes> {
    ++calls;
    if (random() % 10 == 0) return std::nullopt;
    return random_input(random, EdcKind::lrc);
  };
  int finished = 0;
  for (int i = 0; i < kInputs / 10; ++i) {
    Bytes apdu(1 + random() % 600);
    for (auto& byte : apdu) byte = static_cast<std::uint8_t>(random());
    const std::size_t before = calls;
    const auto result = reader.transmit(apdu, channel);
    CHECK(calls - before < 10000);
    if (!result.ok()) CHECK(result.response.empty());
    ++finished;
    if (result.error == TransmitError::deactivate_card) reader.reset();
  }
  CHECK(finished == kInputs / 10);
}
