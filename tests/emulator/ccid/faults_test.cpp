// Faults at the CCID message level as a host driver sees them through the USB device: a
// PC_to_RDR message on bulk OUT, what comes back on bulk IN and interrupt IN, and the firing
// the fault log keeps.
#include "ccid_support.h"

#include "cards/profiles.h"
#include "emulator/ccid/faults.h"
#include "emulator/ccid/reader.h"

#include <doctest/doctest.h>

#include <memory>
#include <thread>

using namespace readerlab;
using namespace readerlab::ccid;
using namespace readerlab::ccid::test;

namespace {

constexpr std::size_t kReadSize = 65536;
const ExchangeLevel kLevels[] = {ExchangeLevel::tpdu, ExchangeLevel::short_apdu, ExchangeLevel::extended_apdu};

// A host on the reader's endpoints, with a T=0 card powered in slot 0.
struct Host {
  Reader reader;
  std::shared_ptr<faults::FaultLog> log = std::make_shared<faults::FaultLog>();
  ExchangeLevel level;

  explicit Host(ExchangeLevel exchange_level = ExchangeLevel::short_apdu, ReaderConfig config = {})
      : reader(with_level(std::move(config), exchange_level)), level(exchange_level) {
    reader.set_fault_log(log);
    reader.set_configuration(1);
    reader.insert(cards::make_builtin_card("t0-basic"));
    REQUIRE(interrupt_in());  // the insertion
    REQUIRE(status_of(exchange(command(Command::icc_power_on, 0))) == kActiveOk);
  }

  static ReaderConfig with_level(ReaderConfig config, ExchangeLevel exchange_level) {
    config.set_exchange_level(exchange_level);
    return config;
  }

  void send(const Bytes& message) { REQUIRE(reader.transfer_out(kBulkOut, message) == usb::TransferStatus::ok); }

  std::optional<Bytes> bulk_in() {
    auto in = reader.transfer_in(kBulkIn, kReadSize);
    if (!in) return std::nullopt;
    REQUIRE(in->status == usb::TransferStatus::ok);
    return in->data;
  }

  std::optional<Bytes> interrupt_in() {
    auto in = reader.transfer_in(kInterruptIn, 8);
    if (!in) return std::nullopt;
    REQUIRE(in->status == usb::TransferStatus::ok);
    return in->data;
  }

  Bytes exchange(const Bytes& message) {
    send(message);
    auto answer = bulk_in();
    REQUIRE(answer);
    return *answer;
  }

  void arm(Fault fault, std::uint64_t seed = 7, std::size_t index = 0) { reader.arm_ccid_fault(fault, seed, index); }
};

// An ECHO case 4 APDU (CLA 80 INS 10): at TPDU level T=0 answers 61 02 and the host would ask
// GET RESPONSE; at APDU level the reader does and the echo comes back.
Bytes echo(std::uint8_t seq) { return command(Command::xfr_block, seq, hex("80 10 00 00 02 CA FE 00")); }

Bytes echo_answer(ExchangeLevel level) { return level == ExchangeLevel::tpdu ? hex("61 02") : hex("CA FE 90 00"); }

// A well-behaved transmit after a fault: the reader answers it as if nothing happened.
void check_next_transmit_works(Host& host, std::uint8_t seq) {
  const Bytes answer = host.exchange(echo(seq));
  CHECK(type_of(answer) == type(Response::data_block));
  CHECK(seq_of(answer) == seq);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(data_of(answer) == echo_answer(host.level));
  CHECK_FALSE(host.bulk_in());
}

Fault fault_of(FaultKind kind) {
  Fault fault;
  fault.kind = kind;
  return fault;
}

}  // namespace

