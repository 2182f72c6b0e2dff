// The reference RDF driver's error paths: faults injected at the USB transfer level between
// the driver and the real virtual reader (transport errors, stalls, timeouts, malformed and
// failed CCID answers, bad descriptors), PPS answers, the escape and tracking cancellation.
#include "drivers_under_test/reference_rdf/reference_rdf.h"
#include "hosts/windows_model/rdf/host_driver.h"
#include "hosts/windows_model/rdf/host_usb.h"

#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "tests/support/hex.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>

namespace {

using readerlab::test::hex;
using Bytes = std::vector<std::uint8_t>;
using readerlab::windows_model::HostDriver;
using readerlab::windows_model::UsbSetup;
using readerlab::windows_model::UsbStatus;

// CCID 6.1 / 6.2 header fields.
constexpr std::size_t kHeader = 10;
constexpr std::uint8_t kIccPowerOn = 0x62, kIccPowerOff = 0x63, kGetSlotStatus = 0x65, kSetParameters = 0x61,
                       kXfrBlock = 0x6F, kEscape = 0x6B;
constexpr std::uint8_t kDataBlock = 0x80, kEscapeAnswer = 0x83;
// CCID 6.2.6 bStatus: bmCommandStatus in bits 6-7, bmICCStatus in bits 0-1.
constexpr std::uint8_t kFailedActive = 0x40, kFailedInactive = 0x41, kFailedAbsent = 0x42, kTimeExtension = 0x80;

// An RDR_to_PC message answering `command` (same bSlot and bSeq).
Bytes answer_to(const Bytes& command, std::uint8_t type, std::uint8_t status, std::uint8_t error,
                const Bytes& data = {}) {
  Bytes m = {type, 0, 0, 0, 0, command.at(5), command.at(6), status, error, 0};
  const auto n = static_cast<std::uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) m[1 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  m.insert(m.end(), data.begin(), data.end());
  return m;
}

// The same answer with other abData (dwLength follows).
Bytes with_data(Bytes answer, const Bytes& data) {
  answer.resize(kHeader);
  const auto n = static_cast<std::uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) answer[1 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  answer.insert(answer.end(), data.begin(), data.end());
  return answer;
}

// The reader's USB function seen through faults a test scripts at the transfer level: a
// bulk-OUT refused, a bulk-IN replaced (status, made-up or altered answer), a control
// transfer answered otherwise. Anything not scripted reaches the reader unchanged.
class FaultyUsb final : public readerlab::windows_model::UsbIo {
 public:
  // One bulk-IN transfer: fills `answer` or returns a status other than ok.
  using InStep = std::function<UsbStatus(FaultyUsb&, Bytes& answer)>;
  using ControlHook = std::function<std::optional<UsbStatus>(FaultyUsb&, const UsbSetup&, uint8_t*, uint32_t*)>;

  explicit FaultyUsb(readerlab::usb::Device& device) : real_(device) {}

  std::deque<UsbStatus> bulk_out_faults;   // each refuses one PC_to_RDR message
  std::deque<InStep> bulk_in_steps;        // each stands for one bulk-IN transfer
  std::deque<UsbStatus> interrupt_faults;  // each fails one interrupt-IN transfer
  ControlHook control_hook;                // nullopt: the reader answers
  std::vector<Bytes> sent;                 // PC_to_RDR messages that reached the reader

  UsbStatus bulk_out(const uint8_t* data, uint32_t length) override {
    if (!bulk_out_faults.empty()) {
      const UsbStatus fault = bulk_out_faults.front();
      bulk_out_faults.pop_front();
      return fault;
    }
    sent.emplace_back(data, data + length);
    return real_.bulk_out(data, length);
  }
  UsbStatus bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) override {
    if (bulk_in_steps.empty()) return real_.bulk_in(buffer, capacity, received, timeout_ms);
    const InStep step = std::move(bulk_in_steps.front());
    bulk_in_steps.pop_front();
    Bytes answer;
    const UsbStatus status = step(*this, answer);
    if (status != UsbStatus::ok) return status;
    if (answer.size() > capacity) return UsbStatus::overflow;
    std::copy(answer.begin(), answer.end(), buffer);
    *received = static_cast<uint32_t>(answer.size());
    return UsbStatus::ok;
  }
  UsbStatus interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) override {
    if (!interrupt_faults.empty()) {
      const UsbStatus fault = interrupt_faults.front();
      interrupt_faults.pop_front();
      return fault;
    }
    return real_.interrupt_in(buffer, capacity, received, timeout_ms);
  }
  UsbStatus control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) override {
    if (control_hook) {
      if (auto status = control_hook(*this, setup, data, transferred)) return *status;
    }
    return real_.control(setup, data, transferred);
  }

  // The reader's own next answer, for a step to pass on or alter.
  Bytes reader_answer() {
    uint8_t buffer[reference_rdf::kMaxCcidMessage];
    uint32_t n = 0;
    REQUIRE(real_.bulk_in(buffer, sizeof buffer, &n, 2000) == UsbStatus::ok);
    return {buffer, buffer + n};
  }
  UsbStatus reader_control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) {
    return real_.control(setup, data, transferred);
  }
  const Bytes& last_sent() const { return sent.back(); }
  std::vector<std::uint8_t> sent_types(std::size_t from = 0) const {
    std::vector<std::uint8_t> types;
    for (std::size_t i = from; i < sent.size(); ++i) types.push_back(sent[i][0]);
    return types;
  }

 private:
  readerlab::windows_model::InProcessUsb real_;
};

