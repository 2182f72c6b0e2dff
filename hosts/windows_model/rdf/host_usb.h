// Host-side implementations of the driver's UsbIo (not driver code: they may use the
// standard library): in-process on a readerlab::usb::Device, and a usbredir client over a
// socket to `readerlab serve` (the wire QEMU uses).
#pragma once

#include "base/error.h"
#include "emulator/usb/device.h"
#include "emulator/usbredir/client.h"
#include "hosts/windows_model/rdf/usb_io.h"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace readerlab::windows_model {

// CCID reader endpoints (readerlab's reader: CCID 5.2 bulk OUT, bulk IN, interrupt IN).
struct CcidEndpoints {
  uint8_t bulk_out = 0x01;
  uint8_t bulk_in = 0x82;
  uint8_t interrupt_in = 0x83;
};

// Transfers straight on the device model, in the caller's thread. A bulk IN the device does
// not have yet (a slow card) is polled until the timeout; between polls the caller's wait
// function runs (by default a sleep; the host port runs its event loop there, so that what a
// case scheduled, such as a removal, happens while the driver waits). A bulk OUT the device
// NAKs (an injected fault) waits the same way until the device takes it. A device that left the
// bus (an injected disconnect) fails every transfer until it is back; the first transfer after
// resets it and sets its configuration again, as the host would enumerating it.
class InProcessUsb final : public UsbIo {
 public:
  using WaitUntil = std::function<void(std::chrono::steady_clock::time_point)>;
  explicit InProcessUsb(readerlab::usb::Device& device, CcidEndpoints endpoints = {});
  ~InProcessUsb() override;
  InProcessUsb(const InProcessUsb&) = delete;
  InProcessUsb& operator=(const InProcessUsb&) = delete;
  void set_wait(WaitUntil wait) { wait_ = std::move(wait); }

  UsbStatus bulk_out(const uint8_t* data, uint32_t length) override;
  UsbStatus bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) override;
  UsbStatus interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) override;
  UsbStatus control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) override;
  UsbStatus reset_port() override;
  std::uint64_t departures() const override { return departures_; }

 private:
  UsbStatus poll_in(uint8_t endpoint, uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms);
  // False while the device is off the bus; brings it back (reset, configured) when it is due.
  bool device_present();
  void wait_until(std::chrono::steady_clock::time_point when);
  readerlab::usb::Device& device_;
  CcidEndpoints endpoints_;
  WaitUntil wait_;
  std::optional<std::chrono::steady_clock::time_point> back_at_;
  std::uint64_t departures_ = 0;
};

// Transfers through readerlab::usbredir::Client; every call runs the io_context until its
// answer arrives. connect() sets configuration 1 and starts interrupt receiving, and so does
// every transfer after a loss: a connection the server dropped is made again (the transfer in
// flight failed with an error), and a device that was unplugged and plugged in again (device
// connect after disconnect) is configured again.
class UsbredirUsb final : public UsbIo {
 public:
  // The client of a device on the server, or why there is none (unreachable, no device offered).
  static Expected<std::unique_ptr<UsbredirUsb>> connect(
      boost::asio::io_context& io, const readerlab::usbredir::SocketAddress& address, CcidEndpoints endpoints = {},
      std::chrono::milliseconds wait = std::chrono::milliseconds(5000));
  UsbredirUsb(std::shared_ptr<readerlab::usbredir::Client> client, CcidEndpoints endpoints,
              std::optional<readerlab::usbredir::SocketAddress> address = std::nullopt);

  UsbStatus bulk_out(const uint8_t* data, uint32_t length) override;
  UsbStatus bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) override;
  UsbStatus interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) override;
  UsbStatus control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) override;
  UsbStatus reset_port() override;

  readerlab::usbredir::Client& client() { return *client_; }
  // Connections made again after the server dropped one.
  int reconnects() const { return reconnects_; }
  // Dropped connections and device disconnects seen so far.
  std::uint64_t departures() const override;

 private:
  // Reconnects or configures again what a loss left; false when the device cannot be reached.
  bool ready();
  bool configure();
  std::shared_ptr<readerlab::usbredir::Client> client_;
  CcidEndpoints endpoints_;
  std::optional<readerlab::usbredir::SocketAddress> address_;
  std::chrono::milliseconds transfer_timeout_{5000};
  int configured_connect_count_ = 0;
  int reconnects_ = 0;
  std::uint64_t earlier_disconnects_ = 0;  // device disconnects on connections that were dropped since
};

}  // namespace readerlab::windows_model
