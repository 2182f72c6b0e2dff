// The reader's exchange levels (CCID 5.1 dwFeatures) and chaining at extended APDU level
// (CCID 6.1.4 wLevelParameter, 6.2.1 bChainParameter).
#include "ccid_support.h"

#include "cards/profiles.h"
#include "emulator/ccid/reader.h"

#include <doctest/doctest.h>

using namespace readerlab;
using namespace readerlab::ccid;
using namespace readerlab::ccid::test;

namespace {

std::uint32_t features_in_descriptor(const Reader& reader) {
  const Bytes d = reader.class_descriptor();
  return static_cast<std::uint32_t>(d[40]) | static_cast<std::uint32_t>(d[41]) << 8 |
         static_cast<std::uint32_t>(d[42]) << 16 | static_cast<std::uint32_t>(d[43]) << 24;
}

std::uint32_t max_message_in_descriptor(const Reader& reader) {
  const Bytes d = reader.class_descriptor();
  return static_cast<std::uint32_t>(d[44]) | static_cast<std::uint32_t>(d[45]) << 8 |
         static_cast<std::uint32_t>(d[46]) << 16 | static_cast<std::uint32_t>(d[47]) << 24;
}

// An ECHO (CLA 80 INS 10) of n bytes in extended encoding with Le 0000.
Bytes extended_echo(std::size_t n) {
  Bytes apdu{0x80, 0x10, 0x00, 0x00, 0x00, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n & 0xFF)};
  for (std::size_t i = 0; i < n; ++i) apdu.push_back(static_cast<std::uint8_t>(i * 7));
  apdu.push_back(0x00);
  apdu.push_back(0x00);
  return apdu;
}

Reader powered_reader(ReaderConfig config) {
  Reader reader(std::move(config));
  reader.insert(cards::make_builtin_card("t1-fs"));
  const Bytes atr = reader.handle_message(command(Command::icc_power_on, 1));
  REQUIRE(status_of(atr) == kActiveOk);
  return reader;
}

}  // namespace

TEST_CASE("each exchange level sets its dwFeatures bits and a fitting dwMaxCCIDMessageLength") {
  for (auto level : {ExchangeLevel::tpdu, ExchangeLevel::short_apdu, ExchangeLevel::extended_apdu}) {
    CAPTURE(to_string(level));
    ReaderConfig config;
    config.set_exchange_level(level);
    Reader reader(config);
    CHECK(reader.config().exchange_level() == level);
    const auto bits = features_in_descriptor(reader) & feature::exchange_level_mask;
    CHECK(bits == (level == ExchangeLevel::tpdu         ? feature::tpdu_level
                   : level == ExchangeLevel::short_apdu ? feature::short_apdu_level
                                                        : feature::extended_apdu_level));
    CHECK(max_message_in_descriptor(reader) == config.max_message_length);
  }
}

TEST_CASE("reconfigure changes the descriptors and keeps the card in its slot") {
  Reader reader;
  reader.insert(cards::make_builtin_card("t1-fs"));
  ReaderConfig config = reader.config();
  config.set_exchange_level(ExchangeLevel::extended_apdu);
  config.product = "Other Model";
  reader.reconfigure(config);
  CHECK(reader.card_present());
  CHECK(reader.description().product == "Other Model");
  CHECK(reader.description().interfaces.size() == 1);
  CHECK((features_in_descriptor(reader) & feature::extended_apdu_level) != 0);
}

TEST_CASE("an extended APDU of 4 KB goes through in one XfrBlock and its answer comes back whole") {
  ReaderConfig config;
  config.set_exchange_level(ExchangeLevel::extended_apdu);
  Reader reader = powered_reader(config);
  const Bytes apdu = extended_echo(4096);
  const Bytes answer = reader.handle_message(command(Command::xfr_block, 2, apdu));
  REQUIRE(status_of(answer) == kActiveOk);
  CHECK(byte9_of(answer) == 0x00);
  const Bytes data = data_of(answer);
  REQUIRE(data.size() == 4098);
  CHECK(Bytes(data.begin(), data.end() - 2) == Bytes(apdu.begin() + 7, apdu.end() - 2));
  CHECK(data[4096] == 0x90);
  CHECK(data[4097] == 0x00);
}

