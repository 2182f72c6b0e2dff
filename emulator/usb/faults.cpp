// Faults at the USB transfer level: the part of usb::Device that applies them (device.h). Every
// transfer passes Device's wrappers, which ask the armed faults here before and after the
// function (the CCID reader) sees it; the transfer tap then records what the host got.
#include "emulator/usb/faults.h"

#include "emulator/usb/descriptors.h"
#include "emulator/usb/device.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace readerlab::usb {
namespace {

struct KindName {
  FaultKind kind;
  const char* name;
};

constexpr std::array<KindName, 9> kKindNames{{{FaultKind::stall, "stall"},
                                              {FaultKind::nak, "nak"},
                                              {FaultKind::short_packet, "short-packet"},
                                              {FaultKind::babble, "babble"},
                                              {FaultKind::missing_zlp, "missing-zlp"},
                                              {FaultKind::split, "split"},
                                              {FaultKind::control_fail, "control-fail"},
                                              {FaultKind::needs_reset, "needs-reset"},
                                              {FaultKind::disconnect, "disconnect"}}};

// USB 2.0 Table 9-6: the feature selector ENDPOINT_HALT.
constexpr std::uint16_t kFeatureEndpointHalt = 0;

// The pieces a split delivers when the fault names none: odd sizes a CCID header (10 bytes)
// falls across.
constexpr std::array<std::uint32_t, 2> kDefaultSplitSizes{7, 13};

// What a babbling device sends past the host's buffer is noise; the bytes that do land are
// filled with this.
constexpr std::uint8_t kBabbleFill = 0xFF;

std::string hex8(std::uint8_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", value);
  return text;
}

std::string endpoint_name(std::uint8_t address) { return "EP " + hex8(address); }

std::string request_name(const SetupPacket& setup) {
  if (setup.type() == 0) {
    switch (setup.request) {
      case kRequestGetStatus: return "GET_STATUS";
      case kRequestClearFeature: return "CLEAR_FEATURE";
      case kRequestSetFeature: return "SET_FEATURE";
      case kRequestGetDescriptor: return "GET_DESCRIPTOR";
      case kRequestGetConfiguration: return "GET_CONFIGURATION";
      case kRequestSetConfiguration: return "SET_CONFIGURATION";
      case kRequestGetInterface: return "GET_INTERFACE";
      case kRequestSetInterface: return "SET_INTERFACE";
      default: return "standard request";
    }
  }
  return setup.type() == 1 ? "class request" : "vendor request";
}

bool in_only(FaultKind kind) {
  return kind == FaultKind::short_packet || kind == FaultKind::babble || kind == FaultKind::missing_zlp ||
         kind == FaultKind::split || kind == FaultKind::disconnect;
}

std::uint32_t short_packet_cut(const Fault& fault, std::size_t size) {
  if (!fault.sizes.empty()) return fault.sizes.front();
  return static_cast<std::uint32_t>(size / 2);
}

std::vector<std::uint32_t> split_sizes(const Fault& fault) {
  if (!fault.sizes.empty()) return fault.sizes;
  return {kDefaultSplitSizes.begin(), kDefaultSplitSizes.end()};
}

std::string sizes_text(const std::vector<std::uint32_t>& sizes) {
  std::string text;
  for (auto size : sizes) text += (text.empty() ? "" : ", ") + std::to_string(size);
  return text;
}

}  // namespace

const char* to_string(FaultKind kind) {
  for (const auto& entry : kKindNames)
    if (entry.kind == kind) return entry.name;
  return "unknown";
}

std::optional<FaultKind> fault_kind_from_string(const std::string& name) {
  for (const auto& entry : kKindNames)
    if (name == entry.name) return entry.kind;
  return std::nullopt;
}