TEST_CASE("every CCID fault kind has a name that reads back") {
  const FaultKind kinds[] = {FaultKind::wrong_seq,
                             FaultKind::wrong_slot,
                             FaultKind::length_short,
                             FaultKind::length_long,
                             FaultKind::unknown_type,
                             FaultKind::error,
                             FaultKind::duplicate,
                             FaultKind::no_response,
                             FaultKind::late,
                             FaultKind::time_extension_storm,
                             FaultKind::hardware_error,
                             FaultKind::spurious_slot_change,
                             FaultKind::missing_slot_change};
  for (auto kind : kinds) {
    CAPTURE(to_string(kind));
    CHECK(fault_kind_from_string(to_string(kind)) == kind);
  }
  CHECK(std::string(to_string(FaultKind::time_extension_storm)) == "time-extension-storm");
  CHECK(std::string(to_string(FaultKind::missing_slot_change)) == "missing-slot-change");
  CHECK_FALSE(fault_kind_from_string("wrong_seq"));
  CHECK_FALSE(fault_kind_from_string(""));
}

TEST_CASE("every slot error of CCID 6.2.6 Table 6.2-2 has its name and code") {
  const std::pair<const char*, std::uint8_t> table[] = {
      {"ICC_MUTE", 0xFE},
      {"XFR_PARITY_ERROR", 0xFD},
      {"XFR_OVERRUN", 0xFC},
      {"HW_ERROR", 0xFB},
      {"BAD_ATR_TS", 0xF8},
      {"BAD_ATR_TCK", 0xF7},
      {"ICC_PROTOCOL_NOT_SUPPORTED", 0xF6},
      {"ICC_CLASS_NOT_SUPPORTED", 0xF5},
      {"PROCEDURE_BYTE_CONFLICT", 0xF4},
      {"DEACTIVATED_PROTOCOL", 0xF3},
      {"BUSY_WITH_AUTO_SEQUENCE", 0xF2},
      {"PIN_TIMEOUT", 0xF0},
      {"PIN_CANCELLED", 0xEF},
      {"CMD_SLOT_BUSY", 0xE0},
      {"CMD_ABORTED", 0xFF},
      {"CMD_NOT_SUPPORTED", 0x00},
  };
  for (const auto& [name, code] : table) {
    CAPTURE(name);
    CHECK(slot_error_from_name(name) == code);
    CHECK(slot_error_name(code) == name);
  }
  CHECK(slot_error_from_name("icc_mute") == 0xFE);
  CHECK_FALSE(slot_error_from_name("ICC_SLEEPY"));
  CHECK(slot_error_name(0x05) == "bad field at offset 5");
  CHECK(slot_error_name(0xE5) == "0xE5");
}

TEST_CASE("wrong-seq: the answer's bSeq is one more than the command's, at every exchange level") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    host.arm(fault_of(FaultKind::wrong_seq));
    const Bytes answer = host.exchange(echo(7));
    CHECK(seq_of(answer) == 0x08);
    CHECK(data_of(answer) == echo_answer(level));
    REQUIRE(host.log->firings.size() == 1);
    CHECK(host.log->firings[0].detail == "bSeq 07 -> 08 on RDR_to_PC_DataBlock answering PC_to_RDR_XfrBlock");
    check_next_transmit_works(host, 8);
  }
}

TEST_CASE("wrong-slot: the answer names the next slot") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    host.arm(fault_of(FaultKind::wrong_slot));
    const Bytes answer = host.exchange(echo(3));
    CHECK(slot_of(answer) == 1);
    CHECK(seq_of(answer) == 3);
    REQUIRE(host.log->firings.size() == 1);
    CHECK(host.log->firings[0].detail == "bSlot 0 -> 1 on RDR_to_PC_DataBlock answering PC_to_RDR_XfrBlock");
    check_next_transmit_works(host, 4);
  }
}

TEST_CASE("wrong-slot with a slot: the answer names that one, a slot the reader may not have") {
  Host host(kLevels[0]);
  Fault fault = fault_of(FaultKind::wrong_slot);
  fault.slot = 200;
  host.arm(fault);
  const Bytes answer = host.exchange(echo(3));
  CHECK(slot_of(answer) == 200);
  REQUIRE(host.log->firings.size() == 1);
  CHECK(host.log->firings[0].detail == "bSlot 0 -> 200 on RDR_to_PC_DataBlock answering PC_to_RDR_XfrBlock");
}

