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
}

UsbStatus InProcessUsb::bulk_out(const uint8_t* data, uint32_t length) {
  return from_transfer_status(device_.transfer_out(endpoints_.bulk_out, std::span<const uint8_t>(data, length)));
}

UsbStatus InProcessUsb::poll_in(uint8_t endpoint, uint8_t* buffer, uint32_t capacity, uint32_t* received,
                                uint32_t timeout_ms) {
  using Clock = std::chrono::steady_clock;
  *received = 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (auto in = device_.transfer_in(endpoint, capacity)) {
      if (in->status != readerlab::usb::TransferStatus::ok) return from_transfer_status(in->status);
      return copy_in(in->data, buffer, capacity, received);
    }
    const auto now = Clock::now();
    if (now >= deadline) return UsbStatus::timeout;
    // Sleep until the device says the data is ready, in slices of at most 2 ms otherwise.
    auto wake = std::min(deadline, now + std::chrono::milliseconds(2));
    if (auto ready = device_.in_ready_at(endpoint)) wake = std::min(deadline, std::max(*ready, now));
    if (wait_)
      wait_(wake);
    else
      std::this_thread::sleep_until(wake);
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
  return std::make_unique<UsbredirUsb>(std::move(client), endpoints);
}

UsbredirUsb::UsbredirUsb(std::shared_ptr<readerlab::usbredir::Client> client, CcidEndpoints endpoints)
    : client_(std::move(client)), endpoints_(endpoints) {}

UsbStatus UsbredirUsb::bulk_out(const uint8_t* data, uint32_t length) {
  const auto status = client_->bulk_out(endpoints_.bulk_out, std::span<const uint8_t>(data, length), transfer_timeout_);
  if (!status) return UsbStatus::error;
  return from_transfer_status(*status);
}

UsbStatus UsbredirUsb::bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) {
  *received = 0;
  if (!client_->is_open()) return UsbStatus::error;
  // The usbredir host holds the request until the device has data, so one request waits.
  const auto in = client_->bulk_in(endpoints_.bulk_in, capacity, std::chrono::milliseconds(timeout_ms));
  if (!in) return client_->is_open() ? UsbStatus::timeout : UsbStatus::error;
  if (in->status != readerlab::usb::TransferStatus::ok) return from_transfer_status(in->status);
  return copy_in(in->data, buffer, capacity, received);
}

UsbStatus UsbredirUsb::interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) {
  *received = 0;
  if (!client_->is_open()) return UsbStatus::error;
  const auto packet = client_->next_interrupt(endpoints_.interrupt_in, std::chrono::milliseconds(timeout_ms));
  if (!packet) return client_->is_open() ? UsbStatus::timeout : UsbStatus::error;
  return copy_in(*packet, buffer, capacity, received);
}

UsbStatus UsbredirUsb::control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) {
  *transferred = 0;
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

}  // namespace readerlab::windows_model