void Device::arm_usb_fault(const Fault& fault, std::uint64_t seed, std::size_t fault_index) {
  Fault armed = fault;
  const std::string what = std::string("usb fault ") + to_string(fault.kind) + ": ";
  const auto eps = endpoints();
  const auto find = [&](std::uint8_t address) -> const EndpointInfo* {
    for (const auto& ep : eps)
      if (ep.address == address) return &ep;
    return nullptr;
  };
  if (fault.kind == FaultKind::control_fail || fault.kind == FaultKind::needs_reset) {
    armed.endpoint = 0;
  } else {
    if (armed.endpoint == 0) {
      for (const auto& ep : eps) {
        if (ep.type == TransferType::bulk && (ep.address & 0x80)) {
          armed.endpoint = ep.address;
          break;
        }
      }
      if (armed.endpoint == 0) throw std::invalid_argument(what + "endpoint: the device has no bulk-IN endpoint");
    }
    const EndpointInfo* ep = find(armed.endpoint);
    if (!ep)
      throw std::invalid_argument(what + "endpoint: " + hex8(armed.endpoint) + " is not an endpoint of the device");
    if (in_only(fault.kind) && !(ep->address & 0x80))
      throw std::invalid_argument(what + "endpoint: " + hex8(armed.endpoint) +
                                  " is an OUT endpoint; this kind is IN only");
    if (fault.kind == FaultKind::disconnect && ep->type != TransferType::bulk)
      throw std::invalid_argument(what + "endpoint: " + hex8(armed.endpoint) + " is not a bulk endpoint");
  }
  if (std::find(fault.sizes.begin(), fault.sizes.end(), 0u) != fault.sizes.end())
    throw std::invalid_argument(what + "sizes: a size of 0 bytes is not a transfer");
  usb_faults_.push_back(ArmedUsbFault{std::move(armed), faults::ArmedTrigger(fault.trigger, seed), fault_index});
}

void Device::clear_usb_faults() {
  usb_faults_.clear();
  end_fault_state();
}

void Device::disarm_usb_faults() {
  auto halted = halted_;
  clear_usb_faults();
  halted_ = std::move(halted);
}

void Device::end_fault_state() {
  halted_.clear();
  nak_until_.clear();
  held_in_.clear();
  needs_reset_ = false;
  gone_until_.reset();
}

bool Device::off_the_bus() const { return gone_until_ && Clock::now() < *gone_until_; }

std::optional<std::chrono::steady_clock::time_point> Device::next_attempt_at(std::uint8_t endpoint_address) const {
  if (const auto nak = nak_until_.find(endpoint_address); nak != nak_until_.end() && Clock::now() < nak->second)
    return nak->second;
  if (endpoint_address & 0x80) return in_ready_at(endpoint_address);
  return std::nullopt;
}

std::uint16_t Device::max_packet_size(std::uint8_t endpoint_address) const {
  for (const auto& ep : endpoints())
    if (ep.address == endpoint_address) return ep.max_packet_size;
  return 64;  // USB 2.0 5.8.3: the largest full-speed bulk packet
}

Device::ArmedUsbFault* Device::fire(const Eligible& eligible) {
  // One fault per transfer: the earliest armed that fires takes it; faults after it do not see
  // the event.
  const auto now = Clock::now();
  for (auto& armed : usb_faults_)
    if (eligible(armed.fault) && armed.trigger.fire(now)) return &armed;
  return nullptr;
}

void Device::note_firing(const ArmedUsbFault& armed, std::string detail) {
  faults::Firing firing;
  firing.level = "usb";
  firing.kind = to_string(armed.fault.kind);
  firing.detail = std::move(detail);
  firing.event = armed.trigger.events_seen();
  firing.at_ms = std::chrono::duration<double, std::milli>(Clock::now() - armed.trigger.armed_at()).count();
  firing.fault_index = armed.index;
  record_firing(std::move(firing));
}

void Device::come_back_if_due() {
  if (!gone_until_ || Clock::now() < *gone_until_) return;
  gone_until_.reset();
  // Back on the bus. A transport that showed the absence (disconnect handler) resets the device
  // as it shows it plugged in again; without one the device comes back from its own power-on
  // reset.
  if (!disconnect_handler_) bus_reset();
}

std::optional<TransferStatus> Device::state_status(std::uint8_t endpoint_address) {
  if (off_the_bus()) return TransferStatus::io_error;
  if (needs_reset_) return TransferStatus::stall;
  if (halted_.count(endpoint_address)) return TransferStatus::stall;  // USB 2.0 8.4.5
  return std::nullopt;
}

