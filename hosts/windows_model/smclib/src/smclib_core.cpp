// smclib model: initialisation, IOCTL dispatch (spec smclib.md §1), attributes (§4), card
// tracking, the remove lock and small routines (§5).
#include <atomic>
#include <chrono>
#include <new>
#include <string>
#include <thread>

#include "internal.h"
// The WDK's x64 layout of SMARTCARD_EXTENSION, checked at compile time (also in the kernel build).
#include "smclib_layout.h"

namespace readerlab::smclib {

ULONG current_state(PSMARTCARD_EXTENSION ext) {
  KIRQL irql = PASSIVE_LEVEL;
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  const ULONG state = ext->ReaderCapabilities.CurrentState;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
  return state;
}

void set_state(PSMARTCARD_EXTENSION ext, ULONG state) {
  if (ext->OsData == nullptr) {
    ext->ReaderCapabilities.CurrentState = state;
    return;
  }
  KIRQL irql = PASSIVE_LEVEL;
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  ext->ReaderCapabilities.CurrentState = state;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
}

namespace {

std::atomic<ULONG> g_debug_level{0};  // default 0 [R]

Private* priv(PSMARTCARD_EXTENSION ext) { return static_cast<Private*>(ext->OsData->ReaderlabPrivate); }

PREADER_FUNCTION callback(PSMARTCARD_EXTENSION ext, int index) { return ext->ReaderFunction[index]; }

constexpr ULONG kFunctionMask = 0x0FFFu;
ULONG function_of(ULONG code) { return (code >> 2) & kFunctionMask; }

bool is_vendor_code(ULONG code) {
  if (DEVICE_TYPE_FROM_CTL_CODE(code) != FILE_DEVICE_SMARTCARD) return true;  // other types [R]
  const ULONG fn = function_of(code);
  return fn >= SCARD_CTL_CODE_VENDOR_FIRST && fn <= SCARD_CTL_CODE_VENDOR_LAST;  // [D][R]
}

// A smartcard code with METHOD_NEITHER: its buffers cannot be trusted, Windows refuses it [R].
bool is_method_neither(ULONG code) {
  return DEVICE_TYPE_FROM_CTL_CODE(code) == FILE_DEVICE_SMARTCARD && METHOD_FROM_CTL_CODE(code) == METHOD_NEITHER;
}

bool is_tracking(ULONG code) { return code == IOCTL_SMARTCARD_IS_PRESENT || code == IOCTL_SMARTCARD_IS_ABSENT; }

// ---- GET_ATTRIBUTE (spec §4) ----

struct AttrOut {
  UCHAR* buffer;
  ULONG length;
  ULONG* information;
};

NTSTATUS put_ulong(const AttrOut& out, ULONG value) {
  if (out.buffer == nullptr || out.length < sizeof(ULONG)) return STATUS_BUFFER_TOO_SMALL;
  store_ulong(out.buffer, value);
  *out.information = sizeof(ULONG);
  return STATUS_SUCCESS;
}

NTSTATUS put_uchar(const AttrOut& out, UCHAR value) {
  if (out.buffer == nullptr || out.length < 1) return STATUS_BUFFER_TOO_SMALL;
  out.buffer[0] = value;
  *out.information = 1;
  return STATUS_SUCCESS;
}

NTSTATUS put_bytes(const AttrOut& out, const UCHAR* bytes, ULONG count) {
  if (out.buffer == nullptr || out.length < count || out.length < 1) return STATUS_BUFFER_TOO_SMALL;
  if (count != 0) std::memcpy(out.buffer, bytes, count);
  *out.information = count;
  return STATUS_SUCCESS;
}

template <typename S>
NTSTATUS put_string(const AttrOut& out, const S& s) {
  ULONG count = s.Length;
  if (count > MAXIMUM_ATTR_STRING_LENGTH) count = MAXIMUM_ATTR_STRING_LENGTH;  // never past Buffer
  return put_bytes(out, s.Buffer, count);
}

NTSTATUS get_attribute(PSMARTCARD_EXTENSION ext, ULONG tag, const AttrOut& out) {
  const ULONG state = current_state(ext);
  const SCARD_READER_CAPABILITIES& rc = ext->ReaderCapabilities;
  const SCARD_CARD_CAPABILITIES& cc = ext->CardCapabilities;
  const VENDOR_ATTR& va = ext->VendorAttr;
  // IFD_PROTOCOL tags, ATR_STRING and ICC_TYPE_PER_ATR need a reset card [R].
  const bool protocol_info_ok = state > SCARD_POWERED;

  switch (tag) {
    case SCARD_ATTR_VENDOR_NAME: return put_string(out, va.VendorName);
    case SCARD_ATTR_VENDOR_IFD_TYPE: return put_string(out, va.IfdType);
    case SCARD_ATTR_VENDOR_IFD_VERSION:
      return put_ulong(out, (ULONG{va.IfdVersion.VersionMajor} << 24) | (ULONG{va.IfdVersion.VersionMinor} << 16) |
                                ULONG{va.IfdVersion.BuildNumber});
    case SCARD_ATTR_VENDOR_IFD_SERIAL_NO: return put_string(out, va.IfdSerialNo);
    case SCARD_ATTR_CHANNEL_ID: return put_ulong(out, (rc.ReaderType << 16) | rc.Channel);  // [X]
    case SCARD_ATTR_PROTOCOL_TYPES: return put_ulong(out, rc.SupportedProtocols);
    case SCARD_ATTR_DEFAULT_CLK: return put_ulong(out, rc.CLKFrequency.Default);
    case SCARD_ATTR_MAX_CLK: return put_ulong(out, rc.CLKFrequency.Max);
    case SCARD_ATTR_DEFAULT_DATA_RATE: return put_ulong(out, rc.DataRate.Default);
    case SCARD_ATTR_MAX_DATA_RATE: return put_ulong(out, rc.DataRate.Max);
    case SCARD_ATTR_MAX_IFSD: return put_ulong(out, rc.MaxIFSD);
    case SCARD_ATTR_POWER_MGMT_SUPPORT: return put_ulong(out, rc.PowerMgmtSupport);
    case SCARD_ATTR_CHARACTERISTICS: return put_ulong(out, rc.MechProperties);
    case SCARD_ATTR_DEVICE_UNIT: return put_ulong(out, va.UnitNo);

    case SCARD_ATTR_CURRENT_PROTOCOL_TYPE:
    case SCARD_ATTR_CURRENT_CLK:
    case SCARD_ATTR_CURRENT_F:
    case SCARD_ATTR_CURRENT_D:
    case SCARD_ATTR_CURRENT_N:
    case SCARD_ATTR_CURRENT_W:
    case SCARD_ATTR_CURRENT_IFSC:
    case SCARD_ATTR_CURRENT_IFSD:
    case SCARD_ATTR_CURRENT_BWT:
    case SCARD_ATTR_CURRENT_CWT:
    case SCARD_ATTR_CURRENT_EBC_ENCODING: {
      if (!protocol_info_ok) return STATUS_INVALID_DEVICE_STATE;
      ULONG value = 0;
      switch (tag) {
        case SCARD_ATTR_CURRENT_PROTOCOL_TYPE: value = cc.Protocol.Selected; break;
        case SCARD_ATTR_CURRENT_CLK:
          value = cc.PtsData.CLKFrequency != 0 ? cc.PtsData.CLKFrequency : rc.CLKFrequency.Default;
          break;
        case SCARD_ATTR_CURRENT_F:
          value = (cc.ClockRateConversion != nullptr) ? cc.ClockRateConversion[cc.Fl & 0x0F].F : 0;
          break;
        case SCARD_ATTR_CURRENT_D: {
          if (cc.BitRateAdjustment != nullptr) {
            const BIT_RATE_ADJUSTMENT& d = cc.BitRateAdjustment[cc.Dl & 0x0F];
            value = d.DDivisor != 0 ? d.DNumerator / d.DDivisor : 0;
          }
          break;
        }
        case SCARD_ATTR_CURRENT_N: value = cc.N; break;
        case SCARD_ATTR_CURRENT_W: value = cc.T0.WI; break;
        case SCARD_ATTR_CURRENT_IFSC: value = cc.T1.IFSC; break;
        case SCARD_ATTR_CURRENT_IFSD: value = ext->T1.IFSD; break;
        case SCARD_ATTR_CURRENT_BWT: value = cc.T1.BWI; break;  // the integer, not a time [R]
        case SCARD_ATTR_CURRENT_CWT: value = cc.T1.CWI; break;  // the integer, not a time [R]
        default: value = cc.T1.EDC; break;                      // CURRENT_EBC_ENCODING
      }
      return put_ulong(out, value);
    }

    case SCARD_ATTR_ICC_PRESENCE:
      if (state == SCARD_UNKNOWN) return STATUS_INVALID_DEVICE_STATE;
      return put_uchar(out, state == SCARD_ABSENT ? 0 : (state == SCARD_PRESENT ? 1 : 2));
    case SCARD_ATTR_ICC_INTERFACE_STATUS: return put_uchar(out, state >= SCARD_SWALLOWED ? 0xFF : 0x00);
    case SCARD_ATTR_ATR_STRING: {
      if (!protocol_info_ok) return STATUS_INVALID_DEVICE_STATE;
      ULONG n = cc.ATR.Length;
      if (n > sizeof cc.ATR.Buffer) n = sizeof cc.ATR.Buffer;
      return put_bytes(out, cc.ATR.Buffer, n);
    }
    case SCARD_ATTR_ICC_TYPE_PER_ATR:
      if (!protocol_info_ok) return STATUS_INVALID_DEVICE_STATE;
      return put_uchar(out, cc.Protocol.Selected != 0 ? 1 : 0);  // 1 = ISO 7816 asynchronous

    default:
      // SYNC_PROTOCOL_TYPES, the security class, EXTENDED_BWT, CURRENT_IO_STATE, ESC_*,
      // DEVICE_IN_USE, names, SUPRESS_T1_IFS_REQUEST, PERF_* and anything unknown [R].
      return STATUS_NOT_SUPPORTED;
  }
}

// ---- SET_PROTOCOL (spec §1.2; issue 10 rule 24) ----

// Windows works on the card as SmartcardUpdateCardCapabilities evaluated it and does not re-parse
// the ATR: only PtsData, the state and Protocol.Selected change before RDF_SET_PROTOCOL [R ioctl
// 27-45, 77-208].
NTSTATUS set_protocol(PSMARTCARD_EXTENSION ext) {
  const ULONG mask = ext->MinorIoControlCode;
  if (ext->IoRequest.ReplyBufferLength < sizeof(ULONG)) return STATUS_BUFFER_TOO_SMALL;
  const ULONG state = current_state(ext);
  if (state <= SCARD_ABSENT) return STATUS_INVALID_DEVICE_STATE;

  SCARD_CARD_CAPABILITIES& cc = ext->CardCapabilities;
  // Already running a protocol the caller accepts: nothing to do. The reply buffer keeps the
  // caller's mask and Information stays 0 [R ioctl 41, 43, 178].
  if (state == SCARD_SPECIFIC && (mask & cc.Protocol.Selected) != 0) return STATUS_SUCCESS;

  // A T=0/T=1 request has the library choose the PTS and preset the card's mode: SPECIFIC with
  // its protocol for a card that has only one way to run, NEGOTIABLE (Selected kept) otherwise.
  // Without those bits (RAW, 0, 8, DEFAULT alone) PtsData, state and Selected stay as they are.
  bool evaluated = false;
  if ((mask & SCARD_PROTOCOL_Tx) != 0) {
    cc.PtsData.Type = (mask & SCARD_PROTOCOL_DEFAULT) != 0 ? PTS_TYPE_DEFAULT : PTS_TYPE_OPTIMAL;
    PTS_DATA pts = cc.PtsData;
    ULONG specific_protocol = SCARD_PROTOCOL_UNDEFINED;
    if (NT_SUCCESS(evaluate_protocol_choice(ext, &pts, &specific_protocol))) {
      cc.PtsData = pts;
      if (specific_protocol != SCARD_PROTOCOL_UNDEFINED) {
        cc.Protocol.Selected = specific_protocol;
        set_state(ext, SCARD_SPECIFIC);
      } else {
        set_state(ext, SCARD_NEGOTIABLE);
      }
      evaluated = true;
    }
  }
  // The driver's own ATR parser for what the library does not handle: masks without T=0/T=1
  // [R ioctl 32-36, 83-85, 189-190], and (readerlab, spec note) an ATR the library refuses.
  if (!evaluated) {
    if (PREADER_FUNCTION parse = callback(ext, RDF_ATR_PARSE); parse != nullptr) {
      const NTSTATUS status = parse(ext);
      if (!NT_SUCCESS(status)) return status;  // state and Selected as they were
    }
  }

  // RAW is always among the card's protocols, so T0|RAW reaches the driver even on a T=1 card
  // [R ioctl 116, 126].
  if ((mask & ~SCARD_PROTOCOL_DEFAULT & cc.Protocol.Supported) == 0) {
    cc.Protocol.Selected = SCARD_PROTOCOL_UNDEFINED;
    if (evaluated) set_state(ext, SCARD_NEGOTIABLE);  // [R ioctl 42]
    return STATUS_NOT_SUPPORTED;
  }
  PREADER_FUNCTION fn = callback(ext, RDF_SET_PROTOCOL);
  return fn(ext);
}

// ---- Card tracking (spec §1.2) ----

NTSTATUS track(PSMARTCARD_EXTENSION ext, PIRP irp, ULONG code, bool* pending) {
  POS_DEP_DATA os = ext->OsData;
  if (os->NotificationIrp != nullptr) return STATUS_DEVICE_BUSY;  // whatever the state [R]
  PREADER_FUNCTION fn = callback(ext, RDF_CARD_TRACKING);
  if (fn == nullptr) return STATUS_NOT_SUPPORTED;
  const ULONG state = current_state(ext);
  if (state == SCARD_UNKNOWN) return STATUS_INVALID_DEVICE_STATE;
  if (code == IOCTL_SMARTCARD_IS_PRESENT && state >= SCARD_PRESENT) return STATUS_SUCCESS;
  if (code == IOCTL_SMARTCARD_IS_ABSENT && state == SCARD_ABSENT) return STATUS_SUCCESS;

  os->NotificationIrp = irp;
  IoMarkIrpPending(irp);  // before the driver can complete it from another context
  const NTSTATUS status = fn(ext);
  if (status == STATUS_PENDING) {
    *pending = true;
    return status;
  }
  irp->ReaderlabStack.Control = static_cast<UCHAR>(irp->ReaderlabStack.Control & ~SL_PENDING_RETURNED);
  // Win11 left NotificationIrp set here [R]; the driver is expected to clear it.
  return status;
}

NTSTATUS call_driver(PSMARTCARD_EXTENSION ext, PIRP irp, int index, NTSTATUS missing, bool* pending) {
  PREADER_FUNCTION fn = callback(ext, index);
  if (fn == nullptr) return missing;
  (void)irp;
  const NTSTATUS status = fn(ext);
  if (status == STATUS_PENDING) *pending = true;
  return status;
}

// IOCTL_SMARTCARD_GET_STATE: answered by the library itself, even while the driver is busy.
NTSTATUS get_state(PSMARTCARD_EXTENSION ext) {
  if (ext->IoRequest.ReplyBufferLength < sizeof(ULONG)) return STATUS_BUFFER_TOO_SMALL;
  store_ulong(ext->IoRequest.ReplyBuffer, current_state(ext));
  *ext->IoRequest.Information = sizeof(ULONG);
  return STATUS_SUCCESS;
}

// IOCTL_SMARTCARD_POWER: with a card in the reader the library forgets the card's protocol and
// ATR, and only then checks the minor code and the room for an ATR, so a refused POWER still
// leaves them cleared (issue 10 rule 23, [R] ioctl 18-26); then RDF_CARD_POWER.
NTSTATUS power(PSMARTCARD_EXTENSION ext, PIRP irp, bool* pending) {
  const ULONG minor = ext->MinorIoControlCode;
  if (callback(ext, RDF_CARD_POWER) == nullptr) return STATUS_NOT_SUPPORTED;
  if (current_state(ext) <= SCARD_ABSENT) return STATUS_INVALID_DEVICE_STATE;
  ext->CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_UNDEFINED;
  ext->CardCapabilities.ATR.Length = 0;
  std::memset(&ext->CardCapabilities.PtsData, 0, sizeof(PTS_DATA));
  reset_t1(ext);
  if (minor > SCARD_WARM_RESET) return STATUS_INVALID_DEVICE_REQUEST;
  if (minor != SCARD_POWER_DOWN && ext->IoRequest.ReplyBufferLength < MAXIMUM_ATR_LENGTH)
    return STATUS_BUFFER_TOO_SMALL;
  return call_driver(ext, irp, RDF_CARD_POWER, STATUS_NOT_SUPPORTED, pending);
}

// IOCTL_SMARTCARD_SET_PROTOCOL: the library's protocol choice, then RDF_SET_PROTOCOL.
NTSTATUS select_protocol(PSMARTCARD_EXTENSION ext, bool* pending) {
  if (callback(ext, RDF_SET_PROTOCOL) == nullptr) return STATUS_NOT_SUPPORTED;
  const NTSTATUS status = set_protocol(ext);
  if (status == STATUS_PENDING) *pending = true;
  return status;
}

// IOCTL_SMARTCARD_TRANSMIT: only in SPECIFIC state and with the selected protocol.
NTSTATUS transmit(PSMARTCARD_EXTENSION ext, PIRP irp, bool* pending) {
  if (callback(ext, RDF_TRANSMIT) == nullptr) return STATUS_NOT_SUPPORTED;
  if (ext->IoRequest.RequestBufferLength < sizeof(SCARD_IO_REQUEST)) return STATUS_INVALID_PARAMETER;
  const ULONG protocol = load_ulong(ext->IoRequest.RequestBuffer);
  if (current_state(ext) != SCARD_SPECIFIC || protocol != ext->CardCapabilities.Protocol.Selected) {
    return STATUS_INVALID_DEVICE_STATE;
  }
  return call_driver(ext, irp, RDF_TRANSMIT, STATUS_NOT_SUPPORTED, pending);
}

// IOCTL_SMARTCARD_SET_ATTRIBUTE: the library knows one attribute of its own.
NTSTATUS set_attribute(PSMARTCARD_EXTENSION ext) {
  if (ext->MinorIoControlCode != SCARD_ATTR_SUPRESS_T1_IFS_REQUEST) return STATUS_NOT_SUPPORTED;
  ext->T1.State = T1_START;  // the next exchange skips S(IFS request) [R]
  return STATUS_SUCCESS;
}

// The requests that hold the library (OsData->CurrentIrp) while they run.
NTSTATUS dispatch_exclusive(PSMARTCARD_EXTENSION ext, PIRP irp, ULONG code, bool* pending) {
  switch (code) {
    case IOCTL_SMARTCARD_POWER: return power(ext, irp, pending);
    case IOCTL_SMARTCARD_SET_PROTOCOL: return select_protocol(ext, pending);
    case IOCTL_SMARTCARD_TRANSMIT: return transmit(ext, irp, pending);
    case IOCTL_SMARTCARD_GET_ATTRIBUTE:
      return get_attribute(
          ext, ext->MinorIoControlCode,
          AttrOut{ext->IoRequest.ReplyBuffer, ext->IoRequest.ReplyBufferLength, ext->IoRequest.Information});
    case IOCTL_SMARTCARD_SET_ATTRIBUTE: return set_attribute(ext);
    case IOCTL_SMARTCARD_EJECT: return call_driver(ext, irp, RDF_CARD_EJECT, STATUS_NOT_SUPPORTED, pending);
    case IOCTL_SMARTCARD_SWALLOW: return call_driver(ext, irp, RDF_READER_SWALLOW, STATUS_NOT_SUPPORTED, pending);
    case IOCTL_SMARTCARD_CONFISCATE: return call_driver(ext, irp, RDF_CARD_CONFISCATE, STATUS_NOT_SUPPORTED, pending);
    default:
      if (is_vendor_code(code)) return call_driver(ext, irp, RDF_IOCTL_VENDOR, STATUS_INVALID_DEVICE_REQUEST, pending);
      // GET_LAST_ERROR, GET_PERF_CNTR, READ, WRITE and unassigned codes [R].
      return STATUS_INVALID_DEVICE_REQUEST;
  }
}

NTSTATUS dispatch(PSMARTCARD_EXTENSION ext, PIRP irp, ULONG code, bool* pending) {
  if (is_tracking(code)) return track(ext, irp, code, pending);
  if (code == IOCTL_SMARTCARD_GET_STATE) return get_state(ext);
  // A driver request left pending makes the library busy until the driver clears CurrentIrp.
  POS_DEP_DATA os = ext->OsData;
  if (os->CurrentIrp != nullptr) return STATUS_DEVICE_BUSY;
  os->CurrentIrp = irp;
  const NTSTATUS status = dispatch_exclusive(ext, irp, code, pending);
  if (!*pending) os->CurrentIrp = nullptr;
  return status;
}

}  // namespace
}  // namespace readerlab::smclib

