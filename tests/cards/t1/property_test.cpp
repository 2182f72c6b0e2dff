// Properties over random sizes: whatever the APDU length (1..4096 bytes, long ones being
// extended APDUs carried as bytes) and whatever IFSC and IFSD (1..254), the interface side
// and the card side deliver the APDU and its response byte for byte, also on a line that
// corrupts and loses blocks. Seeds are fixed so a failure replays.
#include <doctest/doctest.h>

#include <random>

#include "t1_support.h"

using namespace readerlab::cards::t1;
using readerlab::cards::t1::test::echo_apdu;

namespace {

struct RandomSetup {
  Bytes apdu;
  std::uint8_t ifsc = 0, ifsd = 0;
  EdcKind edc = EdcKind::lrc;
};

Bytes random_apdu(std::mt19937_64& random) {
  const std::size_t size = 1 + random() % 4096;
  Bytes apdu(size);
  for (auto& byte : apdu) byte = static_cast<std::uint8_t>(random());
  if (size > 4 + 1 + 255 + 1 && size >= 7) {
    // Shape it as an extended case 3 APDU: CLA INS P1 P2 00 Lc1 Lc2 data.
    const std::size_t nc = size - 7;
    apdu[4] = 0x00;
    apdu[5] = static_cast<std::uint8_t>(nc >> 8);
    apdu[6] = static_cast<std::uint8_t>(nc & 0xFF);
  }
  return apdu;
}

RandomSetup random_setup(std::mt19937_64& random) {
  RandomSetup setup;
  setup.apdu = random_apdu(random);
  setup.ifsc = static_cast<std::uint8_t>(1 + random() % 254);
  setup.ifsd = static_cast<std::uint8_t>(1 + random() % 254);
  setup.edc = random() % 2 ? EdcKind::crc : EdcKind::lrc;
  return setup;
}

InterfaceParameters reader_parameters(const RandomSetup& setup) {
  InterfaceParameters parameters;
  parameters.ifsc = setup.ifsc;
  parameters.ifsd = setup.ifsd;
  parameters.edc = setup.edc;
  return parameters;
}

// Checks every block on the line against the negotiated sizes while passing it on.
struct CheckedLine {
  CardSide& card;
  const InterfaceSide& reader;
  EdcKind edc;
  std::size_t oversized = 0;

  std::optional<Bytes> carry(std::span<const std::uint8_t> block) {
    const auto sent = parse_block(block, edc);
    if (sent.block && sent.block->kind() == BlockKind::information && sent.block->inf.size() > card.ifsc()) {
      ++oversized;
    }
    auto reply = card.receive(block);
    if (reply) {
      const auto answered = parse_block(*reply, edc);
      if (answered.block && answered.block->kind() == BlockKind::information &&
          answered.block->inf.size() > reader.ifsd()) {
        ++oversized;
      }
    }
    return reply;
  }
};

}  // namespace

TEST_CASE("property: interface side and card side agree byte for byte on a clean line") {
  std::mt19937_64 random(0x7e57'0001);
  for (int round = 0; round < 200; ++round) {
    const auto setup = random_setup(random);
    CardSide card(echo_apdu, setup.ifsc, setup.edc);
    InterfaceSide reader(reader_parameters(setup));
    CheckedLine line{card, reader, setup.edc};
    const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t> block) { return line.carry(block); };
    // Several APDUs on one session, so sequence numbers carry over between them.
    for (int apdu_index = 0; apdu_index < 3; ++apdu_index) {
      const auto apdu = apdu_index == 0 ? setup.apdu : random_apdu(random);
      const auto result = reader.transmit(apdu, channel);
      INFO("round ", round, " size ", apdu.size(), " IFSC ", int(setup.ifsc), " IFSD ", int(setup.ifsd));
      REQUIRE(result.ok());
      REQUIRE(result.response == echo_apdu(apdu));
    }
    CHECK(line.oversized == 0);
    CHECK(reader.statistics().retransmissions == 0);
    CHECK(card.apdus_handled() == 3);
  }
}

TEST_CASE("property: they still agree byte for byte on a line that corrupts and loses blocks") {
  std::mt19937_64 random(0x7e57'0002);
  std::mt19937_64 line_noise(0x7e57'0003);
  // Each of the four events hits about one block in a hundred.
  const auto happens = [&] { return line_noise() % 100 == 0; };
  const auto corrupt = [&](Bytes& block) {
    const auto at = line_noise() % block.size();
    block[at] ^= static_cast<std::uint8_t>(1 + line_noise() % 255);
  };

  std::size_t retransmissions = 0, resynchs = 0, deactivations = 0;
  for (int round = 0; round < 150; ++round) {
    const auto setup = random_setup(random);
    CardSide card(echo_apdu, setup.ifsc, setup.edc);
    InterfaceSide reader(reader_parameters(setup));
    const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t> block) -> std::optional<Bytes> {
      if (happens()) return std::nullopt;  // the card never hears the block
      Bytes on_the_line(block.begin(), block.end());
      if (happens()) corrupt(on_the_line);
      auto reply = card.receive(on_the_line);
      if (!reply || happens()) return std::nullopt;  // the answer is lost
      if (happens()) corrupt(*reply);
      return reply;
    };
    for (int apdu_index = 0; apdu_index < 2; ++apdu_index) {
      const auto apdu = apdu_index == 0 ? setup.apdu : random_apdu(random);
      INFO("round ", round, " size ", apdu.size(), " IFSC ", int(setup.ifsc), " IFSD ", int(setup.ifsd));
      // A reader whose recovery fails deactivates the card and activates it again.
      TransmitResult result;
      for (int activation = 0; activation < 10; ++activation) {
        result = reader.transmit(apdu, channel);
        if (result.error != TransmitError::deactivate_card) break;
        ++deactivations;
        card.reset();
        reader.reset();
      }
      REQUIRE(result.ok());
      REQUIRE(result.response == echo_apdu(apdu));
    }
    retransmissions += reader.statistics().retransmissions;
    resynchs += reader.statistics().resynch_requests;
  }
  MESSAGE("retransmissions ", retransmissions, ", S(RESYNCH) ", resynchs, ", deactivations ", deactivations);
  CHECK(retransmissions > 100);  // the noise did reach the protocol
  CHECK(resynchs > 0);
}