std::optional<TransferStatus> Device::fire_on_new_transfer(std::uint8_t endpoint_address, bool may_hold) {
  if (auto* armed = fire([](const Fault& f) { return f.kind == FaultKind::needs_reset; })) {
    needs_reset_ = true;
    note_firing(*armed, "the device stops answering until a bus reset: " + endpoint_name(endpoint_address) +
                            " and every later transfer STALL");
    return TransferStatus::stall;
  }
  if (auto* armed =
          fire([&](const Fault& f) { return f.kind == FaultKind::stall && f.endpoint == endpoint_address; })) {
    halted_.insert(endpoint_address);
    note_firing(*armed, endpoint_name(endpoint_address) + " halted: STALL until CLEAR_FEATURE(ENDPOINT_HALT)");
    return TransferStatus::stall;
  }
  if (auto* armed =
          fire([&](const Fault& f) { return f.kind == FaultKind::disconnect && f.endpoint == endpoint_address; })) {
    const auto back_after = armed->fault.duration;
    gone_until_ = Clock::now() + back_after;
    note_firing(*armed, "the device left the bus while " + endpoint_name(endpoint_address) + " waited; back after " +
                            std::to_string(back_after.count()) + " ms");
    if (disconnect_handler_) disconnect_handler_(back_after);
    return TransferStatus::io_error;
  }
  if (may_hold) {
    if (auto* armed =
            fire([&](const Fault& f) { return f.kind == FaultKind::nak && f.endpoint == endpoint_address; })) {
      nak_until_[endpoint_address] = Clock::now() + armed->fault.duration;
      note_firing(*armed, endpoint_name(endpoint_address) + " NAKs for " +
                              std::to_string(armed->fault.duration.count()) + " ms");
    }
  }
  return std::nullopt;
}

std::optional<Device::InResult> Device::faulted_in(std::uint8_t endpoint_address, std::size_t max_length) {
  if (const auto nak = nak_until_.find(endpoint_address); nak != nak_until_.end()) {
    if (Clock::now() < nak->second) return std::nullopt;
    nak_until_.erase(nak);
  }
  const auto held = held_in_.find(endpoint_address);
  if (held != held_in_.end() && !held->second.unterminated) {
    // The next piece of a split message: a transfer of its own, ended by a short packet.
    auto& rest = held->second;
    std::size_t size = rest.data.size();
    if (!rest.sizes.empty()) {
      size = rest.sizes.front();
      rest.sizes.erase(rest.sizes.begin());
    }
    size = std::min({size, rest.data.size(), max_length});
    InResult piece{TransferStatus::ok, Bytes(rest.data.begin(), rest.data.begin() + static_cast<std::ptrdiff_t>(size))};
    rest.data.erase(rest.data.begin(), rest.data.begin() + static_cast<std::ptrdiff_t>(size));
    if (rest.data.empty()) held_in_.erase(held);
    return piece;
  }
  if (held != held_in_.end()) {
    // A message not ended by a zero-length packet: the transfer goes on with the next message.
    const std::size_t room = max_length > held->second.data.size() ? max_length - held->second.data.size() : 0;
    if (room == 0) {
      InResult whole{TransferStatus::ok, std::move(held->second.data)};
      held_in_.erase(held);
      return whole;
    }
    auto next = handle_transfer_in(endpoint_address, room);
    if (!next) return std::nullopt;
    InResult joined{next->status, std::move(held->second.data)};
    joined.data.insert(joined.data.end(), next->data.begin(), next->data.end());
    held_in_.erase(held);
    return joined;
  }
  auto result = handle_transfer_in(endpoint_address, max_length);
  if (!result) return result;
  return shape_in(endpoint_address, max_length, std::move(*result));
}

