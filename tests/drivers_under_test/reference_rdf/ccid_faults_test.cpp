// The reference RDF driver under the virtual reader's CCID message faults (Reader::arm_ccid_fault):
// what each fault makes of an IOCTL_SMARTCARD_TRANSMIT, and that the next well-behaved transmit
// works, at each exchange level.
#include "drivers_under_test/reference_rdf/reference_rdf.h"
#include "hosts/windows_model/rdf/host_driver.h"
#include "hosts/windows_model/rdf/host_usb.h"

#include "cards/profiles.h"
#include "emulator/ccid/faults.h"
#include "emulator/ccid/reader.h"
#include "emulator/usb/faults.h"
#include "tests/support/hex.h"

#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <thread>

namespace {

using readerlab::test::hex;
using Bytes = std::vector<std::uint8_t>;
using readerlab::ccid::ExchangeLevel;
using readerlab::ccid::Fault;
using readerlab::ccid::FaultKind;
using readerlab::windows_model::HostDriver;

constexpr std::uint8_t kXfrBlock = 0x6F;  // CCID 6.1.4
// A timeout short enough for a test that waits for a reader that does not answer.
constexpr ULONG kTestTimeoutMs = 150;

const ExchangeLevel kLevels[] = {ExchangeLevel::tpdu, ExchangeLevel::short_apdu, ExchangeLevel::extended_apdu};

// SELECT by DF name of the readerlab application, with Le.
const Bytes kSelectAid = hex("00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 01 00");

Bytes transmit_request(ULONG protocol, const Bytes& apdu) {
  Bytes request(8, 0);
  std::memcpy(request.data(), &protocol, 4);
  request[4] = 8;
  request.insert(request.end(), apdu.begin(), apdu.end());
  return request;
}

// The reader with a card, the driver started on it in-process, the card powered and its
// protocol set; the driver's default timeout shortened for the faults that leave it waiting.
struct Rig {
  Rig(ExchangeLevel exchange_level, const char* card = "t0-basic") : level(exchange_level) {
    readerlab::ccid::ReaderConfig config;
    config.set_exchange_level(level);
    reader = std::make_unique<readerlab::ccid::Reader>(config);
    reader->set_fault_log(log);
    reader->insert(readerlab::cards::make_builtin_card(card));
    usb = std::make_unique<readerlab::windows_model::InProcessUsb>(*reader);
    driver = std::make_unique<HostDriver>(*usb, ReaderlabReferenceRdfDriver);
    REQUIRE(driver->start() == STATUS_SUCCESS);
    driver->poll_slot_change(0);  // the insertion
    reader_extension()->DefaultTimeoutMs = kTestTimeoutMs;
    protocol = std::string(card) == "t1-fs" ? SCARD_PROTOCOL_T1 : SCARD_PROTOCOL_T0;
    power_up();
  }

  void power_up() {
    REQUIRE(driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64).status == STATUS_SUCCESS);
    REQUIRE(driver->ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, protocol, 4).status == STATUS_SUCCESS);
    REQUIRE(driver->state() == SCARD_SPECIFIC);
  }

  readerlab::windows_model::IoctlResult transmit() {
    return driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, transmit_request(protocol, kSelectAid), 300);
  }

  // A well-behaved transmit works: the card's status word comes back (61xx at TPDU level over
  // T=0, where the application fetches the data with GET RESPONSE).
  void check_transmit_works() {
    const auto reply = transmit();
    REQUIRE(reply.status == STATUS_SUCCESS);
    REQUIRE(reply.output.size() >= 10);
    const std::uint8_t sw1 = reply.output[reply.output.size() - 2];
    CHECK((sw1 == 0x90 || (level == ExchangeLevel::tpdu && protocol == SCARD_PROTOCOL_T0 && sw1 == 0x61)));
  }

  void arm(FaultKind kind, std::uint8_t error = 0) {
    Fault fault;
    fault.kind = kind;
    fault.error = error;
    fault.command = kXfrBlock;
    reader->arm_ccid_fault(fault, 11, 0);
  }
  void arm(const Fault& fault) { reader->arm_ccid_fault(fault, 11, 0); }

  PREADER_EXTENSION reader_extension() { return driver->extension()->ReaderExtension; }
  const reference_rdf::CcidChannel& channel() { return reader_extension()->Channel; }

  ExchangeLevel level;
  ULONG protocol = SCARD_PROTOCOL_T0;
  std::shared_ptr<readerlab::faults::FaultLog> log = std::make_shared<readerlab::faults::FaultLog>();
  std::unique_ptr<readerlab::ccid::Reader> reader;
  std::unique_ptr<readerlab::windows_model::InProcessUsb> usb;
  std::unique_ptr<HostDriver> driver;
};

}  // namespace

