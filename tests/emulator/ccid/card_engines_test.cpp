// The reader driving the card engines: PPS, T=0 TPDUs, T=1 blocks, time extensions.
#include "ccid_support.h"

#include "cards/pps/pps.h"
#include "cards/profiles.h"
#include "cards/t1/block.h"
#include "emulator/ccid/reader.h"

#include <doctest/doctest.h>

using namespace readerlab;
using namespace readerlab::ccid;
using namespace readerlab::ccid::test;

namespace {

Reader reader_at(ExchangeLevel level, const char* profile) {
  ReaderConfig config;
  config.set_exchange_level(level);
  Reader reader(config);
  reader.insert(cards::make_builtin_card(profile));
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1))) == kActiveOk);
  return reader;
}

}  // namespace

TEST_CASE("at APDU level the reader negotiates a card's TA1 by PPS itself") {
  Reader reader = reader_at(ExchangeLevel::short_apdu, "t0-t1");
  CHECK(reader.pps_exchanges() == 1);
  CHECK(reader.protocol_data().at(0) == 0x96);
  const Bytes parameters = reader.handle_message(command(Command::get_parameters, 2));
  CHECK(data_of(parameters).at(0) == 0x96);
}

TEST_CASE("at APDU level the reader offers no rate above its dwMaxDataRate or outside its list") {
  // The ACR38U's descriptor: 4 MHz, dwMaxDataRate 129032 bps. The card's TA1 96 (Fi 512, Di 32)
  // is 250000 bps there; Di 16 (125000 bps) is the fastest the reader can clock.
  ReaderConfig config;
  config.set_exchange_level(ExchangeLevel::short_apdu);
  config.default_clock_khz = 4000;
  config.maximum_clock_khz = 4000;
  config.max_data_rate_bps = 129032;
  // The t0-t1 card (TA1 96) powered on in a reader of this config: the reader's own PPS, if any.
  const auto powered = [](const ReaderConfig& reader_config) {
    Reader reader(reader_config);
    reader.insert(cards::make_builtin_card("t0-t1"));
    REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1))) == kActiveOk);
    return reader;
  };
  {
    Reader reader = powered(config);
    CHECK(reader.pps_exchanges() == 1);
    CHECK(reader.protocol_data().at(0) == 0x95);
  }
  // A listed rate set without 125000 bps: 62500 (Di 8) is the fastest listed one.
  config.data_rates_bps = {10752, 62500, 250000};
  config.max_data_rate_bps.reset();
  {
    Reader reader = powered(config);
    CHECK(reader.protocol_data().at(0) == 0x96);  // 250000 is listed and the maximum
  }
  config.data_rates_bps = {10752, 62500};
  {
    Reader reader = powered(config);
    CHECK(reader.protocol_data().at(0) == 0x94);
  }
  // Nothing above Fd/Dd's 10752 bps fits: no PPS, the card stays at Fd and Dd.
  config.data_rates_bps = {10752};
  {
    Reader reader = powered(config);
    CHECK(reader.pps_exchanges() == 0);
    CHECK(reader.protocol_data().at(0) == 0x11);  // Fd and Dd in force, not the ATR's TA1
  }
  // bNumDataRatesSupported 0 (the Ezio Shield's dump, which lists 10753 alone): every rate up to
  // dwMaxDataRate, so 250000 bps is offered.
  config.data_rate_count = 0;
  config.max_data_rate_bps = 344086;
  {
    Reader reader = powered(config);
    CHECK(reader.pps_exchanges() == 1);
    CHECK(reader.protocol_data().at(0) == 0x96);
  }
}

