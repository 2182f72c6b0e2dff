// The CCID reader as a host driver sees it: commands answered through handle_message and
// through the bulk endpoints, slot changes on the interrupt endpoint (CCID rev 1.1).
#include "emulator/ccid/reader.h"
#include "cards/profiles.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

namespace readerlab::ccid {
namespace {

using namespace test;

std::unique_ptr<Reader> reader_with(std::string_view card_name) {
  auto reader = std::make_unique<Reader>();
  if (!card_name.empty()) {
    auto card = cards::make_builtin_card(card_name);
    REQUIRE(card != nullptr);
    reader->insert(std::move(card));
  }
  return reader;
}

Bytes power_on(Reader& reader, std::uint8_t seq = 1) {
  return reader.handle_message(command(Command::icc_power_on, seq));
}

Bytes read_all_bulk_in(Reader& reader, std::size_t piece) {
  Bytes all;
  while (auto in = reader.transfer_in(kBulkIn, piece)) {
    REQUIRE(in->status == usb::TransferStatus::ok);
    REQUIRE(in->data.size() <= piece);
    all.insert(all.end(), in->data.begin(), in->data.end());
    if (in->data.size() < piece) break;  // a short packet ends the transfer
  }
  return all;
}

}  // namespace

TEST_CASE("IccPowerOn with no card fails with ICC absent and ICC_MUTE") {
  auto reader = reader_with("");
  const auto answer = power_on(*reader, 0x21);
  CHECK(type_of(answer) == type(Response::data_block));
  CHECK(length_of(answer) == 0);
  CHECK(seq_of(answer) == 0x21);
  CHECK(status_of(answer) == kAbsentFailed);
  CHECK(error_of(answer) == error::icc_mute);
}

TEST_CASE("IccPowerOn with a card answers a DataBlock holding the card's exact ATR") {
  for (const char* name : {"t1-fs", "t0-basic", "t0-t1"}) {
    CAPTURE(std::string(name));
    auto reader = reader_with(name);
    const auto answer = power_on(*reader, 0x05);
    CHECK(type_of(answer) == type(Response::data_block));
    CHECK(seq_of(answer) == 0x05);
    CHECK(status_of(answer) == kActiveOk);
    CHECK(error_of(answer) == 0);
    CHECK(length_of(answer) == answer.size() - kHeaderSize);
    CHECK(data_of(answer) == *cards::builtin_atr(name));
    CHECK(reader->card_powered());
  }
}

TEST_CASE("IccPowerOn with a mute card fails with ICC inactive and ICC_MUTE") {
  auto reader = reader_with("mute");
  const auto answer = power_on(*reader, 3);
  CHECK(type_of(answer) == type(Response::data_block));
  CHECK(status_of(answer) == kInactiveFailed);
  CHECK(error_of(answer) == error::icc_mute);
  CHECK(length_of(answer) == 0);
  CHECK_FALSE(reader->card_powered());
}

TEST_CASE("IccPowerOn with a bad bPowerSelect or data is refused naming the field") {
  auto reader = reader_with("t1-fs");
  const auto bad_voltage = reader->handle_message(command(Command::icc_power_on, 1, {}, 0, 0x04));
  CHECK(status_of(bad_voltage) == kInactiveFailed);
  CHECK(error_of(bad_voltage) == error::offset_byte7);
  const auto with_data = reader->handle_message(command(Command::icc_power_on, 2, hex("00")));
  CHECK(error_of(with_data) == error::offset_length);
  CHECK_FALSE(reader->card_powered());
}

TEST_CASE("IccPowerOff deactivates the card and answers SlotStatus inactive") {
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  const auto answer = reader->handle_message(command(Command::icc_power_off, 9));
  CHECK(answer.size() == kHeaderSize);
  CHECK(type_of(answer) == type(Response::slot_status));
  CHECK(seq_of(answer) == 9);
  CHECK(status_of(answer) == kInactiveOk);
  CHECK_FALSE(reader->card_powered());
  // With the card off, an APDU gets no answer from it.
  const auto xfr = reader->handle_message(command(Command::xfr_block, 10, select_readerlab_application()));
  CHECK(status_of(xfr) == kInactiveFailed);
  CHECK(error_of(xfr) == error::icc_mute);
}

TEST_CASE("GetSlotStatus reports absent, inactive and active") {
  auto reader = reader_with("");
  auto status = [&](std::uint8_t seq) {
    const auto answer = reader->handle_message(command(Command::get_slot_status, seq));
    CHECK(type_of(answer) == type(Response::slot_status));
    CHECK(length_of(answer) == 0);
    CHECK(seq_of(answer) == seq);
    return status_of(answer) & 0x03;  // bmICCStatus
  };
  CHECK(status(1) == static_cast<std::uint8_t>(IccStatus::absent));
  reader->insert(cards::make_builtin_card("t1-fs"));
  CHECK(status(2) == static_cast<std::uint8_t>(IccStatus::inactive));
  power_on(*reader);
  CHECK(status(3) == static_cast<std::uint8_t>(IccStatus::active));
  reader->remove();
  CHECK(status(4) == static_cast<std::uint8_t>(IccStatus::absent));
}

TEST_CASE("XfrBlock SELECT of the readerlab application on t1-fs returns its FCI and 9000") {
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  const auto answer = reader->handle_message(command(Command::xfr_block, 0x42, select_readerlab_application()));
  CHECK(type_of(answer) == type(Response::data_block));
  CHECK(seq_of(answer) == 0x42);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(error_of(answer) == 0);
  CHECK(length_of(answer) == answer.size() - kHeaderSize);
  const Bytes response = data_of(answer);
  REQUIRE(response.size() > 2);
  CHECK(response.front() == 0x6F);  // FCI template, ISO 7816-4 5.3.3
  CHECK(response[response.size() - 2] == 0x90);
  CHECK(response.back() == 0x00);
  const Bytes aid = hex("F0 72 65 61 64 65 72 6C 61 62 01");
  CHECK(std::search(response.begin(), response.end(), aid.begin(), aid.end()) != response.end());
}

TEST_CASE("XfrBlock without a card or before power on fails with ICC_MUTE") {
  auto empty = reader_with("");
  const auto no_card = empty->handle_message(command(Command::xfr_block, 1, select_readerlab_application()));
  CHECK(type_of(no_card) == type(Response::data_block));
  CHECK(status_of(no_card) == kAbsentFailed);
  CHECK(error_of(no_card) == error::icc_mute);

  auto unpowered = reader_with("t1-fs");
  const auto off = unpowered->handle_message(command(Command::xfr_block, 2, select_readerlab_application()));
  CHECK(status_of(off) == kInactiveFailed);
  CHECK(error_of(off) == error::icc_mute);
  CHECK(length_of(off) == 0);
}

TEST_CASE("XfrBlock with a wLevelParameter at short APDU level is refused at byte 8") {
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  const auto answer =
      reader->handle_message(command(Command::xfr_block, 1, select_readerlab_application(), 0, 0, 0x01));
  CHECK(status_of(answer) == kActiveFailed);
  CHECK(error_of(answer) == error::offset_byte8);
}

TEST_CASE("GetParameters after power on of a T=1 card: protocol 1, IFSC FE, TA1 13") {
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  const auto answer = reader->handle_message(command(Command::get_parameters, 7));
  CHECK(type_of(answer) == type(Response::parameters));
  CHECK(seq_of(answer) == 7);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(byte9_of(answer) == 1);  // bProtocolNum
  REQUIRE(length_of(answer) == 7);
  // CCID 6.1.7 abProtocolDataStructure for T=1: bmFindexDindex, bmTCCKST1 (LRC, direct),
  // bGuardTimeT1, bmWaitingIntegersT1 (TB3), bClockStop, bIFSC (TA3), bNadValue.
  CHECK(to_hex(data_of(answer)) == "13 10 00 45 00 FE 00");
}

TEST_CASE("GetParameters after power on of a T=0 card: protocol 0, five bytes") {
  auto reader = reader_with("t0-basic");
  power_on(*reader);
  const auto answer = reader->handle_message(command(Command::get_parameters, 8));
  CHECK(status_of(answer) == kActiveOk);
  CHECK(byte9_of(answer) == 0);
  REQUIRE(length_of(answer) == 5);
  // Defaults of ISO 7816-3: Fi 372 Di 1 (11), direct convention, N = 0, WI = 10.
  CHECK(to_hex(data_of(answer)) == "11 00 00 0A 00");
}

TEST_CASE("GetParameters with no card fails with ICC_MUTE") {
  auto reader = reader_with("");
  const auto answer = reader->handle_message(command(Command::get_parameters, 8));
  CHECK(type_of(answer) == type(Response::parameters));
  CHECK(status_of(answer) == kAbsentFailed);
  CHECK(error_of(answer) == error::icc_mute);
}

TEST_CASE("SetParameters: accepted, wrong protocol number, wrong length, then ResetParameters") {
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  const Bytes ifsc_32 = hex("13 10 00 45 00 20 00");

  const auto set = reader->handle_message(command(Command::set_parameters, 1, ifsc_32, 0, 1));
  CHECK(type_of(set) == type(Response::parameters));
  CHECK(status_of(set) == kActiveOk);
  CHECK(byte9_of(set) == 1);
  CHECK(data_of(set) == ifsc_32);
  CHECK(data_of(reader->handle_message(command(Command::get_parameters, 2))) == ifsc_32);

  const auto t2 = reader->handle_message(command(Command::set_parameters, 3, ifsc_32, 0, 2));
  CHECK(status_of(t2) == kActiveFailed);
  CHECK(error_of(t2) == error::offset_byte7);

  // T=0 parameters for a card whose ATR offers only T=1.
  const auto t0 = reader->handle_message(command(Command::set_parameters, 4, hex("11 00 00 0A 00"), 0, 0));
  CHECK(status_of(t0) == kActiveFailed);
  CHECK(error_of(t0) == error::offset_byte7);

  const auto short_t1 = reader->handle_message(command(Command::set_parameters, 5, hex("11 00 00 0A 00"), 0, 1));
  CHECK(status_of(short_t1) == kActiveFailed);
  CHECK(error_of(short_t1) == error::offset_length);
  // Failed attempts leave the parameters as they were.
  CHECK(data_of(reader->handle_message(command(Command::get_parameters, 6))) == ifsc_32);

  const auto reset = reader->handle_message(command(Command::reset_parameters, 7));
  CHECK(type_of(reset) == type(Response::parameters));
  CHECK(status_of(reset) == kActiveOk);
  CHECK(to_hex(data_of(reset)) == "13 10 00 45 00 FE 00");
}

TEST_CASE("SetParameters switches a T=0/T=1 card to T=1") {
  auto reader = reader_with("t0-t1");
  power_on(*reader);
  CHECK(byte9_of(reader->handle_message(command(Command::get_parameters, 1))) == 0);
  const auto set = reader->handle_message(command(Command::set_parameters, 2, hex("11 10 00 45 00 80 00"), 0, 1));
  CHECK(status_of(set) == kActiveOk);
  CHECK(byte9_of(set) == 1);
  const auto select = reader->handle_message(command(Command::xfr_block, 3, select_readerlab_application()));
  CHECK(status_of(select) == kActiveOk);
  const auto response = data_of(select);
  REQUIRE(response.size() >= 2);
  CHECK(response[response.size() - 2] == 0x90);
}

TEST_CASE("Escape answers RDR_to_PC_Escape failed with CMD_NOT_SUPPORTED") {
  auto reader = reader_with("t1-fs");
  const auto answer = reader->handle_message(command(Command::escape, 0x44, hex("01 02 03")));
  CHECK(type_of(answer) == 0x83);
  CHECK(seq_of(answer) == 0x44);
  CHECK(status_of(answer) == kInactiveFailed);
  CHECK(error_of(answer) == error::cmd_not_supported);
  CHECK(length_of(answer) == 0);
}

TEST_CASE("Abort answers SlotStatus ok") {
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  const auto answer = reader->handle_message(command(Command::abort, 0x10));
  CHECK(type_of(answer) == type(Response::slot_status));
  CHECK(seq_of(answer) == 0x10);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(reader->card_powered());
}

TEST_CASE("what a reader without PIN pad or motor lacks gets its own answer type with CMD_NOT_SUPPORTED") {
  struct Case {
    Command command;
    std::uint8_t answer_type;
    Bytes data;
    std::uint32_t answer_length;
    std::uint8_t b7 = 0;
  };
  const Case cases[] = {
      {Command::secure, 0x80, hex("00 00 00 00"), 0},  // bPINSupport 0
      {Command::mechanical, 0x81, {}, 0, 0x02},        // eject, dwMechanical 0
  };
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  std::uint8_t seq = 0x60;
  for (const auto& c : cases) {
    CAPTURE(std::string(command_name(static_cast<std::uint8_t>(c.command))));
    const auto answer = reader->handle_message(command(c.command, seq, c.data, 0, c.b7));
    CHECK(type_of(answer) == c.answer_type);
    CHECK(seq_of(answer) == seq);
    CHECK(status_of(answer) == kActiveFailed);
    CHECK(error_of(answer) == error::cmd_not_supported);
    CHECK(length_of(answer) == c.answer_length);
    CHECK(answer.size() == kHeaderSize + c.answer_length);
    ++seq;
  }
  CHECK(reader->card_powered());  // none of them disturbed the card
}

TEST_CASE("an unknown message type is answered with SlotStatus and CMD_NOT_SUPPORTED") {
  auto reader = reader_with("t1-fs");
  for (std::uint8_t unknown : Bytes{0x00, 0x64, 0x70, 0x80, 0xFF}) {
    CAPTURE(unsigned(unknown));
    const auto answer = reader->handle_message(command(unknown, 0x99));
    CHECK(type_of(answer) == 0x81);
    CHECK(seq_of(answer) == 0x99);
    CHECK(status_of(answer) == kInactiveFailed);
    CHECK(error_of(answer) == error::cmd_not_supported);
  }
}

TEST_CASE("a command to a slot the reader does not have fails at bSlot (offset 5)") {
  auto reader = reader_with("t1-fs");
  for (auto type_byte : {Command::icc_power_on, Command::get_slot_status, Command::get_parameters}) {
    const auto answer = reader->handle_message(command(type_byte, 0x31, {}, 1));
    CHECK(type_of(answer) == response_type_for(static_cast<std::uint8_t>(type_byte)));
    CHECK(slot_of(answer) == 1);
    CHECK(seq_of(answer) == 0x31);
    CHECK(status_of(answer) == kAbsentFailed);
    CHECK(error_of(answer) == error::offset_slot);
  }
  CHECK_FALSE(reader->card_powered());
}

TEST_CASE("a malformed length fails at dwLength (offset 1) and keeps bSeq") {
  auto reader = reader_with("t1-fs");
  SUBCASE("dwLength says more than was sent") {
    const auto answer = reader->handle_message(hex("6F 10000000 00 77 000000 00A4"));
    CHECK(type_of(answer) == type(Response::data_block));
    CHECK(seq_of(answer) == 0x77);
    CHECK(status_of(answer) == kInactiveFailed);
    CHECK(error_of(answer) == error::offset_length);
  }
  SUBCASE("shorter than a header") {
    const auto answer = reader->handle_message(hex("65 00000000 00 78"));
    CHECK(type_of(answer) == type(Response::slot_status));
    CHECK(seq_of(answer) == 0x78);
    CHECK(error_of(answer) == error::offset_length);
  }
  SUBCASE("longer than dwMaxCCIDMessageLength") {
    Bytes big = command(Command::xfr_block, 0x79, Bytes(300, 0x00));
    const auto answer = reader->handle_message(big);
    CHECK(type_of(answer) == type(Response::data_block));
    CHECK(seq_of(answer) == 0x79);
    CHECK(error_of(answer) == error::offset_length);
  }
}

TEST_CASE("bSeq is echoed in every answer") {
  auto reader = reader_with("t1-fs");
  const Command sequence[] = {
      Command::get_slot_status, Command::icc_power_on, Command::get_parameters, Command::reset_parameters,
      Command::xfr_block,       Command::escape,       Command::abort,          Command::icc_clock,
      Command::icc_power_off};
  for (unsigned seq = 0; seq < 256; ++seq) {
    const auto type_byte = sequence[seq % std::size(sequence)];
    Bytes data = type_byte == Command::xfr_block ? select_readerlab_application() : Bytes{};
    const auto answer = reader->handle_message(command(type_byte, static_cast<std::uint8_t>(seq), data));
    REQUIRE(answer.size() >= kHeaderSize);
    CHECK(seq_of(answer) == seq);
    CHECK(slot_of(answer) == 0);
  }
}

TEST_CASE("bulk OUT then bulk IN carries the answer; unknown endpoints stall") {
  auto reader = reader_with("t1-fs");
  std::vector<std::uint8_t> ready;
  reader->on_in_data_ready([&](std::uint8_t endpoint) { ready.push_back(endpoint); });
  CHECK_FALSE(reader->transfer_in(kBulkIn, 64).has_value());  // nothing yet: the request waits
  CHECK(reader->transfer_out(kBulkOut, command(Command::icc_power_on, 0x0A)) == usb::TransferStatus::ok);
  CHECK(ready == std::vector<std::uint8_t>{kBulkIn});
  const auto in = reader->transfer_in(kBulkIn, 271);
  REQUIRE(in.has_value());
  CHECK(in->status == usb::TransferStatus::ok);
  CHECK(seq_of(in->data) == 0x0A);
  CHECK(data_of(in->data) == *cards::builtin_atr("t1-fs"));
  CHECK_FALSE(reader->transfer_in(kBulkIn, 64).has_value());

  CHECK(reader->transfer_out(0x02, command(Command::get_slot_status, 1)) == usb::TransferStatus::stall);
  CHECK(reader->transfer_out(kBulkIn, command(Command::get_slot_status, 1)) == usb::TransferStatus::stall);
  const auto wrong = reader->transfer_in(0x84, 64);
  REQUIRE(wrong.has_value());
  CHECK(wrong->status == usb::TransferStatus::stall);
}

TEST_CASE("answers queue in order when the host sends several commands before reading") {
  auto reader = reader_with("t1-fs");
  for (std::uint8_t seq = 1; seq <= 3; ++seq) reader->transfer_out(kBulkOut, command(Command::get_slot_status, seq));
  for (std::uint8_t seq = 1; seq <= 3; ++seq) {
    const auto in = reader->transfer_in(kBulkIn, 64);
    REQUIRE(in.has_value());
    CHECK(seq_of(in->data) == seq);
  }
}

TEST_CASE("an answer longer than the host's transfer is read in pieces") {
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  // READ BINARY of the whole 256-byte counting EF by SFI 1: 256 data bytes and 9000.
  const Bytes apdu = hex("00 B0 81 00 00");
  const Bytes expected = reader->handle_message(command(Command::xfr_block, 0x50, apdu));
  REQUIRE(expected.size() == kHeaderSize + 258);
  REQUIRE(status_of(expected) == kActiveOk);

  reader->transfer_out(kBulkOut, command(Command::xfr_block, 0x50, apdu));
  const Bytes pieces = read_all_bulk_in(*reader, 64);
  CHECK(pieces.size() == expected.size());
  CHECK(pieces == expected);
  CHECK_FALSE(reader->transfer_in(kBulkIn, 64).has_value());
  for (std::size_t i = 0; i < 256; ++i) REQUIRE(pieces[kHeaderSize + i] == static_cast<std::uint8_t>(i));
}

TEST_CASE("card insertion and removal each raise NotifySlotChange on the interrupt endpoint") {
  auto reader = reader_with("");
  std::vector<std::uint8_t> ready;
  reader->on_in_data_ready([&](std::uint8_t endpoint) { ready.push_back(endpoint); });
  CHECK_FALSE(reader->transfer_in(kInterruptIn, 8).has_value());

  reader->insert(cards::make_builtin_card("t1-fs"));
  CHECK(ready == std::vector<std::uint8_t>{kInterruptIn});
  CHECK(reader->notification_pending());
  auto inserted = reader->transfer_in(kInterruptIn, 8);
  REQUIRE(inserted.has_value());
  CHECK(inserted->data == hex("50 03"));
  CHECK_FALSE(reader->notification_pending());
  CHECK_FALSE(reader->transfer_in(kInterruptIn, 8).has_value());

  CHECK(reader->remove() != nullptr);
  auto removed = reader->transfer_in(kInterruptIn, 8);
  REQUIRE(removed.has_value());
  CHECK(removed->data == hex("50 02"));
  CHECK(reader->remove() == nullptr);  // nothing left to remove, nothing to report
  CHECK_FALSE(reader->transfer_in(kInterruptIn, 8).has_value());
}

TEST_CASE("slot changes the host has not read yet coalesce into one notification") {
  auto reader = reader_with("");
  reader->insert(cards::make_builtin_card("t1-fs"));
  reader->remove();
  auto first = reader->transfer_in(kInterruptIn, 8);
  REQUIRE(first.has_value());
  CHECK(first->data == hex("50 02"));  // absent now, and changed since the last report
  CHECK_FALSE(reader->transfer_in(kInterruptIn, 8).has_value());

  reader->insert(cards::make_builtin_card("t1-fs"));
  reader->remove();
  reader->insert(cards::make_builtin_card("t0-basic"));
  // The removal stays a message of its own: merged into "present, changed" the host could keep
  // the card it knew (CCID 6.3.1; more_commands_test.cpp has the swap).
  auto second = reader->transfer_in(kInterruptIn, 8);
  REQUIRE(second.has_value());
  CHECK(second->data == hex("50 02"));
  auto third = reader->transfer_in(kInterruptIn, 8);
  REQUIRE(third.has_value());
  CHECK(third->data == hex("50 03"));
  CHECK_FALSE(reader->transfer_in(kInterruptIn, 8).has_value());
}

TEST_CASE("removing the card of a powered slot makes the next APDU fail and GetSlotStatus say absent") {
  auto reader = reader_with("t1-fs");
  power_on(*reader);
  reader->remove();
  CHECK_FALSE(reader->card_powered());
  const auto xfr = reader->handle_message(command(Command::xfr_block, 1, select_readerlab_application()));
  CHECK(status_of(xfr) == kAbsentFailed);
  CHECK(error_of(xfr) == error::icc_mute);
}

TEST_CASE("bus reset powers the card off, drops queued answers and reports the card present") {
  auto reader = reader_with("t1-fs");
  reader->set_configuration(1);
  reader->transfer_in(kInterruptIn, 8);  // the host read the insertion
  power_on(*reader);
  reader->transfer_out(kBulkOut, command(Command::get_slot_status, 1));
  reader->bus_reset();
  CHECK(reader->configuration() == 0);
  CHECK_FALSE(reader->card_powered());
  CHECK(reader->card_present());
  CHECK_FALSE(reader->transfer_in(kBulkIn, 64).has_value());
  auto notification = reader->transfer_in(kInterruptIn, 8);
  REQUIRE(notification.has_value());
  CHECK(notification->data == hex("50 03"));
  // The card comes back with a cold reset.
  CHECK(data_of(power_on(*reader)) == *cards::builtin_atr("t1-fs"));
}

TEST_CASE("a two-slot reader keeps its slots apart and reports both in one notification") {
  ReaderConfig config;
  config.slot_count = 2;
  Reader reader(config);
  CHECK(reader.class_descriptor()[4] == 1);  // bMaxSlotIndex
  reader.insert(cards::make_builtin_card("t1-fs"), 1);
  auto notification = reader.transfer_in(kInterruptIn, 8);
  REQUIRE(notification.has_value());
  CHECK(notification->data == hex("50 0C"));
  const auto slot0 = reader.handle_message(command(Command::icc_power_on, 1, {}, 0));
  CHECK(status_of(slot0) == kAbsentFailed);
  const auto slot1 = reader.handle_message(command(Command::icc_power_on, 2, {}, 1));
  CHECK(slot_of(slot1) == 1);
  CHECK(status_of(slot1) == kActiveOk);
  CHECK(data_of(slot1) == *cards::builtin_atr("t1-fs"));
}

TEST_CASE("trace sees every command and answer") {
  auto reader = reader_with("t1-fs");
  std::vector<TraceEvent> events;
  reader->on_trace([&](const TraceEvent& e) { events.push_back(e); });
  const Bytes cmd = command(Command::get_slot_status, 5);
  const Bytes answer = reader->handle_message(cmd);
  REQUIRE(events.size() == 2);
  CHECK(events[0].to_reader);
  CHECK(events[0].bytes == cmd);
  CHECK_FALSE(events[1].to_reader);
  CHECK(events[1].bytes == answer);
  CHECK(reader->commands_handled() == 1);
}

}  // namespace readerlab::ccid
