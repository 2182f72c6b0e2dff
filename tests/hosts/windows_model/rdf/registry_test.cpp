// Drivers under test registered with readerlab_add_rdf_driver: the registry, the C USB entry
// points, and a third-party driver written in C (examples/rdf_drivers/minimal_c) run through
// the same host wrapper as the reference driver.
#include "drivers_under_test/reference_rdf/reference_rdf.h"
#include "hosts/windows_model/rdf/host_driver.h"
#include "hosts/windows_model/rdf/host_usb.h"
#include "hosts/windows_model/rdf/rdf_registry.h"

#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "tests/support/hex.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string_view>

namespace {

using readerlab::test::hex;
using Bytes = std::vector<std::uint8_t>;

Bytes echo_request(ULONG protocol) {
  Bytes request(8, 0);
  std::memcpy(request.data(), &protocol, 4);
  request[4] = 8;
  for (auto byte : hex("80 10 00 00 02 A1 A2 00")) request.push_back(byte);
  return request;
}

}  // namespace

TEST_CASE("the registry names every driver built with an ENTRY, and nothing else") {
  const auto* reference = readerlab::windows_model::find_rdf_driver("reference-rdf");
  REQUIRE(reference != nullptr);
  CHECK(reference->entry == &ReaderlabReferenceRdfDriver);
  CHECK(std::string_view(reference->expectations).empty());
  const auto* minimal = readerlab::windows_model::find_rdf_driver("minimal-c");
  REQUIRE(minimal != nullptr);
  CHECK(std::string_view(minimal->expectations).ends_with("minimal_c/known-failures.txt"));
  CHECK(readerlab::windows_model::find_rdf_driver("minimal") == nullptr);
  CHECK(readerlab::windows_model::find_rdf_driver("reference-rdf-usbredir") == nullptr);
  CHECK(readerlab::windows_model::registered_rdf_drivers().size() >= 2);
}

TEST_CASE("the C USB entry points refuse null arguments instead of touching them") {
  readerlab::ccid::Reader reader;
  readerlab::windows_model::InProcessUsb io(reader);
  READERLAB_USB* usb = readerlab::windows_model::readerlab_usb_of(&io);
  ULONG got = 99;
  UCHAR buffer[64];
  CHECK(ReaderlabUsbBulkOut(nullptr, buffer, 1) == ReaderlabUsbError);
  CHECK(ReaderlabUsbBulkOut(usb, nullptr, 1) == ReaderlabUsbError);
  CHECK(ReaderlabUsbBulkIn(usb, buffer, sizeof(buffer), nullptr, 0) == ReaderlabUsbError);
  CHECK(ReaderlabUsbInterruptIn(usb, nullptr, 8, &got, 0) == ReaderlabUsbError);
  CHECK(ReaderlabUsbControl(usb, 0x80, 0x06, 0x0100, 0, 18, nullptr, &got) == ReaderlabUsbError);
  // And pass real transfers through: the device descriptor (USB 2.0 9.6.1), then an empty bulk IN.
  REQUIRE(ReaderlabUsbControl(usb, 0x80, 0x06, 0x0100, 0, 18, buffer, &got) == ReaderlabUsbOk);
  CHECK(got == 18);
  CHECK(buffer[1] == 0x01);
  CHECK(ReaderlabUsbBulkIn(usb, buffer, sizeof(buffer), &got, 0) == ReaderlabUsbTimeout);
}

TEST_CASE("a driver in C runs through the host wrapper: tracking, power, protocol, transmit, holes") {
  const auto* minimal = readerlab::windows_model::find_rdf_driver("minimal-c");
  REQUIRE(minimal != nullptr);
  readerlab::ccid::Reader reader;
  readerlab::windows_model::InProcessUsb usb(reader);
  readerlab::windows_model::HostDriver driver(usb, *minimal->entry);
  REQUIRE(driver.start() == STATUS_SUCCESS);
  CHECK(driver.state() == SCARD_ABSENT);

  auto waiting = driver.ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0);
  CHECK(waiting.pending);
  reader.insert(readerlab::cards::make_builtin_card("t1-fs"));
  CHECK(driver.poll_slot_change(0) == STATUS_SUCCESS);
  REQUIRE(driver.pending_completed());
  CHECK(driver.pending_status() == STATUS_SUCCESS);
  driver.release_pending();
  CHECK(driver.state() == SCARD_SWALLOWED);

  const auto power = driver.ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  REQUIRE(power.status == STATUS_SUCCESS);
  CHECK(power.output == readerlab::cards::make_builtin_card("t1-fs")->reset(readerlab::cards::ResetKind::cold));
  const auto protocol = driver.ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, 4);
  REQUIRE(protocol.status == STATUS_SUCCESS);
  CHECK(driver.state() == SCARD_SPECIFIC);
  const auto reply = driver.ioctl(IOCTL_SMARTCARD_TRANSMIT, echo_request(SCARD_PROTOCOL_T1), 64);
  REQUIRE(reply.status == STATUS_SUCCESS);
  CHECK(Bytes(reply.output.begin() + 8, reply.output.end()) == hex("A1 A2 90 00"));

  // Callbacks the driver left out: the library answers for them (smclib.md 1.1).
  CHECK(driver.ioctl_ulong(IOCTL_SMARTCARD_EJECT, 0, 0).status == STATUS_NOT_SUPPORTED);
  CHECK(driver.ioctl(0x310000 | (3500u << 2), hex("00"), 64).status == STATUS_INVALID_DEVICE_REQUEST);

  // A card pulled out: the next command fails with NO_MEDIA and the state follows.
  reader.remove();
  const auto gone = driver.ioctl(IOCTL_SMARTCARD_TRANSMIT, echo_request(SCARD_PROTOCOL_T1), 64);
  CHECK(gone.status == STATUS_NO_MEDIA);
  CHECK(driver.state() == SCARD_ABSENT);
}

TEST_CASE("a driver that refuses the reader does not start, and the host never calls it further") {
  readerlab::ccid::ReaderConfig config;
  config.set_exchange_level(readerlab::ccid::ExchangeLevel::tpdu);
  readerlab::ccid::Reader reader(config);
  readerlab::windows_model::InProcessUsb usb(reader);
  readerlab::windows_model::HostDriver driver(usb, *readerlab::windows_model::find_rdf_driver("minimal-c")->entry);
  CHECK(driver.start() == STATUS_NOT_SUPPORTED);
  CHECK(driver.poll_slot_change(0) == STATUS_INVALID_DEVICE_STATE);
}