TEST_CASE("length-short and length-long: dwLength one off the data that follows") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    host.arm(fault_of(FaultKind::length_short));
    const Bytes short_answer = host.exchange(echo(1));
    CHECK(data_of(short_answer) == echo_answer(level));
    CHECK(length_of(short_answer) == echo_answer(level).size() - 1);

    host.reader.clear_ccid_faults();
    host.arm(fault_of(FaultKind::length_long));
    const Bytes long_answer = host.exchange(echo(2));
    CHECK(data_of(long_answer) == echo_answer(level));
    CHECK(length_of(long_answer) == echo_answer(level).size() + 1);
    check_next_transmit_works(host, 3);
  }
}

TEST_CASE("length-short on an answer without data: dwLength 0 and one byte follows") {
  Host host;
  host.arm(fault_of(FaultKind::length_short));
  const Bytes answer = host.exchange(command(Command::get_slot_status, 5));
  CHECK(type_of(answer) == type(Response::slot_status));
  CHECK(length_of(answer) == 0);
  CHECK(answer.size() == kHeaderSize + 1);
  REQUIRE(host.log->firings.size() == 1);
  CHECK(host.log->firings[0].detail.find("dwLength 0 with 1 byte of data") == 0);
}

TEST_CASE("unknown-type: bMessageType 8F, a type CCID 6.2 does not define") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    host.arm(fault_of(FaultKind::unknown_type));
    const Bytes answer = host.exchange(echo(9));
    CHECK(type_of(answer) == 0x8F);
    CHECK(seq_of(answer) == 9);
    check_next_transmit_works(host, 10);
  }
}

TEST_CASE("error: each slot error fails the transmit with that bError and the card stays as it was") {
  const std::uint8_t codes[] = {error::icc_mute,
                                error::xfr_parity_error,
                                error::xfr_overrun,
                                error::hw_error,
                                error::bad_atr_ts,
                                error::bad_atr_tck,
                                error::icc_protocol_not_supported,
                                error::icc_class_not_supported,
                                error::procedure_byte_conflict,
                                error::deactivated_protocol,
                                error::busy_with_auto_sequence,
                                error::pin_timeout,
                                error::pin_cancelled,
                                error::cmd_slot_busy,
                                error::cmd_aborted,
                                error::cmd_not_supported};
  for (auto level : kLevels) {
    for (auto code : codes) {
      CAPTURE(to_string(level));
      CAPTURE(slot_error_name(code));
      Host host(level);
      Fault fault = fault_of(FaultKind::error);
      fault.error = code;
      host.arm(fault);
      const Bytes answer = host.exchange(echo(4));
      CHECK(type_of(answer) == type(Response::data_block));
      CHECK(status_of(answer) == kActiveFailed);
      CHECK(error_of(answer) == code);
      CHECK(data_of(answer).empty());
      CHECK(host.reader.card_powered());
      REQUIRE(host.log->firings.size() == 1);
      CHECK(host.log->firings[0].detail.find("bError " + slot_error_name(code)) != std::string::npos);
      check_next_transmit_works(host, 5);
    }
  }
}

TEST_CASE("error ICC_MUTE on IccPowerOn: no ATR and the card left unpowered") {
  Host host;
  Fault fault = fault_of(FaultKind::error);
  fault.error = error::icc_mute;
  fault.command = static_cast<std::uint8_t>(Command::icc_power_on);
  host.arm(fault);
  // Only IccPowerOn counts: the transmit in between goes through.
  check_next_transmit_works(host, 1);
  CHECK(host.log->firings.empty());
  const Bytes answer = host.exchange(command(Command::icc_power_on, 2));
  CHECK(status_of(answer) == kInactiveFailed);
  CHECK(error_of(answer) == error::icc_mute);
  CHECK(data_of(answer).empty());
  CHECK_FALSE(host.reader.card_powered());
  // The next power-on works.
  const Bytes again = host.exchange(command(Command::icc_power_on, 3));
  CHECK(status_of(again) == kActiveOk);
  CHECK_FALSE(data_of(again).empty());
}