// Steps.
FaultyUsb::InStep usb_status(UsbStatus status) {
  return [status](FaultyUsb&, Bytes&) { return status; };
}
FaultyUsb::InStep bytes(Bytes made_up) {
  return [made_up](FaultyUsb&, Bytes& answer) {
    answer = made_up;
    return UsbStatus::ok;
  };
}
// An answer to the last message, made up; the reader's own answer is dropped.
FaultyUsb::InStep instead(std::uint8_t type, std::uint8_t status, std::uint8_t error, Bytes data = {}) {
  return [=](FaultyUsb& usb, Bytes& answer) {
    usb.reader_answer();
    answer = answer_to(usb.last_sent(), type, status, error, data);
    return UsbStatus::ok;
  };
}
// An answer to the last message, made up, while the reader's own answer stays queued.
FaultyUsb::InStep before_reader(std::uint8_t type, std::uint8_t status, std::uint8_t error) {
  return [=](FaultyUsb& usb, Bytes& answer) {
    answer = answer_to(usb.last_sent(), type, status, error);
    return UsbStatus::ok;
  };
}
FaultyUsb::InStep altered(std::function<void(Bytes&)> change) {
  return [change](FaultyUsb& usb, Bytes& answer) {
    answer = usb.reader_answer();
    change(answer);
    return UsbStatus::ok;
  };
}
FaultyUsb::InStep passed() {
  return [](FaultyUsb& usb, Bytes& answer) {
    answer = usb.reader_answer();
    return UsbStatus::ok;
  };
}

// SCARD_IO_REQUEST {dwProtocol, cbPciLength = 8}, little endian, then the APDU.
Bytes transmit_request(ULONG protocol, const Bytes& apdu) {
  Bytes request(8, 0);
  std::memcpy(request.data(), &protocol, 4);
  request[4] = 8;
  request.insert(request.end(), apdu.begin(), apdu.end());
  return request;
}

ULONG ulong_at(const Bytes& b) {
  ULONG v = 0;
  REQUIRE(b.size() >= 4);
  std::memcpy(&v, b.data(), 4);
  return v;
}

const Bytes kSelectAid = hex("00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 01 00");

struct Rig {
  explicit Rig(const char* card, readerlab::ccid::ExchangeLevel level = readerlab::ccid::ExchangeLevel::short_apdu) {
    readerlab::ccid::ReaderConfig config;
    config.set_exchange_level(level);
    reader = std::make_unique<readerlab::ccid::Reader>(config);
    if (card) reader->insert(readerlab::cards::make_builtin_card(card));
    usb = std::make_unique<FaultyUsb>(*reader);
    driver = std::make_unique<HostDriver>(*usb, ReaderlabReferenceRdfDriver);
  }
  void start() {
    REQUIRE(driver->start() == STATUS_SUCCESS);
    driver->poll_slot_change(0);  // the insertion queued before the start
    usb->sent.clear();
  }
  readerlab::windows_model::IoctlResult power(ULONG code = SCARD_COLD_RESET) {
    return driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, code, 64);
  }
  readerlab::windows_model::IoctlResult set_protocol(ULONG mask) {
    return driver->ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, mask, 4);
  }
  readerlab::windows_model::IoctlResult transmit(ULONG protocol, const Bytes& apdu, ULONG out = 300) {
    return driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, transmit_request(protocol, apdu), out);
  }
  PREADER_EXTENSION reader_extension() { return driver->extension()->ReaderExtension; }

  std::unique_ptr<readerlab::ccid::Reader> reader;
  std::unique_ptr<FaultyUsb> usb;
  std::unique_ptr<HostDriver> driver;
};

// The reader's configuration descriptor, as GET_DESCRIPTOR(CONFIGURATION) returns it.
Bytes configuration_descriptor(FaultyUsb& usb) {
  uint8_t data[512];
  uint32_t n = 0;
  REQUIRE(usb.reader_control(UsbSetup{0x80, 0x06, 0x0200, 0, sizeof data}, data, &n) == UsbStatus::ok);
  return {data, data + n};
}

