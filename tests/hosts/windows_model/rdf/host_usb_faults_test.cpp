// The Windows model's USB transports under injected faults, as a driver sees them through the C
// entry points (READERLAB_USB): in-process on the reader, and over a usbredir socket whose
// connection the server drops and the transport makes again.
#include "hosts/windows_model/rdf/host_usb.h"
#include "hosts/windows_model/rdf/readerlab_rdf.h"

#include "cards/profiles.h"
#include "emulator/ccid/messages.h"
#include "emulator/ccid/reader.h"
#include "emulator/usbredir/server.h"

#include <doctest/doctest.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <thread>

namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;
using readerlab::usb::Fault;
using readerlab::usb::FaultKind;

Bytes ccid_command(readerlab::ccid::Command type, std::uint8_t seq) {
  readerlab::ccid::Message m;
  m.type = static_cast<std::uint8_t>(type);
  m.seq = seq;
  return readerlab::ccid::encode(m);
}

struct Driver {
  READERLAB_USB* usb;

  READERLAB_USB_STATUS send(readerlab::ccid::Command type, std::uint8_t seq) {
    const auto message = ccid_command(type, seq);
    return ReaderlabUsbBulkOut(usb, message.data(), static_cast<ULONG>(message.size()));
  }
  READERLAB_USB_STATUS receive(Bytes& answer, ULONG capacity = 271, ULONG timeout_ms = 5000) {
    answer.assign(capacity, 0);
    ULONG got = 0;
    const auto status = ReaderlabUsbBulkIn(usb, answer.data(), capacity, &got, timeout_ms);
    answer.resize(got);
    return status;
  }
  // One command and its answer's bSeq, or 0xFFFF when a step failed.
  unsigned exchange(readerlab::ccid::Command type, std::uint8_t seq) {
    if (send(type, seq) != ReaderlabUsbOk) return 0xFFFF;
    Bytes answer;
    if (receive(answer) != ReaderlabUsbOk || answer.size() < readerlab::ccid::kHeaderSize) return 0xFFFF;
    return answer[6];
  }
};

Fault fault_of(FaultKind kind) {
  Fault fault;
  fault.kind = kind;
  return fault;
}

