// The reference RDF driver: a USB CCID reader driver written against the smclib API only.
// Its RDF callbacks sit in SMARTCARD_EXTENSION.ReaderFunction; its USB I/O goes through
// readerlab::windows_model::UsbIo. Driver code: no exceptions, RTTI or standard library containers.
//
// Exchange levels (CCID dwFeatures):
//  - TPDU: the driver runs the transmission protocol with the library's helpers
//    (SmartcardT0Request/Reply, SmartcardT1Request/Reply, SmartcardRawRequest/Reply) and sends
//    the PPS itself through XfrBlock;
//  - short / extended APDU: the reader runs T=0/T=1 and PPS; the driver passes the APDU as it
//    is in one XfrBlock and builds the SCARD_IO_REQUEST reply header itself.
#pragma once

#include "drivers_under_test/reference_rdf/ccid.h"
#include "hosts/windows_model/rdf/readerlab_rdf.h"
#include "hosts/windows_model/rdf/usb_io.h"

#include "smclib.h"

// Driver-private state, reached through SMARTCARD_EXTENSION.ReaderExtension.
struct _READER_EXTENSION {
  readerlab::windows_model::UsbIo* Usb;
  reference_rdf::CcidDescriptor Descriptor;
  reference_rdf::ExchangeLevel Level;
  ULONG DataRates[255];  // CCID bNumDataRatesSupported is a byte
  ULONG ClockFrequencies[16];
  BOOLEAN CardPowered;
  BOOLEAN CardPresent;
  ULONG TrackingIoctl;  // IS_PRESENT or IS_ABSENT of the pending NotificationIrp, else 0
  ULONG DefaultTimeoutMs;
  reference_rdf::CcidEndpoints Endpoints;
  ULONG HardwareErrors;          // CCID 6.3.2 RDR_to_PC_HardwareError messages read
  ULONG InterruptStallsCleared;  // interrupt-IN stalls the driver cleared (USB 2.0 9.4.5)
  reference_rdf::CcidChannel Channel;
};

// The driver's device extension (DEVICE_OBJECT.DeviceExtension); the smclib extension first.
struct RDF_DEVICE_EXTENSION {
  SMARTCARD_EXTENSION SmartcardExtension;
};

namespace reference_rdf {

// PC/SC part 10 feature tag of the CCID escape (FEATURE_CCID_ESC_COMMAND) and the vendor
// IOCTL that carries it: SCARD_CTL_CODE(3500), the code Windows' CCID class driver uses.
inline constexpr UCHAR kFeatureCcidEscCommand = 0x13;
inline constexpr ULONG kIoctlCcidEscape = 0x00310000 | (3500u << 2);
// PC/SC part 10 GET_FEATURE_REQUEST = SCARD_CTL_CODE(3400).
inline constexpr ULONG kIoctlGetFeatureRequest = 0x00310000 | (3400u << 2);

// AddDevice + StartDevice in one: reads the CCID functional descriptor over `usb`, allocates
// the ReaderExtension, fills ReaderFunction, VendorAttr and ReaderCapabilities, calls
// SmartcardInitialize, sets OsData->DeviceObject and reads the slot's first state.
// device->DeviceExtension must point to a zeroed RDF_DEVICE_EXTENSION.
NTSTATUS RdfStartDevice(PDEVICE_OBJECT device, UsbIo* usb);

// IRP_MJ_DEVICE_CONTROL: straight to SmartcardDeviceControl.
NTSTATUS RdfDeviceControl(PDEVICE_OBJECT device, PIRP irp);

// RemoveDevice: cancels pending tracking, powers the card down, SmartcardExit, frees.
void RdfStopDevice(PSMARTCARD_EXTENSION extension);

// Reads the interrupt endpoint (waiting up to timeout_ms, 0 = only what is there) and handles
// what came: a NotifySlotChange updates CurrentState and completes the pending tracking IRP
// when the event is the one it waits for; a HardwareError (CCID 6.3.2) leaves the card
// unpowered (SWALLOWED); a stalled pipe is cleared (CLEAR_FEATURE ENDPOINT_HALT). Returns
// STATUS_SUCCESS when something was handled, STATUS_IO_TIMEOUT when nothing came.
NTSTATUS RdfPollSlotChange(PSMARTCARD_EXTENSION extension, ULONG timeout_ms);

// Cancels the pending card-tracking IRP (what IRP_MJ_CLEANUP does): CANCELLED.
void RdfCancelTracking(PSMARTCARD_EXTENSION extension);

}  // namespace reference_rdf

// The reference driver's entry for readerlab (registered as "reference-rdf").
READERLAB_RDF_DRIVER_ENTRY(ReaderlabReferenceRdfDriver);