FaultyUsb::ControlHook descriptor_answer(std::function<void(Bytes&)> change) {
  return [change](FaultyUsb& usb, const UsbSetup& setup, uint8_t* data, uint32_t* n) -> std::optional<UsbStatus> {
    if (setup.request != 0x06) return std::nullopt;  // USB 2.0 9.4.3 GET_DESCRIPTOR
    Bytes config = configuration_descriptor(usb);
    change(config);
    std::copy(config.begin(), config.end(), data);
    *n = static_cast<uint32_t>(config.size());
    return UsbStatus::ok;
  };
}

std::size_t functional_descriptor_offset(const Bytes& config) {
  for (std::size_t i = 0; i + 1 < config.size() && config[i] >= 2; i += config[i])
    if (config[i + 1] == 0x21) return i;  // CCID 5.1 bDescriptorType
  FAIL("no CCID functional descriptor");
  return 0;
}

}  // namespace

TEST_CASE("start: a device that does not answer GET_DESCRIPTOR is not connected") {
  Rig rig("t1-fs");
  rig.usb->control_hook = [](FaultyUsb&, const UsbSetup&, uint8_t*, uint32_t*) -> std::optional<UsbStatus> {
    return UsbStatus::stall;
  };
  CHECK(rig.driver->start() == STATUS_DEVICE_NOT_CONNECTED);
  CHECK(rig.driver->extension()->ReaderExtension == nullptr);
  CHECK(rig.usb->sent.empty());
}

TEST_CASE("start: a configuration without a usable CCID functional descriptor is not driven") {
  Rig rig("t1-fs");
  SUBCASE("no functional descriptor") {
    rig.usb->control_hook = descriptor_answer([](Bytes& config) {
      const std::size_t at = functional_descriptor_offset(config);
      config.erase(config.begin() + static_cast<std::ptrdiff_t>(at),
                   config.begin() + static_cast<std::ptrdiff_t>(at + config[at]));
    });
  }
  SUBCASE("a functional descriptor shorter than CCID 5.1's 54 bytes") {
    rig.usb->control_hook = descriptor_answer([](Bytes& config) {
      const std::size_t at = functional_descriptor_offset(config);
      config.erase(config.begin() + static_cast<std::ptrdiff_t>(at + 0x20),
                   config.begin() + static_cast<std::ptrdiff_t>(at + config[at]));
      config[at] = 0x20;
    });
  }
  SUBCASE("a descriptor whose bLength runs past the data") {
    rig.usb->control_hook = descriptor_answer([](Bytes& config) { config[0] = 0xF0; });
  }
  SUBCASE("a character-level reader (dwFeatures without an exchange level)") {
    rig.usb->control_hook = descriptor_answer([](Bytes& config) {
      const std::size_t at = functional_descriptor_offset(config);
      config[at + 40 + 2] = 0;  // dwFeatures bits 16-23: the CCID 5.1 exchange level
    });
  }
  CHECK(rig.driver->start() == STATUS_NOT_SUPPORTED);
  CHECK(rig.driver->extension()->ReaderExtension == nullptr);
  CHECK(rig.usb->sent.empty());
}

TEST_CASE("start: a stalled GET_DATA_RATES leaves the list empty; the clock list is still read") {
  Rig rig("t1-fs");
  rig.usb->control_hook = [](FaultyUsb&, const UsbSetup& setup, uint8_t*, uint32_t*) -> std::optional<UsbStatus> {
    if (setup.request_type == 0xA1 && setup.request == 0x03) return UsbStatus::stall;  // CCID 5.3.3
    return std::nullopt;
  };
  rig.start();
  const auto& caps = rig.driver->extension()->ReaderCapabilities;
  CHECK(caps.DataRatesSupported.Entries == 0);
  CHECK(caps.CLKFrequenciesSupported.Entries == 1);
  REQUIRE(caps.CLKFrequenciesSupported.List != nullptr);
  CHECK(caps.CLKFrequenciesSupported.List[0] == readerlab::ccid::kDefaultClockKhz);
  CHECK(rig.power().status == STATUS_SUCCESS);
}

TEST_CASE("start: no answer to GetSlotStatus leaves the state UNKNOWN, which the library refuses") {
  Rig rig("t1-fs");
  rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::timeout));
  REQUIRE(rig.driver->start() == STATUS_SUCCESS);
  CHECK(rig.driver->state() == SCARD_UNKNOWN);
  CHECK(rig.usb->sent_types() == std::vector<std::uint8_t>{kGetSlotStatus});
  CHECK(rig.power().status == STATUS_INVALID_DEVICE_STATE);  // spec §1.2 POWER
  CHECK(rig.driver->ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0).status == STATUS_INVALID_DEVICE_STATE);
}

TEST_CASE("start: a card left powered by someone else is powered down first") {
  Rig rig("t1-fs");
  rig.reader->handle_message(hex("62 00 00 00 00 00 07 00 00 00"));  // IccPowerOn, CCID 6.1.1
  REQUIRE(rig.reader->card_powered());
  REQUIRE(rig.driver->start() == STATUS_SUCCESS);
  CHECK(rig.usb->sent_types() == std::vector<std::uint8_t>{kGetSlotStatus, kIccPowerOff});
  CHECK_FALSE(rig.reader->card_powered());
  CHECK(rig.driver->state() == SCARD_SWALLOWED);
}

