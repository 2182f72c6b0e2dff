// The host's handle on an RDF driver under test (any READERLAB_RDF_DRIVER, see readerlab_rdf.h):
// a device object with the driver's device extension, started on a UsbIo transport, and
// IOCTLs issued as IRPs through the driver's IRP_MJ_DEVICE_CONTROL dispatch. Host code: the
// standard library is allowed here.
#pragma once

#include "hosts/windows_model/rdf/readerlab_rdf.h"
#include "hosts/windows_model/rdf/usb_io.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace readerlab::windows_model {

struct IoctlResult {
  NTSTATUS status = STATUS_UNSUCCESSFUL;
  std::vector<std::uint8_t> output;  // the first Information bytes of the system buffer
  bool pending = false;              // left pending (card tracking): see HostDriver::pending_*
};

class HostDriver {
 public:
  HostDriver(UsbIo& usb, const READERLAB_RDF_DRIVER& driver);
  ~HostDriver();
  HostDriver(const HostDriver&) = delete;
  HostDriver& operator=(const HostDriver&) = delete;

  // AddDevice + StartDevice.
  NTSTATUS start();

  // One IRP_MJ_DEVICE_CONTROL, METHOD_BUFFERED: the system buffer holds the input and has room
  // for output_length bytes. A PENDING answer keeps the IRP here until it completes.
  IoctlResult ioctl(ULONG code, std::span<const std::uint8_t> input, ULONG output_length);
  // The IOCTL codes issued since the last call, in order (for reports).
  std::vector<ULONG> take_issued() { return std::exchange(issued_, {}); }
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

  // One IRP_MJ_POWER IRP_MN_SET_POWER of a device power state (D3 as the system goes to sleep,
  // D0 as it resumes), completed by the driver; STATUS_INVALID_DEVICE_REQUEST without a Power
  // dispatch. A driver that returns without completing it is a bug: STATUS_PENDING comes back.
  NTSTATUS set_device_power(DEVICE_POWER_STATE state, POWER_ACTION action);

  // Pumps the interrupt endpoint: the driver's InterruptIn.
  NTSTATUS poll_slot_change(ULONG timeout_ms = 0);

  ULONG state() const { return smartcard_extension()->ReaderCapabilities.CurrentState; }
  PSMARTCARD_EXTENSION extension() { return smartcard_extension(); }
  PDEVICE_OBJECT device() { return &device_; }

 private:
  struct Request {
    IRP irp{};
    std::vector<std::uint8_t> buffer;
  };
  PSMARTCARD_EXTENSION smartcard_extension() const {
    return reinterpret_cast<PSMARTCARD_EXTENSION>(extension_.get() + driver_.SmartcardExtensionOffset);
  }
  UsbIo& usb_;
  const READERLAB_RDF_DRIVER& driver_;
  std::unique_ptr<std::byte[]> extension_;  // DeviceExtensionSize bytes, zeroed
  DEVICE_OBJECT device_{};
  bool started_ = false;
  std::unique_ptr<Request> pending_;
  std::unique_ptr<IRP> power_irp_;
  std::vector<ULONG> issued_;
};

}  // namespace readerlab::windows_model
