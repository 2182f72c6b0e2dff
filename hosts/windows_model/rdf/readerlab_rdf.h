// readerlab_rdf.h — what an RDF reader driver under test gives readerlab, and the USB device
// readerlab gives it. C and C++: a driver written in C compiles against it unchanged.
//
// On Windows a driver's DriverEntry fills a DRIVER_OBJECT and PnP calls AddDevice and
// IRP_MN_START_DEVICE; its USB I/O goes down as URBs. Here a driver names one
// READERLAB_RDF_DRIVER object (readerlab_add_rdf_driver(... ENTRY name)) with the same steps,
// and reaches the virtual reader through READERLAB_USB: in-process or over usbredir, the driver
// cannot tell which.
#ifndef READERLAB_RDF_H
#define READERLAB_RDF_H

#include "smclib.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct READERLAB_USB READERLAB_USB;  // the reader's USB device; opaque

typedef enum _READERLAB_USB_STATUS {
  ReaderlabUsbOk = 0,
  ReaderlabUsbTimeout = 1,  // nothing arrived within the timeout
  ReaderlabUsbStall = 2,    // the endpoint answered STALL (USB 2.0 8.4.5)
  ReaderlabUsbError = 3,    // the device is gone or the transport failed
  ReaderlabUsbOverflow = 4  // the device sent more than the buffer holds
} READERLAB_USB_STATUS;

// One transfer on the bulk-OUT endpoint (CCID: a PC_to_RDR message).
READERLAB_USB_STATUS ReaderlabUsbBulkOut(READERLAB_USB* Usb, const UCHAR* Data, ULONG Length);
// One transfer from the bulk-IN endpoint, waiting up to TimeoutMs for it.
READERLAB_USB_STATUS ReaderlabUsbBulkIn(READERLAB_USB* Usb, UCHAR* Buffer, ULONG Capacity, ULONG* Received,
                                        ULONG TimeoutMs);
// One packet from the interrupt-IN endpoint (CCID: NotifySlotChange); TimeoutMs 0 takes only
// what is already there.
READERLAB_USB_STATUS ReaderlabUsbInterruptIn(READERLAB_USB* Usb, UCHAR* Buffer, ULONG Capacity, ULONG* Received,
                                             ULONG TimeoutMs);
// A control transfer (USB 2.0 9.3 setup data); device-to-host requests fill up to Length bytes.
READERLAB_USB_STATUS ReaderlabUsbControl(READERLAB_USB* Usb, UCHAR RequestType, UCHAR Request, USHORT Value,
                                         USHORT Index, USHORT Length, UCHAR* Data, ULONG* Transferred);
// Resets the reader's port (IOCTL_INTERNAL_USB_RESET_PORT): a bus reset, the configuration
// restored after it. The device forgets its state (the card is powered down).
READERLAB_USB_STATUS ReaderlabUsbResetPort(READERLAB_USB* Usb);

typedef struct _READERLAB_RDF_DRIVER {
  // DEVICE_OBJECT.DeviceExtension: this many bytes, zeroed, before StartDevice.
  ULONG DeviceExtensionSize;
  // Where the SMARTCARD_EXTENSION sits in the device extension (FIELD_OFFSET): the host reads
  // the reader state from it, as smclib's GET_STATE would.
  ULONG SmartcardExtensionOffset;
  // AddDevice and IRP_MN_START_DEVICE in one: set up the extension, fill ReaderFunction,
  // VendorAttr and ReaderCapabilities, call SmartcardInitialize, learn the slot's state.
  NTSTATUS (*StartDevice)(PDEVICE_OBJECT DeviceObject, READERLAB_USB* Usb);
  // IRP_MJ_DEVICE_CONTROL (usually straight to SmartcardDeviceControl).
  PDRIVER_DISPATCH DeviceControl;
  // The interrupt pipe's completion routine: read one NotifySlotChange within TimeoutMs and
  // act on it (state, card tracking). STATUS_IO_TIMEOUT when none came.
  NTSTATUS (*InterruptIn)(PDEVICE_OBJECT DeviceObject, ULONG TimeoutMs);
  // IRP_MN_REMOVE_DEVICE: cancel what is pending, SmartcardExit, free.
  VOID (*StopDevice)(PDEVICE_OBJECT DeviceObject);
} READERLAB_RDF_DRIVER;

#ifdef __cplusplus
}
#define READERLAB_RDF_DRIVER_ENTRY(Symbol) extern "C" const READERLAB_RDF_DRIVER Symbol
#else
#define READERLAB_RDF_DRIVER_ENTRY(Symbol) const READERLAB_RDF_DRIVER Symbol
#endif

#endif  // READERLAB_RDF_H