TEST_CASE("CCID transport faults on POWER, and the driver recovers on the next command") {
  Rig rig("t1-fs");
  rig.start();
  NTSTATUS expected = STATUS_SUCCESS;
  SUBCASE("bulk-OUT fails") {
    rig.usb->bulk_out_faults.push_back(UsbStatus::error);
    expected = STATUS_DEVICE_NOT_CONNECTED;
  }
  SUBCASE("bulk-OUT stalls twice: cleared once, then given up") {
    rig.usb->bulk_out_faults.push_back(UsbStatus::stall);
    rig.usb->bulk_out_faults.push_back(UsbStatus::stall);
    expected = STATUS_DEVICE_NOT_CONNECTED;
  }
  SUBCASE("bulk-IN stalls twice: cleared once, then given up") {
    rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::stall));
    rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::stall));
    expected = STATUS_DEVICE_NOT_CONNECTED;
  }
  SUBCASE("bulk-IN times out") {
    rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::timeout));
    expected = STATUS_IO_TIMEOUT;
  }
  SUBCASE("the answer overflows the buffer") {
    rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::overflow));
    expected = STATUS_DEVICE_PROTOCOL_ERROR;
  }
  SUBCASE("an answer shorter than the CCID header") {
    rig.usb->bulk_in_steps.push_back(bytes({0x80, 0x00, 0x00, 0x00, 0x00}));
    expected = STATUS_DEVICE_PROTOCOL_ERROR;
  }
  SUBCASE("dwLength does not match the bytes received") {
    rig.usb->bulk_in_steps.push_back(altered([](Bytes& answer) { answer[1] ^= 0x01; }));
    expected = STATUS_DEVICE_PROTOCOL_ERROR;
  }
  SUBCASE("the reader asks for time without end") {
    for (int i = 0; i < 1000; ++i) rig.usb->bulk_in_steps.push_back(before_reader(kDataBlock, kTimeExtension, 1));
    expected = STATUS_IO_TIMEOUT;
  }
  auto failed = rig.power();
  CHECK(failed.status == expected);
  CHECK(failed.output.empty());
  CHECK(rig.driver->state() == SCARD_SWALLOWED);
  CHECK(rig.driver->extension()->CardCapabilities.ATR.Length == 0);
  CHECK(rig.usb->bulk_in_steps.empty());
  // a late answer to the failed command is skipped by its bSeq
  auto again = rig.power();
  CHECK(again.status == STATUS_SUCCESS);
  CHECK(again.output == *readerlab::cards::builtin_atr("t1-fs"));
}

TEST_CASE("CCID time extensions and answers to other commands are waited through") {
  Rig rig("t1-fs");
  rig.start();
  rig.usb->bulk_in_steps.push_back(before_reader(kDataBlock, kTimeExtension, 1));
  rig.usb->bulk_in_steps.push_back([](FaultyUsb& usb, Bytes& answer) {
    answer = answer_to(usb.last_sent(), kDataBlock, 0x00, 0x00, hex("3B 00"));
    answer[6] ^= 0x80;  // another bSeq: a late answer to an earlier command
    return UsbStatus::ok;
  });
  rig.usb->bulk_in_steps.push_back(before_reader(kDataBlock, kTimeExtension, 2));
  auto power = rig.power();
  CHECK(power.status == STATUS_SUCCESS);
  CHECK(power.output == *readerlab::cards::builtin_atr("t1-fs"));
  CHECK(rig.reader_extension()->Channel.time_extensions() == 2);
}

TEST_CASE("POWER: a reader that returns no ATR or one longer than 33 bytes") {
  Rig rig("t1-fs");
  rig.start();
  SUBCASE("empty") { rig.usb->bulk_in_steps.push_back(instead(kDataBlock, 0x00, 0x00)); }
  SUBCASE("34 bytes") {
    Bytes long_atr = {0x3B, 0x0F};
    long_atr.resize(34, 0x41);
    rig.usb->bulk_in_steps.push_back(instead(kDataBlock, 0x00, 0x00, long_atr));
  }
  auto power = rig.power();
  CHECK(power.status == STATUS_UNRECOGNIZED_MEDIA);  // spec §1.2 POWER: a documented driver result
  CHECK(power.output.empty());
  CHECK(rig.driver->state() == SCARD_POWERED);
  CHECK(rig.reader_extension()->CardPowered);
}

