// Exchanges in the notation of ISO 7816-3 Annex A: each line is a block the interface device
// sends and the card's answer. The scenarios follow the standard's: IFS negotiation, chaining
// both ways, waiting time extension, errors on either side, resynchronisation, abort.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "t1_support.h"

using namespace readerlab::cards::t1;
using readerlab::cards::t1::test::echo_apdu;
using readerlab::cards::t1::test::hex;
using readerlab::cards::t1::test::RecordingLink;
using Transcript = std::vector<std::string>;

namespace {

Bytes pattern(std::size_t size, std::uint8_t seed = 0) {
  Bytes bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(seed + i);
  return bytes;
}

InterfaceParameters without_ifs_negotiation(std::uint8_t ifsc = kDefaultIfs) {
  InterfaceParameters parameters;
  parameters.ifsc = ifsc;
  parameters.negotiate_ifsd = false;
  return parameters;
}

}  // namespace

TEST_CASE("IFSD is announced once with S(IFS request), then I-blocks alternate N(S)") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  InterfaceSide reader;
  RecordingLink link{card, EdcKind::lrc, {}};
  const auto channel = link.channel();
  const auto apdu = hex("00 84 00 00 08");
  auto result = reader.transmit(apdu, channel);
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  result = reader.transmit(apdu, channel);
  REQUIRE(result.ok());
  CHECK(link.transcript ==
        Transcript{"S(IFS request,254) -> S(IFS response,254)", "I(0,0) -> I(0,0)", "I(1,0) -> I(1,0)"});
  CHECK(card.ifsd() == 254);
  CHECK(reader.ifsd() == 254);
}

TEST_CASE("chaining both ways: a command longer than IFSC, a response longer than IFSD") {
  CardSide card(echo_apdu, 16, EdcKind::lrc);
  InterfaceSide reader(without_ifs_negotiation(16));  // IFSD stays 32
  RecordingLink link{card, EdcKind::lrc, {}};
  const auto apdu = pattern(40);  // 16 + 16 + 8; the echo is 42 bytes: 32 + 10
  const auto result = reader.transmit(apdu, link.channel());
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(link.transcript == Transcript{"I(0,1) -> R(1)", "I(1,1) -> R(0)", "I(0,0) -> I(0,1)", "R(1) -> I(1,0)"});
}

TEST_CASE("chaining with CRC as the error detection code") {
  CardSide card(echo_apdu, 10, EdcKind::crc);
  InterfaceParameters parameters = without_ifs_negotiation(10);
  parameters.edc = EdcKind::crc;
  InterfaceSide reader(parameters);
  RecordingLink link{card, EdcKind::crc, {}};
  const auto apdu = pattern(25);
  const auto result = reader.transmit(apdu, link.channel());
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(link.transcript == Transcript{"I(0,1) -> R(1)", "I(1,1) -> R(0)", "I(0,0) -> I(0,0)"});
}

TEST_CASE("the card asks for a waiting time extension; the reader extends BWT for one block") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  card.faults().wtx_before_next_answer = 5;
  InterfaceSide reader(without_ifs_negotiation());
  std::vector<int> announced;
  reader.on_wtx([&](std::uint8_t multiplier) { announced.push_back(multiplier); });
  RecordingLink link{card, EdcKind::lrc, {}};
  std::vector<int> multipliers_in_force;
  const auto inner = link.channel();
  const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t> block) {
    multipliers_in_force.push_back(reader.wtx_multiplier());
    return inner(block);
  };
  const auto apdu = hex("80 10 00 00 02 AA BB 00");
  auto result = reader.transmit(apdu, channel);
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(link.transcript == Transcript{"I(0,0) -> S(WTX request,5)", "S(WTX response,5) -> I(0,0)"});
  CHECK(announced == std::vector<int>{5});
  CHECK(multipliers_in_force == std::vector<int>{1, 5});
  CHECK(reader.last_wtx_request() == 5);

  // A slow card asks before every answer.
  CardParameters slow;
  slow.wtx_before_every_answer = 2;
  CardSide slow_card(echo_apdu, 32, EdcKind::lrc, slow);
  RecordingLink slow_link{slow_card, EdcKind::lrc, {}};
  InterfaceSide slow_reader(without_ifs_negotiation());
  for (int i = 0; i < 3; ++i) REQUIRE(slow_reader.transmit(apdu, slow_link.channel()).ok());
  CHECK(slow_reader.statistics().wtx_requests == 3);
}

