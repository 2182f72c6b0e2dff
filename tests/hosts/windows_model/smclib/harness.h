// Test harness for the smclib model: an extension with a tiny recording driver, and IOCTLs
// issued through real IRPs with exactly-sized heap buffers (ASan sees any overrun).
#pragma once
#include <cstdint>
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
  ULONG out_ulong() const {
    ULONG v = 0;
    std::memcpy(&v, buffer.get(), 4);
    return v;
  }
};

struct Harness {
  SMARTCARD_EXTENSION ext{};
  DEVICE_OBJECT device{};
  _READER_EXTENSION reader{this};
  std::vector<int> calls;  // RDF_* indexes in call order
  std::vector<UCHAR> atr{0x3B, 0x00};
  NTSTATUS status = STATUS_SUCCESS;  // returned by power/eject/... callbacks
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
    ReaderlabBuildDeviceControlIrp(r.irp.get(), &device, code, r.buffer.get(), static_cast<ULONG>(in.size()),
                                   out_length);
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

  // Puts `bytes` in CardCapabilities.ATR, as a driver does after a reset, and lets the
  // library evaluate them.
  NTSTATUS update_atr(const std::vector<UCHAR>& bytes) {
    std::memcpy(ext.CardCapabilities.ATR.Buffer, bytes.data(), bytes.size());
    ext.CardCapabilities.ATR.Length = static_cast<UCHAR>(bytes.size());
    return SmartcardUpdateCardCapabilities(&ext);
  }

  // T=1 as a driver runs it: build the next block (after an empty prefix), then hand the
  // card's answer to the engine.
  NTSTATUS t1_next() {
    ext.SmartcardRequest.BufferLength = 0;
    return SmartcardT1Request(&ext);
  }
  std::vector<UCHAR> t1_sent() const {
    return {ext.SmartcardRequest.Buffer, ext.SmartcardRequest.Buffer + ext.SmartcardRequest.BufferLength};
  }
  NTSTATUS card_says(const std::vector<UCHAR>& bytes) {
    if (!bytes.empty()) std::memcpy(ext.SmartcardReply.Buffer, bytes.data(), bytes.size());
    ext.SmartcardReply.BufferLength = static_cast<ULONG>(bytes.size());
    return SmartcardT1Reply(&ext);
  }
};

namespace smc {

// The ATR with its TCK appended: the exclusive-or of T0 up to the last byte, ISO 7816-3 8.2.5.
inline std::vector<UCHAR> with_tck(std::vector<UCHAR> atr) {
  UCHAR x = 0;
  for (size_t i = 1; i < atr.size(); ++i) x = static_cast<UCHAR>(x ^ atr[i]);
  atr.push_back(x);
  return atr;
}

// ISO 7816-3 11.4.4 CRC (ISO/IEC 13239): polynomial x^16 + x^12 + x^5 + 1 taken least
// significant bit first, register preset FFFF, ones' complement sent low byte first. Written
// bit by bit here so the test does not share the library's table.
inline uint16_t crc16(const std::vector<UCHAR>& bytes) {
  unsigned reg = 0xFFFF;
  for (UCHAR b : bytes) {
    reg ^= b;
    for (int bit = 0; bit < 8; ++bit) reg = (reg & 1) ? (reg >> 1) ^ 0x8408 : reg >> 1;
  }
  return static_cast<uint16_t>(~reg & 0xFFFF);
}

// A T=1 block NAD PCB LEN INF EDC (ISO 7816-3 11.3), with an LRC or a CRC epilogue.
inline std::vector<UCHAR> t1_block(UCHAR pcb, std::vector<UCHAR> inf = {}, bool crc = false, UCHAR nad = 0) {
  // Built by push_back: GCC 12's -Warray-bounds misfires on insert into a 3-byte vector at -O2.
  std::vector<UCHAR> b;
  b.reserve(3 + inf.size() + 2);
  b.push_back(nad);
  b.push_back(pcb);
  b.push_back(static_cast<UCHAR>(inf.size()));
  for (UCHAR c : inf) b.push_back(c);
  if (crc) {
    const uint16_t c = crc16(b);
    b.push_back(static_cast<UCHAR>(c & 0xFF));
    b.push_back(static_cast<UCHAR>(c >> 8));
  } else {
    UCHAR x = 0;
    for (UCHAR c : b) x = static_cast<UCHAR>(x ^ c);
    b.push_back(x);
  }
  return b;
}

// The caller's METHOD_BUFFERED buffer behind IoRequest, holding {protocol, 8} + APDU, for
// calling the Smartcard*Request/Reply helpers directly as a driver's callback would.
struct UserBuffer {
  std::vector<UCHAR> bytes;
  ULONG information = 0;
  UserBuffer(Harness& h, const std::vector<UCHAR>& apdu, ULONG out, ULONG protocol = SCARD_PROTOCOL_T1) {
    bytes.assign(8 + apdu.size(), 0);
    std::memcpy(bytes.data(), &protocol, sizeof protocol);
    bytes[4] = 8;
    if (!apdu.empty()) std::memcpy(bytes.data() + 8, apdu.data(), apdu.size());
    const ULONG in = static_cast<ULONG>(bytes.size());
    if (bytes.size() < out) bytes.resize(out);
    h.ext.IoRequest.RequestBuffer = h.ext.IoRequest.ReplyBuffer = bytes.data();
    h.ext.IoRequest.RequestBufferLength = in;
    h.ext.IoRequest.ReplyBufferLength = out;
    h.ext.IoRequest.Information = &information;
  }
  UserBuffer(const UserBuffer&) = delete;
  UserBuffer& operator=(const UserBuffer&) = delete;
};

}  // namespace smc
