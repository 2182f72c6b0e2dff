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

// The event a kind counts (its trigger's "after N", "times") and what a firing does:
enum class FaultKind {
  // Event: a new transfer on the endpoint (bulk-OUT, bulk-IN or interrupt-IN). The endpoint halts
  // (USB 2.0 8.4.5): that transfer and every later one completes STALL, and GET_STATUS(endpoint)
  // shows the Halt bit, until the host sends CLEAR_FEATURE(ENDPOINT_HALT) (9.4.1, 9.4.5). A
  // halted bulk-OUT does not take the command. A halted bulk-IN keeps what the reader had queued,
  // as a real reader's FIFO does: the answer in flight is read after the clear.
  stall,
  // Event: a new transfer on the endpoint. IN: nothing is answered for `duration`
  // (Device::next_attempt_at says when to ask again). OUT: Device::try_transfer_out does not take
  // the data for `duration` and the transport holds the transfer (usbredir: its reply waits;
  // in-process: the bulk-OUT call waits); plain transfer_out, for callers that cannot hold a
  // transfer, takes it at once and is no event.
  nak,
  // Event: an IN transfer carrying more than the cut. It ends after `sizes[0]` bytes (default:
  // half the data); the rest of what the transfer carried is dropped.
  short_packet,
  // Event: an IN transfer carrying data. It completes with TransferStatus::babble (usbredir
  // usb_redir_babble, Linux -EOVERFLOW, the Windows model ReaderlabUsbOverflow), the host's
  // buffer filled; the message is lost.
  babble,
  // Event: an IN transfer whose data is a multiple of wMaxPacketSize (64) and shorter than the
  // host asked. No zero-length packet ends it: the transfer waits and the next message's bytes
  // run into it; a host that cancels it loses the bytes. A CCID answer of 64 bytes is a DataBlock
  // of 54 data bytes, e.g. READ BINARY of 52 bytes and SW1 SW2 (t1-fs: 00 B0 81 00 34).
  missing_zlp,
  // Event: an IN transfer carrying more than `sizes[0]`. The message goes out in transfers of
  // `sizes` bytes (default 7, 13), each ended by a short packet, then the rest in one.
  split,
  // Event: a control request (only bRequest `request` when set; standard and class requests
  // share numbers: GET_DESCRIPTOR 6, CCID ABORT 1, GET_CLOCK_FREQUENCIES 2, GET_DATA_RATES 3).
  // It is answered STALL without reaching the function.
  control_fail,
  // Event: any new transfer or control request. It and every later one STALL, CLEAR_FEATURE
  // included, until a bus reset (usbredir's reset packet, ReaderlabUsbResetPort in-process).
  needs_reset,
  // Event: a new bulk-IN transfer (the command taken, its answer not read). It fails (io_error),
  // the device leaves the bus and comes back after `duration`: the transport's disconnect handler
  // shows it (usbredir: device_disconnect, then connect again after a bus reset); without one the
  // device fails every transfer meanwhile and comes back from its own reset.
  disconnect,
};

// Several faults armed on one device: each transfer takes at most one of the kinds that change
// it, the earliest armed that fires.
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