std::string socket_path() {
  static std::atomic<int> counter{0};
  return (std::filesystem::temp_directory_path() /
          ("rl-hostusb-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".sock"))
      .string();
}

// One reader served to every connection, as `readerlab run` serves a rig's reader.
struct Served {
  Served() {
    reader->insert(readerlab::cards::make_builtin_card("t1-fs"));
    reader->set_fault_log(log);
    readerlab::usbredir::SocketAddress wanted;
    wanted.is_unix = true;
    wanted.path = socket_path();
    address = server.listen(wanted, [this] {
      ++connections;
      return reader;
    });
  }
  boost::asio::io_context io;
  std::shared_ptr<readerlab::faults::FaultLog> log = std::make_shared<readerlab::faults::FaultLog>();
  std::shared_ptr<readerlab::ccid::Reader> reader = std::make_shared<readerlab::ccid::Reader>();
  readerlab::usbredir::Server server{io, {}};
  readerlab::usbredir::SocketAddress address;
  int connections = 0;
};

}  // namespace

TEST_CASE("in-process: babble reaches the driver as ReaderlabUsbOverflow") {
  readerlab::ccid::Reader reader;
  reader.insert(readerlab::cards::make_builtin_card("t1-fs"));
  readerlab::windows_model::InProcessUsb io(reader);
  Driver driver{readerlab::windows_model::readerlab_usb_of(&io)};
  reader.arm_usb_fault(fault_of(FaultKind::babble), 1, 0);
  REQUIRE(driver.send(readerlab::ccid::Command::get_slot_status, 1) == ReaderlabUsbOk);
  Bytes answer;
  CHECK(driver.receive(answer) == ReaderlabUsbOverflow);
  CHECK(driver.exchange(readerlab::ccid::Command::get_slot_status, 2) == 2);
}

TEST_CASE("in-process: a stalled bulk-IN answers ReaderlabUsbStall until the driver clears the halt") {
  readerlab::ccid::Reader reader;
  reader.insert(readerlab::cards::make_builtin_card("t1-fs"));
  readerlab::windows_model::InProcessUsb io(reader);
  Driver driver{readerlab::windows_model::readerlab_usb_of(&io)};
  reader.arm_usb_fault(fault_of(FaultKind::stall), 1, 0);
  REQUIRE(driver.send(readerlab::ccid::Command::icc_power_on, 1) == ReaderlabUsbOk);
  Bytes answer;
  CHECK(driver.receive(answer) == ReaderlabUsbStall);
  CHECK(driver.receive(answer) == ReaderlabUsbStall);
  ULONG got = 0;
  // CLEAR_FEATURE(ENDPOINT_HALT) to endpoint 0x82 (USB 2.0 9.4.1).
  REQUIRE(ReaderlabUsbControl(driver.usb, 0x02, 0x01, 0, 0x82, 0, nullptr, &got) == ReaderlabUsbOk);
  REQUIRE(driver.receive(answer) == ReaderlabUsbOk);
  CHECK(answer[6] == 1);
}

TEST_CASE("in-process: a device that needs a reset answers STALL until ReaderlabUsbResetPort") {
  readerlab::ccid::Reader reader;
  reader.insert(readerlab::cards::make_builtin_card("t1-fs"));
  readerlab::windows_model::InProcessUsb io(reader);
  Driver driver{readerlab::windows_model::readerlab_usb_of(&io)};
  reader.arm_usb_fault(fault_of(FaultKind::needs_reset), 1, 0);
  CHECK(driver.send(readerlab::ccid::Command::get_slot_status, 1) == ReaderlabUsbStall);
  CHECK(driver.send(readerlab::ccid::Command::get_slot_status, 2) == ReaderlabUsbStall);
  CHECK(ReaderlabUsbResetPort(driver.usb) == ReaderlabUsbOk);
  CHECK(reader.configuration() == 1);
  CHECK(driver.exchange(readerlab::ccid::Command::get_slot_status, 3) == 3);
  CHECK(ReaderlabUsbResetPort(nullptr) == ReaderlabUsbError);
}

TEST_CASE("in-process: a bulk-OUT the device NAKs completes once the NAK ends") {
  readerlab::ccid::Reader reader;
  reader.insert(readerlab::cards::make_builtin_card("t1-fs"));
  readerlab::windows_model::InProcessUsb io(reader);
  Driver driver{readerlab::windows_model::readerlab_usb_of(&io)};
  Fault nak = fault_of(FaultKind::nak);
  nak.endpoint = readerlab::ccid::kBulkOut;
  nak.duration = 20ms;
  reader.arm_usb_fault(nak, 1, 0);
  const auto started = std::chrono::steady_clock::now();
  CHECK(driver.exchange(readerlab::ccid::Command::get_slot_status, 1) == 1);
  CHECK(std::chrono::steady_clock::now() - started >= nak.duration);
}

TEST_CASE("in-process: a disconnect fails transfers while the device is gone; then it is back, reset and configured") {
  readerlab::ccid::Reader reader;
  reader.insert(readerlab::cards::make_builtin_card("t1-fs"));
  readerlab::windows_model::InProcessUsb io(reader);
  Driver driver{readerlab::windows_model::readerlab_usb_of(&io)};
  REQUIRE(driver.exchange(readerlab::ccid::Command::icc_power_on, 1) == 1);
  Fault disconnect = fault_of(FaultKind::disconnect);
  disconnect.duration = 30ms;
  reader.arm_usb_fault(disconnect, 1, 0);
  REQUIRE(driver.send(readerlab::ccid::Command::get_slot_status, 2) == ReaderlabUsbOk);
  Bytes answer;
  CHECK(driver.receive(answer) == ReaderlabUsbError);
  CHECK(driver.send(readerlab::ccid::Command::get_slot_status, 3) == ReaderlabUsbError);
  while (reader.off_the_bus()) std::this_thread::sleep_for(2ms);
  CHECK(driver.exchange(readerlab::ccid::Command::get_slot_status, 4) == 4);
  CHECK(reader.configuration() == 1);
  CHECK_FALSE(reader.card_powered());
}

TEST_CASE("usbredir: after the server drops the connection the transport reconnects and configures again") {
  Served served;
  auto connected = readerlab::windows_model::UsbredirUsb::connect(served.io, served.address);
  REQUIRE(connected.has_value());
  auto& io = **connected;
  Driver driver{readerlab::windows_model::readerlab_usb_of(&io)};
  REQUIRE(driver.exchange(readerlab::ccid::Command::icc_power_on, 1) == 1);
  readerlab::usbredir::TransportFault drop;
  drop.kind = readerlab::usbredir::TransportFaultKind::drop;
  served.server.arm_transport_fault(served.reader.get(), drop, 1, 0, served.log);

  CHECK(driver.send(readerlab::ccid::Command::get_slot_status, 2) == ReaderlabUsbError);
  CHECK(served.reader->commands_handled() == 2);  // it reached the reader before the drop
  // The next transfer connects again: the answer to the dropped command waited in the reader.
  Bytes answer;
  REQUIRE(driver.receive(answer) == ReaderlabUsbOk);
  CHECK(answer[6] == 2);
  CHECK(io.reconnects() == 1);
  CHECK(served.connections == 2);
  CHECK(served.reader->configuration() == 1);
  CHECK(served.reader->card_powered());
  CHECK(driver.exchange(readerlab::ccid::Command::get_slot_status, 3) == 3);
  // Interrupt receiving started again: a removal is notified (CCID 6.3.1: slot 0 absent, changed).
  served.reader->remove();
  UCHAR notification[8];
  ULONG got = 0;
  REQUIRE(ReaderlabUsbInterruptIn(driver.usb, notification, sizeof notification, &got, 5000) == ReaderlabUsbOk);
  REQUIRE(got == 2);
  CHECK(notification[1] == 0x02);
  REQUIRE(served.log->firings.size() == 1);
  CHECK(served.log->firings[0].level == "transport");
}

TEST_CASE("usbredir: a USB disconnect unplugs the reader; once it is back the transport configures it again") {
  Served served;
  auto connected = readerlab::windows_model::UsbredirUsb::connect(served.io, served.address);
  REQUIRE(connected.has_value());
  auto& io = **connected;
  Driver driver{readerlab::windows_model::readerlab_usb_of(&io)};
  Fault disconnect = fault_of(FaultKind::disconnect);
  disconnect.duration = 20ms;
  served.reader->arm_usb_fault(disconnect, 1, 0);
  REQUIRE(driver.send(readerlab::ccid::Command::get_slot_status, 1) == ReaderlabUsbOk);
  Bytes answer;
  CHECK(driver.receive(answer) == ReaderlabUsbError);
  REQUIRE(readerlab::usbredir::run_until(
      served.io, [&] { return io.client().connect_count() == 2; }, 5000ms));
  CHECK(driver.exchange(readerlab::ccid::Command::get_slot_status, 2) == 2);
  CHECK(served.reader->configuration() == 1);
  CHECK(served.connections == 1);
  // The host port stops the driver instance on such a departure (a PnP removal).
  CHECK(io.departures() == 1);
}

TEST_CASE("usbredir: a halted interrupt-IN reaches the driver as a STALL; once cleared the slot change comes") {
  Served served;
  auto connected = readerlab::windows_model::UsbredirUsb::connect(served.io, served.address);
  REQUIRE(connected.has_value());
  auto& io = **connected;
  Driver driver{readerlab::windows_model::readerlab_usb_of(&io)};
  UCHAR notification[8] = {};
  ULONG got = 0;
  // The insertion the reader reported as the connection came up.
  REQUIRE(ReaderlabUsbInterruptIn(driver.usb, notification, sizeof notification, &got, 2000) == ReaderlabUsbOk);
  Fault stall = fault_of(FaultKind::stall);
  stall.endpoint = readerlab::ccid::kInterruptIn;
  served.reader->arm_usb_fault(stall, 1, 0);
  // The interrupt request already waiting when the fault was armed completes; the next one halts.
  (void)served.reader->remove();
  REQUIRE(ReaderlabUsbInterruptIn(driver.usb, notification, sizeof notification, &got, 2000) == ReaderlabUsbOk);
  CHECK(notification[1] == 0x02);  // slot 0: changed, no card (CCID 6.3.1)
  served.reader->insert(readerlab::cards::make_builtin_card("t1-fs"));
  CHECK(ReaderlabUsbInterruptIn(driver.usb, notification, sizeof notification, &got, 2000) == ReaderlabUsbStall);
  // CLEAR_FEATURE(ENDPOINT_HALT) to endpoint 0x83 (USB 2.0 9.4.1).
  REQUIRE(ReaderlabUsbControl(driver.usb, 0x02, 0x01, 0, readerlab::ccid::kInterruptIn, 0, nullptr, &got) ==
          ReaderlabUsbOk);
  REQUIRE(ReaderlabUsbInterruptIn(driver.usb, notification, sizeof notification, &got, 2000) == ReaderlabUsbOk);
  CHECK(notification[0] == readerlab::ccid::kNotifySlotChange);
  CHECK(notification[1] == 0x03);  // slot 0: changed, card present
  CHECK(io.departures() == 0);
}
