// The reference RDF driver's callbacks (see reference_rdf.h). Kernel C++ subset only.
#include "drivers_under_test/reference_rdf/reference_rdf.h"

namespace reference_rdf {
namespace {

// A command the reader does not answer at all: libccid gives a reader 3 s too
// (DEFAULT_COM_READ_TIMEOUT); waiting for the card is the exchange timeout's (BWT, WTX).
constexpr ULONG kDefaultTimeoutMs = 3000;
constexpr ULONG kControlTimeoutMs = 5000;
constexpr ULONG kPoolTag = 0x52726466;    // 'fdrR' as the WDK spells pool tags
constexpr ULONG kBufferSize = 4096 + 16;  // SmartcardRequest/Reply (>= MIN_BUFFER_SIZE 288)

using PReader = PREADER_EXTENSION;

PReader reader_of(PSMARTCARD_EXTENSION ext) { return ext->ReaderExtension; }

void copy_bytes(PUCHAR to, const UCHAR* from, ULONG length) {
  for (ULONG i = 0; i < length; ++i) to[i] = from[i];
}

void set_state(PSMARTCARD_EXTENSION ext, ULONG state) {
  KIRQL irql;
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  ext->ReaderCapabilities.CurrentState = state;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
}

ULONG get_state(PSMARTCARD_EXTENSION ext) {
  KIRQL irql;
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  const ULONG state = ext->ReaderCapabilities.CurrentState;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
  return state;
}

// The state a card in the slot has when it is not powered: CCID readers hold it in contact
// position, so SWALLOWED (in position, unpowered).
ULONG unpowered_state(BOOLEAN present) { return present ? SCARD_SWALLOWED : SCARD_ABSENT; }

// CCID 6.2.6 Table 6.2-2 bError -> NTSTATUS. smclib.md §1.2 names NO_MEDIA, UNRECOGNIZED_MEDIA
// and IO_TIMEOUT as the documented driver results; the rest say what the application can do.
NTSTATUS status_of_slot_error(uint8_t error) {
  switch (error) {
    case ccid::kErrorIccMute:     // the card did not answer
    case ccid::kErrorPinTimeout:  // nobody entered the PIN in time
      return STATUS_IO_TIMEOUT;
    case ccid::kErrorBadAtrTs:
    case ccid::kErrorBadAtrTck:
    case ccid::kErrorClassNotSupported:  // no voltage class of the reader's suits the card
      return STATUS_UNRECOGNIZED_MEDIA;
    case ccid::kErrorXfrOverrun: return STATUS_BUFFER_TOO_SMALL;
    case ccid::kErrorXfrParity: return STATUS_DEVICE_DATA_ERROR;
    case ccid::kErrorProcedureByteConflict: return STATUS_DEVICE_PROTOCOL_ERROR;
    case ccid::kErrorProtocolNotSupported:
    case ccid::kErrorCmdNotSupported: return STATUS_NOT_SUPPORTED;
    case ccid::kErrorDeactivatedProtocol: return STATUS_INVALID_DEVICE_STATE;
    case ccid::kErrorBusyWithAutoSequence:
    case ccid::kErrorCmdSlotBusy: return STATUS_DEVICE_BUSY;
    case ccid::kErrorPinCancelled:
    case ccid::kErrorCmdAborted: return STATUS_CANCELLED;
    default: return STATUS_IO_DEVICE_ERROR;  // HW_ERROR, a refused field (1..127), vendor codes
  }
}

// A card event the driver learnt of: the state, and the pending tracking IRP when the event is
// the one it waits for (IS_PRESENT a card, IS_ABSENT its removal; a swap counts as a removal).
void card_event(PSMARTCARD_EXTENSION ext, BOOLEAN present, BOOLEAN changed) {
  PReader reader = reader_of(ext);
  reader->CardPresent = present;
  reader->CardPowered = FALSE;  // a new card, or none, is not powered
  ext->CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_UNDEFINED;
  ext->CardCapabilities.ATR.Length = 0;
  set_state(ext, unpowered_state(present));

  KIRQL irql;
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  PIRP irp = ext->OsData->NotificationIrp;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
  if (irp == nullptr) return;
  const bool done = reader->TrackingIoctl == IOCTL_SMARTCARD_IS_PRESENT ? present == TRUE : (!present || changed);
  if (!done) return;
  KIRQL cancel_irql;
  IoAcquireCancelSpinLock(&cancel_irql);
  IoSetCancelRoutine(irp, nullptr);
  IoReleaseCancelSpinLock(cancel_irql);
  reader->TrackingIoctl = 0;
  SmartcardCompleteCardTracking(ext);
}

// CCID answer -> NTSTATUS, and what it says of the card (CCID 6.2.6).
NTSTATUS status_of(PSMARTCARD_EXTENSION ext, const CcidAnswer& answer) {
  PReader reader = reader_of(ext);
  switch (answer.outcome) {
    case CcidOutcome::ok: return STATUS_SUCCESS;
    case CcidOutcome::timeout: return STATUS_IO_TIMEOUT;
    case CcidOutcome::transport: return STATUS_DEVICE_NOT_CONNECTED;
    case CcidOutcome::malformed:
    case CcidOutcome::rejected: return STATUS_DEVICE_PROTOCOL_ERROR;
    case CcidOutcome::too_long: return STATUS_INVALID_PARAMETER;
    case CcidOutcome::failed: break;
  }
  if (answer.icc_status() == ccid::kIccAbsent) {
    // A removal the interrupt pipe did not report (or not yet): the same event as if it had.
    if (reader->CardPresent) {
      card_event(ext, FALSE, TRUE);
    } else {
      reader->CardPowered = FALSE;
      set_state(ext, SCARD_ABSENT);
    }
    return STATUS_NO_MEDIA;
  }
  if (answer.icc_status() == ccid::kIccInactive && reader->CardPowered) {
    reader->CardPowered = FALSE;
    set_state(ext, SCARD_SWALLOWED);
  }
  return status_of_slot_error(answer.error);
}

// A timeout for an exchange with the card: the protocol's waiting time plus a second of
// slack, never below the default (the reader answers for a mute card itself).
ULONG exchange_timeout(PSMARTCARD_EXTENSION ext) {
  ULONG timeout = reader_of(ext)->DefaultTimeoutMs;
  if (ext->CardCapabilities.Protocol.Selected == SCARD_PROTOCOL_T1) {
    ULONG bwt_ms = ext->CardCapabilities.T1.BWT / 1000 + 1;
    const ULONG wtx = ext->T1.Wtx > 1 ? ext->T1.Wtx : 1;
    bwt_ms = bwt_ms * wtx + 1000;
    if (bwt_ms > timeout) timeout = bwt_ms;
  }
  return timeout;
}

// One XfrBlock; the answer's data is copied to SmartcardReply.
// Extended APDU level: a command longer than one message goes in parts, and so may the answer
// (CCID 6.1.4, 6.2.1); the parts of the answer are gathered in SmartcardReply.
NTSTATUS xfr_chained_to_reply(PSMARTCARD_EXTENSION ext, const UCHAR* data, ULONG length) {
  PReader reader = reader_of(ext);
  const ULONG part = reader->Channel.max_payload();
  ULONG sent = 0;
  CcidAnswer answer{};
  do {
    const ULONG size = length - sent < part ? length - sent : part;
    const bool last = sent + size == length;
    const uint16_t level = length <= part ? ccid::kChainComplete
                           : sent == 0    ? ccid::kChainBegins
                           : last         ? ccid::kChainEnds
                                          : ccid::kChainContinues;
    answer = reader->Channel.xfr_block(data + sent, size, exchange_timeout(ext), level);
    const NTSTATUS status = status_of(ext, answer);
    if (status != STATUS_SUCCESS) return status;
    sent += size;
    if (!last && answer.specific != ccid::kChainMoreExpected) return STATUS_DEVICE_PROTOCOL_ERROR;
  } while (sent < length);
  ULONG received = 0;
  for (;;) {
    if (received + answer.length > ext->SmartcardReply.BufferSize) return STATUS_BUFFER_OVERFLOW;
    copy_bytes(ext->SmartcardReply.Buffer + received, answer.data, answer.length);
    received += answer.length;
    const uint8_t chain = answer.specific;
    if (chain == ccid::kChainComplete || chain == ccid::kChainEnds) break;
    if (chain != ccid::kChainBegins && chain != ccid::kChainContinues) return STATUS_DEVICE_PROTOCOL_ERROR;
    answer = reader->Channel.xfr_block(nullptr, 0, exchange_timeout(ext), ccid::kChainMoreExpected);
    const NTSTATUS status = status_of(ext, answer);
    if (status != STATUS_SUCCESS) return status;
  }
  ext->SmartcardReply.BufferLength = received;
  return STATUS_SUCCESS;
}

NTSTATUS xfr_to_reply(PSMARTCARD_EXTENSION ext, const UCHAR* data, ULONG length) {
  PReader reader = reader_of(ext);
  if (reader->Level == ExchangeLevel::extended_apdu) return xfr_chained_to_reply(ext, data, length);
  const CcidAnswer answer = reader->Channel.xfr_block(data, length, exchange_timeout(ext));
  const NTSTATUS status = status_of(ext, answer);
  if (status != STATUS_SUCCESS) return status;
  if (answer.length > ext->SmartcardReply.BufferSize) return STATUS_BUFFER_OVERFLOW;
  copy_bytes(ext->SmartcardReply.Buffer, answer.data, answer.length);
  ext->SmartcardReply.BufferLength = answer.length;
  return STATUS_SUCCESS;
}

NTSTATUS card_power(PSMARTCARD_EXTENSION ext) {
  PReader reader = reader_of(ext);
  const ULONG code = ext->MinorIoControlCode;
  *ext->IoRequest.Information = 0;
  if (code == SCARD_POWER_DOWN) {
    const CcidAnswer answer = reader->Channel.power_off(kControlTimeoutMs);
    const NTSTATUS status = status_of(ext, answer);
    reader->CardPowered = FALSE;
    ext->CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_UNDEFINED;
    if (status == STATUS_SUCCESS) {
      reader->CardPresent = answer.icc_status() != ccid::kIccAbsent;
      set_state(ext, unpowered_state(reader->CardPresent));
    }
    return status;
  }
  if (code != SCARD_COLD_RESET && code != SCARD_WARM_RESET) return STATUS_INVALID_DEVICE_REQUEST;
  // CCID 6.1.1: IccPowerOn on a powered card is a warm reset; a cold reset powers down first.
  if (code == SCARD_COLD_RESET && reader->CardPowered) {
    const NTSTATUS status = status_of(ext, reader->Channel.power_off(kControlTimeoutMs));
    if (status != STATUS_SUCCESS) return status;
    reader->CardPowered = FALSE;
  }
  const CcidAnswer answer = reader->Channel.power_on(reader->DefaultTimeoutMs);
  NTSTATUS status = status_of(ext, answer);
  if (status != STATUS_SUCCESS) {
    ext->CardCapabilities.ATR.Length = 0;
    if (answer.outcome == CcidOutcome::failed) {
      reader->CardPowered = FALSE;
      reader->CardPresent = answer.icc_status() != ccid::kIccAbsent;
      set_state(ext, unpowered_state(reader->CardPresent));
    }
    return status;
  }
  reader->CardPresent = TRUE;
  reader->CardPowered = TRUE;
  if (answer.length == 0 || answer.length > MAXIMUM_ATR_LENGTH ||
      answer.length > sizeof(ext->CardCapabilities.ATR.Buffer)) {
    set_state(ext, SCARD_POWERED);
    return STATUS_UNRECOGNIZED_MEDIA;
  }
  if (answer.length > ext->IoRequest.ReplyBufferLength) return STATUS_BUFFER_TOO_SMALL;
  copy_bytes(ext->CardCapabilities.ATR.Buffer, answer.data, answer.length);
  ext->CardCapabilities.ATR.Length = static_cast<UCHAR>(answer.length);
  copy_bytes(ext->IoRequest.ReplyBuffer, answer.data, answer.length);
  *ext->IoRequest.Information = answer.length;
  // The library parses the ATR and moves the state to NEGOTIABLE or SPECIFIC.
  set_state(ext, SCARD_POWERED);
  status = SmartcardUpdateCardCapabilities(ext);
  if (status != STATUS_SUCCESS) *ext->IoRequest.Information = 0;
  return status;
}

// APDU level: the reader runs the protocol; the driver forwards the APDU.
NTSTATUS transmit_apdu(PSMARTCARD_EXTENSION ext) {
  const ULONG header = sizeof(SCARD_IO_REQUEST);
  if (ext->IoRequest.RequestBufferLength < header) return STATUS_INVALID_PARAMETER;
  const auto* io = reinterpret_cast<const SCARD_IO_REQUEST*>(ext->IoRequest.RequestBuffer);
  ULONG skip = io->cbPciLength;
  if (skip < header || skip > ext->IoRequest.RequestBufferLength) skip = header;
  const ULONG apdu_length = ext->IoRequest.RequestBufferLength - skip;
  if (apdu_length > ext->SmartcardRequest.BufferSize) return STATUS_BUFFER_OVERFLOW;
  // Request and reply share the system buffer: copy the APDU out first.
  copy_bytes(ext->SmartcardRequest.Buffer, ext->IoRequest.RequestBuffer + skip, apdu_length);
  ext->SmartcardRequest.BufferLength = apdu_length;
  NTSTATUS status = xfr_to_reply(ext, ext->SmartcardRequest.Buffer, apdu_length);
  if (status != STATUS_SUCCESS) return status;
  const ULONG n = ext->SmartcardReply.BufferLength;
  if (ext->IoRequest.ReplyBufferLength < header + n) return STATUS_BUFFER_TOO_SMALL;
  auto* out = reinterpret_cast<SCARD_IO_REQUEST*>(ext->IoRequest.ReplyBuffer);
  out->dwProtocol = ext->CardCapabilities.Protocol.Selected;
  out->cbPciLength = header;
  copy_bytes(ext->IoRequest.ReplyBuffer + header, ext->SmartcardReply.Buffer, n);
  *ext->IoRequest.Information = header + n;
  return STATUS_SUCCESS;
}

// TPDU level: the library builds what goes to the card and reads what comes back.
NTSTATUS transmit_tpdu(PSMARTCARD_EXTENSION ext) {
  NTSTATUS status;
  switch (ext->CardCapabilities.Protocol.Selected) {
    case SCARD_PROTOCOL_T0: {
      // smclib's T=0 request takes cases 1-3 only (smclib.md 5): a short case 4 command goes
      // as its case 3 TPDU, and the card's 61xx returns to the application, which fetches the
      // data with GET RESPONSE (as pcsc-lite's driver does at TPDU level).
      const ULONG header = sizeof(SCARD_IO_REQUEST);
      const ULONG length = ext->IoRequest.RequestBufferLength;
      if (length > header + 5) {
        const UCHAR lc = ext->IoRequest.RequestBuffer[header + 4];
        if (lc != 0 && length == header + 5 + lc + 1) ext->IoRequest.RequestBufferLength = length - 1;
      }
      ext->SmartcardRequest.BufferLength = 0;
      status = SmartcardT0Request(ext);
      if (status != STATUS_SUCCESS) return status;
      status = xfr_to_reply(ext, ext->SmartcardRequest.Buffer, ext->SmartcardRequest.BufferLength);
      if (status != STATUS_SUCCESS) return status;
      return SmartcardT0Reply(ext);
    }
    case SCARD_PROTOCOL_RAW:
      ext->SmartcardRequest.BufferLength = 0;
      status = SmartcardRawRequest(ext);
      if (status != STATUS_SUCCESS) return status;
      status = xfr_to_reply(ext, ext->SmartcardRequest.Buffer, ext->SmartcardRequest.BufferLength);
      if (status != STATUS_SUCCESS) return status;
      return SmartcardRawReply(ext);
    case SCARD_PROTOCOL_T1:
      // Bounded: the library's T=1 engine ends a failing exchange itself.
      for (int round = 0; round < 4096; ++round) {
        ext->SmartcardRequest.BufferLength = 0;
        status = SmartcardT1Request(ext);
        if (status != STATUS_SUCCESS) return status;
        status = xfr_to_reply(ext, ext->SmartcardRequest.Buffer, ext->SmartcardRequest.BufferLength);
        if (status == STATUS_IO_TIMEOUT || status == STATUS_DEVICE_DATA_ERROR ||
            status == STATUS_DEVICE_PROTOCOL_ERROR) {
          // A block the card did not answer, one with a parity error, or a CCID answer the driver
          // refused: no block came. An empty reply lets the engine ask again (ISO 7816-3 11.6.3).
          ext->SmartcardReply.BufferLength = 0;
        } else if (status != STATUS_SUCCESS) {
          return status;
        }
        status = SmartcardT1Reply(ext);
        if (status != STATUS_MORE_PROCESSING_REQUIRED) return status;
      }
      return STATUS_DEVICE_PROTOCOL_ERROR;
    default: return STATUS_INVALID_DEVICE_REQUEST;
  }
}

NTSTATUS transmit(PSMARTCARD_EXTENSION ext) {
  PReader reader = reader_of(ext);
  *ext->IoRequest.Information = 0;
  if (!reader->CardPresent) return STATUS_NO_MEDIA;
  if (reader->Level == ExchangeLevel::tpdu) return transmit_tpdu(ext);
  if (ext->CardCapabilities.Protocol.Selected == SCARD_PROTOCOL_RAW) return STATUS_INVALID_DEVICE_REQUEST;
  return transmit_apdu(ext);
}

// The Fi/Di the library chose for the PTS (PtsData: OPTIMAL fitted to the reader, DEFAULT 1/1).
UCHAR fi_di(PSMARTCARD_EXTENSION ext) {
  const PTS_DATA& pts = ext->CardCapabilities.PtsData;
  const UCHAR fl = pts.Fl ? pts.Fl : 1;
  const UCHAR dl = pts.Dl ? pts.Dl : 1;
  return static_cast<UCHAR>((fl << 4) | (dl & 0x0F));
}

// ISO 7816-3 9.2: PPSS FF, PPS0 (PPS1 present, protocol), PPS1 Fi/Di, PCK.
NTSTATUS send_pps(PSMARTCARD_EXTENSION ext, ULONG protocol) {
  PReader reader = reader_of(ext);
  UCHAR pps[4];
  pps[0] = 0xFF;
  pps[1] = static_cast<UCHAR>(0x10 | (protocol == SCARD_PROTOCOL_T1 ? 1 : 0));
  pps[2] = fi_di(ext);
  pps[3] = static_cast<UCHAR>(pps[0] ^ pps[1] ^ pps[2]);
  const CcidAnswer answer = reader->Channel.xfr_block(pps, sizeof(pps), reader->DefaultTimeoutMs);
  NTSTATUS status = status_of(ext, answer);
  if (status != STATUS_SUCCESS) return status;
  // The card confirms by echoing; an answer without PPS1 means Fd/Dd (ISO 7816-3 9.3).
  if (answer.length == 4) {
    for (ULONG i = 0; i < 4; ++i)
      if (answer.data[i] != pps[i]) return STATUS_DEVICE_PROTOCOL_ERROR;
    return STATUS_SUCCESS;
  }
  if (answer.length == 3 && answer.data[0] == 0xFF && (answer.data[1] & 0x0F) == (pps[1] & 0x0F)) {
    ext->CardCapabilities.PtsData.Fl = 1;
    ext->CardCapabilities.PtsData.Dl = 1;
    return STATUS_SUCCESS;
  }
  return STATUS_DEVICE_PROTOCOL_ERROR;
}

// CCID 6.1.7 SetParameters from the capabilities the library worked out.
NTSTATUS set_parameters(PSMARTCARD_EXTENSION ext, ULONG protocol) {
  PReader reader = reader_of(ext);
  const SCARD_CARD_CAPABILITIES& caps = ext->CardCapabilities;
  const UCHAR convention = caps.InversConvention ? 0x02 : 0x00;
  const UCHAR guard = static_cast<UCHAR>(caps.N);
  UCHAR data[7];
  ULONG length;
  UCHAR number;
  data[0] = fi_di(ext);
  if (protocol == SCARD_PROTOCOL_T1) {
    number = 1;
    data[1] = static_cast<UCHAR>(0x10 | convention | (caps.T1.EDC & 1));  // bmTCCKST1
    data[2] = guard;
    data[3] = static_cast<UCHAR>((caps.T1.BWI << 4) | (caps.T1.CWI & 0x0F));
    data[4] = 0;  // bClockStop: not allowed
    data[5] = caps.T1.IFSC;
    data[6] = 0;  // bNadValue
    length = 7;
  } else {
    number = 0;
    data[1] = convention;  // bmTCCKST0
    data[2] = guard;
    data[3] = caps.T0.WI;
    data[4] = 0;
    length = 5;
  }
  return status_of(ext, reader->Channel.set_parameters(number, data, length, kControlTimeoutMs));
}

NTSTATUS set_protocol(PSMARTCARD_EXTENSION ext) {
  PReader reader = reader_of(ext);
  const ULONG mask = ext->MinorIoControlCode;
  const ULONG supported = ext->CardCapabilities.Protocol.Supported;
  *ext->IoRequest.Information = 0;
  if (!reader->CardPresent) return STATUS_NO_MEDIA;
  if (ext->IoRequest.ReplyBufferLength < sizeof(ULONG)) return STATUS_BUFFER_TOO_SMALL;
  ULONG protocol = SCARD_PROTOCOL_UNDEFINED;
  // A card with a single way to run (specific mode, or one protocol at the default F/D) comes
  // preset SPECIFIC with that protocol in Selected, whatever the mask (issue 10 rule 24): it is
  // the protocol, or only RAW is left.
  const bool preset = get_state(ext) == SCARD_SPECIFIC;  // specific mode: no PPS (ISO 7816-3 6.3.1)
  const ULONG preset_protocol = preset ? ext->CardCapabilities.Protocol.Selected & SCARD_PROTOCOL_Tx : 0;
  if (preset_protocol != 0) {
    if (mask & preset_protocol)
      protocol = preset_protocol;
    else if ((mask & SCARD_PROTOCOL_RAW) && (supported & SCARD_PROTOCOL_RAW))
      protocol = SCARD_PROTOCOL_RAW;
  } else if ((mask & SCARD_PROTOCOL_T1) && (supported & SCARD_PROTOCOL_T1)) {
    protocol = SCARD_PROTOCOL_T1;  // the library's documentation asks drivers to prefer T=1
  } else if ((mask & SCARD_PROTOCOL_T0) && (supported & SCARD_PROTOCOL_T0)) {
    protocol = SCARD_PROTOCOL_T0;
  } else if ((mask & SCARD_PROTOCOL_RAW) && (supported & SCARD_PROTOCOL_RAW)) {
    protocol = SCARD_PROTOCOL_RAW;
  }
  if (protocol == SCARD_PROTOCOL_UNDEFINED) return STATUS_INVALID_DEVICE_REQUEST;
  if (!reader->CardPowered) return STATUS_INVALID_DEVICE_STATE;

  NTSTATUS status = STATUS_SUCCESS;
  if (protocol != SCARD_PROTOCOL_RAW) {
    if (reader->Level == ExchangeLevel::tpdu && !preset) {
      status = send_pps(ext, protocol);
      if (status == STATUS_DEVICE_PROTOCOL_ERROR || status == STATUS_IO_TIMEOUT) {
        // The card refused the optimal parameters: warm reset and default ones (DDI PTS_DATA).
        const CcidAnswer again = reader->Channel.power_on(reader->DefaultTimeoutMs);
        status = status_of(ext, again);
        if (status != STATUS_SUCCESS) return status;
        ext->CardCapabilities.PtsData.Type = PTS_TYPE_DEFAULT;
        status = SmartcardUpdateCardCapabilities(ext);
        if (status != STATUS_SUCCESS) return status;
        if (get_state(ext) != SCARD_SPECIFIC) status = send_pps(ext, protocol);
      }
      if (status != STATUS_SUCCESS) return status;
    }
    status = set_parameters(ext, protocol);
    if (status != STATUS_SUCCESS) return status;
  }
  ext->CardCapabilities.Protocol.Selected = protocol;
  set_state(ext, SCARD_SPECIFIC);
  *reinterpret_cast<PULONG>(ext->IoRequest.ReplyBuffer) = protocol;
  *ext->IoRequest.Information = sizeof(ULONG);
  return STATUS_SUCCESS;
}

// A CCID reader has no mechanics (dwMechanical 0, MechProperties 0): eject, swallow and
// confiscate are refused with NOT_SUPPORTED in every state, the answer the library gives for a
// reader without the callback, and nothing happens to the card.
NTSTATUS card_eject(PSMARTCARD_EXTENSION) { return STATUS_NOT_SUPPORTED; }
NTSTATUS reader_swallow(PSMARTCARD_EXTENSION) { return STATUS_NOT_SUPPORTED; }
NTSTATUS card_confiscate(PSMARTCARD_EXTENSION) { return STATUS_NOT_SUPPORTED; }

PSMARTCARD_EXTENSION extension_of(PDEVICE_OBJECT device) {
  return &static_cast<RDF_DEVICE_EXTENSION*>(device->DeviceExtension)->SmartcardExtension;
}

void complete_tracking_cancelled(PSMARTCARD_EXTENSION ext, PIRP irp) {
  irp->IoStatus.Status = STATUS_CANCELLED;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  (void)ext;
}

// The tracking IRP's cancel routine: the I/O manager holds the cancel spin lock.
void NTAPI tracking_cancel(PDEVICE_OBJECT device, PIRP irp) {
  PSMARTCARD_EXTENSION ext = extension_of(device);
  IoReleaseCancelSpinLock(irp->CancelIrql);
  KIRQL irql;
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  if (ext->OsData->NotificationIrp == irp) ext->OsData->NotificationIrp = nullptr;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
  reader_of(ext)->TrackingIoctl = 0;
  complete_tracking_cancelled(ext, irp);
}

NTSTATUS card_tracking(PSMARTCARD_EXTENSION ext) {
  PReader reader = reader_of(ext);
  PIRP irp = ext->OsData->NotificationIrp;
  if (irp == nullptr) return STATUS_INVALID_DEVICE_STATE;
  reader->TrackingIoctl = ext->MajorIoControlCode;
  KIRQL cancel_irql;
  IoAcquireCancelSpinLock(&cancel_irql);
  if (irp->Cancel) {
    IoReleaseCancelSpinLock(cancel_irql);
    reader->TrackingIoctl = 0;
    ext->OsData->NotificationIrp = nullptr;
    return STATUS_CANCELLED;
  }
  IoMarkIrpPending(irp);
  IoSetCancelRoutine(irp, tracking_cancel);
  IoReleaseCancelSpinLock(cancel_irql);
  return STATUS_PENDING;
}

// PC/SC part 10 GET_FEATURE_REQUEST: tag, length 4, IOCTL big-endian.
NTSTATUS get_feature_request(PSMARTCARD_EXTENSION ext) {
  const ULONG needed = 6;
  if (ext->IoRequest.ReplyBufferLength < needed) return STATUS_BUFFER_TOO_SMALL;
  PUCHAR out = ext->IoRequest.ReplyBuffer;
  out[0] = kFeatureCcidEscCommand;
  out[1] = 4;
  for (int i = 0; i < 4; ++i) out[2 + i] = static_cast<UCHAR>(kIoctlCcidEscape >> (8 * (3 - i)));
  *ext->IoRequest.Information = needed;
  return STATUS_SUCCESS;
}

// CCID 6.1.8 PC_to_RDR_Escape with the caller's bytes; the reader's answer comes back as is.
NTSTATUS ccid_escape(PSMARTCARD_EXTENSION ext) {
  PReader reader = reader_of(ext);
  const ULONG length = ext->IoRequest.RequestBufferLength;
  if (length > ext->SmartcardRequest.BufferSize || length > reader->Channel.max_payload())
    return STATUS_INVALID_PARAMETER;
  copy_bytes(ext->SmartcardRequest.Buffer, ext->IoRequest.RequestBuffer, length);
  const CcidAnswer answer = reader->Channel.escape(ext->SmartcardRequest.Buffer, length, kControlTimeoutMs);
  if (answer.outcome == CcidOutcome::failed && answer.error == ccid::kErrorCmdNotSupported) return STATUS_NOT_SUPPORTED;
  if (answer.outcome != CcidOutcome::ok) {
    if (answer.outcome == CcidOutcome::failed) return STATUS_IO_DEVICE_ERROR;
    return status_of(ext, answer);
  }
  if (answer.length > ext->IoRequest.ReplyBufferLength) return STATUS_BUFFER_TOO_SMALL;
  copy_bytes(ext->IoRequest.ReplyBuffer, answer.data, answer.length);
  *ext->IoRequest.Information = answer.length;
  return STATUS_SUCCESS;
}

NTSTATUS vendor_ioctl(PSMARTCARD_EXTENSION ext) {
  *ext->IoRequest.Information = 0;
  if (ext->MajorIoControlCode == kIoctlGetFeatureRequest) return get_feature_request(ext);
  if (ext->MajorIoControlCode == kIoctlCcidEscape) return ccid_escape(ext);
  return STATUS_INVALID_DEVICE_REQUEST;
}

// Called by the library for an ATR it does not recognise or a mask without T=0/T=1. The
// reader accepted the ATR (its TS and TCK were checked); the driver offers the card raw.
NTSTATUS atr_parse(PSMARTCARD_EXTENSION ext) {
  const UCHAR length = ext->CardCapabilities.ATR.Length;
  const UCHAR ts = length ? ext->CardCapabilities.ATR.Buffer[0] : 0;
  if (length < 2 || (ts != 0x3B && ts != 0x3F)) return STATUS_UNRECOGNIZED_MEDIA;  // ISO 7816-3 8.1
  if ((ext->MinorIoControlCode & SCARD_PROTOCOL_RAW) == 0) return STATUS_UNRECOGNIZED_MEDIA;
  ext->CardCapabilities.Protocol.Supported |= SCARD_PROTOCOL_RAW;
  return STATUS_SUCCESS;
}

// CCID 5.3.2 / 5.3.3: the lists the library uses to fit PTS parameters.
void read_lists(PSMARTCARD_EXTENSION ext) {
  PReader reader = reader_of(ext);
  UCHAR data[4 * 255];
  const struct {
    UCHAR request;
    UCHAR count;
    PULONG list;
    ULONG capacity;
    bool rates;
  } lists[] = {
      {ccid::kRequestGetDataRates, reader->Descriptor.num_data_rates, reader->DataRates, 255, true},
      {ccid::kRequestGetClockFrequencies, reader->Descriptor.num_clocks, reader->ClockFrequencies, 16, false},
  };
  for (const auto& l : lists) {
    if (l.count == 0) continue;
    ULONG count = l.count < l.capacity ? l.count : l.capacity;
    UsbSetup setup{0xA1, l.request, 0, 0, static_cast<uint16_t>(count * 4)};  // class, interface, IN
    uint32_t got = 0;
    if (reader->Usb->control(setup, data, &got) != UsbStatus::ok) continue;
    count = got / 4;
    for (ULONG i = 0; i < count; ++i) l.list[i] = read_le32(data + 4 * i);
    if (l.rates) {
      ext->ReaderCapabilities.DataRatesSupported.List = reader->DataRates;
      ext->ReaderCapabilities.DataRatesSupported.Entries = static_cast<UCHAR>(count);
    } else {
      ext->ReaderCapabilities.CLKFrequenciesSupported.List = reader->ClockFrequencies;
      ext->ReaderCapabilities.CLKFrequenciesSupported.Entries = static_cast<UCHAR>(count);
    }
  }
}

// USB 2.0 9.6.1 iSerialNumber and 9.6.7 string descriptors: the reader's serial number,
// UTF-16LE, kept as ASCII (other characters as '?') in VendorAttr.IfdSerialNo.
void read_serial_number(PSMARTCARD_EXTENSION ext, UsbIo* usb) {
  UCHAR device[18];
  uint32_t got = 0;
  const UsbSetup device_setup{0x80, 0x06, 0x0100, 0, sizeof(device)};
  if (usb->control(device_setup, device, &got) != UsbStatus::ok || got < sizeof(device) || device[16] == 0) return;
  UCHAR text[2 + 2 * MAXIMUM_ATTR_STRING_LENGTH];
  const UsbSetup string_setup{0x80, 0x06, static_cast<uint16_t>(0x0300 | device[16]), 0x0409, sizeof(text)};
  if (usb->control(string_setup, text, &got) != UsbStatus::ok || got < 2 || text[1] != 0x03) return;
  const ULONG length = (text[0] < got ? text[0] : got);
  USHORT n = 0;
  for (ULONG at = 2; at + 1 < length && n < MAXIMUM_ATTR_STRING_LENGTH; at += 2)
    ext->VendorAttr.IfdSerialNo.Buffer[n++] = text[at + 1] == 0 && text[at] < 0x80 ? text[at] : '?';
  ext->VendorAttr.IfdSerialNo.Length = n;
}

void set_vendor_string(UCHAR* buffer, USHORT* length, const char* text) {
  USHORT n = 0;
  while (text[n] != 0 && n < 32) {
    buffer[n] = static_cast<UCHAR>(text[n]);
    ++n;
  }
  *length = n;
}

}  // namespace

NTSTATUS RdfDeviceControl(PDEVICE_OBJECT device, PIRP irp) { return SmartcardDeviceControl(extension_of(device), irp); }

NTSTATUS RdfStartDevice(PDEVICE_OBJECT device, UsbIo* usb) {
  if (device == nullptr || device->DeviceExtension == nullptr || usb == nullptr) return STATUS_INVALID_PARAMETER;
  PSMARTCARD_EXTENSION ext = extension_of(device);
  // USB 2.0 9.4.3: the configuration descriptor with its interface and class descriptors.
  UCHAR config[512];
  uint32_t got = 0;
  UsbSetup setup{0x80, 0x06, 0x0200, 0, sizeof(config)};
  if (usb->control(setup, config, &got) != UsbStatus::ok) return STATUS_DEVICE_NOT_CONNECTED;
  CcidDescriptor descriptor{};
  if (!parse_ccid_descriptor(config, got, &descriptor)) return STATUS_NOT_SUPPORTED;  // no CCID functional descriptor
  const ExchangeLevel level = exchange_level(descriptor);
  if (level == ExchangeLevel::character) return STATUS_NOT_SUPPORTED;  // character level is not driven
  // CCID 5.1: messages that cannot carry the 10-byte header and a byte of data carry no command.
  if (descriptor.max_message_length <= ccid::kHeaderSize) return STATUS_NOT_SUPPORTED;

  auto* reader =
      static_cast<PREADER_EXTENSION>(ExAllocatePoolWithTag(NonPagedPool, sizeof(_READER_EXTENSION), kPoolTag));
  if (reader == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  RtlZeroMemory(reader, sizeof(_READER_EXTENSION));
  reader->Usb = usb;
  reader->Descriptor = descriptor;
  reader->Level = level;
  reader->DefaultTimeoutMs = kDefaultTimeoutMs;
  reader->Endpoints = parse_ccid_endpoints(config, got);
  reader->Channel.attach(usb, 0, descriptor.max_message_length, reader->Endpoints);
  ext->ReaderExtension = reader;

  ext->ReaderFunction[RDF_CARD_POWER] = card_power;
  ext->ReaderFunction[RDF_TRANSMIT] = transmit;
  ext->ReaderFunction[RDF_CARD_EJECT] = card_eject;
  ext->ReaderFunction[RDF_READER_SWALLOW] = reader_swallow;
  ext->ReaderFunction[RDF_CARD_TRACKING] = card_tracking;
  ext->ReaderFunction[RDF_SET_PROTOCOL] = set_protocol;
  ext->ReaderFunction[RDF_CARD_CONFISCATE] = card_confiscate;
  ext->ReaderFunction[RDF_IOCTL_VENDOR] = vendor_ioctl;
  ext->ReaderFunction[RDF_ATR_PARSE] = atr_parse;

  set_vendor_string(ext->VendorAttr.VendorName.Buffer, &ext->VendorAttr.VendorName.Length, "readerlab");
  set_vendor_string(ext->VendorAttr.IfdType.Buffer, &ext->VendorAttr.IfdType.Length, "Reference RDF CCID");
  ext->VendorAttr.UnitNo = 0;
  read_serial_number(ext, usb);
  ext->VendorAttr.IfdVersion.VersionMajor = 1;
  ext->VendorAttr.IfdVersion.VersionMinor = 0;
  ext->VendorAttr.IfdVersion.BuildNumber = 1;

  SCARD_READER_CAPABILITIES& caps = ext->ReaderCapabilities;
  caps.SupportedProtocols = 0;
  if (descriptor.protocols & 1) caps.SupportedProtocols |= SCARD_PROTOCOL_T0;  // CCID 5.1 dwProtocols
  if (descriptor.protocols & 2) caps.SupportedProtocols |= SCARD_PROTOCOL_T1;
  caps.ReaderType = SCARD_READER_TYPE_USB;
  caps.MechProperties = 0;
  caps.CLKFrequency.Default = descriptor.default_clock_khz;
  caps.CLKFrequency.Max = descriptor.max_clock_khz;
  caps.DataRate.Default = descriptor.data_rate;
  caps.DataRate.Max = descriptor.max_data_rate;
  // IFSD is 1..254 (ISO 7816-3 11.4.2); a reader that says otherwise gets the default 32, the
  // size a card may assume without being told.
  caps.MaxIFSD = descriptor.max_ifsd >= 1 && descriptor.max_ifsd <= 254 ? descriptor.max_ifsd : 32;
  caps.PowerMgmtSupport = 0;
  caps.CurrentState = SCARD_UNKNOWN;
  read_lists(ext);

  ext->Version = SMCLIB_VERSION;
  ext->SmartcardRequest.BufferSize = kBufferSize;
  ext->SmartcardReply.BufferSize = kBufferSize;
  NTSTATUS status = SmartcardInitialize(ext);
  if (status != STATUS_SUCCESS) {
    ExFreePoolWithTag(reader, kPoolTag);
    ext->ReaderExtension = nullptr;
    return status;
  }
  ext->OsData->DeviceObject = device;

  // The slot's first state (CCID 6.1.2 GetSlotStatus).
  const CcidAnswer answer = reader->Channel.slot_status(kControlTimeoutMs);
  if (answer.outcome != CcidOutcome::ok && answer.outcome != CcidOutcome::failed) {
    set_state(ext, SCARD_UNKNOWN);
    return STATUS_SUCCESS;
  }
  reader->CardPresent = answer.icc_status() != ccid::kIccAbsent;
  reader->CardPowered = answer.icc_status() == ccid::kIccActive;
  if (reader->CardPowered) {
    status_of(ext, reader->Channel.power_off(kControlTimeoutMs));
    reader->CardPowered = FALSE;
  }
  set_state(ext, unpowered_state(reader->CardPresent));
  return STATUS_SUCCESS;
}

void RdfCancelTracking(PSMARTCARD_EXTENSION ext) {
  if (ext == nullptr || ext->OsData == nullptr) return;
  KIRQL cancel_irql;
  IoAcquireCancelSpinLock(&cancel_irql);
  PIRP irp = ext->OsData->NotificationIrp;
  if (irp == nullptr) {
    IoReleaseCancelSpinLock(cancel_irql);
    return;
  }
  IoSetCancelRoutine(irp, nullptr);
  IoReleaseCancelSpinLock(cancel_irql);
  KIRQL irql;
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  ext->OsData->NotificationIrp = nullptr;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
  if (ext->ReaderExtension) ext->ReaderExtension->TrackingIoctl = 0;
  complete_tracking_cancelled(ext, irp);
}

void RdfStopDevice(PSMARTCARD_EXTENSION ext) {
  if (ext == nullptr) return;
  PReader reader = ext->ReaderExtension;
  RdfCancelTracking(ext);
  if (reader && reader->CardPowered) reader->Channel.power_off(kControlTimeoutMs);
  if (ext->OsData) SmartcardExit(ext);
  if (reader) ExFreePoolWithTag(reader, kPoolTag);
  ext->ReaderExtension = nullptr;
}

NTSTATUS RdfPollSlotChange(PSMARTCARD_EXTENSION ext, ULONG timeout_ms) {
  PReader reader = reader_of(ext);
  UCHAR packet[8];
  uint32_t got = 0;
  const UsbStatus usb = reader->Usb->interrupt_in(packet, sizeof(packet), &got, timeout_ms);
  if (usb == UsbStatus::timeout) return STATUS_IO_TIMEOUT;
  if (usb == UsbStatus::stall) {
    // USB 2.0 9.4.5: the pipe stays halted until the host clears it; then it is read again.
    if (!clear_halt(reader->Usb, reader->Endpoints.interrupt_in)) return STATUS_DEVICE_NOT_CONNECTED;
    ++reader->InterruptStallsCleared;
    return STATUS_SUCCESS;
  }
  if (usb != UsbStatus::ok) return STATUS_DEVICE_NOT_CONNECTED;
  if (got >= 4 && packet[0] == ccid::kHardwareError) {
    // CCID 6.3.2 RDR_to_PC_HardwareError (bSlot, bSeq, bHardwareErrorCode): the reader cut the
    // card's power (over-current); the card is still there, unpowered, until a new reset.
    ++reader->HardwareErrors;
    if (packet[1] != 0) return STATUS_SUCCESS;  // another slot's
    reader->CardPowered = FALSE;
    ext->CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_UNDEFINED;
    ext->CardCapabilities.ATR.Length = 0;
    if (reader->CardPresent) set_state(ext, SCARD_SWALLOWED);
    return STATUS_SUCCESS;
  }
  // CCID 6.3.1 RDR_to_PC_NotifySlotChange: slot 0 in bits 0 (present) and 1 (changed).
  if (got < 2 || packet[0] != ccid::kNotifySlotChange) return STATUS_SUCCESS;
  const BOOLEAN present = (packet[1] & 0x01) != 0;
  const BOOLEAN changed = (packet[1] & 0x02) != 0;
  if (!changed && present == reader->CardPresent) return STATUS_SUCCESS;
  card_event(ext, present, changed);
  return STATUS_SUCCESS;
}

// D3: the card is powered down (a sleeping reader keeps no card powered) and the state says so.
// D0: the card may have been taken out, or swapped, while the system slept and the reader's
// notification of it may be lost (a reset on resume), so a card that was in before sleeping
// is reported removed, as a swap would be, and the slot is read afresh.
NTSTATUS RdfSetDevicePower(PSMARTCARD_EXTENSION ext, DEVICE_POWER_STATE state) {
  PReader reader = reader_of(ext);
  if (reader == nullptr) return STATUS_INVALID_DEVICE_STATE;
  if (state == PowerDeviceD3) {
    if (reader->CardPowered) status_of(ext, reader->Channel.power_off(kControlTimeoutMs));
    reader->CardPowered = FALSE;
    reader->CardPresentBeforeSleep = reader->CardPresent;
    ext->CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_UNDEFINED;
    set_state(ext, unpowered_state(reader->CardPresent));
    return STATUS_SUCCESS;
  }
  if (state != PowerDeviceD0) return STATUS_SUCCESS;
  const CcidAnswer answer = reader->Channel.slot_status(kControlTimeoutMs);
  const BOOLEAN present = answer.outcome == CcidOutcome::ok || answer.outcome == CcidOutcome::failed
                              ? answer.icc_status() != ccid::kIccAbsent
                              : FALSE;
  // A card that was in before the sleep counts as changed: IS_ABSENT completes for it.
  card_event(ext, present, reader->CardPresentBeforeSleep);
  return STATUS_SUCCESS;
}

}  // namespace reference_rdf

// The reference driver as readerlab runs any RDF driver under test (readerlab_rdf.h).
namespace {

NTSTATUS start_entry(PDEVICE_OBJECT device, READERLAB_USB* usb) {
  return reference_rdf::RdfStartDevice(device, readerlab::windows_model::usb_io_of(usb));
}

PSMARTCARD_EXTENSION smartcard_extension_of(PDEVICE_OBJECT device) {
  return &static_cast<RDF_DEVICE_EXTENSION*>(device->DeviceExtension)->SmartcardExtension;
}

NTSTATUS interrupt_entry(PDEVICE_OBJECT device, ULONG timeout_ms) {
  return reference_rdf::RdfPollSlotChange(smartcard_extension_of(device), timeout_ms);
}

VOID stop_entry(PDEVICE_OBJECT device) { reference_rdf::RdfStopDevice(smartcard_extension_of(device)); }

NTSTATUS power_entry(PDEVICE_OBJECT device, PIRP irp) {
  PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(irp);
  NTSTATUS status = STATUS_SUCCESS;
  if (stack->MinorFunction == IRP_MN_SET_POWER && stack->Parameters.Power.Type == DevicePowerState)
    status =
        reference_rdf::RdfSetDevicePower(smartcard_extension_of(device), stack->Parameters.Power.State.DeviceState);
  irp->IoStatus.Status = status;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

}  // namespace

READERLAB_RDF_DRIVER_ENTRY(ReaderlabReferenceRdfDriver) = {
    sizeof(RDF_DEVICE_EXTENSION),
    FIELD_OFFSET(RDF_DEVICE_EXTENSION, SmartcardExtension),
    start_entry,
    reference_rdf::RdfDeviceControl,
    interrupt_entry,
    stop_entry,
    power_entry,
};