std::optional<Device::InResult> Device::shape_in(std::uint8_t endpoint_address, std::size_t max_length,
                                                 InResult result) {
  if (result.status != TransferStatus::ok || result.data.empty()) return result;
  const std::size_t size = result.data.size();
  const std::uint16_t packet = max_packet_size(endpoint_address);
  auto* armed = fire([&](const Fault& f) {
    if (f.endpoint != endpoint_address) return false;
    switch (f.kind) {
      case FaultKind::babble: return true;
      case FaultKind::short_packet: return short_packet_cut(f, size) < size;
      case FaultKind::split: return split_sizes(f).front() < size;
      // USB 2.0 5.8.3: a transfer ends with a packet shorter than wMaxPacketSize; one of
      // exactly a multiple, shorter than the host asked, needs a zero-length packet after it.
      case FaultKind::missing_zlp: return packet != 0 && size % packet == 0 && size < max_length;
      default: return false;
    }
  });
  if (!armed) return result;
  const Fault& fault = armed->fault;
  switch (fault.kind) {
    case FaultKind::babble: {
      note_firing(*armed, endpoint_name(endpoint_address) + " sent past the " + std::to_string(max_length) +
                              " bytes asked (a message of " + std::to_string(size) + "): babble, the message lost");
      result.status = TransferStatus::babble;
      result.data.resize(max_length, kBabbleFill);
      return result;
    }
    case FaultKind::short_packet: {
      const auto cut = short_packet_cut(fault, size);
      note_firing(*armed, endpoint_name(endpoint_address) + " ended the transfer after " + std::to_string(cut) +
                              " of " + std::to_string(size) + " bytes; the rest dropped");
      result.data.resize(cut);
      return result;
    }
    case FaultKind::split: {
      auto sizes = split_sizes(fault);
      const auto first = sizes.front();
      note_firing(*armed, endpoint_name(endpoint_address) + " sent a message of " + std::to_string(size) +
                              " bytes in transfers of " + sizes_text(sizes) + " bytes and the rest");
      sizes.erase(sizes.begin());
      held_in_[endpoint_address] =
          HeldIn{Bytes(result.data.begin() + first, result.data.end()), std::move(sizes), false};
      result.data.resize(first);
      return result;
    }
    case FaultKind::missing_zlp: {
      note_firing(*armed, endpoint_name(endpoint_address) + " sent a message of " + std::to_string(size) + " bytes (" +
                              std::to_string(size / packet) +
                              " full packets) without the zero-length packet ending it");
      held_in_[endpoint_address] = HeldIn{std::move(result.data), {}, true};
      return faulted_in(endpoint_address, max_length);
    }
    default: return result;
  }
}

ControlResult Device::faulted_control(const SetupPacket& setup, std::span<const std::uint8_t> out_data) {
  come_back_if_due();
  if (off_the_bus()) return {TransferStatus::io_error, {}};
  if (needs_reset_) return {TransferStatus::stall, {}};
  if (auto* armed = fire([](const Fault& f) { return f.kind == FaultKind::needs_reset; })) {
    needs_reset_ = true;
    note_firing(*armed,
                "the device stops answering until a bus reset: the control request and every later transfer "
                "STALL");
    return {TransferStatus::stall, {}};
  }
  if (auto* armed = fire([&](const Fault& f) {
        return f.kind == FaultKind::control_fail && (!f.request || *f.request == setup.request);
      })) {
    note_firing(*armed, request_name(setup) + " (bmRequestType " + hex8(setup.request_type) + ", bRequest " +
                            hex8(setup.request) + ") answered STALL");
    return {TransferStatus::stall, {}};
  }
  auto result = handle_control(setup, out_data);
  // Standard requests to an endpoint (USB 2.0 9.4.1, 9.4.5, 9.4.9): the halt is the device's, so
  // they act on it whatever the function answers besides.
  if (setup.type() != 0 || setup.recipient() != 2 || result.status != TransferStatus::ok) return result;
  const auto endpoint = static_cast<std::uint8_t>(setup.index & 0xFF);
  if ((endpoint & 0x0F) == 0) return result;  // the default pipe never stays halted (8.4.5)
  if (setup.request == kRequestClearFeature && setup.value == kFeatureEndpointHalt) {
    if (halted_.erase(endpoint) && (endpoint & 0x80)) notify_in_data_ready(endpoint);
  } else if (setup.request == kRequestSetFeature && setup.value == kFeatureEndpointHalt) {
    halted_.insert(endpoint);
  } else if (setup.request == kRequestGetStatus && halted_.count(endpoint) && !result.data.empty()) {
    result.data[0] |= 0x01;  // USB 2.0 Figure 9-6: the Halt bit
  }
  return result;
}

}  // namespace readerlab::usb