TEST_CASE("TRANSMIT: failed CCID answers map to NTSTATUS and update the card state") {
  Rig rig("t1-fs");
  rig.start();
  REQUIRE(rig.power().status == STATUS_SUCCESS);
  REQUIRE(rig.set_protocol(SCARD_PROTOCOL_T1).status == STATUS_SUCCESS);
  const struct {
    std::uint8_t error;
    NTSTATUS status;
  } errors[] = {
      {0xFE, STATUS_IO_TIMEOUT},             // ICC_MUTE
      {0xFD, STATUS_DEVICE_DATA_ERROR},      // XFR_PARITY_ERROR
      {0xFC, STATUS_BUFFER_TOO_SMALL},       // XFR_OVERRUN
      {0xFB, STATUS_IO_DEVICE_ERROR},        // HW_ERROR
      {0xF8, STATUS_UNRECOGNIZED_MEDIA},     // BAD_ATR_TS
      {0xF7, STATUS_UNRECOGNIZED_MEDIA},     // BAD_ATR_TCK
      {0xF6, STATUS_NOT_SUPPORTED},          // ICC_PROTOCOL_NOT_SUPPORTED
      {0xF5, STATUS_UNRECOGNIZED_MEDIA},     // ICC_CLASS_NOT_SUPPORTED
      {0xF4, STATUS_DEVICE_PROTOCOL_ERROR},  // PROCEDURE_BYTE_CONFLICT
      {0xF3, STATUS_INVALID_DEVICE_STATE},   // DEACTIVATED_PROTOCOL
      {0xF0, STATUS_IO_TIMEOUT},             // PIN_TIMEOUT
      {0xEF, STATUS_CANCELLED},              // PIN_CANCELLED
      {0xFF, STATUS_CANCELLED},              // CMD_ABORTED
      {0x05, STATUS_IO_DEVICE_ERROR},        // the reader refused bSlot (CCID 6.2.6 offset)
      {0x00, STATUS_NOT_SUPPORTED},          // command not supported
  };
  for (const auto& e : errors) {
    CAPTURE(int{e.error});
    rig.usb->bulk_in_steps.push_back(instead(kDataBlock, kFailedActive, e.error));
    auto r = rig.transmit(SCARD_PROTOCOL_T1, kSelectAid);
    CHECK(r.status == e.status);
    CHECK(r.output.empty());
    CHECK(rig.driver->state() == SCARD_SPECIFIC);  // the card is still active
  }
  SUBCASE("the card went inactive: SWALLOWED, and TRANSMIT is refused until a reset") {
    rig.usb->bulk_in_steps.push_back(instead(kDataBlock, kFailedInactive, 0xFD));
    CHECK(rig.transmit(SCARD_PROTOCOL_T1, kSelectAid).status == STATUS_DEVICE_DATA_ERROR);
    CHECK(rig.driver->state() == SCARD_SWALLOWED);
    CHECK_FALSE(rig.reader_extension()->CardPowered);
    CHECK(rig.transmit(SCARD_PROTOCOL_T1, kSelectAid).status == STATUS_INVALID_DEVICE_STATE);
  }
  SUBCASE("the card is gone: NO_MEDIA and ABSENT") {
    rig.usb->bulk_in_steps.push_back(instead(kDataBlock, kFailedAbsent, 0xFE));
    CHECK(rig.transmit(SCARD_PROTOCOL_T1, kSelectAid).status == STATUS_NO_MEDIA);
    CHECK(rig.driver->state() == SCARD_ABSENT);
    CHECK_FALSE(rig.reader_extension()->CardPresent);
  }
  SUBCASE("a command longer than the reader's dwMaxCCIDMessageLength is not sent") {
    const std::size_t before = rig.usb->sent.size();
    Bytes apdu = hex("00 D6 00 00 FF");
    apdu.resize(5 + 255 + 40, 0x55);
    CHECK(rig.transmit(SCARD_PROTOCOL_T1, apdu).status != STATUS_SUCCESS);
    CHECK(rig.usb->sent.size() == before);
  }
  // whatever happened, the reader is still usable after a reset
  rig.usb->bulk_in_steps.clear();
  if (rig.driver->state() == SCARD_ABSENT) return;
  REQUIRE(rig.power().status == STATUS_SUCCESS);
  REQUIRE(rig.set_protocol(SCARD_PROTOCOL_T1).status == STATUS_SUCCESS);
  auto ok = rig.transmit(SCARD_PROTOCOL_T1, kSelectAid);
  REQUIRE(ok.status == STATUS_SUCCESS);
  CHECK(ok.output[ok.output.size() - 2] == 0x90);
}

