// What a transfer tap sees: every USB transfer a device takes part in, as the two halves the
// host side knows (the request submitted, the request completed), in the order they happen.
// usb::Device reports them whatever the transport (usbredir, in-process), so a trace writer
// (emulator/trace) sees one reader's whole conversation. A fault injected at the transfer level
// later belongs between the device and this report, so the trace shows the transfer the fault
// produced (a STALL status, a short packet) and not the one the device meant.
#pragma once

#include "emulator/usb/device.h"

#include <cstdint>
#include <optional>
#include <span>

namespace readerlab::usb {

struct TransferEvent {
  enum class Phase : std::uint8_t { submitted, completed };

  std::uint64_t id = 0;  // the same for a transfer's submission and its completion
  Phase phase = Phase::submitted;
  TransferType type = TransferType::bulk;
  std::uint8_t endpoint = 0;  // address, bit 7 set for IN (endpoint 0 carries the setup's direction)
  std::uint8_t interval = 0;  // bInterval of an interrupt endpoint
  // Submission of a control transfer: its setup stage.
  std::optional<SetupPacket> setup;
  // Completion: how it ended.
  TransferStatus status = TransferStatus::ok;
  // Submission: the bytes asked for (IN) or the bytes sent (OUT). Completion: the bytes moved.
  std::uint32_t length = 0;
  // The data of this half: OUT data at submission, IN data at completion, empty otherwise.
  std::span<const std::uint8_t> data;

  bool direction_in() const { return (endpoint & 0x80) != 0; }
};

class TransferTap {
 public:
  virtual ~TransferTap() = default;
  // Called on the device's thread, inside the transfer: it must not block or throw.
  virtual void on_transfer(const TransferEvent& event) noexcept = 0;
};

}  // namespace readerlab::usb