TEST_CASE("the card changes IFSC with S(IFS request); later commands use the new size") {
  CardParameters parameters;
  parameters.request_ifsc = 20;
  CardSide card(echo_apdu, 32, EdcKind::lrc, parameters);
  InterfaceSide reader(without_ifs_negotiation());
  RecordingLink link{card, EdcKind::lrc, {}};
  const auto channel = link.channel();
  REQUIRE(reader.transmit(hex("00 84 00 00 08"), channel).ok());
  CHECK(reader.ifsc() == 20);
  CHECK(card.ifsc() == 20);
  const auto apdu = pattern(50);  // 20 + 20 + 10; the echo is 52 bytes: 32 + 20
  const auto result = reader.transmit(apdu, channel);
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(link.transcript == Transcript{"I(0,0) -> S(IFS request,20)", "S(IFS response,20) -> I(0,0)", "I(1,1) -> R(0)",
                                      "I(0,1) -> R(1)", "I(1,0) -> I(1,1)", "R(0) -> I(0,0)"});
}

TEST_CASE("a card block with a wrong EDC is asked for again with R(N(R)) and the EDC bit") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  card.faults().corrupt_edc_blocks = 1;
  InterfaceSide reader(without_ifs_negotiation());
  RecordingLink link{card, EdcKind::lrc, {}};
  const auto apdu = hex("00 B0 00 00 04");
  const auto result = reader.transmit(apdu, link.channel());
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(link.transcript == Transcript{"I(0,0) -> invalid(bad EDC)", "R(0,EDC) -> I(0,0)"});
}

TEST_CASE("the card answers a corrupted block with R(N(R)) and the error bits") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  InterfaceSide reader(without_ifs_negotiation());
  Transcript transcript;
  int sent = 0;
  const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t> block) {
    Bytes on_the_line(block.begin(), block.end());
    if (sent++ == 0) on_the_line[3] ^= 0x10;  // a bit flips in the first INF byte
    auto reply = card.receive(on_the_line);
    transcript.push_back(describe(on_the_line, EdcKind::lrc) + " -> " + describe(*reply, EdcKind::lrc));
    return reply;
  };
  const auto apdu = hex("00 B0 00 00 04");
  const auto result = reader.transmit(apdu, channel);
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(transcript == Transcript{"invalid(bad EDC) -> R(0,EDC)", "I(0,0) -> I(0,0)"});
  CHECK(card.last_parse_error() == BlockError::bad_edc);
}

TEST_CASE("a lost answer: after BWT the reader sends R(N(R)) and the card sends it again") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  InterfaceSide reader(without_ifs_negotiation());
  Transcript transcript;
  int sent = 0;
  const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t> block) {
    auto reply = card.receive(block);
    const bool lost = sent++ == 0;
    transcript.push_back(describe(block, EdcKind::lrc) + " -> " +
                         (lost ? std::string("lost") : describe(*reply, EdcKind::lrc)));
    return lost ? std::nullopt : reply;
  };
  const auto apdu = hex("00 B0 00 00 04");
  const auto result = reader.transmit(apdu, channel);
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(transcript == Transcript{"I(0,0) -> lost", "R(0) -> I(0,0)"});
  CHECK(result.last_fault == LineFault::timeout);
}

TEST_CASE("a lost I-block: the card names the I-block it expects and the reader resends it") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  card.faults().mute_blocks = 1;  // the card does not hear the first block
  InterfaceSide reader(without_ifs_negotiation());
  RecordingLink link{card, EdcKind::lrc, {}};
  const auto apdu = hex("00 B0 00 00 04");
  const auto result = reader.transmit(apdu, link.channel());
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(link.transcript == Transcript{"I(0,0) -> timeout", "R(0) -> R(0)", "I(0,0) -> I(0,0)"});
}

TEST_CASE("a lost acknowledgement in a chained response is repeated after BWT") {
  CardSide card(echo_apdu, 254, EdcKind::lrc);
  InterfaceSide reader(without_ifs_negotiation(254));  // IFSD stays 32
  Transcript transcript;
  int sent = 0;
  const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t> block) {
    const bool lost = sent++ == 1;  // the first R-block never reaches the card
    auto reply = lost ? std::nullopt : card.receive(block);
    transcript.push_back(describe(block, EdcKind::lrc) + " -> " +
                         (reply ? describe(*reply, EdcKind::lrc) : std::string("timeout")));
    return reply;
  };
  const auto apdu = pattern(40);  // the echo is 42 bytes: 32 + 10
  const auto result = reader.transmit(apdu, channel);
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(transcript == Transcript{"I(0,0) -> I(0,1)", "R(1) -> timeout", "R(1) -> I(1,0)"});
}