using namespace readerlab::smclib;

extern "C" {

NTSTATUS SmartcardInitialize(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  if (ext == nullptr) return STATUS_INVALID_PARAMETER;
  if (ext->Version < SMCLIB_VERSION_REQUIRED || ext->Version > SMCLIB_VERSION) {
    return STATUS_UNSUCCESSFUL;  // nothing allocated [R]
  }
  if (ext->SmartcardRequest.BufferSize < MIN_BUFFER_SIZE) ext->SmartcardRequest.BufferSize = MIN_BUFFER_SIZE;
  if (ext->SmartcardReply.BufferSize < MIN_BUFFER_SIZE) ext->SmartcardReply.BufferSize = MIN_BUFFER_SIZE;

  auto* request = static_cast<PUCHAR>(ExAllocatePoolWithTag(NonPagedPool, ext->SmartcardRequest.BufferSize, 0));
  auto* reply = static_cast<PUCHAR>(ExAllocatePoolWithTag(NonPagedPool, ext->SmartcardReply.BufferSize, 0));
  auto* os = static_cast<POS_DEP_DATA>(ExAllocatePoolWithTag(NonPagedPool, sizeof(OS_DEP_DATA), 0));
  auto* p = new (std::nothrow) Private;
  if (request == nullptr || reply == nullptr || os == nullptr || p == nullptr) {
    ExFreePool(request);
    ExFreePool(reply);
    ExFreePool(os);
    delete p;
    return STATUS_INSUFFICIENT_RESOURCES;  // [PV]
  }
  ext->SmartcardRequest.Buffer = request;
  ext->SmartcardRequest.BufferLength = 0;
  ext->SmartcardReply.Buffer = reply;
  ext->SmartcardReply.BufferLength = 0;
  KeInitializeSpinLock(&os->SpinLock);
  // An empty list head ([R] osdata: list=1); Win11's free build never adds entries to it.
  InitializeListHead(&os->RemoveLock.TagList);
  os->RemoveLock.RefCount = 1;  // [R]
  os->ReaderlabPrivate = p;
  ext->OsData = os;
  // Only the F/D tables: the card capabilities stay zero, RAW and IFSD included, until
  // SmartcardInitializeCardCapabilities or an ATR (issue 10 rule 1).
  ext->CardCapabilities.ClockRateConversion = kClockRateConversion;
  ext->CardCapabilities.BitRateAdjustment = kBitRateAdjustment;
  return STATUS_SUCCESS;
}

VOID SmartcardExit(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  if (ext == nullptr) return;
  ExFreePool(ext->SmartcardRequest.Buffer);
  ext->SmartcardRequest.Buffer = nullptr;
  ExFreePool(ext->SmartcardReply.Buffer);
  ext->SmartcardReply.Buffer = nullptr;
  if (ext->OsData != nullptr) {
    delete static_cast<Private*>(ext->OsData->ReaderlabPrivate);
    ExFreePool(ext->OsData);
    ext->OsData = nullptr;
  }
}

NTSTATUS SmartcardDeviceControl(PSMARTCARD_EXTENSION SmartcardExtension, PIRP Irp) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  if (ext == nullptr || Irp == nullptr) return STATUS_INVALID_PARAMETER;
  if (ext->OsData == nullptr) {
    Irp->IoStatus.Status = STATUS_INVALID_DEVICE_STATE;
    Irp->IoStatus.Information = 0;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return STATUS_INVALID_DEVICE_STATE;
  }
  PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(Irp);
  const ULONG code = stack->Parameters.DeviceIoControl.IoControlCode;
  if (is_method_neither(code)) {
    // Refused before anything is read or written; IoStatus.Information as the caller left it
    // (issue 10 rule 22, [R] ioctl 188).
    Irp->IoStatus.Status = STATUS_INVALID_PARAMETER;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return STATUS_INVALID_PARAMETER;
  }
  auto* buffer = static_cast<PUCHAR>(Irp->AssociatedIrp.SystemBuffer);
  ULONG in_length = stack->Parameters.DeviceIoControl.InputBufferLength;
  ULONG out_length = stack->Parameters.DeviceIoControl.OutputBufferLength;
  if (buffer == nullptr) in_length = out_length = 0;

  Private* p = priv(ext);
  std::lock_guard<std::recursive_mutex> lock(p->callbacks);
  ext->MajorIoControlCode = code;
  // Every IOCTL, whatever its code, takes its first input ULONG as the minor code; a shorter
  // input keeps the stale value (issue 10 rule 21, [R] ioctl 3, 19, 46, 65, 180-184).
  if (in_length >= sizeof(ULONG)) ext->MinorIoControlCode = load_ulong(buffer);
  p->information = 0;
  ext->IoRequest.Information = &p->information;
  ext->IoRequest.RequestBuffer = buffer;
  ext->IoRequest.RequestBufferLength = in_length;
  ext->IoRequest.ReplyBuffer = buffer;
  ext->IoRequest.ReplyBufferLength = out_length;

  bool pending = false;
  const NTSTATUS status = dispatch(ext, Irp, code, &pending);
  if (pending) {
    IoMarkIrpPending(Irp);
    return STATUS_PENDING;
  }
  Irp->IoStatus.Status = status;
  // IS_PRESENT / IS_ABSENT completed here (at once, refused, or the driver did not pend) leave
  // IoStatus.Information as the caller left it (issue 10 rule 22, [R] ioctl 5-13, tracking).
  if (!is_tracking(code)) {
    ULONG information = p->information;
    if (information > out_length) information = out_length;  // never report past the buffer
    Irp->IoStatus.Information = information;
  }
  if (SmartcardGetDebugLevel() & DEBUG_IOCTL) {
    DbgPrint("smclib: ioctl %08x -> %08x (%u bytes)\n", code, static_cast<ULONG>(status),
             static_cast<ULONG>(Irp->IoStatus.Information));
  }
  IoCompleteRequest(Irp, IO_NO_INCREMENT);
  return status;
}