TEST_CASE("SET_PROTOCOL T=0 sends CCID SetParameters with the T=0 structure") {
  Rig rig("t0-t1");
  rig.start();
  REQUIRE(rig.power().status == STATUS_SUCCESS);
  REQUIRE(rig.driver->state() == SCARD_NEGOTIABLE);
  auto r = rig.set_protocol(SCARD_PROTOCOL_T0);
  REQUIRE(r.status == STATUS_SUCCESS);
  CHECK(ulong_at(r.output) == SCARD_PROTOCOL_T0);
  CHECK(rig.driver->state() == SCARD_SPECIFIC);
  REQUIRE_FALSE(rig.usb->sent.empty());
  const Bytes& m = rig.usb->last_sent();
  const PTS_DATA& pts = rig.driver->extension()->CardCapabilities.PtsData;
  CHECK(m[0] == kSetParameters);
  CHECK(m[7] == 0);  // bProtocolNum T=0
  // CCID 6.1.7 abProtocolDataStructure for T=0: bmFindexDindex, bmTCCKST0, bGuardTimeT0,
  // bWaitingIntegerT0, bClockStop
  const std::uint8_t fi_di = static_cast<std::uint8_t>((pts.Fl << 4) | pts.Dl);
  CHECK(Bytes(m.begin() + kHeader, m.end()) == Bytes{fi_di, 0x00, 0x00, 0x0A, 0x00});
  CHECK(rig.reader->protocol() == 0);
}

TEST_CASE("PPS at TPDU level: a confirmation without PPS1 means Fd/Dd") {
  Rig rig("t0-t1", readerlab::ccid::ExchangeLevel::tpdu);
  rig.start();
  REQUIRE(rig.power().status == STATUS_SUCCESS);
  REQUIRE(rig.driver->state() == SCARD_NEGOTIABLE);
  const std::size_t from = rig.usb->sent.size();
  // ISO 7816-3 9.3: PPSS FF, PPS0 01 (T=1, PPS1 absent), PCK
  rig.usb->bulk_in_steps.push_back(altered([](Bytes& answer) { answer = with_data(answer, {0xFF, 0x01, 0xFE}); }));
  auto r = rig.set_protocol(SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1);
  REQUIRE(r.status == STATUS_SUCCESS);
  CHECK(ulong_at(r.output) == SCARD_PROTOCOL_T1);
  CHECK(rig.usb->sent_types(from) == std::vector<std::uint8_t>{kXfrBlock, kSetParameters});
  CHECK(rig.usb->sent[from][kHeader + 2] != 0x11);  // the optimal Fi/Di was asked
  CHECK(rig.usb->last_sent()[kHeader] == 0x11);     // bmFindexDindex: Fd/Dd
}

TEST_CASE("PPS at TPDU level: a PPS refused or not answered means a warm reset and Fd/Dd") {
  Rig rig("t0-t1", readerlab::ccid::ExchangeLevel::tpdu);
  rig.start();
  REQUIRE(rig.power().status == STATUS_SUCCESS);
  REQUIRE(rig.driver->state() == SCARD_NEGOTIABLE);
  const std::size_t from = rig.usb->sent.size();
  SUBCASE("the card confirms other parameters") {
    rig.usb->bulk_in_steps.push_back(altered([](Bytes& answer) {
      answer = with_data(answer, {0xFF, 0x11, 0x11, 0xFF ^ 0x11 ^ 0x11});
    }));
  }
  SUBCASE("the card does not answer") { rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::timeout)); }
  auto r = rig.set_protocol(SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1);
  REQUIRE(r.status == STATUS_SUCCESS);
  CHECK(ulong_at(r.output) == SCARD_PROTOCOL_T1);
  CHECK(rig.driver->state() == SCARD_SPECIFIC);
  CHECK(rig.usb->sent_types(from) == std::vector<std::uint8_t>{kXfrBlock, kIccPowerOn, kXfrBlock, kSetParameters});
  const Bytes& first = rig.usb->sent[from];
  const Bytes& second = rig.usb->sent[from + 2];
  CHECK(first[kHeader + 2] != 0x11);                                           // the optimal Fi/Di
  CHECK(Bytes(second.begin() + kHeader, second.end()) == hex("FF 11 11 FF"));  // then Fd/Dd
  CHECK(rig.driver->extension()->CardCapabilities.PtsData.Type == PTS_TYPE_DEFAULT);
  auto reply = rig.transmit(SCARD_PROTOCOL_T1, kSelectAid);
  REQUIRE(reply.status == STATUS_SUCCESS);
  CHECK(reply.output[reply.output.size() - 2] == 0x90);
}

TEST_CASE("TPDU level: a T=1 block the card does not answer in time is asked again") {
  Rig rig("t1-fs", readerlab::ccid::ExchangeLevel::tpdu);
  rig.start();
  REQUIRE(rig.power().status == STATUS_SUCCESS);
  REQUIRE(rig.set_protocol(SCARD_PROTOCOL_T1).status == STATUS_SUCCESS);
  const std::size_t from = rig.usb->sent.size();
  rig.usb->bulk_in_steps.push_back(passed());                        // S(IFS response)
  rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::timeout));  // the answer to our I-block
  auto reply = rig.transmit(SCARD_PROTOCOL_T1, kSelectAid);
  REQUIRE(reply.status == STATUS_SUCCESS);
  CHECK(reply.output[reply.output.size() - 2] == 0x90);
  REQUIRE(rig.usb->sent.size() >= from + 3);
  const Bytes& third = rig.usb->sent[from + 2];
  CHECK(third[0] == kXfrBlock);
  CHECK((third[kHeader + 1] & 0xEC) == 0x80);  // an R-block (ISO 7816-3 11.3.2.2), no data
  CHECK((third[kHeader + 1] & 0x03) != 0);     // with an error: the block did not come
}