TEST_CASE("repeated failures lead to S(RESYNCH request), then the APDU is sent again") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  card.faults().corrupt_edc_blocks = 3;
  InterfaceSide reader(without_ifs_negotiation());
  RecordingLink link{card, EdcKind::lrc, {}};
  const auto apdu = hex("00 B0 00 00 04");
  const auto result = reader.transmit(apdu, link.channel());
  REQUIRE(result.ok());
  CHECK(result.response == echo_apdu(apdu));
  CHECK(link.transcript == Transcript{"I(0,0) -> invalid(bad EDC)", "R(0,EDC) -> invalid(bad EDC)",
                                      "R(0,EDC) -> invalid(bad EDC)", "S(RESYNCH request) -> S(RESYNCH response)",
                                      "I(0,0) -> I(0,0)"});
  CHECK(reader.statistics().resynch_requests == 1);
}

TEST_CASE("a card that drops off: the reader gives up with deactivate_card") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  InterfaceSide reader(without_ifs_negotiation());
  RecordingLink link{card, EdcKind::lrc, {}};
  const auto channel = link.channel();
  const auto apdu = hex("00 B0 00 00 04");
  REQUIRE(reader.transmit(apdu, channel).ok());
  card.faults().drop_off_after_blocks = 0;
  const auto failed = reader.transmit(apdu, channel);
  CHECK(failed.error == TransmitError::deactivate_card);
  CHECK(failed.last_fault == LineFault::timeout);
  CHECK(failed.response.empty());
  CHECK(card.deactivated());
  CHECK(link.transcript == Transcript{"I(0,0) -> I(0,0)", "I(1,0) -> timeout", "R(1) -> timeout", "R(1) -> timeout",
                                      "S(RESYNCH request) -> timeout", "S(RESYNCH request) -> timeout",
                                      "S(RESYNCH request) -> timeout"});
  // After a new activation both sides start again from N(S) = 0.
  card.reset();
  reader.reset();
  link.transcript.clear();
  REQUIRE(reader.transmit(apdu, channel).ok());
  CHECK(link.transcript == Transcript{"I(0,0) -> I(0,0)"});
}

TEST_CASE("a response longer than the reader accepts is stopped with S(ABORT request)") {
  CardSide card(echo_apdu, 254, EdcKind::lrc);
  InterfaceParameters parameters = without_ifs_negotiation(254);
  parameters.max_response_length = 40;
  InterfaceSide reader(parameters);
  RecordingLink link{card, EdcKind::lrc, {}};
  const auto channel = link.channel();
  const auto result = reader.transmit(pattern(98), channel);  // a 100-byte echo
  CHECK(result.error == TransmitError::response_too_long);
  CHECK(link.transcript == Transcript{"I(0,0) -> I(0,1)", "R(1) -> I(1,1)", "S(ABORT request) -> S(ABORT response)"});
  // The card dropped its chain and the next exchange goes on with the next N(S).
  link.transcript.clear();
  const auto apdu = hex("00 84 00 00 08");
  const auto next = reader.transmit(apdu, channel);
  REQUIRE(next.ok());
  CHECK(next.response == echo_apdu(apdu));
  CHECK(link.transcript == Transcript{"I(1,0) -> I(0,0)"});
}

TEST_CASE("the card's own S(ABORT request) ends the APDU with aborted_by_card") {
  InterfaceSide reader(without_ifs_negotiation());
  std::vector<std::string> seen;
  const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t> block) {
    seen.push_back(describe(block, EdcKind::lrc));
    return std::optional<Bytes>(make_s_block(0, SupervisoryType::abort, false, EdcKind::lrc));
  };
  const auto result = reader.transmit(hex("00 B0 00 00 04"), channel);
  CHECK(result.error == TransmitError::aborted_by_card);
  CHECK(seen == std::vector<std::string>{"I(0,0)", "S(ABORT response)"});
}

TEST_CASE("a card that asks for more time forever is given up after max_card_requests") {
  InterfaceParameters parameters = without_ifs_negotiation();
  parameters.max_card_requests = 50;
  InterfaceSide reader(parameters);
  std::size_t calls = 0;
  const InterfaceSide::Channel channel = [&](std::span<const std::uint8_t>) {
    ++calls;
    return std::optional<Bytes>(make_s_block(0, SupervisoryType::wtx, false, EdcKind::lrc, 1));
  };
  const auto result = reader.transmit(hex("00 B0 00 00 04"), channel);
  CHECK(result.error == TransmitError::too_many_card_requests);
  CHECK(calls == 51);
}

TEST_CASE("a silent card: three tries, three S(RESYNCH request), then deactivate_card") {
  InterfaceSide reader(without_ifs_negotiation());
  const InterfaceSide::Channel mute = [](std::span<const std::uint8_t>) { return std::optional<Bytes>(); };
  const auto result = reader.transmit(hex("00 B0 00 00 04"), mute);
  CHECK(result.error == TransmitError::deactivate_card);
  CHECK(reader.statistics().blocks_sent == 6);
  CHECK(reader.statistics().resynch_requests == 3);
  CHECK(reader.transmit({}, mute).error == TransmitError::invalid_command);
}

