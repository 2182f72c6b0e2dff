// A USB device model as the transports see it: identity, descriptors, endpoints and
// transfers. Transports (usbredir, in-process) drive a Device; functions (CCID) implement it.
#pragma once

#include "base/fault_trigger.h"
#include "emulator/usb/faults.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
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
  babble,    // the device sent more than the host asked (USB 2.0 8.4.4); an injected fault
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

// Asked by a device that leaves the bus (an injected disconnect) and comes back after the time
// given; a transport shows the peer the device gone and back (usbredir: unplug, replug).
using DisconnectHandler = std::function<void(std::chrono::milliseconds back_after)>;

class TransferTap;
struct TransferEvent;

// The transports call the public, non-virtual transfer functions; a device implements the
// handle_* ones. The wrappers between them are the one place every transfer of a device passes,
// whatever carries it: they apply the faults armed at the transfer level (faults.h) and report
// each transfer to the tap (a trace writer) as the host got it.
class Device {
 public:
  virtual ~Device();

  virtual DeviceIdentity identity() const = 0;
  virtual std::vector<InterfaceInfo> interfaces() const = 0;
  virtual std::vector<EndpointInfo> endpoints() const = 0;

  ControlResult control(const SetupPacket& setup, std::span<const std::uint8_t> out_data);

  // OUT transfer on a bulk or interrupt endpoint.
  // An OUT endpoint that NAKs (an injected nak) takes the data at once here: for callers that
  // cannot hold a transfer.
  TransferStatus transfer_out(std::uint8_t endpoint_address, std::span<const std::uint8_t> data);
  // The same for a transport that can hold a transfer: nullopt while the endpoint NAKs (the data
  // is not taken); the transport offers the same data again at next_attempt_at(endpoint).
  std::optional<TransferStatus> try_transfer_out(std::uint8_t endpoint_address, std::span<const std::uint8_t> data);

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
  // The host gave up an OUT transfer a NAK held (try_transfer_out answered nullopt).
  void cancel_out(std::uint8_t endpoint_address);

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
  // A reset ends the IN requests still waiting: the tap sees them completed as cancelled. It
  // also ends the state faults left (halted endpoints, a device that needed the reset).
  void bus_reset();

  // When a transfer that got nothing (nullopt) is worth trying again for time: the function's
  // in_ready_at, or the end of an injected NAK. Transports ask this, not in_ready_at.
  std::optional<std::chrono::steady_clock::time_point> next_attempt_at(std::uint8_t endpoint_address) const;

  void on_in_data_ready(InDataReadyHandler handler) { in_data_ready_ = std::move(handler); }
  void on_disconnect_request(DisconnectHandler handler) { disconnect_handler_ = std::move(handler); }

  // Faults at the transfer level (faults.h, faults.cpp). A fault with endpoint 0 applies to the
  // device's first bulk-IN endpoint (bulk-OUT for none of the kinds: name it). Throws
  // std::invalid_argument for a fault this device cannot take (an endpoint it lacks, an
  // IN-only kind on an OUT endpoint, a split size of 0), naming the field.
  void arm_usb_fault(const Fault& fault, std::uint64_t seed, std::size_t fault_index);
  // Disarms every USB fault and ends the state they left (halts, NAKs, held data, absence).
  void clear_usb_faults();
  // Disarms every USB fault as clear_usb_faults does, but a halted endpoint stays halted: the one
  // state a faulty device leaves that the host must end itself, with CLEAR_FEATURE(ENDPOINT_HALT)
  // (USB 2.0 9.4.5). readerlab fuzz checks a driver's health after faults this way.
  void disarm_usb_faults();
  bool endpoint_halted(std::uint8_t endpoint_address) const { return halted_.count(endpoint_address) != 0; }
  bool waiting_for_reset() const { return needs_reset_; }
  // Gone from the bus after an injected disconnect, until it comes back.
  bool off_the_bus() const;

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
  using Clock = std::chrono::steady_clock;
  struct ArmedUsbFault {
    Fault fault;
    faults::ArmedTrigger trigger;
    std::size_t index = 0;
  };
  // Bytes taken from the function but not delivered yet: the rest of a split message, or a
  // message not ended by a zero-length packet, waiting for the next one in the same transfer.
  struct HeldIn {
    Bytes data;
    std::vector<std::uint32_t> sizes;  // split: the sizes of the next transfers
    bool unterminated = false;         // missing ZLP
  };
  // The fault machinery (faults.cpp).
  using Eligible = std::function<bool(const Fault&)>;
  ArmedUsbFault* fire(const Eligible& eligible);
  void note_firing(const ArmedUsbFault& armed, std::string detail);
  std::optional<TransferStatus> state_status(std::uint8_t endpoint_address);
  std::optional<TransferStatus> fire_on_new_transfer(std::uint8_t endpoint_address, bool may_hold);
  std::optional<InResult> faulted_in(std::uint8_t endpoint_address, std::size_t max_length);
  std::optional<InResult> shape_in(std::uint8_t endpoint_address, std::size_t max_length, InResult result);
  ControlResult reported_control(const SetupPacket& setup, std::span<const std::uint8_t> out_data, bool apply_faults);
  ControlResult faulted_control(const SetupPacket& setup, std::span<const std::uint8_t> out_data);
  std::optional<TransferStatus> out_transfer(std::uint8_t endpoint_address, std::span<const std::uint8_t> data,
                                             bool may_hold);
  void complete_in(std::uint8_t endpoint_address, std::uint64_t id, const InResult& result);
  void end_fault_state();
  void come_back_if_due();
  std::uint16_t max_packet_size(std::uint8_t endpoint_address) const;
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
  std::map<std::uint8_t, std::uint64_t> waiting_out_;  // OUT transfers held by a NAK: their ids

  DisconnectHandler disconnect_handler_;
  std::vector<ArmedUsbFault> usb_faults_;
  std::set<std::uint8_t> halted_;
  std::map<std::uint8_t, Clock::time_point> nak_until_;
  std::map<std::uint8_t, HeldIn> held_in_;
  bool needs_reset_ = false;
  std::optional<Clock::time_point> gone_until_;
};

}  // namespace readerlab::usb