TEST_CASE("duplicate: the same answer twice on bulk IN") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    host.arm(fault_of(FaultKind::duplicate));
    const Bytes first = host.exchange(echo(6));
    const auto second = host.bulk_in();
    REQUIRE(second);
    CHECK(*second == first);
    CHECK(seq_of(first) == 6);
    check_next_transmit_works(host, 7);
  }
}

TEST_CASE("no-response: the command is consumed, nothing comes back, and the next command is answered") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    host.arm(fault_of(FaultKind::no_response));
    host.send(echo(6));
    CHECK_FALSE(host.bulk_in());
    CHECK_FALSE(host.reader.in_ready_at(kBulkIn));
    REQUIRE(host.log->firings.size() == 1);
    CHECK(host.log->firings[0].detail.find("no RDR_to_PC_DataBlock answering PC_to_RDR_XfrBlock (bSeq 06)") == 0);
    // The reader keeps no bSeq of its own: the next command's bSeq is answered, whatever it is.
    check_next_transmit_works(host, 7);
  }
}

TEST_CASE("no-response seen in-process: handle_message gives an empty answer") {
  Host host;
  host.arm(fault_of(FaultKind::no_response));
  CHECK(host.reader.handle_message(echo(2)).empty());
  CHECK(seq_of(host.reader.handle_message(echo(3))) == 3);
}

TEST_CASE("late: the answer is held, the device says when, and then it comes") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    Fault fault = fault_of(FaultKind::late);
    fault.delay = std::chrono::milliseconds(30);
    host.arm(fault);
    host.send(echo(4));
    // Held: the device names the time it will have the answer (nothing is ready before it).
    const auto ready_at = host.reader.in_ready_at(kBulkIn);
    REQUIRE(ready_at);
    std::this_thread::sleep_until(*ready_at);
    const auto answer = host.bulk_in();
    REQUIRE(answer);
    CHECK(seq_of(*answer) == 4);
    CHECK(data_of(*answer) == echo_answer(level));
    CHECK_FALSE(host.reader.in_ready_at(kBulkIn));
    check_next_transmit_works(host, 5);
  }
}

TEST_CASE("late: a command sent while the late answer waits is answered after it, in order") {
  Host host;
  Fault fault = fault_of(FaultKind::late);
  fault.delay = std::chrono::milliseconds(20);
  host.arm(fault);
  host.send(echo(1));
  host.send(echo(2));  // a host that gave up waiting
  const auto ready_at = host.reader.in_ready_at(kBulkIn);
  REQUIRE(ready_at);
  std::this_thread::sleep_until(*ready_at);
  const auto first = host.bulk_in();
  const auto second = host.bulk_in();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(seq_of(*first) == 1);
  CHECK(seq_of(*second) == 2);
}

TEST_CASE("time-extension-storm: count time-extension messages, then the answer") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    Fault fault = fault_of(FaultKind::time_extension_storm);
    fault.count = 5;
    host.arm(fault);
    host.send(echo(8));
    for (int i = 0; i < 5; ++i) {
      const auto interim = host.bulk_in();
      REQUIRE(interim);
      CHECK(type_of(*interim) == type(Response::data_block));
      CHECK(seq_of(*interim) == 8);
      CHECK((status_of(*interim) >> 6) == 2);  // bmCommandStatus: time extension (CCID 6.2.6)
      CHECK(data_of(*interim).empty());
    }
    const auto answer = host.bulk_in();
    REQUIRE(answer);
    CHECK(status_of(*answer) == kActiveOk);
    CHECK(data_of(*answer) == echo_answer(level));
    CHECK(host.reader.time_extensions_sent() == 5);
    check_next_transmit_works(host, 9);
  }
}

TEST_CASE("time-extension-storm in-process: take_time_extensions hands the storm over") {
  Host host;
  Fault fault = fault_of(FaultKind::time_extension_storm);
  fault.count = 3;
  host.arm(fault);
  const Bytes answer = host.reader.handle_message(echo(2));
  CHECK(host.reader.take_time_extensions().size() == 3);
  CHECK(status_of(answer) == kActiveOk);
}