TEST_CASE("TPDU level: SET_PROTOCOL RAW through RDF_ATR_PARSE, then raw exchanges") {
  Rig rig("t0-t1", readerlab::ccid::ExchangeLevel::tpdu);
  rig.start();
  REQUIRE(rig.power().status == STATUS_SUCCESS);
  auto r = rig.set_protocol(SCARD_PROTOCOL_RAW);
  REQUIRE(r.status == STATUS_SUCCESS);
  CHECK(ulong_at(r.output) == SCARD_PROTOCOL_RAW);
  CHECK(rig.driver->state() == SCARD_SPECIFIC);
  const std::size_t from = rig.usb->sent.size();
  rig.usb->bulk_in_steps.push_back(instead(kDataBlock, 0x00, 0x00, hex("AA BB 90 00")));
  const Bytes request = transmit_request(SCARD_PROTOCOL_RAW, hex("01 02 03"));
  auto reply = rig.driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, request, 64);
  REQUIRE(reply.status == STATUS_SUCCESS);
  CHECK(reply.output == hex("AA BB 90 00"));  // SmartcardRawReply: no header
  REQUIRE(rig.usb->sent.size() == from + 1);
  // SmartcardRawRequest: the whole input, SCARD_IO_REQUEST included (spec §5)
  CHECK(Bytes(rig.usb->sent[from].begin() + kHeader, rig.usb->sent[from].end()) == request);
  // a reply the caller has no room for
  rig.usb->bulk_in_steps.push_back(instead(kDataBlock, 0x00, 0x00, hex("AA BB 90 00")));
  CHECK(rig.driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, request, 3).status == STATUS_BUFFER_TOO_SMALL);
}

TEST_CASE("APDU level: RAW is refused at TRANSMIT") {
  Rig rig("t0-t1");
  rig.start();
  REQUIRE(rig.power().status == STATUS_SUCCESS);
  REQUIRE(rig.set_protocol(SCARD_PROTOCOL_RAW).status == STATUS_SUCCESS);
  const std::size_t before = rig.usb->sent.size();
  CHECK(rig.transmit(SCARD_PROTOCOL_RAW, hex("00 A4 00 00")).status == STATUS_INVALID_DEVICE_REQUEST);
  CHECK(rig.usb->sent.size() == before);
}

TEST_CASE("CCID escape: the reader's answer as it is, its errors, and a command too long") {
  Rig rig("t1-fs");
  rig.start();
  const Bytes command = hex("01 02");
  SUBCASE("answered") {
    rig.usb->bulk_in_steps.push_back(instead(kEscapeAnswer, 0x00, 0x00, hex("0A 0B 0C")));
    auto r = rig.driver->ioctl(reference_rdf::kIoctlCcidEscape, command, 16);
    CHECK(r.status == STATUS_SUCCESS);
    CHECK(r.output == hex("0A 0B 0C"));
    CHECK(rig.usb->last_sent()[0] == kEscape);
    CHECK(Bytes(rig.usb->last_sent().begin() + kHeader, rig.usb->last_sent().end()) == command);
  }
  SUBCASE("an answer longer than the caller's buffer") {
    rig.usb->bulk_in_steps.push_back(instead(kEscapeAnswer, 0x00, 0x00, hex("0A 0B 0C")));
    CHECK(rig.driver->ioctl(reference_rdf::kIoctlCcidEscape, command, 2).status == STATUS_BUFFER_TOO_SMALL);
  }
  SUBCASE("failed with a hardware error") {
    rig.usb->bulk_in_steps.push_back(instead(kEscapeAnswer, kFailedInactive, 0xFB));
    CHECK(rig.driver->ioctl(reference_rdf::kIoctlCcidEscape, command, 16).status == STATUS_IO_DEVICE_ERROR);
  }
  SUBCASE("no answer") {
    rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::timeout));
    CHECK(rig.driver->ioctl(reference_rdf::kIoctlCcidEscape, command, 16).status == STATUS_IO_TIMEOUT);
  }
  SUBCASE("longer than a CCID message can carry") {
    const Bytes huge(rig.reader_extension()->Channel.max_payload() + 1, 0x33);
    CHECK(rig.driver->ioctl(reference_rdf::kIoctlCcidEscape, huge, 16).status == STATUS_INVALID_PARAMETER);
    CHECK(rig.usb->sent.empty());
  }
  CHECK(rig.driver->ioctl(SCARD_CTL_CODE(3501), command, 16).status == STATUS_INVALID_DEVICE_REQUEST);
}

