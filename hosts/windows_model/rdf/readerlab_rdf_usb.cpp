// READERLAB_USB for drivers under test: the C entry points over the host's UsbIo transports.
#include "hosts/windows_model/rdf/readerlab_rdf.h"
#include "hosts/windows_model/rdf/usb_io.h"

namespace {

readerlab::windows_model::UsbIo* io(READERLAB_USB* usb) { return readerlab::windows_model::usb_io_of(usb); }

READERLAB_USB_STATUS to_c(readerlab::windows_model::UsbStatus status) {
  switch (status) {
    case readerlab::windows_model::UsbStatus::ok: return ReaderlabUsbOk;
    case readerlab::windows_model::UsbStatus::timeout: return ReaderlabUsbTimeout;
    case readerlab::windows_model::UsbStatus::stall: return ReaderlabUsbStall;
    case readerlab::windows_model::UsbStatus::overflow: return ReaderlabUsbOverflow;
    case readerlab::windows_model::UsbStatus::error: break;
  }
  return ReaderlabUsbError;
}

// One IN transfer on the bulk or the interrupt pipe.
READERLAB_USB_STATUS transfer_in(READERLAB_USB* usb,
                                 readerlab::windows_model::UsbStatus (readerlab::windows_model::UsbIo::*pipe)(
                                     uint8_t*, uint32_t, uint32_t*, uint32_t),
                                 UCHAR* buffer, ULONG capacity, ULONG* received, ULONG timeout_ms) {
  if (usb == nullptr || received == nullptr || (buffer == nullptr && capacity != 0)) return ReaderlabUsbError;
  uint32_t got = 0;
  const auto status = (io(usb)->*pipe)(buffer, capacity, &got, timeout_ms);
  *received = got;
  return to_c(status);
}

}  // namespace

extern "C" {

READERLAB_USB_STATUS ReaderlabUsbBulkOut(READERLAB_USB* usb, const UCHAR* data, ULONG length) {
  if (usb == nullptr || (data == nullptr && length != 0)) return ReaderlabUsbError;
  return to_c(io(usb)->bulk_out(data, length));
}

READERLAB_USB_STATUS ReaderlabUsbBulkIn(READERLAB_USB* usb, UCHAR* buffer, ULONG capacity, ULONG* received,
                                        ULONG timeout_ms) {
  return transfer_in(usb, &readerlab::windows_model::UsbIo::bulk_in, buffer, capacity, received, timeout_ms);
}

READERLAB_USB_STATUS ReaderlabUsbInterruptIn(READERLAB_USB* usb, UCHAR* buffer, ULONG capacity, ULONG* received,
                                             ULONG timeout_ms) {
  return transfer_in(usb, &readerlab::windows_model::UsbIo::interrupt_in, buffer, capacity, received, timeout_ms);
}

READERLAB_USB_STATUS ReaderlabUsbControl(READERLAB_USB* usb, UCHAR request_type, UCHAR request, USHORT value,
                                         USHORT index, USHORT length, UCHAR* data, ULONG* transferred) {
  if (usb == nullptr || transferred == nullptr || (data == nullptr && length != 0)) return ReaderlabUsbError;
  uint32_t got = 0;
  const readerlab::windows_model::UsbSetup setup{request_type, request, value, index, length};
  const auto status = io(usb)->control(setup, data, &got);
  *transferred = got;
  return to_c(status);
}

READERLAB_USB_STATUS ReaderlabUsbResetPort(READERLAB_USB* usb) {
  if (usb == nullptr) return ReaderlabUsbError;
  return to_c(io(usb)->reset_port());
}

}  // extern "C"