TEST_CASE("answers that do not answer the command are refused: DEVICE_PROTOCOL_ERROR, then the next works") {
  const FaultKind kinds[] = {FaultKind::wrong_seq, FaultKind::wrong_slot, FaultKind::length_short,
                             FaultKind::length_long, FaultKind::unknown_type};
  for (auto level : kLevels) {
    for (auto kind : kinds) {
      CAPTURE(to_string(level));
      CAPTURE(to_string(kind));
      Rig rig(level);
      rig.arm(kind);
      const auto reply = rig.transmit();
      CHECK(reply.status == STATUS_DEVICE_PROTOCOL_ERROR);
      CHECK(reply.output.empty());
      CHECK(rig.log->firings.size() == 1);
      CHECK(rig.driver->state() == SCARD_SPECIFIC);
      rig.check_transmit_works();
    }
  }
}

TEST_CASE("a bSeq not sent yet and a wrong bSlot count as rejected answers, not as late ones") {
  Rig rig(ExchangeLevel::short_apdu);
  rig.arm(FaultKind::wrong_seq);
  CHECK(rig.transmit().status == STATUS_DEVICE_PROTOCOL_ERROR);
  rig.arm(FaultKind::wrong_slot);
  CHECK(rig.transmit().status == STATUS_DEVICE_PROTOCOL_ERROR);
  CHECK(rig.channel().answers_rejected() == 2);
  CHECK(rig.channel().stale_answers_dropped() == 0);
}

TEST_CASE("TPDU level T=1: a refused CCID answer is a lost block, and the T=1 engine gets it again") {
  const FaultKind kinds[] = {FaultKind::wrong_seq, FaultKind::wrong_slot, FaultKind::length_long,
                             FaultKind::unknown_type};
  for (auto kind : kinds) {
    CAPTURE(to_string(kind));
    Rig rig(ExchangeLevel::tpdu, "t1-fs");
    rig.check_transmit_works();  // S(IFS) done
    rig.arm(kind);
    rig.check_transmit_works();
    CHECK(rig.log->firings.size() == 1);
  }
}

TEST_CASE("error: each bError maps to an NTSTATUS, the card stays powered, and the next transmit works") {
  const struct {
    const char* name;
    NTSTATUS status;
  } table[] = {
      {"ICC_MUTE", STATUS_IO_TIMEOUT},
      {"XFR_PARITY_ERROR", STATUS_DEVICE_DATA_ERROR},
      {"XFR_OVERRUN", STATUS_BUFFER_TOO_SMALL},
      {"HW_ERROR", STATUS_IO_DEVICE_ERROR},
      {"BAD_ATR_TS", STATUS_UNRECOGNIZED_MEDIA},
      {"BAD_ATR_TCK", STATUS_UNRECOGNIZED_MEDIA},
      {"ICC_PROTOCOL_NOT_SUPPORTED", STATUS_NOT_SUPPORTED},
      {"ICC_CLASS_NOT_SUPPORTED", STATUS_UNRECOGNIZED_MEDIA},
      {"PROCEDURE_BYTE_CONFLICT", STATUS_DEVICE_PROTOCOL_ERROR},
      {"DEACTIVATED_PROTOCOL", STATUS_INVALID_DEVICE_STATE},
      {"PIN_TIMEOUT", STATUS_IO_TIMEOUT},
      {"PIN_CANCELLED", STATUS_CANCELLED},
      {"CMD_ABORTED", STATUS_CANCELLED},
      {"CMD_NOT_SUPPORTED", STATUS_NOT_SUPPORTED},
  };
  for (auto level : kLevels) {
    for (const auto& entry : table) {
      CAPTURE(to_string(level));
      CAPTURE(entry.name);
      Rig rig(level);
      const auto code = readerlab::ccid::slot_error_from_name(entry.name);
      REQUIRE(code);
      rig.arm(FaultKind::error, *code);
      CHECK(rig.transmit().status == entry.status);
      CHECK(rig.driver->state() == SCARD_SPECIFIC);
      rig.check_transmit_works();
    }
  }
}

