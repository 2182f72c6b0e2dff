// The reference RDF driver against the virtual CCID reader, through the smclib model's
// SmartcardDeviceControl: in-process USB, and one run over a usbredir socket.
#include "drivers_under_test/reference_rdf/reference_rdf.h"
#include "hosts/windows_model/rdf/host_driver.h"
#include "hosts/windows_model/rdf/host_usb.h"

#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "emulator/usbredir/server.h"
#include "tests/support/hex.h"

#include <doctest/doctest.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <thread>

namespace {

using readerlab::test::hex;
using Bytes = std::vector<std::uint8_t>;
using readerlab::windows_model::HostDriver;

// SELECT by DF name of the readerlab application every file-system card carries, with Le.
const Bytes kSelectAid = hex("00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 01 00");

// SCARD_IO_REQUEST {dwProtocol, cbPciLength = 8}, little endian, then the APDU.
Bytes transmit_request(ULONG protocol, const Bytes& apdu) {
  Bytes request;
  request.reserve(8 + apdu.size());
  for (const ULONG field : {protocol, ULONG{8}})
    for (int shift = 0; shift < 32; shift += 8) request.push_back(static_cast<std::uint8_t>(field >> shift));
  for (const auto byte : apdu) request.push_back(byte);
  return request;
}

ULONG ulong_at(const Bytes& bytes, std::size_t offset = 0) {
  ULONG value = 0;
  REQUIRE(bytes.size() >= offset + 4);
  std::memcpy(&value, bytes.data() + offset, 4);
  return value;
}

struct InProcess {
  explicit InProcess(const char* card,
                     readerlab::ccid::ExchangeLevel level = readerlab::ccid::ExchangeLevel::short_apdu) {
    readerlab::ccid::ReaderConfig config;
    config.set_exchange_level(level);
    reader = std::make_unique<readerlab::ccid::Reader>(config);
    if (card) reader->insert(readerlab::cards::make_builtin_card(card));
    usb = std::make_unique<readerlab::windows_model::InProcessUsb>(*reader);
    driver = std::make_unique<HostDriver>(*usb, ReaderlabReferenceRdfDriver);
    REQUIRE(driver->start() == STATUS_SUCCESS);
    driver->poll_slot_change(0);  // the insertion notification queued before the start
  }
  std::unique_ptr<readerlab::ccid::Reader> reader;
  std::unique_ptr<readerlab::windows_model::InProcessUsb> usb;
  std::unique_ptr<HostDriver> driver;
};

void power_protocol_select(HostDriver& driver, const Bytes& atr, ULONG mask, ULONG expected_protocol) {
  auto power = driver.ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  REQUIRE(power.status == STATUS_SUCCESS);
  CHECK(power.output == atr);
  auto protocol = driver.ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, mask, 4);
  REQUIRE(protocol.status == STATUS_SUCCESS);
  CHECK(ulong_at(protocol.output) == expected_protocol);
  CHECK(driver.state() == SCARD_SPECIFIC);
  auto reply = driver.ioctl(IOCTL_SMARTCARD_TRANSMIT, transmit_request(expected_protocol, kSelectAid), 300);
  REQUIRE(reply.status == STATUS_SUCCESS);
  REQUIRE(reply.output.size() >= 10);
  CHECK(ulong_at(reply.output) == expected_protocol);
  CHECK(ulong_at(reply.output, 4) == 8);
  CHECK(reply.output[reply.output.size() - 2] == 0x90);
  CHECK(reply.output[reply.output.size() - 1] == 0x00);
}

}  // namespace

TEST_CASE("cold reset returns the ATR, SET_PROTOCOL T1, SELECT by AID answers 9000 (APDU level)") {
  InProcess lab("t1-fs");
  CHECK(lab.driver->state() == SCARD_SWALLOWED);
  power_protocol_select(*lab.driver, *readerlab::cards::builtin_atr("t1-fs"), SCARD_PROTOCOL_T1, SCARD_PROTOCOL_T1);
}

TEST_CASE("at TPDU level the library's T=1 engine and a PPS through the reader carry the SELECT") {
  InProcess lab("t1-fs", readerlab::ccid::ExchangeLevel::tpdu);
  power_protocol_select(*lab.driver, *readerlab::cards::builtin_atr("t1-fs"), SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                        SCARD_PROTOCOL_T1);
}

TEST_CASE("a T=0 card at TPDU level: SELECT without Le through SmartcardT0Request") {
  InProcess lab("t0-basic", readerlab::ccid::ExchangeLevel::tpdu);
  auto power = lab.driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  REQUIRE(power.status == STATUS_SUCCESS);
  if (lab.driver->state() != SCARD_SPECIFIC) {
    REQUIRE(lab.driver->ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, SCARD_PROTOCOL_T0, 4).status == STATUS_SUCCESS);
  }
  const Bytes select = hex("00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 01");
  auto reply = lab.driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, transmit_request(SCARD_PROTOCOL_T0, select), 300);
  REQUIRE(reply.status == STATUS_SUCCESS);
  REQUIRE(reply.output.size() == 10);
  CHECK((reply.output[8] == 0x90 || reply.output[8] == 0x61));
}