TEST_CASE("card side: answers to malformed and out-of-turn blocks") {
  CardSide card(echo_apdu, 4, EdcKind::lrc);
  const auto answer = [&](const Bytes& block) {
    const auto reply = card.receive(block);
    return reply ? describe(*reply, EdcKind::lrc) : std::string("silent");
  };
  CHECK(answer(hex("00 00 FF 00")) == "R(0,other)");  // LEN FF
  CHECK(card.last_parse_error() == BlockError::len_reserved);
  CHECK(answer(hex("00 00 01 55 55")) == "R(0,EDC)");                                  // bad LRC
  CHECK(answer(hex("00 00")) == "R(0,other)");                                         // too short
  CHECK(answer(make_i_block(0, 1, false, hex("01"), EdcKind::lrc)) == "R(0,other)");   // N(S)
  CHECK(answer(make_i_block(0, 0, false, pattern(5), EdcKind::lrc)) == "R(0,other)");  // > IFSC
  CHECK(answer(make_s_block(0, SupervisoryType::wtx, false, EdcKind::lrc, 1)) == "R(0,other)");
  CHECK(answer(make_s_block(0, SupervisoryType::ifs, true, EdcKind::lrc, 9)) == "R(0,other)");
  CHECK(card.apdus_handled() == 0);

  // S(ABORT request) in the middle of a chained command drops it.
  CHECK(answer(make_i_block(0, 0, true, hex("00 B0"), EdcKind::lrc)) == "R(1)");
  CHECK(answer(make_s_block(0, SupervisoryType::abort, false, EdcKind::lrc)) == "S(ABORT response)");
  const auto reply = card.receive(make_i_block(0, 1, false, hex("00 84 00 00"), EdcKind::lrc));
  REQUIRE(reply);
  const auto parsed = parse_block(*reply, EdcKind::lrc);
  REQUIRE(parsed.block);
  CHECK(Bytes(parsed.block->inf.begin(), parsed.block->inf.end()) == echo_apdu(hex("00 84 00 00")));

  // S(RESYNCH request) brings N(S) back to 0 on both directions.
  CHECK(card.receive(make_s_block(0, SupervisoryType::resynch, false, EdcKind::lrc)) == hex("00 E0 00 E0"));
  CHECK(answer(make_i_block(0, 0, false, hex("01 02"), EdcKind::lrc)) == "I(0,0)");
}

TEST_CASE("card side: node addresses are swapped in the answer, ISO 7816-3 11.3.2.1") {
  CardSide card(echo_apdu, 32, EdcKind::lrc);
  const auto reply = card.receive(make_i_block(0x12, 0, false, hex("00 84 00 00"), EdcKind::lrc));
  REQUIRE(reply);
  CHECK((*reply)[0] == 0x21);
}

TEST_CASE("card side faults: garbage, silence of the application, mute, drop-off") {
  SUBCASE("garbage instead of a block") {
    CardSide card(echo_apdu, 32, EdcKind::lrc);
    card.faults().garbage_blocks = 1;
    InterfaceSide reader(without_ifs_negotiation());
    RecordingLink link{card, EdcKind::lrc, {}};
    const auto apdu = hex("00 B0 00 00 04");
    const auto result = reader.transmit(apdu, link.channel());
    REQUIRE(result.ok());
    CHECK(result.response == echo_apdu(apdu));
    CHECK(link.transcript.size() == 2);
    CHECK(link.transcript[0].rfind("I(0,0) -> invalid(", 0) == 0);
    CHECK(link.transcript[1] == "R(0,other) -> I(0,0)");
  }
  SUBCASE("an application that does not answer leaves the card silent") {
    CardSide card([](std::span<const std::uint8_t>) { return Bytes(); }, 32, EdcKind::lrc);
    CHECK_FALSE(card.receive(make_i_block(0, 0, false, hex("00 B0 00 00 04"), EdcKind::lrc)));
    CHECK(card.apdus_handled() == 1);
  }
  SUBCASE("a card that dropped off stays silent until reset") {
    CardSide card(echo_apdu, 32, EdcKind::lrc);
    card.faults().drop_off_after_blocks = 1;
    const auto block = make_s_block(0, SupervisoryType::resynch, false, EdcKind::lrc);
    CHECK(card.receive(block));
    CHECK_FALSE(card.receive(block));
    CHECK(card.deactivated());
    CHECK_FALSE(card.receive(block));
    card.reset();
    CHECK(card.receive(block));
  }
}
