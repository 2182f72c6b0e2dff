// Test harness for the smclib model: an extension with a tiny recording driver, and IOCTLs
// issued through real IRPs with exactly-sized heap buffers (ASan sees any overrun).
#pragma once
#include <cstring>
#include <memory>
#include <vector>

#include "smclib.h"

struct Harness;
struct _READER_EXTENSION {
  Harness* harness;
};

struct Issued {
  std::unique_ptr<IRP> irp = std::make_unique<IRP>();
  std::unique_ptr<UCHAR[]> buffer;
  ULONG size = 0;
  NTSTATUS returned = 0;
  bool completed() const { return irp->ReaderlabCompleteCount == 1; }
  NTSTATUS status() const { return irp->IoStatus.Status; }
  ULONG info() const { return static_cast<ULONG>(irp->IoStatus.Information); }
  ULONG out_ulong() const { ULONG v = 0; std::memcpy(&v, buffer.get(), 4); return v; }
};

struct Harness {
  SMARTCARD_EXTENSION ext{};
  DEVICE_OBJECT device{};
  _READER_EXTENSION reader{this};
  std::vector<int> calls;  // RDF_* indexes in call order
  std::vector<UCHAR> atr{0x3B, 0x00};
  NTSTATUS status = STATUS_SUCCESS;         // returned by power/eject/... callbacks
  NTSTATUS tracking_status = STATUS_PENDING;
  ULONG last_minor = 0, last_major = 0;

  explicit Harness(bool all_callbacks = true) {
    ext.Version = SMCLIB_VERSION;
    ext.ReaderExtension = &reader;
    ext.ReaderCapabilities.SupportedProtocols = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
    ext.ReaderCapabilities.ReaderType = SCARD_READER_TYPE_USB;
    ext.ReaderCapabilities.Channel = 3;
    ext.ReaderCapabilities.CLKFrequency.Default = 3571;
    ext.ReaderCapabilities.CLKFrequency.Max = 3571;
    ext.ReaderCapabilities.DataRate.Default = 9600;
    ext.ReaderCapabilities.DataRate.Max = 115200;
    ext.ReaderCapabilities.MaxIFSD = 254;
    ext.ReaderCapabilities.CurrentState = SCARD_ABSENT;
    std::memcpy(ext.VendorAttr.VendorName.Buffer, "readerlab", 9);
    ext.VendorAttr.VendorName.Length = 9;
    std::memcpy(ext.VendorAttr.IfdType.Buffer, "model", 5);
    ext.VendorAttr.IfdType.Length = 5;
    ext.VendorAttr.IfdVersion = {0x0102, 3, 4};
    ext.VendorAttr.UnitNo = 1;
    ext.SmartcardRequest.BufferSize = MIN_BUFFER_SIZE;
    ext.SmartcardReply.BufferSize = MIN_BUFFER_SIZE;
    if (all_callbacks) {
      ext.ReaderFunction[RDF_CARD_POWER] = rdf_power;
      ext.ReaderFunction[RDF_TRANSMIT] = transmit;
      ext.ReaderFunction[RDF_CARD_TRACKING] = tracking;
      ext.ReaderFunction[RDF_SET_PROTOCOL] = set_protocol;
      ext.ReaderFunction[RDF_CARD_EJECT] = simple<RDF_CARD_EJECT>;
      ext.ReaderFunction[RDF_READER_SWALLOW] = simple<RDF_READER_SWALLOW>;
      ext.ReaderFunction[RDF_CARD_CONFISCATE] = simple<RDF_CARD_CONFISCATE>;
      ext.ReaderFunction[RDF_IOCTL_VENDOR] = simple<RDF_IOCTL_VENDOR>;
    }
    REQUIRE_EQ(SmartcardInitialize(&ext), STATUS_SUCCESS);
    ext.OsData->DeviceObject = &device;
    device.DeviceExtension = &ext;
  }
  ~Harness() { SmartcardExit(&ext); }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  void set_state(ULONG s) { ext.ReaderCapabilities.CurrentState = s; }
  ULONG state() const { return ext.ReaderCapabilities.CurrentState; }