TEST_CASE("a command chained over several XfrBlocks and a response chained back") {
  ReaderConfig config;
  config.set_exchange_level(ExchangeLevel::extended_apdu);
  config.max_message_length = 10 + 1000;  // forces chaining both ways for a 4 KB echo
  Reader reader = powered_reader(config);
  const Bytes apdu = extended_echo(4096);
  std::uint8_t seq = 2;
  std::size_t sent = 0;
  Bytes answer;
  while (sent < apdu.size()) {
    const std::size_t part = std::min<std::size_t>(1000, apdu.size() - sent);
    const bool first = sent == 0, last = sent + part == apdu.size();
    const std::uint8_t level = first ? 0x01 : (last ? 0x02 : 0x03);
    answer = reader.handle_message(command(Command::xfr_block, seq,
                                           Bytes(apdu.begin() + static_cast<std::ptrdiff_t>(sent),
                                                 apdu.begin() + static_cast<std::ptrdiff_t>(sent + part)),
                                           0, 0, level, 0));
    CHECK(seq_of(answer) == seq);
    ++seq;
    sent += part;
    if (!last) {
      CHECK(status_of(answer) == kActiveOk);
      CHECK(byte9_of(answer) == 0x10);  // more command data expected
      CHECK(data_of(answer).empty());
    }
  }
  Bytes response = data_of(answer);
  CHECK(byte9_of(answer) == 0x01);  // the response begins and continues
  std::uint8_t chain = byte9_of(answer);
  while (chain != 0x02) {
    answer = reader.handle_message(command(Command::xfr_block, seq++, {}, 0, 0, 0x10, 0));
    REQUIRE(status_of(answer) == kActiveOk);
    chain = byte9_of(answer);
    REQUIRE((chain == 0x03 || chain == 0x02));
    const Bytes part = data_of(answer);
    response.insert(response.end(), part.begin(), part.end());
  }
  REQUIRE(response.size() == 4098);
  CHECK(Bytes(response.begin(), response.end() - 2) == Bytes(apdu.begin() + 7, apdu.end() - 2));
}

TEST_CASE("a continuation request with no response pending, or an unknown wLevelParameter, fails with bError 8") {
  ReaderConfig config;
  config.set_exchange_level(ExchangeLevel::extended_apdu);
  Reader reader = powered_reader(config);
  const Bytes lonely = reader.handle_message(command(Command::xfr_block, 3, {}, 0, 0, 0x10, 0));
  CHECK(status_of(lonely) == kActiveFailed);
  CHECK(error_of(lonely) == error::offset_byte8);
  const Bytes unknown =
      reader.handle_message(command(Command::xfr_block, 4, {0x00, 0x84, 0x00, 0x00, 0x08}, 0, 0, 0x07, 0));
  CHECK(error_of(unknown) == error::offset_byte8);
}

TEST_CASE("at short APDU level a response that does not fit is an overrun, not a truncation") {
  Reader reader = powered_reader(ReaderConfig{});
  // READ BINARY of 256 bytes fits (266 <= 271); the short level cannot carry an extended APDU.
  const Bytes fits = reader.handle_message(command(Command::xfr_block, 2, {0x00, 0xB0, 0x81, 0x00, 0x00}));
  CHECK(status_of(fits) == kActiveOk);
  CHECK(data_of(fits).size() == 258);
  const Bytes too_long = reader.handle_message(command(Command::xfr_block, 3, extended_echo(300)));
  CHECK(status_of(too_long) == kActiveFailed);
  CHECK(error_of(too_long) == error::offset_length);
}
