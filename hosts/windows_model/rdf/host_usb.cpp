#include "hosts/windows_model/rdf/host_usb.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace readerlab::windows_model {

namespace {

UsbStatus from_transfer_status(readerlab::usb::TransferStatus status) {
  using readerlab::usb::TransferStatus;
  switch (status) {
    case TransferStatus::ok: return UsbStatus::ok;
    case TransferStatus::stall: return UsbStatus::stall;
    case TransferStatus::babble: return UsbStatus::overflow;  // Windows: USBD_STATUS_BABBLE_DETECTED
    default: return UsbStatus::error;
  }
}

UsbStatus copy_in(const readerlab::usb::Bytes& data, uint8_t* buffer, uint32_t capacity, uint32_t* received) {
  if (data.size() > capacity) return UsbStatus::overflow;
  if (!data.empty()) std::memcpy(buffer, data.data(), data.size());
  *received = static_cast<uint32_t>(data.size());
  return UsbStatus::ok;
}

readerlab::usb::SetupPacket to_setup(const UsbSetup& s) {
  return {s.request_type, s.request, s.value, s.index, s.length};
}

}  // namespace

InProcessUsb::InProcessUsb(readerlab::usb::Device& device, CcidEndpoints endpoints)
    : device_(device), endpoints_(endpoints) {
  device_.set_configuration(1);
  device_.on_disconnect_request([this](std::chrono::milliseconds back_after) {
    back_at_ = std::chrono::steady_clock::now() + back_after;
    ++departures_;
  });
}

// The device may outlive this host (a rig keeps its readers): it must not call back here.
InProcessUsb::~InProcessUsb() { device_.on_disconnect_request({}); }

void InProcessUsb::wait_until(std::chrono::steady_clock::time_point when) {
  if (wait_)
    wait_(when);
  else
    std::this_thread::sleep_until(when);
}

bool InProcessUsb::device_present() {
  if (!back_at_) return true;
  if (std::chrono::steady_clock::now() < *back_at_) return false;
  // Plugged in again: the host resets the port and configures the device as it enumerates it.
  back_at_.reset();
  device_.bus_reset();
  device_.set_configuration(1);
  return true;
}

UsbStatus InProcessUsb::bulk_out(const uint8_t* data, uint32_t length) {
  const std::span<const uint8_t> message(data, length);
  for (;;) {
    if (!device_present()) return UsbStatus::error;
    if (auto status = device_.try_transfer_out(endpoints_.bulk_out, message)) return from_transfer_status(*status);
    // NAKed: the URB stays pending until the device takes the data.
    const auto now = std::chrono::steady_clock::now();
    wait_until(device_.next_attempt_at(endpoints_.bulk_out).value_or(now + std::chrono::milliseconds(2)));
  }
}

UsbStatus InProcessUsb::poll_in(uint8_t endpoint, uint8_t* buffer, uint32_t capacity, uint32_t* received,
                                uint32_t timeout_ms) {
  using Clock = std::chrono::steady_clock;
  *received = 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (!device_present()) return UsbStatus::error;
    if (auto in = device_.transfer_in(endpoint, capacity)) {
      if (in->status != readerlab::usb::TransferStatus::ok) return from_transfer_status(in->status);
      return copy_in(in->data, buffer, capacity, received);
    }
    const auto now = Clock::now();
    if (now >= deadline) return UsbStatus::timeout;
    // Sleep until the device says the data is ready, in slices of at most 2 ms otherwise.
    auto wake = std::min(deadline, now + std::chrono::milliseconds(2));
    if (auto ready = device_.next_attempt_at(endpoint)) wake = std::min(deadline, std::max(*ready, now));
    wait_until(wake);
  }
}

UsbStatus InProcessUsb::bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) {
  return poll_in(endpoints_.bulk_in, buffer, capacity, received, timeout_ms);
}

UsbStatus InProcessUsb::interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) {
  return poll_in(endpoints_.interrupt_in, buffer, capacity, received, timeout_ms);
}

UsbStatus InProcessUsb::control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) {
  *transferred = 0;
  if (!device_present()) return UsbStatus::error;
  const bool in = (setup.request_type & 0x80) != 0;
  const auto result =
      device_.control(to_setup(setup), in ? std::span<const uint8_t>() : std::span<const uint8_t>(data, setup.length));
  if (result.status != readerlab::usb::TransferStatus::ok) return from_transfer_status(result.status);
  if (!in) {
    *transferred = setup.length;
    return UsbStatus::ok;
  }
  return copy_in(result.data, data, setup.length, transferred);
}

UsbStatus InProcessUsb::reset_port() {
  if (!device_present()) return UsbStatus::error;
  device_.bus_reset();
  device_.set_configuration(1);
  return UsbStatus::ok;
}