  Issued ioctl(ULONG code, const std::vector<UCHAR>& in, ULONG out_length) {
    Issued r;
    r.size = static_cast<ULONG>(in.size() > out_length ? in.size() : out_length);
    if (r.size != 0) {
      r.buffer = std::make_unique<UCHAR[]>(r.size);
      if (!in.empty()) std::memcpy(r.buffer.get(), in.data(), in.size());
    }
    ReaderlabBuildDeviceControlIrp(r.irp.get(), &device, code, r.buffer.get(),
                                   static_cast<ULONG>(in.size()), out_length);
    r.returned = SmartcardDeviceControl(&ext, r.irp.get());
    return r;
  }
  static std::vector<UCHAR> u32(ULONG v) {
    std::vector<UCHAR> b(4);
    std::memcpy(b.data(), &v, 4);
    return b;
  }
  Issued power(ULONG code, ULONG out = 64) { return ioctl(IOCTL_SMARTCARD_POWER, u32(code), out); }

  static Harness& of(PSMARTCARD_EXTENSION e) { return *e->ReaderExtension->harness; }

  static NTSTATUS rdf_power(PSMARTCARD_EXTENSION e) {
    Harness& h = of(e);
    h.calls.push_back(RDF_CARD_POWER);
    h.last_minor = e->MinorIoControlCode;
    if (h.status != STATUS_SUCCESS) return h.status;
    if (e->MinorIoControlCode == SCARD_POWER_DOWN) {
      e->ReaderCapabilities.CurrentState = SCARD_SWALLOWED;
      return STATUS_SUCCESS;
    }
    std::memcpy(e->CardCapabilities.ATR.Buffer, h.atr.data(), h.atr.size());
    e->CardCapabilities.ATR.Length = static_cast<UCHAR>(h.atr.size());
    std::memcpy(e->IoRequest.ReplyBuffer, h.atr.data(), h.atr.size());
    *e->IoRequest.Information = static_cast<ULONG>(h.atr.size());
    e->ReaderCapabilities.CurrentState = SCARD_POWERED;
    return SmartcardUpdateCardCapabilities(e);
  }
  static NTSTATUS transmit(PSMARTCARD_EXTENSION e) {
    Harness& h = of(e);
    h.calls.push_back(RDF_TRANSMIT);
    e->SmartcardRequest.BufferLength = 0;
    NTSTATUS s = SmartcardT0Request(e);
    if (s != STATUS_SUCCESS) return s;
    e->SmartcardReply.Buffer[0] = 0x90;
    e->SmartcardReply.Buffer[1] = 0x00;
    e->SmartcardReply.BufferLength = 2;
    return SmartcardT0Reply(e);
  }
  static NTSTATUS tracking(PSMARTCARD_EXTENSION e) {
    Harness& h = of(e);
    h.calls.push_back(RDF_CARD_TRACKING);
    if (h.tracking_status == STATUS_PENDING) IoSetCancelRoutine(e->OsData->NotificationIrp, cancel);
    return h.tracking_status;
  }
  static VOID cancel(PDEVICE_OBJECT device, PIRP irp) {
    auto* e = static_cast<PSMARTCARD_EXTENSION>(device->DeviceExtension);
    IoReleaseCancelSpinLock(irp->CancelIrql);
    e->OsData->NotificationIrp = nullptr;
    irp->IoStatus.Status = STATUS_CANCELLED;
    irp->IoStatus.Information = 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
  }
  static NTSTATUS set_protocol(PSMARTCARD_EXTENSION e) {
    Harness& h = of(e);
    h.calls.push_back(RDF_SET_PROTOCOL);
    ULONG mask = e->MinorIoControlCode & e->CardCapabilities.Protocol.Supported;
    ULONG chosen = (mask & SCARD_PROTOCOL_T1) ? SCARD_PROTOCOL_T1 : SCARD_PROTOCOL_T0;
    e->CardCapabilities.Protocol.Selected = chosen;
    e->ReaderCapabilities.CurrentState = SCARD_SPECIFIC;
    std::memcpy(e->IoRequest.ReplyBuffer, &chosen, 4);
    *e->IoRequest.Information = 4;
    return STATUS_SUCCESS;
  }
  template <int Index>
  static NTSTATUS simple(PSMARTCARD_EXTENSION e) {
    Harness& h = of(e);
    h.calls.push_back(Index);
    h.last_major = e->MajorIoControlCode;
    h.last_minor = e->MinorIoControlCode;
    return h.status;
  }
};
