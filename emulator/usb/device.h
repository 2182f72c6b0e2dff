// A USB device model as the transports see it: identity, descriptors, endpoints and
// transfers. Transports (usbredir, in-process) drive a Device; functions (CCID) implement it.
#pragma once

#include "base/fault_trigger.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace readerlab::usb {

using Bytes = std::vector<std::uint8_t>;

// USB 2.0 9.6.6 bmAttributes transfer types.
enum class TransferType : std::uint8_t { control = 0, isochronous = 1, bulk = 2, interrupt = 3 };

enum class TransferStatus {
  ok,
  stall,     // the endpoint answered STALL (USB 2.0 8.4.5)
  io_error,  // a transport-level failure, e.g. an injected fault
  cancelled,
  invalid  // no such endpoint or a malformed request
};

// USB 2.0 9.3 setup data.
struct SetupPacket {
  std::uint8_t request_type = 0;
  std::uint8_t request = 0;
  std::uint16_t value = 0;
  std::uint16_t index = 0;
  std::uint16_t length = 0;

  bool device_to_host() const { return (request_type & 0x80) != 0; }
  std::uint8_t type() const { return (request_type >> 5) & 0x03; }  // 0 standard, 1 class, 2 vendor
  std::uint8_t recipient() const { return request_type & 0x1F; }    // 0 device, 1 interface, 2 endpoint
};

struct ControlResult {
  TransferStatus status = TransferStatus::ok;
  Bytes data;  // IN data stage, at most setup.length bytes
};

struct EndpointInfo {
  std::uint8_t address = 0;  // bit 7 set for IN
  TransferType type = TransferType::bulk;
  std::uint16_t max_packet_size = 64;
  std::uint8_t interval = 0;
  std::uint8_t interface_number = 0;
};

struct InterfaceInfo {
  std::uint8_t number = 0;
  std::uint8_t interface_class = 0;
  std::uint8_t interface_subclass = 0;
  std::uint8_t interface_protocol = 0;
};

enum class Speed { low, full, high };

struct DeviceIdentity {
  Speed speed = Speed::full;
  std::uint8_t device_class = 0;
  std::uint8_t device_subclass = 0;
  std::uint8_t device_protocol = 0;
  std::uint16_t vendor_id = 0;
  std::uint16_t product_id = 0;
  std::uint16_t device_version_bcd = 0;
};

// Told by a device when an IN endpoint has data waiting, so a transport can complete
// a transfer it holds.
using InDataReadyHandler = std::function<void(std::uint8_t endpoint_address)>;

class TransferTap;
struct TransferEvent;

// The transports call the public, non-virtual transfer functions; a device implements the
// handle_* ones. The wrappers between them are the one place every transfer of a device passes,
// whatever carries it: they report each transfer to the tap (a trace writer), and later fault
// injection at the transfer level belongs there too.
class Device {
 public:
  virtual ~Device();

  virtual DeviceIdentity identity() const = 0;
  virtual std::vector<InterfaceInfo> interfaces() const = 0;
  virtual std::vector<EndpointInfo> endpoints() const = 0;

  ControlResult control(const SetupPacket& setup, std::span<const std::uint8_t> out_data);

  // OUT transfer on a bulk or interrupt endpoint.
  TransferStatus transfer_out(std::uint8_t endpoint_address, std::span<const std::uint8_t> data);

  // IN transfer: nullopt while nothing is waiting (the transport then holds the request
  // until the ready handler fires, or asks again). A stalled endpoint answers with status stall.
  // Asking again while an earlier request waits continues that request (one transfer, not many):
  // a device sees one IN request per endpoint at a time, so a host's queue of several shows in a
  // trace as each one submitted when it reaches the head of the queue.
  struct InResult {
    TransferStatus status = TransferStatus::ok;
    Bytes data;
  };
  std::optional<InResult> transfer_in(std::uint8_t endpoint_address, std::size_t max_length);
  // The host gave up the IN request waiting on this endpoint (a usbredir cancel): the tap sees
  // it completed as cancelled, and the next request is a new transfer.
  void cancel_in(std::uint8_t endpoint_address);

  // When data held back for time (a slow card's answer) becomes available on an IN endpoint;
  // nullopt when nothing waits for time. A transport sets a timer and asks again then.
  virtual std::optional<std::chrono::steady_clock::time_point> in_ready_at(std::uint8_t endpoint_address) const {
    (void)endpoint_address;
    return std::nullopt;
  }

  // usbredir carries SET_CONFIGURATION as a packet of its own, and in-process hosts call this
  // directly; the tap sees it as the standard control request it stands for (USB 2.0 9.4.7).
  void set_configuration(std::uint8_t value);
  virtual std::uint8_t configuration() const = 0;
  // A reset ends the IN requests still waiting: the tap sees them completed as cancelled.
  void bus_reset();

  void on_in_data_ready(InDataReadyHandler handler) { in_data_ready_ = std::move(handler); }

  // Every transfer from now on is reported to the tap (nullptr: to nobody). A new tap first
  // sees the device's GET_DESCRIPTOR(device) and GET_DESCRIPTOR(configuration), asked of the
  // device there and then, so that what it records can be decoded on its own (Wireshark learns
  // the interface class from them), and the submissions of IN requests still waiting.
  void set_transfer_tap(std::shared_ptr<TransferTap> tap);

  // Where the faults armed on this device (every level: USB here, CCID in the function) write
  // their firings; nullptr: nowhere.
  void set_fault_log(std::shared_ptr<faults::FaultLog> log) { fault_log_ = std::move(log); }

 protected:
  void record_firing(faults::Firing firing) {
    if (fault_log_) fault_log_->firings.push_back(std::move(firing));
  }

  virtual ControlResult handle_control(const SetupPacket& setup, std::span<const std::uint8_t> out_data) = 0;
  virtual TransferStatus handle_transfer_out(std::uint8_t endpoint_address, std::span<const std::uint8_t> data) = 0;
  virtual std::optional<InResult> handle_transfer_in(std::uint8_t endpoint_address, std::size_t max_length) = 0;
  virtual void handle_set_configuration(std::uint8_t value) = 0;
  virtual void handle_bus_reset() = 0;

  void notify_in_data_ready(std::uint8_t endpoint_address) {
    if (in_data_ready_) in_data_ready_(endpoint_address);
  }

 private:
  // An IN request the device has not answered yet: its submission is reported once.
  struct WaitingIn {
    std::uint64_t id = 0;
    std::uint32_t length = 0;
  };
  std::uint64_t next_transfer_id();
  void report(const TransferEvent& event);
  void report_submitted_in(std::uint8_t endpoint_address, const WaitingIn& waiting);
  void report_cancelled_in(std::uint8_t endpoint_address, const WaitingIn& waiting);
  TransferType endpoint_type(std::uint8_t endpoint_address, std::uint8_t* interval) const;

  InDataReadyHandler in_data_ready_;
  std::shared_ptr<TransferTap> tap_;
  std::shared_ptr<faults::FaultLog> fault_log_;
  std::uint64_t last_transfer_id_ = 0;
  std::map<std::uint8_t, WaitingIn> waiting_in_;
};

}  // namespace readerlab::usb