TEST_CASE("hardware-error: RDR_to_PC_HardwareError on interrupt IN, the card unpowered, the command failed") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Host host(level);
    host.arm(fault_of(FaultKind::hardware_error));
    const Bytes answer = host.exchange(echo(0x21));
    CHECK(status_of(answer) == kInactiveFailed);
    CHECK(error_of(answer) == error::hw_error);
    const auto interrupt = host.interrupt_in();
    REQUIRE(interrupt);
    CHECK(*interrupt == hex("51 00 21 01"));  // CCID 6.3.2: slot 0, bSeq, over-current
    CHECK_FALSE(host.reader.card_powered());
    CHECK(host.reader.card_present());
    // A transmit now finds the card unpowered; after a new power-on it works.
    const Bytes unpowered = host.exchange(echo(0x22));
    CHECK(status_of(unpowered) == kInactiveFailed);
    REQUIRE(status_of(host.exchange(command(Command::icc_power_on, 0x23))) == kActiveOk);
    check_next_transmit_works(host, 0x24);
  }
}

TEST_CASE("hardware-error and a slot change queued after it stay two interrupt messages") {
  Host host;
  host.arm(fault_of(FaultKind::hardware_error));
  host.exchange(echo(1));
  auto card = host.reader.remove();
  CHECK(host.interrupt_in() == hex("51 00 01 01"));
  CHECK(host.interrupt_in() == hex("50 02"));
}

TEST_CASE("spurious-slot-change: the changed bit with the present bit as it was") {
  Host host;
  host.arm(fault_of(FaultKind::spurious_slot_change));
  check_next_transmit_works(host, 1);
  CHECK(host.interrupt_in() == hex("50 03"));
  CHECK(host.reader.card_present());
  CHECK_FALSE(host.interrupt_in());
  REQUIRE(host.log->firings.size() == 1);
  CHECK(host.log->firings[0].detail ==
        "NotifySlotChange 03 (slot 0 changed, card present as before) after RDR_to_PC_DataBlock answering "
        "PC_to_RDR_XfrBlock");
}

TEST_CASE("missing-slot-change: the next slot change is not reported, the one after is") {
  Host host;
  host.arm(fault_of(FaultKind::missing_slot_change));
  auto card = host.reader.remove();
  CHECK_FALSE(host.interrupt_in());
  CHECK_FALSE(host.reader.card_present());
  host.reader.insert(std::move(card));
  CHECK(host.interrupt_in() == hex("50 03"));
  REQUIRE(host.log->firings.size() == 1);
  CHECK(host.log->firings[0].kind == "missing-slot-change");
  CHECK(host.log->firings[0].detail == "NotifySlotChange 02 not sent");
}

TEST_CASE("a trigger after N with times fires on the events it names") {
  Host host;
  Fault fault = fault_of(FaultKind::wrong_seq);
  fault.trigger.after = 2;
  fault.trigger.times = 2;
  host.arm(fault, 1, 3);
  std::vector<std::uint8_t> seqs;
  for (std::uint8_t seq = 10; seq < 16; ++seq) seqs.push_back(seq_of(host.exchange(echo(seq))));
  CHECK(seqs == std::vector<std::uint8_t>{10, 11, 13, 14, 14, 15});
  REQUIRE(host.log->firings.size() == 2);
  CHECK(host.log->firings[0].level == "ccid");
  CHECK(host.log->firings[0].kind == "wrong-seq");
  CHECK(host.log->firings[0].event == 3);
  CHECK(host.log->firings[1].event == 4);
  CHECK(host.log->firings[0].fault_index == 3);
  CHECK(host.log->firings[0].at_ms >= 0);
  CHECK(host.log->firings[1].at_ms >= host.log->firings[0].at_ms);
}