TEST_CASE("error CMD_SLOT_BUSY or BUSY_WITH_AUTO_SEQUENCE: the command is sent again and the transmit works") {
  for (const char* name : {"CMD_SLOT_BUSY", "BUSY_WITH_AUTO_SEQUENCE"}) {
    CAPTURE(name);
    Rig rig(ExchangeLevel::short_apdu);
    rig.arm(FaultKind::error, *readerlab::ccid::slot_error_from_name(name));
    rig.check_transmit_works();
    CHECK(rig.channel().busy_retries() == 1);
  }
  // A reader that stays busy: DEVICE_BUSY after kBusyAttempts.
  Rig rig(ExchangeLevel::short_apdu);
  Fault always_busy;
  always_busy.kind = FaultKind::error;
  always_busy.error = 0xE0;
  always_busy.trigger.times = 0;
  rig.arm(always_busy);
  CHECK(rig.transmit().status == STATUS_DEVICE_BUSY);
  CHECK(rig.log->firings.size() == reference_rdf::kBusyAttempts);
  rig.reader->clear_ccid_faults();
  rig.check_transmit_works();
}

TEST_CASE("error ICC_MUTE on IccPowerOn: POWER fails IO_TIMEOUT, the card stays unpowered, a new POWER works") {
  Rig rig(ExchangeLevel::short_apdu);
  Fault fault;
  fault.kind = FaultKind::error;
  fault.error = 0xFE;
  fault.command = 0x62;  // IccPowerOn
  rig.arm(fault);
  const auto power = rig.driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  CHECK(power.status == STATUS_IO_TIMEOUT);
  CHECK(power.output.empty());
  CHECK(rig.driver->state() == SCARD_SWALLOWED);
  CHECK_FALSE(rig.reader->card_powered());
  rig.power_up();
  rig.check_transmit_works();
}

TEST_CASE("duplicate: the transmit works and the duplicate is dropped by its bSeq before the next answer") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Rig rig(level);
    rig.arm(FaultKind::duplicate);
    rig.check_transmit_works();
    rig.check_transmit_works();
    CHECK(rig.channel().stale_answers_dropped() == 1);
  }
}

TEST_CASE("no-response: IO_TIMEOUT, and the next transmit works") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Rig rig(level);
    rig.arm(FaultKind::no_response);
    CHECK(rig.transmit().status == STATUS_IO_TIMEOUT);
    CHECK(rig.driver->state() == SCARD_SPECIFIC);
    rig.check_transmit_works();
  }
}

TEST_CASE("late: within the timeout the transmit works; past it IO_TIMEOUT, and the late answer is dropped") {
  Rig rig(ExchangeLevel::short_apdu);
  Fault fault;
  fault.kind = FaultKind::late;
  fault.command = kXfrBlock;
  fault.delay = std::chrono::milliseconds(kTestTimeoutMs / 5);
  rig.arm(fault);
  rig.check_transmit_works();
  fault.delay = std::chrono::milliseconds(kTestTimeoutMs * 2);
  rig.arm(fault);
  CHECK(rig.transmit().status == STATUS_IO_TIMEOUT);
  // The late answer is on its way when the next command goes out.
  const auto ready_at = rig.reader->in_ready_at(readerlab::ccid::kBulkIn);
  REQUIRE(ready_at);
  std::this_thread::sleep_until(*ready_at);
  rig.check_transmit_works();
  CHECK(rig.channel().stale_answers_dropped() == 1);
}

TEST_CASE("time-extension-storm: waited through; a storm past the driver's bound fails IO_TIMEOUT and passes") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Rig rig(level);
    Fault storm;
    storm.kind = FaultKind::time_extension_storm;
    storm.command = kXfrBlock;
    storm.count = 50;
    rig.arm(storm);
    rig.check_transmit_works();
    CHECK(rig.channel().time_extensions() == 50);
  }
  Rig rig(ExchangeLevel::short_apdu);
  Fault storm;
  storm.kind = FaultKind::time_extension_storm;
  storm.command = kXfrBlock;
  storm.count = reference_rdf::kMaxTimeExtensions + 500;
  rig.arm(storm);
  CHECK(rig.transmit().status == STATUS_IO_TIMEOUT);
  // The rest of the storm and its answer are a late command's: dropped by bSeq.
  rig.check_transmit_works();
  CHECK(rig.channel().stale_answers_dropped() == 501);
}