VOID SmartcardCompleteCardTracking(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  if (ext == nullptr || ext->OsData == nullptr) return;
  KIRQL irql = PASSIVE_LEVEL;
  IoAcquireCancelSpinLock(&irql);
  PIRP irp = ext->OsData->NotificationIrp;
  ext->OsData->NotificationIrp = nullptr;
  if (irp != nullptr) IoSetCancelRoutine(irp, nullptr);
  IoReleaseCancelSpinLock(irql);
  if (irp == nullptr) return;
  irp->IoStatus.Status = irp->Cancel ? STATUS_CANCELLED : STATUS_SUCCESS;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
}

NTSTATUS SmartcardAcquireRemoveLock(PSMARTCARD_EXTENSION SmartcardExtension) {
  return SmartcardAcquireRemoveLockWithTag(SmartcardExtension, 0);
}

NTSTATUS SmartcardAcquireRemoveLockWithTag(PSMARTCARD_EXTENSION SmartcardExtension, ULONG Tag) {
  (void)Tag;  // Win11's free build records no entry in RemoveLock.TagList [R acquire tag: list=1]
  POS_DEP_DATA os = SmartcardExtension->OsData;
  if (os == nullptr || __atomic_load_n(&os->RemoveLock.Removed, __ATOMIC_SEQ_CST)) return STATUS_DELETE_PENDING;
  InterlockedIncrement(&os->RemoveLock.RefCount);
  if (__atomic_load_n(&os->RemoveLock.Removed, __ATOMIC_SEQ_CST)) {
    InterlockedDecrement(&os->RemoveLock.RefCount);
    return STATUS_DELETE_PENDING;
  }
  return STATUS_SUCCESS;
}

