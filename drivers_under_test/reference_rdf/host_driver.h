// The host's handle on the reference RDF driver: a device object with the driver's device
// extension, started on a UsbIo transport, and IOCTLs issued as IRPs through the driver's
// dispatch (SmartcardDeviceControl). Host code: the standard library is allowed here.
#pragma once

#include "drivers_under_test/reference_rdf/reference_rdf.h"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace reference_rdf {

struct IoctlResult {
  NTSTATUS status = STATUS_UNSUCCESSFUL;
  std::vector<std::uint8_t> output;  // the first Information bytes of the system buffer
  bool pending = false;              // left pending (card tracking): see HostDriver::pending_*
};

class HostDriver {
 public:
  explicit HostDriver(UsbIo& usb);
  ~HostDriver();
  HostDriver(const HostDriver&) = delete;
  HostDriver& operator=(const HostDriver&) = delete;

  // AddDevice + StartDevice (RdfStartDevice).
  NTSTATUS start();

  // One IRP_MJ_DEVICE_CONTROL, METHOD_BUFFERED: the system buffer holds the input and has room
  // for output_length bytes. A PENDING answer keeps the IRP here until it completes.
  IoctlResult ioctl(ULONG code, std::span<const std::uint8_t> input, ULONG output_length);
  // Convenience for IOCTLs whose input is one ULONG (POWER, SET_PROTOCOL, GET_ATTRIBUTE).
  IoctlResult ioctl_ulong(ULONG code, ULONG value, ULONG output_length);

  // The pending IRP (IS_PRESENT / IS_ABSENT) if any.
  bool has_pending() const { return pending_ != nullptr; }
  bool pending_completed() const;
  NTSTATUS pending_status() const;
  // Cancels it as the I/O manager would (IoCancelIrp), e.g. on close.
  void cancel_pending();
  // Forgets a completed pending IRP.
  void release_pending();

  // Pumps the interrupt endpoint: see RdfPollSlotChange.
  NTSTATUS poll_slot_change(ULONG timeout_ms = 0);

  ULONG state() const { return extension_->SmartcardExtension.ReaderCapabilities.CurrentState; }
  PSMARTCARD_EXTENSION extension() { return &extension_->SmartcardExtension; }
  PDEVICE_OBJECT device() { return &device_; }

 private:
  struct Request {
    IRP irp{};
    std::vector<std::uint8_t> buffer;
  };
  UsbIo& usb_;
  std::unique_ptr<RDF_DEVICE_EXTENSION> extension_;
  DEVICE_OBJECT device_{};
  bool started_ = false;
  std::unique_ptr<Request> pending_;
};

}  // namespace reference_rdf