TEST_CASE("at TPDU level the host's PPS reaches the card and its answer comes back") {
  Reader reader = reader_at(ExchangeLevel::tpdu, "t0-t1");
  CHECK(reader.pps_exchanges() == 0);
  CHECK(reader.protocol_data().at(0) == 0x96);  // the ATR's TA1 until a PPS says otherwise
  cards::Pps request;
  request.protocol = 1;
  request.pps1 = 0x96;
  const Bytes pps = cards::build_pps(request);
  const Bytes answer = reader.handle_message(command(Command::xfr_block, 2, pps));
  CHECK(status_of(answer) == kActiveOk);
  CHECK(data_of(answer) == pps);  // accepted: echoed
  CHECK(reader.protocol() == 1);
  // Only the first exchange after the ATR may be a PPS: a second one reaches the card's T=1
  // side as a (bad) block, and the card does not echo it.
  const Bytes again = reader.handle_message(command(Command::xfr_block, 3, pps));
  CHECK(data_of(again) != pps);
  CHECK(reader.pps_exchanges() == 1);
}

TEST_CASE("at TPDU level a T=0 case 4 APDU is sent as its TPDU and the card answers 61xx") {
  Reader reader = reader_at(ExchangeLevel::tpdu, "t0-basic");
  const Bytes answer = reader.handle_message(command(Command::xfr_block, 2, hex("80 10 00 00 02 CA FE 00")));
  REQUIRE(status_of(answer) == kActiveOk);
  CHECK(data_of(answer) == hex("61 02"));
  const Bytes rest = reader.handle_message(command(Command::xfr_block, 3, hex("00 C0 00 00 02")));
  CHECK(data_of(rest) == hex("CA FE 90 00"));
}

TEST_CASE("at APDU level the reader runs GET RESPONSE for a T=0 card") {
  Reader reader = reader_at(ExchangeLevel::short_apdu, "t0-basic");
  const Bytes answer = reader.handle_message(command(Command::xfr_block, 2, hex("80 10 00 00 02 CA FE 00")));
  CHECK(data_of(answer) == hex("CA FE 90 00"));
}

TEST_CASE("at TPDU level T=1 blocks go to the card's T=1 side") {
  Reader reader = reader_at(ExchangeLevel::tpdu, "t1-fs");
  const Bytes block = cards::t1::make_i_block(0, 0, false, hex("00 84 00 00 08"), cards::t1::EdcKind::lrc);
  const Bytes answer = reader.handle_message(command(Command::xfr_block, 2, block));
  REQUIRE(status_of(answer) == kActiveOk);
  const auto parsed = cards::t1::parse_block(data_of(answer), cards::t1::EdcKind::lrc);
  REQUIRE(parsed.block);
  CHECK(parsed.block->inf.size() == 10);  // 8 random bytes and 90 00
}

TEST_CASE("a slow T=1 card's WTX requests become CCID time-extension messages before the answer") {
  Reader reader(ReaderConfig{});
  reader.insert(cards::make_builtin_card("slow"));
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1))) == kActiveOk);
  // The slow card offers T=0 first; select T=1 as a host would by SetParameters.
  const Bytes set = reader.handle_message(command(Command::set_parameters, 2, hex("11 10 00 15 00 20 00"), 0, 1));
  REQUIRE(status_of(set) == kActiveOk);
  REQUIRE(reader.protocol() == 1);
  REQUIRE(reader.transfer_out(kBulkOut, command(Command::xfr_block, 3, hex("80 10 00 00 02 AB CD 00"))) ==
          usb::TransferStatus::ok);
  const auto first = reader.transfer_in(kBulkIn, 65536);
  REQUIRE(first);
  CHECK(status_of(first->data) == 0x80);  // bmCommandStatus 2: time extension, ICC active
  CHECK(error_of(first->data) == 10);     // the card's WTX multiplier
  CHECK(seq_of(first->data) == 3);
  std::optional<usb::Device::InResult> last = first;
  while (auto next = reader.transfer_in(kBulkIn, 65536)) last = next;
  CHECK(status_of(last->data) == kActiveOk);
  CHECK(data_of(last->data) == hex("AB CD 90 00"));
  CHECK(reader.time_extensions_sent() >= 1);
}

TEST_CASE("a card with a wrong TCK is refused at power on with BAD_ATR_TCK") {
  Reader reader;
  reader.insert(cards::make_builtin_card("bad-atr"));
  const Bytes answer = reader.handle_message(command(Command::icc_power_on, 1));
  CHECK(status_of(answer) == kInactiveFailed);
  CHECK(error_of(answer) == error::bad_atr_tck);
}