TEST_CASE("hardware-error: IO_DEVICE_ERROR, the card unpowered (SWALLOWED), a new POWER and the transmit works") {
  for (auto level : kLevels) {
    CAPTURE(to_string(level));
    Rig rig(level);
    rig.arm(FaultKind::hardware_error);
    CHECK(rig.transmit().status == STATUS_IO_DEVICE_ERROR);
    CHECK(rig.driver->poll_slot_change(0) == STATUS_SUCCESS);
    CHECK(rig.reader_extension()->HardwareErrors == 1);
    CHECK(rig.driver->state() == SCARD_SWALLOWED);
    CHECK_FALSE(rig.reader_extension()->CardPowered);
    CHECK(rig.transmit().status == STATUS_INVALID_DEVICE_STATE);  // smclib: not SPECIFIC
    rig.power_up();
    rig.check_transmit_works();
  }
}

TEST_CASE("spurious-slot-change: taken as a swap, so the pending IS_ABSENT completes and the card needs a reset") {
  Rig rig(ExchangeLevel::short_apdu);
  rig.arm(FaultKind::spurious_slot_change);
  auto tracking = rig.driver->ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0);
  REQUIRE(tracking.pending);
  rig.check_transmit_works();  // the fault fires on its answer
  CHECK(rig.driver->poll_slot_change(0) == STATUS_SUCCESS);
  REQUIRE(rig.driver->pending_completed());
  CHECK(rig.driver->pending_status() == STATUS_SUCCESS);
  rig.driver->release_pending();
  CHECK(rig.driver->state() == SCARD_SWALLOWED);
  CHECK(rig.transmit().status == STATUS_INVALID_DEVICE_STATE);
  rig.power_up();
  rig.check_transmit_works();
}

TEST_CASE("missing-slot-change: the removal is learnt from the next answer: NO_MEDIA, ABSENT, IS_ABSENT completed") {
  Rig rig(ExchangeLevel::short_apdu);
  Fault fault;
  fault.kind = FaultKind::missing_slot_change;
  rig.arm(fault);
  auto tracking = rig.driver->ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0);
  REQUIRE(tracking.pending);
  auto card = rig.reader->remove();
  CHECK(rig.driver->poll_slot_change(0) == STATUS_IO_TIMEOUT);  // nothing reported
  CHECK_FALSE(rig.driver->pending_completed());
  CHECK(rig.transmit().status == STATUS_NO_MEDIA);
  CHECK(rig.driver->state() == SCARD_ABSENT);
  REQUIRE(rig.driver->pending_completed());
  CHECK(rig.driver->pending_status() == STATUS_SUCCESS);
  rig.driver->release_pending();
  // The card back: reported as usual, and it works after a reset.
  rig.reader->insert(std::move(card));
  CHECK(rig.driver->poll_slot_change(0) == STATUS_SUCCESS);
  CHECK(rig.driver->state() == SCARD_SWALLOWED);
  rig.power_up();
  rig.check_transmit_works();
}

namespace {

// The driver started on a reader whose descriptors are malformed as `change` makes them.
struct MalformedReader {
  explicit MalformedReader(const std::function<void(readerlab::ccid::ReaderConfig&)>& change) {
    readerlab::ccid::ReaderConfig config;
    change(config);
    reader = std::make_unique<readerlab::ccid::Reader>(config);
    reader->insert(readerlab::cards::make_builtin_card("t1-fs"));
    usb = std::make_unique<readerlab::windows_model::InProcessUsb>(*reader);
    driver = std::make_unique<HostDriver>(*usb, ReaderlabReferenceRdfDriver);
    start_status = driver->start();
  }
  std::unique_ptr<readerlab::ccid::Reader> reader;
  std::unique_ptr<readerlab::windows_model::InProcessUsb> usb;
  std::unique_ptr<HostDriver> driver;
  NTSTATUS start_status = STATUS_UNSUCCESSFUL;
};

}  // namespace

