// Faults at the USB transfer level (issue 11): what a misbehaving device or bus does to
// transfers, whatever carries them (usbredir or in-process). They are armed on a usb::Device
// (Device::arm_usb_fault) and applied in its transfer wrappers, so the transfer tap (traces) sees
// the faulted transfer as the host got it; a firing goes to the device's fault log.
#pragma once

#include "base/fault_trigger.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::usb {

enum class FaultKind {
  stall,         // the endpoint halts (USB 2.0 8.4.5) until CLEAR_FEATURE(ENDPOINT_HALT) (9.4.1)
  nak,           // the endpoint answers nothing for `duration` (IN: no data; OUT: not taken yet)
  short_packet,  // an IN transfer ends early: `sizes[0]` bytes of the data (default half), the
                 // rest of that message is lost
  babble,        // an IN transfer with more data than the host asked (USB 2.0 8.4.4 babble)
  missing_zlp,   // an IN message of a multiple of wMaxPacketSize bytes is not ended by a
                 // zero-length packet: the next message runs into the same transfer
  split,         // an IN message in several transfers of `sizes` bytes (odd sizes)
  control_fail,  // a control request (optionally only `request`) is answered STALL
  needs_reset,   // the device stops answering every endpoint until a bus reset
  disconnect,    // the device leaves the bus while a bulk-IN waits, back after `duration`
};

const char* to_string(FaultKind kind);  // "stall", "short-packet", ...
std::optional<FaultKind> fault_kind_from_string(const std::string& name);

struct Fault {
  FaultKind kind = FaultKind::stall;
  // The endpoint whose transfers are events (bit 7 for IN); for control_fail and needs_reset
  // ignored. 0 with stall/nak/...: the kind's natural endpoint is chosen by the arming code.
  std::uint8_t endpoint = 0;
  std::optional<std::uint8_t> request;    // control_fail: only this bRequest
  std::chrono::milliseconds duration{0};  // nak, disconnect
  std::vector<std::uint32_t> sizes;       // short_packet, split
  faults::Trigger trigger;
};

}  // namespace readerlab::usb
