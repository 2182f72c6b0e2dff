// The reference driver's USB device on Windows: readerlab::windows_model::UsbIo over URBs sent
// down the device stack (IOCTL_INTERNAL_USB_SUBMIT_URB). The same interface the host model
// implements over readerlab's device model or usbredir (hosts/windows_model/rdf/usb_io.h).
#pragma once

#include "drivers_under_test/reference_rdf/windows/kernel_headers.h"
#include "hosts/windows_model/rdf/usb_io.h"

namespace reference_rdf::kernel {

using readerlab::windows_model::UsbIo;
using readerlab::windows_model::UsbSetup;
using readerlab::windows_model::UsbStatus;

// What selecting the configuration gave: the CCID interface's pipes (CCID 4.2: bulk OUT,
// bulk IN, optional interrupt IN). A null handle is a pipe the interface does not have.
struct UrbPipes {
  USBD_PIPE_HANDLE bulk_out;
  USBD_PIPE_HANDLE bulk_in;
  USBD_PIPE_HANDLE interrupt_in;
  UCHAR bulk_out_address;
  UCHAR bulk_in_address;
  UCHAR interrupt_in_address;
};

// Sends one URB to `lower` and waits up to timeout_ms (0: no limit); a URB still pending then
// is cancelled and waited for, and *timed_out set. Returns the IRP's status; urb->UrbHeader.Status
// holds the USBD status. PASSIVE_LEVEL.
NTSTATUS submit_urb(PDEVICE_OBJECT lower, PURB urb, ULONG timeout_ms, bool* timed_out);

// An internal IOCTL without a URB (IOCTL_INTERNAL_USB_RESET_PORT), waited for without limit.
NTSTATUS send_internal_ioctl(PDEVICE_OBJECT lower, ULONG code);

// The URB's outcome as the driver's UsbStatus (usb.h USBD_STATUS_* codes).
UsbStatus usb_status_of(NTSTATUS status, USBD_STATUS usbd, bool timed_out);

class UrbUsbIo final : public UsbIo {
 public:
  UrbUsbIo(PDEVICE_OBJECT lower, const UrbPipes& pipes) : lower_(lower), pipes_(pipes) {}

  UsbStatus bulk_out(const uint8_t* data, uint32_t length) override;
  UsbStatus bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) override;
  UsbStatus interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) override;
  UsbStatus control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) override;
  UsbStatus reset_port() override;

 private:
  UsbStatus transfer(USBD_PIPE_HANDLE pipe, bool in, uint8_t* buffer, uint32_t length, uint32_t* transferred,
                     uint32_t timeout_ms);
  UsbStatus reset_pipe(UCHAR endpoint_address);

  PDEVICE_OBJECT lower_;
  UrbPipes pipes_;
};

}  // namespace reference_rdf::kernel