TEST_CASE("malformed descriptor: a class descriptor whose bLength is short is not driven") {
  MalformedReader rig([](readerlab::ccid::ReaderConfig& config) { config.class_descriptor_length = 0x20; });
  CHECK(rig.start_status == STATUS_NOT_SUPPORTED);
  CHECK(rig.reader->commands_handled() == 0);
}

TEST_CASE("malformed descriptor: dwMaxIFSD 0 gives the default IFSD 32, and T=1 works") {
  MalformedReader rig([](readerlab::ccid::ReaderConfig& config) {
    config.max_ifsd = 0;
    config.set_exchange_level(ExchangeLevel::tpdu);
  });
  REQUIRE(rig.start_status == STATUS_SUCCESS);
  CHECK(rig.driver->extension()->ReaderCapabilities.MaxIFSD == 32);
  REQUIRE(rig.driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64).status == STATUS_SUCCESS);
  REQUIRE(rig.driver->ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, SCARD_PROTOCOL_T1, 4).status == STATUS_SUCCESS);
  const auto reply = rig.driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, transmit_request(SCARD_PROTOCOL_T1, kSelectAid), 300);
  REQUIRE(reply.status == STATUS_SUCCESS);
  CHECK(reply.output[reply.output.size() - 2] == 0x90);
}

TEST_CASE("malformed descriptor: dwMaxCCIDMessageLength that cannot carry a header and a byte is not driven") {
  MalformedReader rig([](readerlab::ccid::ReaderConfig& config) { config.max_message_length = 10; });
  CHECK(rig.start_status == STATUS_NOT_SUPPORTED);
  CHECK(rig.reader->commands_handled() == 0);
}

TEST_CASE("a small dwMaxCCIDMessageLength: what fits goes, a longer command is refused before it is sent") {
  MalformedReader rig([](readerlab::ccid::ReaderConfig& config) { config.max_message_length = 64; });
  REQUIRE(rig.start_status == STATUS_SUCCESS);
  REQUIRE(rig.driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64).status == STATUS_SUCCESS);
  REQUIRE(rig.driver->ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, SCARD_PROTOCOL_T1, 4).status == STATUS_SUCCESS);
  const auto reply = rig.driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, transmit_request(SCARD_PROTOCOL_T1, kSelectAid), 300);
  REQUIRE(reply.status == STATUS_SUCCESS);
  const auto handled = rig.reader->commands_handled();
  Bytes update = hex("00 D6 00 00 40");
  update.resize(5 + 0x40, 0x55);
  CHECK(rig.driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, transmit_request(SCARD_PROTOCOL_T1, update), 300).status ==
        STATUS_INVALID_PARAMETER);
  CHECK(rig.reader->commands_handled() == handled);
}

TEST_CASE(
    "a stalled bulk or interrupt pipe of the device: cleared with CLEAR_FEATURE(ENDPOINT_HALT), the work goes on") {
  for (const std::uint8_t endpoint : {readerlab::ccid::kBulkOut, readerlab::ccid::kBulkIn}) {
    CAPTURE(int{endpoint});
    Rig rig(ExchangeLevel::short_apdu);
    readerlab::usb::Fault stall;
    stall.kind = readerlab::usb::FaultKind::stall;
    stall.endpoint = endpoint;
    rig.reader->arm_usb_fault(stall, 5, 1);
    rig.check_transmit_works();
    REQUIRE(rig.log->firings.size() == 1);
    CHECK(rig.log->firings[0].kind == "stall");
    CHECK(rig.channel().stalls_cleared() == 1);
    CHECK_FALSE(rig.reader->endpoint_halted(endpoint));
    rig.check_transmit_works();
  }
  Rig rig(ExchangeLevel::short_apdu);
  readerlab::usb::Fault stall;
  stall.kind = readerlab::usb::FaultKind::stall;
  stall.endpoint = readerlab::ccid::kInterruptIn;
  rig.reader->arm_usb_fault(stall, 5, 1);
  auto card = rig.reader->remove();
  CHECK(rig.driver->poll_slot_change(0) == STATUS_SUCCESS);  // the stall, cleared
  CHECK(rig.reader_extension()->InterruptStallsCleared == 1);
  CHECK(rig.driver->poll_slot_change(0) == STATUS_SUCCESS);  // the removal
  CHECK(rig.driver->state() == SCARD_ABSENT);
}
