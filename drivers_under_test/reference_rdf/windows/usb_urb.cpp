// UsbIo over URBs (see usb_urb.h). PASSIVE_LEVEL throughout: every transfer waits.
#include "drivers_under_test/reference_rdf/windows/usb_urb.h"

namespace reference_rdf::kernel {
namespace {

// A reader that takes a command but never reads the bulk pipe, or a control request nobody
// answers: the transfer is cancelled after this long rather than hanging the caller.
constexpr ULONG kOutTimeoutMs = 5000;
constexpr ULONG kControlTimeoutMs = 5000;

// USB 2.0 9.3.1 bmRequestType: D7 direction, D6..5 type, D4..0 recipient.
constexpr uint8_t kDirectionIn = 0x80;
constexpr uint8_t kTypeMask = 0x60, kTypeStandard = 0x00, kTypeClass = 0x20, kTypeVendor = 0x40;
constexpr uint8_t kRecipientMask = 0x1F, kRecipientDevice = 0, kRecipientInterface = 1, kRecipientEndpoint = 2;
// USB 2.0 9.4 Table 9-4 bRequest codes and Table 9-6 feature selectors.
constexpr uint8_t kRequestClearFeature = 0x01, kRequestGetDescriptor = 0x06;
constexpr uint16_t kFeatureEndpointHalt = 0x0000;

// Signals the caller's event and keeps the IRP: the caller reads it, then gives it back to the
// I/O manager with IoCompleteRequest. Owning the IRP until then makes IoCancelIrp on a timeout
// safe even when the IRP completes at the same moment.
NTSTATUS NTAPI urb_done(PDEVICE_OBJECT, PIRP, PVOID context) {
  KeSetEvent(static_cast<PKEVENT>(context), IO_NO_INCREMENT, FALSE);
  return STATUS_MORE_PROCESSING_REQUIRED;
}

NTSTATUS send_down(PDEVICE_OBJECT lower, ULONG code, PVOID argument, ULONG timeout_ms, bool* timed_out) {
  if (timed_out) *timed_out = false;
  KEVENT finished;   // set by the I/O manager when it is done with the IRP (it frees it then)
  KEVENT completed;  // set by urb_done
  KeInitializeEvent(&finished, NotificationEvent, FALSE);
  KeInitializeEvent(&completed, NotificationEvent, FALSE);
  IO_STATUS_BLOCK io_status;
  io_status.Status = STATUS_SUCCESS;
  io_status.Information = 0;
  PIRP irp = IoBuildDeviceIoControlRequest(code, lower, nullptr, 0, nullptr, 0, TRUE, &finished, &io_status);
  if (irp == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  PIO_STACK_LOCATION next = IoGetNextIrpStackLocation(irp);
  next->Parameters.Others.Argument1 = argument;
  IoSetCompletionRoutine(irp, urb_done, &completed, TRUE, TRUE, TRUE);
  IoCallDriver(lower, irp);
  LARGE_INTEGER due;
  due.QuadPart = -10000LL * static_cast<LONGLONG>(timeout_ms);  // relative, 100 ns units
  if (KeWaitForSingleObject(&completed, Executive, KernelMode, FALSE, timeout_ms ? &due : nullptr) == STATUS_TIMEOUT) {
    if (timed_out) *timed_out = true;
    IoCancelIrp(irp);
    KeWaitForSingleObject(&completed, Executive, KernelMode, FALSE, nullptr);
  }
  const NTSTATUS status = irp->IoStatus.Status;
  // The I/O manager finishes the threaded IRP (an APC to this thread writes io_status and sets
  // `finished`); both live on this stack, so wait for it before returning.
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  KeWaitForSingleObject(&finished, Executive, KernelMode, FALSE, nullptr);
  return status;
}

uint32_t transferred_of(ULONG length) { return static_cast<uint32_t>(length); }

}  // namespace

NTSTATUS submit_urb(PDEVICE_OBJECT lower, PURB urb, ULONG timeout_ms, bool* timed_out) {
  return send_down(lower, IOCTL_INTERNAL_USB_SUBMIT_URB, urb, timeout_ms, timed_out);
}

NTSTATUS send_internal_ioctl(PDEVICE_OBJECT lower, ULONG code) { return send_down(lower, code, nullptr, 0, nullptr); }

UsbStatus usb_status_of(NTSTATUS status, USBD_STATUS usbd, bool timed_out) {
  if (NT_SUCCESS(status) && USBD_SUCCESS(usbd)) return UsbStatus::ok;
  if (timed_out) return UsbStatus::timeout;  // cancelled by send_down: USBD_STATUS_CANCELED
  switch (usbd) {
    case USBD_STATUS_STALL_PID:  // usb.h: the endpoint returned STALL
    case USBD_STATUS_ENDPOINT_HALTED: return UsbStatus::stall;
    case USBD_STATUS_DATA_OVERRUN:  // usb.h: more data than the buffer (babble)
    case USBD_STATUS_BUFFER_OVERRUN:
    case USBD_STATUS_BABBLE_DETECTED: return UsbStatus::overflow;
    default: return UsbStatus::error;  // device gone, CRC, not accessed, stack errors
  }
}

UsbStatus UrbUsbIo::transfer(USBD_PIPE_HANDLE pipe, bool in, uint8_t* buffer, uint32_t length, uint32_t* transferred,
                             uint32_t timeout_ms) {
  if (transferred) *transferred = 0;
  if (pipe == nullptr) return UsbStatus::error;  // the interface has no such pipe
  URB urb;
  RtlZeroMemory(&urb, sizeof(urb));
  const ULONG flags = in ? (USBD_TRANSFER_DIRECTION_IN | USBD_SHORT_TRANSFER_OK) : USBD_TRANSFER_DIRECTION_OUT;
  UsbBuildInterruptOrBulkTransferRequest(&urb, sizeof(struct _URB_BULK_OR_INTERRUPT_TRANSFER), pipe, buffer, nullptr,
                                         length, flags, nullptr);
  bool timed_out = false;
  const NTSTATUS status = submit_urb(lower_, &urb, timeout_ms, &timed_out);
  const UsbStatus result = usb_status_of(status, urb.UrbHeader.Status, timed_out);
  if (result == UsbStatus::ok && transferred) {
    const ULONG got = urb.UrbBulkOrInterruptTransfer.TransferBufferLength;
    if (got > length) return UsbStatus::overflow;  // a stack that says so is not believed
    *transferred = transferred_of(got);
  }
  return result;
}

UsbStatus UrbUsbIo::bulk_out(const uint8_t* data, uint32_t length) {
  uint32_t sent = 0;
  // The URB does not write an OUT buffer; TransferBuffer is just not const.
  const UsbStatus status = transfer(pipes_.bulk_out, false, const_cast<uint8_t*>(data), length, &sent, kOutTimeoutMs);
  if (status == UsbStatus::ok && sent != length) return UsbStatus::error;
  return status;
}

UsbStatus UrbUsbIo::bulk_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) {
  return transfer(pipes_.bulk_in, true, buffer, capacity, received, timeout_ms ? timeout_ms : 1);
}

UsbStatus UrbUsbIo::interrupt_in(uint8_t* buffer, uint32_t capacity, uint32_t* received, uint32_t timeout_ms) {
  // 0 is "only what is already there": one millisecond, then the URB is cancelled. A packet the
  // host controller had not taken stays in the device for the next read.
  return transfer(pipes_.interrupt_in, true, buffer, capacity, received, timeout_ms ? timeout_ms : 1);
}

UsbStatus UrbUsbIo::reset_pipe(UCHAR endpoint_address) {
  USBD_PIPE_HANDLE pipe = nullptr;
  if (endpoint_address == pipes_.bulk_out_address) pipe = pipes_.bulk_out;
  if (endpoint_address == pipes_.bulk_in_address) pipe = pipes_.bulk_in;
  if (endpoint_address == pipes_.interrupt_in_address) pipe = pipes_.interrupt_in;
  if (pipe == nullptr || endpoint_address == 0) return UsbStatus::error;
  URB urb;
  RtlZeroMemory(&urb, sizeof(urb));
  urb.UrbHeader.Length = sizeof(struct _URB_PIPE_REQUEST);
  urb.UrbHeader.Function = URB_FUNCTION_SYNC_RESET_PIPE_AND_CLEAR_STALL;
  urb.UrbPipeRequest.PipeHandle = pipe;
  bool timed_out = false;
  const NTSTATUS status = submit_urb(lower_, &urb, kControlTimeoutMs, &timed_out);
  return usb_status_of(status, urb.UrbHeader.Status, timed_out);
}

UsbStatus UrbUsbIo::control(const UsbSetup& setup, uint8_t* data, uint32_t* transferred) {
  if (transferred) *transferred = 0;
  if (setup.length != 0 && data == nullptr) return UsbStatus::error;
  const bool in = (setup.request_type & kDirectionIn) != 0;
  const uint8_t type = setup.request_type & kTypeMask;
  const uint8_t recipient = setup.request_type & kRecipientMask;
  // CLEAR_FEATURE(ENDPOINT_HALT) goes through the USB stack's own request, which also resets
  // the host side of the pipe (its data toggle, USB 2.0 9.4.5); sent raw it would not.
  if (type == kTypeStandard && recipient == kRecipientEndpoint && !in && setup.request == kRequestClearFeature &&
      setup.value == kFeatureEndpointHalt)
    return reset_pipe(static_cast<UCHAR>(setup.index));

  URB urb;
  RtlZeroMemory(&urb, sizeof(urb));
  const ULONG flags = in ? (USBD_TRANSFER_DIRECTION_IN | USBD_SHORT_TRANSFER_OK) : USBD_TRANSFER_DIRECTION_OUT;
  ULONG* length_out = nullptr;
  if (type == kTypeStandard && recipient == kRecipientDevice && in && setup.request == kRequestGetDescriptor) {
    UsbBuildGetDescriptorRequest(&urb, sizeof(struct _URB_CONTROL_DESCRIPTOR_REQUEST),
                                 static_cast<UCHAR>(setup.value >> 8), static_cast<UCHAR>(setup.value & 0xFF),
                                 setup.index, data, nullptr, setup.length, nullptr);
    length_out = &urb.UrbControlDescriptorRequest.TransferBufferLength;
  } else if ((type == kTypeClass || type == kTypeVendor) && recipient <= kRecipientEndpoint) {
    static const USHORT class_functions[] = {URB_FUNCTION_CLASS_DEVICE, URB_FUNCTION_CLASS_INTERFACE,
                                             URB_FUNCTION_CLASS_ENDPOINT};
    static const USHORT vendor_functions[] = {URB_FUNCTION_VENDOR_DEVICE, URB_FUNCTION_VENDOR_INTERFACE,
                                              URB_FUNCTION_VENDOR_ENDPOINT};
    const USHORT function = type == kTypeClass ? class_functions[recipient] : vendor_functions[recipient];
    UsbBuildVendorRequest(&urb, function, sizeof(struct _URB_CONTROL_VENDOR_OR_CLASS_REQUEST), flags, 0, setup.request,
                          setup.value, setup.index, data, nullptr, setup.length, nullptr);
    length_out = &urb.UrbControlVendorClassRequest.TransferBufferLength;
  } else {
    // Anything else: the setup packet as it is on the default pipe (USB 2.0 9.3, little endian).
    urb.UrbHeader.Length = sizeof(struct _URB_CONTROL_TRANSFER);
    urb.UrbHeader.Function = URB_FUNCTION_CONTROL_TRANSFER;
    urb.UrbControlTransfer.TransferFlags = flags | USBD_DEFAULT_PIPE_TRANSFER;
    urb.UrbControlTransfer.TransferBufferLength = setup.length;
    urb.UrbControlTransfer.TransferBuffer = data;
    UCHAR* packet = urb.UrbControlTransfer.SetupPacket;
    packet[0] = setup.request_type;
    packet[1] = setup.request;
    packet[2] = static_cast<UCHAR>(setup.value & 0xFF);
    packet[3] = static_cast<UCHAR>(setup.value >> 8);
    packet[4] = static_cast<UCHAR>(setup.index & 0xFF);
    packet[5] = static_cast<UCHAR>(setup.index >> 8);
    packet[6] = static_cast<UCHAR>(setup.length & 0xFF);
    packet[7] = static_cast<UCHAR>(setup.length >> 8);
    length_out = &urb.UrbControlTransfer.TransferBufferLength;
  }
  bool timed_out = false;
  const NTSTATUS status = submit_urb(lower_, &urb, kControlTimeoutMs, &timed_out);
  const UsbStatus result = usb_status_of(status, urb.UrbHeader.Status, timed_out);
  if (result == UsbStatus::ok && transferred) {
    if (*length_out > setup.length) return UsbStatus::overflow;
    *transferred = transferred_of(*length_out);
  }
  return result;
}

UsbStatus UrbUsbIo::reset_port() {
  // IOCTL_INTERNAL_USB_RESET_PORT: the hub resets the port and restores the configuration; the
  // pipe handles stay valid.
  const NTSTATUS status = send_internal_ioctl(lower_, IOCTL_INTERNAL_USB_RESET_PORT);
  return NT_SUCCESS(status) ? UsbStatus::ok : UsbStatus::error;
}

}  // namespace reference_rdf::kernel