Expected<std::unique_ptr<UsbredirUsb>> UsbredirUsb::connect(boost::asio::io_context& io,
                                                            const readerlab::usbredir::SocketAddress& address,
                                                            CcidEndpoints endpoints, std::chrono::milliseconds wait) {
  const auto where = "usbredir " + address.to_string();
  std::shared_ptr<readerlab::usbredir::Client> client;
  try {
    client = readerlab::usbredir::Client::connect(io, address, {});
  } catch (const std::exception& e) {
    return error(where, e.what());
  }
  if (!client->wait_for_device(wait)) return error(where, "no device offered");
  if (!client->set_configuration(1, wait)) return error(where, "set_configuration(1) failed");
  if (!client->start_interrupt_receiving(endpoints.interrupt_in, wait))
    return error(where, "start_interrupt_receiving failed");
  return std::make_unique<UsbredirUsb>(std::move(client), endpoints, address);
}

UsbredirUsb::UsbredirUsb(std::shared_ptr<readerlab::usbredir::Client> client, CcidEndpoints endpoints,
                         std::optional<readerlab::usbredir::SocketAddress> address)
    : client_(std::move(client)),
      endpoints_(endpoints),
      address_(std::move(address)),
      configured_connect_count_(client_->connect_count()) {}

bool UsbredirUsb::configure() {
  configured_connect_count_ = client_->connect_count();
  return client_->set_configuration(1, transfer_timeout_) &&
         client_->start_interrupt_receiving(endpoints_.interrupt_in, transfer_timeout_);
}

bool UsbredirUsb::ready() {
  if (!client_->is_open()) {
    // The server dropped the connection: the reader is still there, so connect again. A
    // connection closed on this side (the host stopping the driver) stays closed.
    if (!address_ || !client_->closed_by_peer()) return false;
    std::shared_ptr<readerlab::usbredir::Client> again;
    try {
      again = readerlab::usbredir::Client::connect(client_->io(), *address_, {});
    } catch (const std::exception&) {
      return false;
    }
    if (!again->wait_for_device(transfer_timeout_)) return false;
    earlier_disconnects_ += static_cast<std::uint64_t>(client_->disconnect_count());
    client_ = std::move(again);
    ++reconnects_;
    return configure();
  }
  if (!client_->device_connected()) return false;
  // Unplugged and plugged in again on the same connection: a new device for the host.
  if (client_->connect_count() != configured_connect_count_) return configure();
  return true;
}

std::uint64_t UsbredirUsb::departures() const {
  const bool dropped_now = !client_->is_open() && client_->closed_by_peer();
  return static_cast<std::uint64_t>(reconnects_) + (dropped_now ? 1 : 0) + earlier_disconnects_ +
         static_cast<std::uint64_t>(client_->disconnect_count());
}

UsbStatus UsbredirUsb::bulk_out(const uint8_t* data, uint32_t length) {
  if (!ready()) return UsbStatus::error;
  const auto status = client_->bulk_out(endpoints_.bulk_out, std::span<const uint8_t>(data, length), transfer_timeout_);
  if (!status) return UsbStatus::error;
  return from_transfer_status(*status);
}

UsbStatus UsbredirUsb::bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) {
  *received = 0;
  if (!ready()) return UsbStatus::error;
  // The usbredir host holds the request until the device has data, so one request waits.
  const auto in = client_->bulk_in(endpoints_.bulk_in, capacity, std::chrono::milliseconds(timeout_ms));
  if (!in) return client_->is_open() ? UsbStatus::timeout : UsbStatus::error;
  if (in->status != readerlab::usb::TransferStatus::ok) return from_transfer_status(in->status);
  return copy_in(in->data, buffer, capacity, received);
}

UsbStatus UsbredirUsb::interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) {
  *received = 0;
  if (!ready()) return UsbStatus::error;
  const auto packet = client_->next_interrupt_packet(endpoints_.interrupt_in, std::chrono::milliseconds(timeout_ms));
  if (!packet) return client_->is_open() ? UsbStatus::timeout : UsbStatus::error;
  // A halted interrupt endpoint reaches the driver as the STALL it is, for it to clear.
  if (packet->status == usb_redir_stall) return UsbStatus::stall;
  if (packet->status != usb_redir_success) return UsbStatus::error;
  return copy_in(packet->data, buffer, capacity, received);
}

UsbStatus UsbredirUsb::control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) {
  *transferred = 0;
  if (!ready()) return UsbStatus::error;
  const bool in = (setup.request_type & 0x80) != 0;
  const auto result =
      client_->control(to_setup(setup), in ? std::span<const uint8_t>() : std::span<const uint8_t>(data, setup.length),
                       transfer_timeout_);
  if (!result) return UsbStatus::error;
  if (result->status != readerlab::usb::TransferStatus::ok) return from_transfer_status(result->status);
  if (!in) {
    *transferred = setup.length;
    return UsbStatus::ok;
  }
  return copy_in(result->data, data, setup.length, transferred);
}

UsbStatus UsbredirUsb::reset_port() {
  if (!ready()) return UsbStatus::error;
  // usbredir's reset packet has no answer: the configuration request after it is the one
  // that shows the device answers again.
  client_->send_reset();
  return configure() ? UsbStatus::ok : UsbStatus::error;
}

}  // namespace readerlab::windows_model