VOID SmartcardReleaseRemoveLock(PSMARTCARD_EXTENSION SmartcardExtension) {
  SmartcardReleaseRemoveLockWithTag(SmartcardExtension, 0);
}

VOID SmartcardReleaseRemoveLockWithTag(PSMARTCARD_EXTENSION SmartcardExtension, ULONG Tag) {
  (void)Tag;
  POS_DEP_DATA os = SmartcardExtension->OsData;
  if (os == nullptr) return;
  if (InterlockedDecrement(&os->RemoveLock.RefCount) < 0) {
    InterlockedIncrement(&os->RemoveLock.RefCount);  // unbalanced release: keep the count sane
    SmartcardDebug(DEBUG_ERROR, ("smclib: unbalanced SmartcardReleaseRemoveLock\n"));
  }
}

VOID SmartcardReleaseRemoveLockAndWait(PSMARTCARD_EXTENSION SmartcardExtension) {
  POS_DEP_DATA os = SmartcardExtension->OsData;
  if (os == nullptr) return;
  __atomic_store_n(&os->RemoveLock.Removed, BOOLEAN{TRUE}, __ATOMIC_SEQ_CST);
  // The caller's own reference (taken when its IRP_MN_REMOVE_DEVICE dispatch began) and the one
  // SmartcardInitialize took both go: with no other holder the count is 0 and the call returns
  // at once (issue 10 rule 26, [R] wait: ref=0 removed=1).
  InterlockedDecrement(&os->RemoveLock.RefCount);
  if (InterlockedDecrement(&os->RemoveLock.RefCount) < 0) {
    // A driver that released its own reference first: Windows' count would go below zero.
    DbgPrint("smclib: SmartcardReleaseRemoveLockAndWait: the caller held no remove lock reference\n");
    __atomic_store_n(&os->RemoveLock.RefCount, LONG{0}, __ATOMIC_SEQ_CST);
    return;
  }
  // Other dispatch routines still inside: wait for their release, as the documentation says
  // [PV]. A model guard gives up after 5 s so a leaked reference shows as an error message
  // instead of a hung test.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (__atomic_load_n(&os->RemoveLock.RefCount, __ATOMIC_SEQ_CST) > 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      DbgPrint("smclib: SmartcardReleaseRemoveLockAndWait: %d references never released\n",
               static_cast<int>(os->RemoveLock.RefCount));
      return;
    }
    std::this_thread::yield();
  }
}