TEST_CASE("POWER with no card gives NO_MEDIA") {
  InProcess lab(nullptr);
  CHECK(lab.driver->state() == SCARD_ABSENT);
  // The library refuses POWER in ABSENT itself; after a card left unseen, the driver says NO_MEDIA.
  auto absent = lab.driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  CHECK((absent.status == STATUS_INVALID_DEVICE_STATE || absent.status == STATUS_NO_MEDIA));
  lab.reader->insert(readerlab::cards::make_builtin_card("t1-fs"));
  REQUIRE(lab.driver->poll_slot_change(0) == STATUS_SUCCESS);
  CHECK(lab.driver->state() == SCARD_SWALLOWED);
  lab.reader->remove();  // the driver has not read the removal yet
  auto power = lab.driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  CHECK(power.status == STATUS_NO_MEDIA);
  CHECK(lab.driver->state() == SCARD_ABSENT);
}

TEST_CASE("a mute card gives IO_TIMEOUT") {
  InProcess lab("mute");
  auto power = lab.driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  CHECK(power.status == STATUS_IO_TIMEOUT);
  CHECK(power.output.empty());
}

TEST_CASE("a bad ATR gives UNRECOGNIZED_MEDIA") {
  InProcess lab("bad-atr");
  auto power = lab.driver->ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  CHECK(power.status == STATUS_UNRECOGNIZED_MEDIA);
}

TEST_CASE("IS_PRESENT pends and is completed by an insertion; a cancel completes it CANCELLED") {
  InProcess lab(nullptr);
  auto pending = lab.driver->ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0);
  REQUIRE(pending.pending);
  CHECK(pending.status == STATUS_PENDING);
  CHECK(lab.driver->poll_slot_change(0) == STATUS_IO_TIMEOUT);
  CHECK_FALSE(lab.driver->pending_completed());
  lab.reader->insert(readerlab::cards::make_builtin_card("t1-fs"));
  REQUIRE(lab.driver->poll_slot_change(100) == STATUS_SUCCESS);
  REQUIRE(lab.driver->pending_completed());
  CHECK(lab.driver->pending_status() == STATUS_SUCCESS);
  lab.driver->release_pending();

  auto absent = lab.driver->ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0);
  REQUIRE(absent.pending);
  lab.driver->cancel_pending();
  REQUIRE(lab.driver->pending_completed());
  CHECK(lab.driver->pending_status() == STATUS_CANCELLED);
}

TEST_CASE("EJECT, SWALLOW and CONFISCATE: a reader without mechanics says NOT_SUPPORTED") {
  InProcess lab("t1-fs");
  CHECK(lab.driver->ioctl(IOCTL_SMARTCARD_EJECT, {}, 0).status == STATUS_NOT_SUPPORTED);
  CHECK(lab.driver->ioctl(IOCTL_SMARTCARD_SWALLOW, {}, 0).status == STATUS_NOT_SUPPORTED);
  CHECK(lab.driver->ioctl(IOCTL_SMARTCARD_CONFISCATE, {}, 0).status == STATUS_NOT_SUPPORTED);
}

TEST_CASE("GET_FEATURE_REQUEST lists the CCID escape; the escape reaches the reader") {
  InProcess lab("t1-fs");
  auto features = lab.driver->ioctl(IOCTL_SMARTCARD_GET_FEATURE_REQUEST, {}, 64);
  REQUIRE(features.status == STATUS_SUCCESS);
  CHECK(features.output == hex("13 04 00 31 36 B0"));
  CHECK(lab.driver->ioctl(IOCTL_SMARTCARD_GET_FEATURE_REQUEST, {}, 3).status == STATUS_BUFFER_TOO_SMALL);
  // readerlab's reader knows no escape commands: CCID bError CMD_NOT_SUPPORTED.
  auto escape = lab.driver->ioctl(reference_rdf::kIoctlCcidEscape, hex("01 02"), 64);
  CHECK(escape.status == STATUS_NOT_SUPPORTED);
}

TEST_CASE("the reader's capabilities come from the CCID class descriptor") {
  InProcess lab("t1-fs");
  const auto& caps = lab.driver->extension()->ReaderCapabilities;
  CHECK(caps.SupportedProtocols == (SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1));
  CHECK(caps.ReaderType == SCARD_READER_TYPE_USB);
  CHECK(caps.CLKFrequency.Default == readerlab::ccid::kDefaultClockKhz);
  CHECK(caps.MaxIFSD == 254);
  CHECK(caps.DataRatesSupported.Entries == readerlab::ccid::supported_data_rates().size());
}

TEST_CASE("over a usbredir socket: power, T=1 and SELECT") {
  boost::asio::io_context io;
  readerlab::usbredir::Server server(io, {});
  readerlab::usbredir::SocketAddress wanted;
  wanted.is_unix = true;
  static std::atomic<int> counter{0};
  wanted.path = (std::filesystem::temp_directory_path() /
                 ("rl-rdf-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".sock"))
                    .string();
  const auto address = server.listen(wanted, [] {
    auto reader = std::make_shared<readerlab::ccid::Reader>();
    reader->insert(readerlab::cards::make_builtin_card("t1-fs"));
    return reader;
  });
  auto usb = readerlab::windows_model::UsbredirUsb::connect(io, address);
  REQUIRE_MESSAGE(usb.has_value(), (usb ? std::string() : usb.error().message()));
  HostDriver driver(**usb, ReaderlabReferenceRdfDriver);
  REQUIRE(driver.start() == STATUS_SUCCESS);
  driver.poll_slot_change(50);
  power_protocol_select(driver, *readerlab::cards::builtin_atr("t1-fs"), SCARD_PROTOCOL_T1, SCARD_PROTOCOL_T1);
  std::filesystem::remove(address.path);
}
