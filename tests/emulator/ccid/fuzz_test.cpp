// Random bulk-OUT messages (fixed seed, so a failure replays) must each get a well-formed
// RDR_to_PC answer: a driver that sends junk still gets an answer it can parse.
#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

#include <random>

namespace readerlab::ccid {
namespace {

using namespace test;

constexpr Command kCommands[] = {Command::set_parameters,
                                 Command::icc_power_on,
                                 Command::icc_power_off,
                                 Command::get_slot_status,
                                 Command::secure,
                                 Command::t0_apdu,
                                 Command::escape,
                                 Command::get_parameters,
                                 Command::reset_parameters,
                                 Command::icc_clock,
                                 Command::xfr_block,
                                 Command::mechanical,
                                 Command::abort,
                                 Command::set_data_rate_and_clock_frequency};

// Half pure noise, half a plausible header (known type, right dwLength, mostly slot 0) with
// random fields and body, so the state machines are reached and not only the decoder.
Bytes random_message(std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> coin(0, 3);
  const std::size_t size = std::uniform_int_distribution<std::size_t>(0, coin(rng) == 0 ? 300 : 40)(rng);
  Bytes bytes(size);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(byte(rng));
  if (coin(rng) >= 2 && bytes.size() >= kHeaderSize) {
    bytes[0] = static_cast<std::uint8_t>(kCommands[static_cast<std::size_t>(byte(rng)) % std::size(kCommands)]);
    const auto length = static_cast<std::uint32_t>(bytes.size() - kHeaderSize);
    for (int i = 0; i < 4; ++i) bytes[1 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(length >> (8 * i));
    if (coin(rng) != 0) bytes[5] = 0;
    if (coin(rng) != 0) bytes[8] = bytes[9] = 0;
  }
  return bytes;
}

}  // namespace

TEST_CASE("2000 random messages each get a well-formed RDR_to_PC answer") {
  std::mt19937 rng(20240611);
  Reader reader;
  reader.insert(cards::make_builtin_card("t1-fs"));
  std::size_t powered_answers = 0;
  for (int i = 0; i < 2000; ++i) {
    // Keep the card powered part of the time so APDUs reach it.
    if (i % 50 == 0) reader.handle_message(command(Command::icc_power_on, 0));
    const Bytes message = random_message(rng);
    CAPTURE(i);
    CAPTURE(to_hex(message));
    const Bytes answer = reader.handle_message(message);
    REQUIRE(answer.size() >= kHeaderSize);
    REQUIRE(length_of(answer) == answer.size() - kHeaderSize);
    REQUIRE(answer.size() <= reader.config().max_message_length);
    const std::uint8_t expected_type = response_type_for(message.empty() ? 0 : message[0]);
    REQUIRE(type_of(answer) == expected_type);
    if (message.size() > 6) {
      REQUIRE(slot_of(answer) == message[5]);
      REQUIRE(seq_of(answer) == message[6]);
    }
    // bmCommandStatus 3 is RFU (CCID 6.2.6); bmICCStatus 3 too.
    REQUIRE((status_of(answer) >> 6) != 3);
    REQUIRE((status_of(answer) & 0x03) != 3);
    if ((status_of(answer) & 0x03) == 0) ++powered_answers;
  }
  CHECK(powered_answers > 0);
  // The reader still serves a well-behaved host afterwards.
  const auto atr = reader.handle_message(command(Command::icc_power_on, 1));
  CHECK(status_of(atr) == kActiveOk);
  CHECK(data_of(atr) == *cards::builtin_atr("t1-fs"));
}

TEST_CASE("random bytes through the bulk endpoints never lose the host an answer") {
  std::mt19937 rng(7);
  Reader reader;
  reader.insert(cards::make_builtin_card("t0-t1"));
  for (int i = 0; i < 200; ++i) {
    const Bytes message = random_message(rng);
    CAPTURE(to_hex(message));
    REQUIRE(reader.transfer_out(kBulkOut, message) == usb::TransferStatus::ok);
    Bytes answer;
    while (auto in = reader.transfer_in(kBulkIn, 64)) {
      answer.insert(answer.end(), in->data.begin(), in->data.end());
      if (in->data.size() < 64) break;
    }
    REQUIRE(answer.size() >= kHeaderSize);
    REQUIRE(length_of(answer) == answer.size() - kHeaderSize);
  }
}

}  // namespace readerlab::ccid