VOID SmartcardInvertData(PUCHAR Buffer, ULONG Length) {
  if (Buffer == nullptr) return;
  for (ULONG i = 0; i < Length; ++i) {
    UCHAR in = Buffer[i];
    UCHAR out = 0;
    for (int bit = 0; bit < 8; ++bit) {
      out = static_cast<UCHAR>((out << 1) | (in & 1));
      in = static_cast<UCHAR>(in >> 1);
    }
    Buffer[i] = static_cast<UCHAR>(~out);
  }
}

ULONG SmartcardGetDebugLevel(void) { return g_debug_level.load(); }
VOID SmartcardSetDebugLevel(ULONG Level) { g_debug_level.store(Level); }

VOID SmartcardLogError(PVOID Object, NTSTATUS ErrorCode, PUNICODE_STRING Insertion, ULONG DumpData) {
  (void)Object;
  (void)Insertion;
  if (SmartcardGetDebugLevel() != 0) {
    DbgPrint("smclib: error log entry %08x (dump %08x)\n", static_cast<ULONG>(ErrorCode), DumpData);
  }
}

NTSTATUS SmartcardCreateLink(PUNICODE_STRING LinkName, PUNICODE_STRING DeviceName) {
  // Statuses of the WDM routine page ff548935 [PV].
  if (LinkName == nullptr) return STATUS_INVALID_PARAMETER_1;
  if (DeviceName == nullptr) return STATUS_INVALID_PARAMETER_2;
  *LinkName = UNICODE_STRING{};
  // smclib.md 7 legacy naming; [D] wdm-device-names: the first available unit, which need not
  // match the device name's. The loop ends because only existing links collide.
  for (ULONG unit = 0;; ++unit) {
    const std::wstring name = L"\\DosDevices\\SCReader" + std::to_wstring(unit);
    const size_t bytes = (name.size() + 1) * sizeof(WCHAR);  // NUL-terminated for the driver's prints
    auto* buffer = static_cast<PWSTR>(ExAllocatePool(PagedPool, bytes));
    if (buffer == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
    std::memcpy(buffer, name.c_str(), bytes);
    LinkName->Buffer = buffer;
    LinkName->Length = static_cast<USHORT>(name.size() * sizeof(WCHAR));
    LinkName->MaximumLength = static_cast<USHORT>(bytes);
    const NTSTATUS status = IoCreateSymbolicLink(LinkName, DeviceName);
    if (status == STATUS_SUCCESS) return STATUS_SUCCESS;
    ExFreePool(buffer);
    *LinkName = UNICODE_STRING{};
    if (status != STATUS_OBJECT_NAME_COLLISION) return status;
  }
}

}  // extern "C"
