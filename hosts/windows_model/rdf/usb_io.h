// READERLAB_USB as a C++ driver under test may see it: the few transfers a CCID reader driver
// makes (bulk OUT, bulk IN with a timeout, interrupt IN for NotifySlotChange, control). The
// Windows host model implements it (host_usb.h); drivers compile against it with the kernel's
// subset: plain types only, no exceptions, no standard library containers. On Windows this
// would sit on URBs; on the host it sits on readerlab's device model or on usbredir.
#pragma once

#include <cstdint>

#include <stdint.h>

struct READERLAB_USB;  // readerlab_rdf.h: the same object as the C drivers see it

namespace readerlab::windows_model {

enum class UsbStatus : uint8_t {
  ok,
  timeout,  // nothing arrived within the timeout
  stall,    // the endpoint answered STALL (USB 2.0 8.4.5)
  error,    // transport failure: device gone, socket closed, malformed answer
  overflow  // the device sent more than the buffer holds
};

// USB 2.0 9.3 setup data.
struct UsbSetup {
  uint8_t request_type;
  uint8_t request;
  uint16_t value;
  uint16_t index;
  uint16_t length;
};

class UsbIo {
 public:
  virtual ~UsbIo() = default;

  // One transfer on the bulk-OUT endpoint (CCID: PC_to_RDR message).
  virtual UsbStatus bulk_out(const uint8_t* data, uint32_t length) = 0;

  // One transfer from the bulk-IN endpoint, waiting up to timeout_ms for the device to have it.
  virtual UsbStatus bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) = 0;

  // One packet from the interrupt-IN endpoint (CCID: RDR_to_PC_NotifySlotChange), waiting up
  // to timeout_ms (0: only what is already there).
  virtual UsbStatus interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) = 0;

  // A control transfer; for device-to-host requests data receives up to setup.length bytes.
  virtual UsbStatus control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) = 0;

  // Resets the device's port (Windows: IOCTL_INTERNAL_USB_RESET_PORT): a bus reset, after which
  // the host restores the configuration. For a device that needs one to answer again.
  virtual UsbStatus reset_port() { return UsbStatus::error; }

  // Host side, not for drivers: how many times the device left the bus since this transport
  // opened it (a disconnect, a dropped connection). Each is a PnP removal on Windows: the host
  // stops the driver instance and starts a new one when the device is back.
  virtual std::uint64_t departures() const { return 0; }
};

// READERLAB_USB is a UsbIo: C drivers use the ReaderlabUsb* functions, C++ drivers may use it
// as a UsbIo directly.
inline UsbIo* usb_io_of(READERLAB_USB* usb) { return reinterpret_cast<UsbIo*>(usb); }
inline READERLAB_USB* readerlab_usb_of(UsbIo* io) { return reinterpret_cast<READERLAB_USB*>(io); }

}  // namespace readerlab::windows_model
