#include "emulator/usb/device.h"

#include "emulator/usb/descriptors.h"
#include "emulator/usb/transfer_tap.h"

#include <algorithm>
#include <limits>

namespace readerlab::usb {
namespace {

std::uint32_t clamp32(std::size_t length) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(length, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

Device::~Device() = default;

std::uint64_t Device::next_transfer_id() { return ++last_transfer_id_; }

void Device::report(const TransferEvent& event) {
  if (tap_) tap_->on_transfer(event);
}

TransferType Device::endpoint_type(std::uint8_t endpoint_address, std::uint8_t* interval) const {
  *interval = 0;
  if ((endpoint_address & 0x0F) == 0) return TransferType::control;
  for (const auto& ep : endpoints()) {
    if (ep.address != endpoint_address) continue;
    if (ep.type == TransferType::interrupt) *interval = ep.interval;
    return ep.type;
  }
  return TransferType::bulk;  // an endpoint the device lacks: the transport asked for bulk
}

ControlResult Device::control(const SetupPacket& setup, std::span<const std::uint8_t> out_data) {
  return reported_control(setup, out_data, true);
}

ControlResult Device::reported_control(const SetupPacket& setup, std::span<const std::uint8_t> out_data,
                                       bool apply_faults) {
  const auto answer = [&] { return apply_faults ? faulted_control(setup, out_data) : handle_control(setup, out_data); };
  if (!tap_) return answer();
  TransferEvent event;
  event.id = next_transfer_id();
  event.type = TransferType::control;
  event.endpoint = setup.device_to_host() ? 0x80 : 0x00;
  event.setup = setup;
  event.length = setup.device_to_host() ? setup.length : clamp32(out_data.size());
  if (!setup.device_to_host()) event.data = out_data;
  report(event);
  auto result = answer();
  event.phase = TransferEvent::Phase::completed;
  event.setup.reset();
  event.status = result.status;
  event.length = setup.device_to_host() ? clamp32(result.data.size())
                                        : (result.status == TransferStatus::ok ? clamp32(out_data.size()) : 0);
  event.data = setup.device_to_host() ? std::span<const std::uint8_t>(result.data) : std::span<const std::uint8_t>();
  report(event);
  return result;
}

TransferStatus Device::transfer_out(std::uint8_t endpoint_address, std::span<const std::uint8_t> data) {
  return *out_transfer(endpoint_address, data, false);
}

std::optional<TransferStatus> Device::try_transfer_out(std::uint8_t endpoint_address,
                                                       std::span<const std::uint8_t> data) {
  return out_transfer(endpoint_address, data, true);
}

std::optional<TransferStatus> Device::out_transfer(std::uint8_t endpoint_address, std::span<const std::uint8_t> data,
                                                   bool may_hold) {
  come_back_if_due();
  TransferEvent event;
  event.type = endpoint_type(endpoint_address, &event.interval);
  event.endpoint = endpoint_address;
  // An OUT transfer a NAK held is the same transfer when it is offered again.
  auto waiting = waiting_out_.find(endpoint_address);
  const bool new_transfer = waiting == waiting_out_.end();
  event.id = new_transfer ? next_transfer_id() : waiting->second;
  if (new_transfer) {
    event.length = clamp32(data.size());
    event.data = data;
    report(event);
  }
  std::optional<TransferStatus> status = state_status(endpoint_address);
  if (!status && new_transfer) status = fire_on_new_transfer(endpoint_address, may_hold);
  if (!status) {
    const auto nak = nak_until_.find(endpoint_address);
    if (may_hold && nak != nak_until_.end() && Clock::now() < nak->second) {
      if (new_transfer) waiting_out_.emplace(endpoint_address, event.id);
      return std::nullopt;
    }
    status = handle_transfer_out(endpoint_address, data);
  }
  if (!new_transfer) waiting_out_.erase(endpoint_address);
  event.phase = TransferEvent::Phase::completed;
  event.status = *status;
  event.length = *status == TransferStatus::ok ? clamp32(data.size()) : 0;
  event.data = {};
  report(event);
  return status;
}

void Device::report_submitted_in(std::uint8_t endpoint_address, const WaitingIn& waiting) {
  TransferEvent event;
  event.id = waiting.id;
  event.type = endpoint_type(endpoint_address, &event.interval);
  event.endpoint = endpoint_address;
  event.length = waiting.length;
  report(event);
}

std::optional<Device::InResult> Device::transfer_in(std::uint8_t endpoint_address, std::size_t max_length) {
  // A request asked again while it waits is the same transfer: the in-process host polls, and
  // the usbredir host asks again when the device says data is ready.
  come_back_if_due();
  auto waiting = waiting_in_.find(endpoint_address);
  const bool new_transfer = waiting == waiting_in_.end();
  if (new_transfer) {
    waiting = waiting_in_.emplace(endpoint_address, WaitingIn{next_transfer_id(), clamp32(max_length)}).first;
    if (tap_) report_submitted_in(endpoint_address, waiting->second);
  }
  std::optional<InResult> result;
  if (auto status = state_status(endpoint_address))
    result = InResult{*status, {}};
  else if (new_transfer && (status = fire_on_new_transfer(endpoint_address, true)))
    result = InResult{*status, {}};
  else
    result = faulted_in(endpoint_address, max_length);
  if (!result) return result;
  const auto id = waiting->second.id;
  waiting_in_.erase(waiting);
  complete_in(endpoint_address, id, *result);
  return result;
}

void Device::complete_in(std::uint8_t endpoint_address, std::uint64_t id, const InResult& result) {
  if (!tap_) return;
  TransferEvent event;
  event.id = id;
  event.phase = TransferEvent::Phase::completed;
  event.type = endpoint_type(endpoint_address, &event.interval);
  event.endpoint = endpoint_address;
  event.status = result.status;
  event.length = clamp32(result.data.size());
  event.data = result.data;
  report(event);
}

void Device::set_configuration(std::uint8_t value) {
  if (!tap_) return handle_set_configuration(value);
  TransferEvent event;
  event.id = next_transfer_id();
  event.type = TransferType::control;
  event.endpoint = 0x00;
  event.setup = SetupPacket{0x00, kRequestSetConfiguration, value, 0, 0};
  report(event);
  handle_set_configuration(value);
  event.phase = TransferEvent::Phase::completed;
  event.setup.reset();
  // A configuration the device does not have is a Request Error (USB 2.0 9.4.7).
  event.status = configuration() == value ? TransferStatus::ok : TransferStatus::stall;
  report(event);
}

void Device::report_cancelled_in(std::uint8_t endpoint_address, const WaitingIn& waiting) {
  if (!tap_) return;
  TransferEvent event;
  event.id = waiting.id;
  event.phase = TransferEvent::Phase::completed;
  event.type = endpoint_type(endpoint_address, &event.interval);
  event.endpoint = endpoint_address;
  event.status = TransferStatus::cancelled;
  report(event);
}

void Device::cancel_in(std::uint8_t endpoint_address) {
  const auto waiting = waiting_in_.find(endpoint_address);
  if (waiting == waiting_in_.end()) return;
  report_cancelled_in(endpoint_address, waiting->second);
  waiting_in_.erase(waiting);
  // The bytes of a message that waited for its end went with the cancelled transfer.
  if (auto held = held_in_.find(endpoint_address); held != held_in_.end() && held->second.unterminated)
    held_in_.erase(held);
}

void Device::cancel_out(std::uint8_t endpoint_address) {
  const auto waiting = waiting_out_.find(endpoint_address);
  if (waiting == waiting_out_.end()) return;
  if (tap_) {
    TransferEvent event;
    event.id = waiting->second;
    event.phase = TransferEvent::Phase::completed;
    event.type = endpoint_type(endpoint_address, &event.interval);
    event.endpoint = endpoint_address;
    event.status = TransferStatus::cancelled;
    report(event);
  }
  waiting_out_.erase(waiting);
}

void Device::bus_reset() {
  for (const auto& [endpoint, waiting] : waiting_in_) report_cancelled_in(endpoint, waiting);
  waiting_in_.clear();
  waiting_out_.clear();
  end_fault_state();
  handle_bus_reset();
}

void Device::set_transfer_tap(std::shared_ptr<TransferTap> tap) {
  tap_ = std::move(tap);
  if (!tap_) return;
  // GET_DESCRIPTOR reads and changes nothing (USB 2.0 9.4.3), so asking it here is safe. These
  // are the device introducing itself to the tap, not a host's requests: faults armed on
  // control requests do not see them.
  const SetupPacket device_request{0x80, kRequestGetDescriptor, kDescriptorDevice << 8, 0, 18};
  (void)reported_control(device_request, {}, false);
  SetupPacket configuration_request{0x80, kRequestGetDescriptor, kDescriptorConfiguration << 8, 0, 9};
  const auto header = handle_control(configuration_request, {});
  // wTotalLength, bytes 2-3 of the configuration descriptor (USB 2.0 Table 9-10).
  if (header.status == TransferStatus::ok && header.data.size() >= 4)
    configuration_request.length = static_cast<std::uint16_t>(header.data[2] | header.data[3] << 8);
  (void)reported_control(configuration_request, {}, false);
  for (const auto& [endpoint, waiting] : waiting_in_) report_submitted_in(endpoint, waiting);
}

}  // namespace readerlab::usb
