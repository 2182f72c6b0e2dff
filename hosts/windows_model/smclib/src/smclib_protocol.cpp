// smclib model: the request/reply helpers for raw, T=0 and T=1 exchanges (spec smclib.md §5).
// The T=1 engine keeps its state in SMARTCARD_EXTENSION::T1 (and library-private buffers).
#include <span>

#include "internal.h"
#include "t1_block.h"

namespace readerlab::smclib {
namespace {

constexpr ULONG kIoHeader = sizeof(SCARD_IO_REQUEST);  // 8
constexpr UCHAR kPcbMoreBit = T1_MORE_DATA;            // M bit of an I-block, ISO 7816-3 11.3.2.1
constexpr UCHAR kRBlock = 0x80;                        // R-block PCB, ISO 7816-3 11.3.2.2

// The APDU after the SCARD_IO_REQUEST header of the request.
bool request_payload(PSMARTCARD_EXTENSION ext, const UCHAR** data, ULONG* length) {
  const ULONG total = ext->IoRequest.RequestBufferLength;
  if (ext->IoRequest.RequestBuffer == nullptr || total < kIoHeader) return false;
  ULONG header = load_ulong(ext->IoRequest.RequestBuffer + sizeof(ULONG));  // cbPciLength
  if (header < kIoHeader || header > total) return false;
  *data = ext->IoRequest.RequestBuffer + header;
  *length = total - header;
  return true;
}

// Raw and T=0 requests take the caller's whole input (SCARD_IO_REQUEST included) into account:
// Windows refuses once the driver's prefix plus that input reaches SmartcardRequest.BufferSize,
// i.e. a T=0 command may end at byte 279 of the 288-byte minimum buffer (issue 10 rule 12; [R]
// T0 14-35, raw request fits / full). This also leaves room for the byte a case-1 APDU gains.
bool request_has_room(PSMARTCARD_EXTENSION ext) {
  const SMARTCARD_REQUEST& rq = ext->SmartcardRequest;
  const ULONG input = ext->IoRequest.RequestBuffer != nullptr ? ext->IoRequest.RequestBufferLength : 0;
  return rq.Buffer != nullptr && rq.BufferLength < rq.BufferSize && rq.BufferSize - rq.BufferLength > input;
}

ULONG reply_length(PSMARTCARD_EXTENSION ext) {
  ULONG n = ext->SmartcardReply.BufferLength;
  if (n > ext->SmartcardReply.BufferSize) n = ext->SmartcardReply.BufferSize;
  if (ext->SmartcardReply.Buffer == nullptr) n = 0;
  return n;
}

// Writes {protocol, 8} + bytes to the user's reply buffer.
NTSTATUS write_reply(PSMARTCARD_EXTENSION ext, ULONG protocol, const UCHAR* bytes, ULONG n) {
  if (ext->IoRequest.ReplyBuffer == nullptr || ext->IoRequest.ReplyBufferLength < kIoHeader ||
      ext->IoRequest.ReplyBufferLength - kIoHeader < n) {
    return STATUS_BUFFER_TOO_SMALL;
  }
  if (n != 0) std::memmove(ext->IoRequest.ReplyBuffer + kIoHeader, bytes, n);
  store_ulong(ext->IoRequest.ReplyBuffer, protocol);
  store_ulong(ext->IoRequest.ReplyBuffer + sizeof(ULONG), kIoHeader);
  if (ext->IoRequest.Information != nullptr) *ext->IoRequest.Information = kIoHeader + n;
  return STATUS_SUCCESS;
}

Private& priv(PSMARTCARD_EXTENSION ext) { return *static_cast<Private*>(ext->OsData->ReaderlabPrivate); }

t1_block::Edc edc_kind(PSMARTCARD_EXTENSION ext) {
  return (ext->CardCapabilities.T1.EDC & T1_CRC_CHECK) != 0 ? t1_block::Edc::crc : t1_block::Edc::lrc;
}

ULONG ifsc_of(PSMARTCARD_EXTENSION ext) {
  ULONG ifsc = ext->T1.IFSC;
  if (ifsc == 0) ifsc = ext->CardCapabilities.T1.IFSC;
  if (ifsc == 0 || ifsc > SCARD_T1_MAX_IFS) ifsc = T1_IFSD_DEFAULT;
  return ifsc;
}

// Appends NAD PCB LEN INF EDC after the driver's prefix in SmartcardRequest.
NTSTATUS put_block(PSMARTCARD_EXTENSION ext, UCHAR pcb, const UCHAR* inf, ULONG inf_length) {
  SMARTCARD_REQUEST& rq = ext->SmartcardRequest;
  const ULONG prefix = rq.BufferLength;
  const t1_block::Edc kind = edc_kind(ext);
  const ULONG edc = static_cast<ULONG>(t1_block::edc_length(kind));
  if (rq.Buffer == nullptr || prefix > rq.BufferSize ||
      rq.BufferSize - prefix < SCARD_T1_PROLOGUE_LENGTH + inf_length + edc) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  const std::size_t written =
      t1_block::write_block(rq.Buffer + prefix, ext->T1.NAD, pcb, std::span<const UCHAR>(inf, inf_length), kind);
  rq.BufferLength = prefix + static_cast<ULONG>(written);
  ext->T1.WaitForReply = TRUE;
  return STATUS_SUCCESS;
}

NTSTATUS send_i_block(PSMARTCARD_EXTENSION ext) {
  T1_DATA& t1 = ext->T1;
  Private& p = priv(ext);
  const ULONG left = t1.BytesToSend > t1.BytesSent ? t1.BytesToSend - t1.BytesSent : 0;
  const ULONG ifsc = ifsc_of(ext);
  const ULONG chunk = left < ifsc ? left : ifsc;
  const bool more = chunk < left;
  t1.InfBytesSent = static_cast<UCHAR>(chunk);
  t1.MoreData = more ? TRUE : FALSE;
  const UCHAR pcb = static_cast<UCHAR>(((t1.SSN & 1) << 6) | (more ? kPcbMoreBit : 0));
  return put_block(ext, pcb, p.t1_apdu.data() + t1.BytesSent, chunk);
}

// Ends the exchange; the engine is ready for a new APDU.
NTSTATUS finish(PSMARTCARD_EXTENSION ext, NTSTATUS status) {
  ext->T1.State = T1_START;
  ext->T1.WaitForReply = FALSE;
  priv(ext).t1_awaiting = 0;
  if (!NT_SUCCESS(status))
    SmartcardDebug(DEBUG_PROTOCOL, ("smclib: T=1 exchange failed %08x\n", static_cast<ULONG>(status)));
  return status;
}

NTSTATUS start_resynch(PSMARTCARD_EXTENSION ext) {
  T1_DATA& t1 = ext->T1;
  t1.Resend = 0;
  t1.State = T1_RESYNCH_REQUEST;
  return STATUS_MORE_PROCESSING_REQUIRED;
}

// A block that could not be used: ask again (R-block with error bits), or resend our
// S-request, and after T1_MAX_RETRIES go to RESYNCH (spec §5).
NTSTATUS on_error(PSMARTCARD_EXTENSION ext, UCHAR error, UCHAR sent) {
  T1_DATA& t1 = ext->T1;
  if (sent == T1_RESYNCH_REQUEST) {
    if (++t1.Resynch > T1_MAX_RETRIES) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
    t1.State = T1_RESYNCH_REQUEST;
    return STATUS_MORE_PROCESSING_REQUIRED;
  }
  if (++t1.Resend > T1_MAX_RETRIES) return start_resynch(ext);
  if (sent == T1_IFS_REQUEST) {
    t1.State = T1_IFS_REQUEST;
  } else {
    t1.LastError = error;
    t1.State = T1_R_BLOCK;
  }
  return STATUS_MORE_PROCESSING_REQUIRED;
}

NTSTATUS retransmit(PSMARTCARD_EXTENSION ext, ULONG state) {
  T1_DATA& t1 = ext->T1;
  if (++t1.Resend > T1_MAX_RETRIES) return start_resynch(ext);
  t1.State = state;
  return STATUS_MORE_PROCESSING_REQUIRED;
}

NTSTATUS on_i_block(PSMARTCARD_EXTENSION ext, UCHAR pcb, const UCHAR* inf, ULONG n, UCHAR sent) {
  T1_DATA& t1 = ext->T1;
  Private& p = priv(ext);
  const UCHAR ns = static_cast<UCHAR>((pcb >> 6) & 1);
  const bool more = (pcb & kPcbMoreBit) != 0;
  if (t1.OriginalState == T1_INIT || (t1.OriginalState == T1_I_BLOCK && t1.MoreData) || ns != (t1.RSN & 1)) {
    return on_error(ext, 2, sent);  // other error, ISO 7816-3 11.6.3
  }
  if (t1.OriginalState == T1_I_BLOCK) {  // our last block is acknowledged by the answer
    t1.BytesSent += t1.InfBytesSent;
    t1.SSN ^= 1;
    t1.OriginalState = T1_R_BLOCK;
  }
  const ULONG room = ext->IoRequest.ReplyBufferLength > kIoHeader ? ext->IoRequest.ReplyBufferLength - kIoHeader : 0;
  if (p.t1_reply.size() + n > room) return finish(ext, STATUS_BUFFER_TOO_SMALL);
  p.t1_reply.insert(p.t1_reply.end(), inf, inf + n);
  t1.BytesReceived = static_cast<ULONG>(p.t1_reply.size());
  t1.RSN ^= 1;
  t1.Resend = 0;
  if (more) {
    t1.LastError = 0;
    t1.State = T1_R_BLOCK;
    return STATUS_MORE_PROCESSING_REQUIRED;
  }
  t1.ReplyData = ext->IoRequest.ReplyBuffer + kIoHeader;
  return finish(ext, write_reply(ext, SCARD_PROTOCOL_T1, p.t1_reply.data(), static_cast<ULONG>(p.t1_reply.size())));
}

NTSTATUS on_r_block(PSMARTCARD_EXTENSION ext, UCHAR pcb, UCHAR sent) {
  T1_DATA& t1 = ext->T1;
  const UCHAR nr = static_cast<UCHAR>((pcb >> 4) & 1);
  switch (t1.OriginalState) {
    case T1_I_BLOCK:
      if (t1.MoreData && nr != (t1.SSN & 1) && (pcb & 0x0F) == 0) {  // chaining acknowledged
        t1.BytesSent += t1.InfBytesSent;
        t1.SSN ^= 1;
        t1.Resend = 0;
        t1.State = T1_I_BLOCK;
        return STATUS_MORE_PROCESSING_REQUIRED;
      }
      if (sent == T1_R_BLOCK && nr != (t1.SSN & 1)) return retransmit(ext, T1_R_BLOCK);
      return retransmit(ext, T1_I_BLOCK);                 // the card asks for our block again
    case T1_R_BLOCK: return retransmit(ext, T1_R_BLOCK);  // the card did not get our R-block
    default: return retransmit(ext, T1_IFS_REQUEST);
  }
}

NTSTATUS on_s_block(PSMARTCARD_EXTENSION ext, UCHAR pcb, const UCHAR* inf, ULONG n) {
  T1_DATA& t1 = ext->T1;
  Private& p = priv(ext);
  switch (pcb) {
    case T1_VPP_ERROR: return finish(ext, STATUS_DEVICE_POWER_FAILURE);
    case T1_IFS_RESPONSE:
      if (p.t1_awaiting != T1_IFS_REQUEST || n != 1) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
      p.t1_awaiting = 0;
      t1.Resend = 0;
      t1.State = T1_START;
      return STATUS_MORE_PROCESSING_REQUIRED;
    case T1_RESYNCH_RESPONSE:
      if (p.t1_awaiting != T1_RESYNCH_REQUEST) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
      p.t1_awaiting = 0;
      t1.SSN = 0;
      t1.RSN = 0;
      t1.Resend = 0;
      t1.Resynch = 0;
      t1.IFSC = ext->CardCapabilities.T1.IFSC;
      t1.State = t1.OriginalState == T1_INIT ? T1_INIT : T1_RESTART;
      return STATUS_MORE_PROCESSING_REQUIRED;
    case T1_WTX_REQUEST:
      if (n != 1) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
      t1.Wtx = inf[0];
      t1.State = T1_WTX_RESPONSE;
      return STATUS_MORE_PROCESSING_REQUIRED;
    case T1_IFS_REQUEST:
      if (n != 1 || inf[0] == 0 || inf[0] > SCARD_T1_MAX_IFS) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
      t1.IFSC = inf[0];
      t1.State = T1_IFS_RESPONSE;
      return STATUS_MORE_PROCESSING_REQUIRED;
    case T1_ABORT_REQUEST: t1.State = T1_ABORT_RESPONSE; return STATUS_MORE_PROCESSING_REQUIRED;
    default:  // unsolicited or unknown S-block (spec §5)
      return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
  }
}

}  // namespace
}  // namespace readerlab::smclib