TEST_CASE("a probability trigger fires on the same events for the same seed") {
  auto schedule = [](std::uint64_t seed) {
    Host host;
    Fault fault = fault_of(FaultKind::wrong_seq);
    fault.trigger.times = 0;
    fault.trigger.probability = 0.5;
    host.arm(fault, seed);
    std::vector<std::uint64_t> events;
    for (std::uint8_t seq = 1; seq <= 40; ++seq) host.exchange(echo(seq));
    for (const auto& firing : host.log->firings) events.push_back(firing.event);
    return events;
  };
  const auto first = schedule(42);
  CHECK(first == schedule(42));
  CHECK(first.size() > 5);
  CHECK(first.size() < 35);
  CHECK(first != schedule(43));
}

TEST_CASE("clear_ccid_faults ends every armed fault") {
  Host host;
  Fault fault = fault_of(FaultKind::wrong_seq);
  fault.trigger.times = 0;  // no limit
  host.arm(fault);
  CHECK(seq_of(host.exchange(echo(1))) == 2);
  host.reader.clear_ccid_faults();
  check_next_transmit_works(host, 2);
  CHECK(host.log->firings.size() == 1);
}

TEST_CASE("faults armed together each fire on the same answer, in arming order") {
  Host host;
  host.arm(fault_of(FaultKind::wrong_seq), 1, 0);
  host.arm(fault_of(FaultKind::duplicate), 2, 1);
  const Bytes first = host.exchange(echo(4));
  CHECK(seq_of(first) == 5);
  CHECK(host.bulk_in() == first);
  REQUIRE(host.log->firings.size() == 2);
  CHECK(host.log->firings[0].fault_index == 0);
  CHECK(host.log->firings[1].fault_index == 1);
}

TEST_CASE("malformed descriptors: a wrong bLength and dwMaxIFSD 0 as configured") {
  ReaderConfig config;
  config.class_descriptor_length = 0x20;
  config.max_ifsd = 0;
  Reader reader(config);
  const Bytes descriptor = reader.class_descriptor();
  REQUIRE(descriptor.size() == 54);  // all fields still sent
  CHECK(descriptor[0] == 0x20);
  CHECK(descriptor[1] == 0x21);
  CHECK(Bytes(descriptor.begin() + 28, descriptor.begin() + 32) == hex("00 00 00 00"));  // dwMaxIFSD (CCID 5.1)
  // GET_DESCRIPTOR(configuration) carries it as configured.
  const usb::SetupPacket get_configuration{0x80, 0x06, 0x0200, 0, 255};
  const auto result = reader.control(get_configuration, {});
  REQUIRE(result.status == usb::TransferStatus::ok);
  bool found = false;
  for (std::size_t i = 0; i + 1 < result.data.size(); ++i)
    if (result.data[i + 1] == 0x21 && result.data[i] == 0x20) found = true;
  CHECK(found);
}

TEST_CASE("a dwMaxCCIDMessageLength below the minimum: the reader answers what fits and refuses the rest") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    ReaderConfig config;
    config.set_exchange_level(level);
    config.max_message_length = 14;  // a header and 4 bytes
    Reader reader(config);
    reader.insert(cards::make_builtin_card("t0-basic"));
    // The ATR does not fit: XFR_OVERRUN, no data.
    const Bytes power_on = reader.handle_message(command(Command::icc_power_on, 1));
    CHECK(error_of(power_on) == error::xfr_overrun);
    CHECK(power_on.size() == kHeaderSize);
    CHECK(seq_of(reader.handle_message(command(Command::get_slot_status, 2))) == 2);
    // A command longer than dwMaxCCIDMessageLength: bError names dwLength (CCID 6.2.6).
    const Bytes too_long = reader.handle_message(echo(3));
    CHECK((status_of(too_long) >> 6) == 1);
    CHECK(error_of(too_long) == error::offset_length);
  }
  ReaderConfig tiny;
  tiny.set_exchange_level(ExchangeLevel::extended_apdu);
  tiny.max_message_length = 4;  // not even a header
  Reader reader(tiny);
  reader.insert(cards::make_builtin_card("t0-basic"));
  const Bytes answer = reader.handle_message(command(Command::get_slot_status, 1));
  CHECK(answer.size() == kHeaderSize);
  CHECK(error_of(answer) == error::offset_length);
}