TEST_CASE("card tracking: an IRP cancelled before the driver queues it completes CANCELLED") {
  Rig rig(nullptr);
  rig.start();
  REQUIRE(rig.driver->state() == SCARD_ABSENT);
  IRP irp;
  ReaderlabBuildDeviceControlIrp(&irp, rig.driver->device(), IOCTL_SMARTCARD_IS_PRESENT, nullptr, 0, 0);
  irp.Cancel = TRUE;
  CHECK(reference_rdf::RdfDeviceControl(rig.driver->device(), &irp) == STATUS_CANCELLED);
  CHECK(irp.ReaderlabCompleteCount == 1);
  CHECK(irp.IoStatus.Status == STATUS_CANCELLED);
  CHECK(rig.driver->extension()->OsData->NotificationIrp == nullptr);
  // the next tracking request is not refused as busy
  auto pending = rig.driver->ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0);
  CHECK(pending.pending);
}

TEST_CASE("card tracking: cleanup (RdfCancelTracking) completes the pending IRP CANCELLED") {
  Rig rig("t1-fs");
  rig.start();
  reference_rdf::RdfCancelTracking(rig.driver->extension());  // nothing pending: nothing happens
  reference_rdf::RdfCancelTracking(nullptr);
  auto pending = rig.driver->ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0);
  REQUIRE(pending.pending);
  CHECK(rig.reader_extension()->TrackingIoctl == IOCTL_SMARTCARD_IS_ABSENT);
  reference_rdf::RdfCancelTracking(rig.driver->extension());
  REQUIRE(rig.driver->pending_completed());
  CHECK(rig.driver->pending_status() == STATUS_CANCELLED);
  CHECK(rig.driver->extension()->OsData->NotificationIrp == nullptr);
  CHECK(rig.reader_extension()->TrackingIoctl == 0);
  rig.driver->release_pending();
  // a removal after the cleanup completes nothing, and tracking works again
  auto again = rig.driver->ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0);
  REQUIRE(again.pending);
  rig.reader->remove();
  REQUIRE(rig.driver->poll_slot_change(100) == STATUS_SUCCESS);
  REQUIRE(rig.driver->pending_completed());
  CHECK(rig.driver->pending_status() == STATUS_SUCCESS);
}

TEST_CASE("a stalled pipe is cleared with CLEAR_FEATURE(ENDPOINT_HALT) and the transfer tried once more") {
  Rig rig("t1-fs");
  rig.start();
  std::vector<UsbSetup> requests;
  rig.usb->control_hook = [&requests](FaultyUsb&, const UsbSetup& setup, uint8_t*, uint32_t*) {
    requests.push_back(setup);
    return std::optional<UsbStatus>();
  };
  std::uint16_t endpoint = 0;
  SUBCASE("bulk OUT") {
    rig.usb->bulk_out_faults.push_back(UsbStatus::stall);
    endpoint = readerlab::ccid::kBulkOut;
  }
  SUBCASE("bulk IN") {
    rig.usb->bulk_in_steps.push_back(usb_status(UsbStatus::stall));
    endpoint = readerlab::ccid::kBulkIn;
  }
  auto power = rig.power();
  CHECK(power.status == STATUS_SUCCESS);
  CHECK(power.output == *readerlab::cards::builtin_atr("t1-fs"));
  REQUIRE(requests.size() == 1);
  // USB 2.0 9.4.1: bmRequestType 02 (endpoint), CLEAR_FEATURE, ENDPOINT_HALT, wIndex the endpoint
  CHECK(requests[0].request_type == 0x02);
  CHECK(requests[0].request == 0x01);
  CHECK(requests[0].value == 0x0000);
  CHECK(requests[0].index == endpoint);
  CHECK(requests[0].length == 0);
  CHECK(rig.reader_extension()->Channel.stalls_cleared() == 1);
}

TEST_CASE("a stalled interrupt pipe is cleared and the slot change read after it") {
  Rig rig("t1-fs");
  rig.start();
  std::vector<UsbSetup> requests;
  rig.usb->control_hook = [&requests](FaultyUsb&, const UsbSetup& setup, uint8_t*, uint32_t*) {
    requests.push_back(setup);
    return std::optional<UsbStatus>();
  };
  rig.usb->interrupt_faults.push_back(UsbStatus::stall);
  rig.reader->remove();
  CHECK(rig.driver->poll_slot_change(0) == STATUS_SUCCESS);
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].request_type == 0x02);
  CHECK(requests[0].index == readerlab::ccid::kInterruptIn);
  CHECK(rig.reader_extension()->InterruptStallsCleared == 1);
  CHECK(rig.driver->poll_slot_change(0) == STATUS_SUCCESS);
  CHECK(rig.driver->state() == SCARD_ABSENT);
}