using namespace readerlab::smclib;

extern "C" {

NTSTATUS SmartcardRawRequest(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  SMARTCARD_REQUEST& rq = ext->SmartcardRequest;
  const ULONG n = ext->IoRequest.RequestBuffer != nullptr ? ext->IoRequest.RequestBufferLength : 0;
  if (!request_has_room(ext)) return STATUS_BUFFER_TOO_SMALL;  // [R] (the docs say BUFFER_OVERFLOW)
  if (n != 0) std::memcpy(rq.Buffer + rq.BufferLength, ext->IoRequest.RequestBuffer, n);
  rq.BufferLength += n;
  return STATUS_SUCCESS;
}

NTSTATUS SmartcardRawReply(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  const ULONG n = reply_length(ext);
  if (ext->IoRequest.ReplyBuffer == nullptr || ext->IoRequest.ReplyBufferLength < n) return STATUS_BUFFER_TOO_SMALL;
  if (n != 0) std::memmove(ext->IoRequest.ReplyBuffer, ext->SmartcardReply.Buffer, n);
  if (ext->IoRequest.Information != nullptr) *ext->IoRequest.Information = n;
  return STATUS_SUCCESS;
}

NTSTATUS SmartcardT0Request(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  const UCHAR* apdu = nullptr;
  ULONG n = 0;
  if (!request_payload(ext, &apdu, &n)) return STATUS_INVALID_PARAMETER;
  if (!request_has_room(ext)) return STATUS_BUFFER_OVERFLOW;  // nothing written [R]
  // Windows copies first and judges the APDU afterwards: a refused APDU is left in the buffer
  // with BufferLength, Lc and Le updated (issue 10 rule 11, [R] T0 4-13).
  SMARTCARD_REQUEST& rq = ext->SmartcardRequest;
  UCHAR* command = rq.Buffer + rq.BufferLength;
  if (n != 0) std::memcpy(command, apdu, n);
  rq.BufferLength += n;
  if (n < 4) return STATUS_INVALID_PARAMETER;  // no CLA INS P1 P2: Lc and Le untouched
  if (n == 4) {                                // case 1: P3 = 0
    command[4] = 0;
    rq.BufferLength += 1;
    ext->T0.Lc = 0;
    ext->T0.Le = 0;
    return STATUS_SUCCESS;
  }
  if (n == SCARD_T0_CMD_LENGTH) {  // case 2: Le = P3, 0 means 256
    ext->T0.Lc = 0;
    ext->T0.Le = apdu[4] == 0 ? 256 : apdu[4];
    return STATUS_SUCCESS;
  }
  // Case 3: Lc = P3 must announce the data that follows; case 4 and mismatches are refused [R].
  ext->T0.Lc = apdu[4];
  ext->T0.Le = 0;
  if (ext->T0.Lc == 0 || n != SCARD_T0_CMD_LENGTH + ext->T0.Lc) return STATUS_INVALID_PARAMETER;
  return STATUS_SUCCESS;
}

NTSTATUS SmartcardT0Reply(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  const ULONG n = reply_length(ext);
  if (n < 2) return STATUS_DEVICE_PROTOCOL_ERROR;  // SW1 SW2 missing [R]
  return write_reply(ext, SCARD_PROTOCOL_T0, ext->SmartcardReply.Buffer, n);
}

NTSTATUS SmartcardT1Request(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  if (ext->OsData == nullptr) return STATUS_INTERNAL_ERROR;
  T1_DATA& t1 = ext->T1;
  Private& p = priv(ext);
  if (t1.State != T1_WTX_RESPONSE) t1.Wtx = 0;
  switch (t1.State) {
    case T1_INIT:
    case T1_IFS_REQUEST: {
      if (t1.State == T1_INIT) {
        t1.IFSC = ext->CardCapabilities.T1.IFSC;
        t1.OriginalState = T1_INIT;
        t1.Resend = 0;
      }
      const ULONG max_ifsd = ext->ReaderCapabilities.MaxIFSD;
      t1.IFSD = static_cast<UCHAR>(max_ifsd >= 1 && max_ifsd <= T1_IFSD ? max_ifsd : T1_IFSD_DEFAULT);
      p.t1_awaiting = T1_IFS_REQUEST;
      t1.State = T1_IFS_REQUEST;
      const UCHAR inf = t1.IFSD;
      return put_block(ext, T1_IFS_REQUEST, &inf, 1);
    }
    case T1_START: {
      const UCHAR* apdu = nullptr;
      ULONG n = 0;
      if (!request_payload(ext, &apdu, &n)) return STATUS_INVALID_PARAMETER;
      p.t1_apdu.assign(apdu, apdu + n);
      t1.BytesToSend = n;
      t1.Resend = 0;
      t1.Resynch = 0;
      [[fallthrough]];
    }
    case T1_RESTART:
      p.t1_reply.clear();
      t1.BytesSent = 0;
      t1.BytesReceived = 0;
      t1.OriginalState = T1_I_BLOCK;
      t1.State = T1_I_BLOCK;
      return send_i_block(ext);
    case T1_I_BLOCK: return send_i_block(ext);
    case T1_R_BLOCK: {
      const UCHAR pcb = static_cast<UCHAR>(kRBlock | ((t1.RSN & 1) << 4) | (t1.LastError & 0x0F));
      return put_block(ext, pcb, nullptr, 0);
    }
    case T1_IFS_RESPONSE: {
      const UCHAR inf = t1.IFSC;
      return put_block(ext, T1_IFS_RESPONSE, &inf, 1);
    }
    case T1_WTX_RESPONSE: {
      const UCHAR inf = t1.Wtx;
      return put_block(ext, T1_WTX_RESPONSE, &inf, 1);
    }
    case T1_ABORT_RESPONSE: return put_block(ext, T1_ABORT_RESPONSE, nullptr, 0);
    case T1_RESYNCH_REQUEST: p.t1_awaiting = T1_RESYNCH_REQUEST; return put_block(ext, T1_RESYNCH_REQUEST, nullptr, 0);
    default: return STATUS_INTERNAL_ERROR;
  }
}

NTSTATUS SmartcardT1Reply(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  if (ext->OsData == nullptr) return STATUS_INTERNAL_ERROR;
  T1_DATA& t1 = ext->T1;
  if (!t1.WaitForReply) return STATUS_INTERNAL_ERROR;  // no block outstanding
  t1.WaitForReply = FALSE;
  const UCHAR sent = static_cast<UCHAR>(t1.State);
  const ULONG n = reply_length(ext);
  const UCHAR* b = ext->SmartcardReply.Buffer;

  const t1_block::ReceivedBlock block = t1_block::check_block(std::span<const UCHAR>(b, n), edc_kind(ext));
  // R-block error bits: 1 EDC error, 2 other error (ISO 7816-3 11.3.2.2).
  if (block.verdict == t1_block::Verdict::edc_error) return on_error(ext, 1, sent);
  if (block.verdict != t1_block::Verdict::usable) return on_error(ext, 2, sent);
  const ULONG inf_length = static_cast<ULONG>(block.inf.size());
  switch (t1_block::kind_of(block.pcb)) {
    case t1_block::BlockKind::information: return on_i_block(ext, block.pcb, block.inf.data(), inf_length, sent);
    case t1_block::BlockKind::receive_ready: return on_r_block(ext, block.pcb, sent);
    case t1_block::BlockKind::supervisory: break;
  }
  return on_s_block(ext, block.pcb, block.inf.data(), inf_length);
}

}  // extern "C"