TEST_CASE("faults a card script asks for while answering hit its next exchange") {
  Reader reader(ReaderConfig{});
  reader.insert(cards::make_builtin_card("hostile"));
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1))) == kActiveOk);
  const Bytes set = reader.handle_message(command(Command::set_parameters, 2, hex("11 10 00 45 00 FE 00"), 0, 1));
  REQUIRE(status_of(set) == kActiveOk);
  REQUIRE(reader.protocol() == 1);
  const Bytes arm = reader.handle_message(command(Command::xfr_block, 3, hex("80 F5 00 00 00")));
  CHECK(data_of(arm) == hex("90 00"));
  const Bytes dropped = reader.handle_message(command(Command::xfr_block, 4, hex("00 A4 00 0C 02 3F 00")));
  CHECK(status_of(dropped) == kInactiveFailed);
  CHECK(error_of(dropped) == error::hw_error);
}

TEST_CASE("a T=0 card that drops off in the middle of an exchange is reported deactivated") {
  Reader reader(ReaderConfig{});
  reader.insert(cards::make_builtin_card("hostile"));
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1))) == kActiveOk);
  REQUIRE(reader.protocol() == 0);
  CHECK(data_of(reader.handle_message(command(Command::xfr_block, 2, hex("80 F5 00 00 00")))) == hex("90 00"));
  const Bytes dropped = reader.handle_message(command(Command::xfr_block, 3, hex("00 A4 00 0C 02 3F 00")));
  CHECK(status_of(dropped) == kInactiveFailed);
  CHECK(error_of(dropped) == error::hw_error);
  // A mute T=0 exchange armed the same way answers ICC_MUTE and the card then answers again.
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 4))) == kActiveOk);
  CHECK(data_of(reader.handle_message(command(Command::xfr_block, 5, hex("80 F0 01 00 00")))) == hex("90 00"));
  const Bytes mute = reader.handle_message(command(Command::xfr_block, 6, hex("00 A4 00 0C 02 3F 00")));
  CHECK(error_of(mute) == error::icc_mute);
  CHECK(data_of(reader.handle_message(command(Command::xfr_block, 7, hex("00 A4 00 0C 02 3F 00")))) == hex("90 00"));
}

TEST_CASE("a card pulled out while its answer is held: the reader answers at once that the slot is empty") {
  ReaderConfig config;
  config.card_timing = true;
  Reader reader(config);
  reader.insert(cards::make_builtin_card("slow"));
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1))) == kActiveOk);
  reader.set_configuration(1);
  REQUIRE(reader.transfer_out(0x01, command(Command::xfr_block, 7, hex("80 10 00 00 02 A1 A2 00"))) ==
          usb::TransferStatus::ok);
  // Time extensions flow at once; the answer itself waits for the card's 1.5 s.
  while (reader.transfer_in(0x82, 512)) {
  }
  REQUIRE(reader.in_ready_at(0x82).has_value());

  REQUIRE(reader.remove() != nullptr);
  CHECK_FALSE(reader.in_ready_at(0x82).has_value());
  const auto answer = reader.transfer_in(0x82, 512);
  REQUIRE(answer.has_value());
  CHECK(type_of(answer->data) == type(Response::data_block));
  CHECK(seq_of(answer->data) == 7);
  CHECK(status_of(answer->data) == kAbsentFailed);
  CHECK(error_of(answer->data) == error::icc_mute);
  CHECK(length_of(answer->data) == 0);
}

TEST_CASE("a removal with no answer held leaves the answers already queued alone") {
  Reader reader = reader_at(ExchangeLevel::short_apdu, "t1-fs");
  reader.set_configuration(1);
  REQUIRE(reader.transfer_out(0x01, command(Command::get_slot_status, 3)) == usb::TransferStatus::ok);
  REQUIRE(reader.remove() != nullptr);
  const auto answer = reader.transfer_in(0x82, 512);
  REQUIRE(answer.has_value());
  CHECK(status_of(answer->data) == kActiveOk);  // answered before the card left
}
