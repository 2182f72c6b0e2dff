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

// ---- The T=1 engine (issue 10 rules 14-20: what Windows 11's smclib.sys measurably does) ----
//
// T1.State holds the next state to run, not the block just built: after an I-block, an R-block
// or an S-response it is T1_I_BLOCK (what an acknowledgment, or the card asking for our block
// again, leads to), after S(IFS request) the state the exchange resumes with (kept in
// OriginalState, which is 0 otherwise), after S(RESYNCH request) T1_RESTART. SmartcardT1Reply
// replaces it when the card's answer asks for something else. Which block was sent last, and
// whether our last I-block still waits for its acknowledgment, the library keeps in Private.

constexpr UCHAR kRBlockErrorBits = 0x0F;  // R-block b4..b1, ISO 7816-3 11.3.2.2
constexpr UCHAR kEdcError = 1;            // R-block error code "EDC or parity error", 11.3.2.2
constexpr UCHAR kOtherError = 2;          // R-block error code "other error", 11.3.2.2

UCHAR sequence_bit(ULONG bit) { return static_cast<UCHAR>(bit & 1); }

t1_block::Edc edc_kind(PSMARTCARD_EXTENSION ext) {
  return (ext->CardCapabilities.T1.EDC & T1_CRC_CHECK) != 0 ? t1_block::Edc::crc : t1_block::Edc::lrc;
}

// The IFSC an I-block is cut to. An IFSC of 0 (no T=1 parameters from the ATR) falls back to
// the default of 32 (ISO 7816-3 11.4.2) instead of sending empty blocks.
ULONG ifsc_of(PSMARTCARD_EXTENSION ext) {
  ULONG ifsc = ext->T1.IFSC;
  if (ifsc == 0 || ifsc > SCARD_T1_MAX_IFS) ifsc = T1_IFSD_DEFAULT;
  return ifsc;
}

// What SmartcardT1Request runs after the block it has just built, unless the answer says otherwise.
void set_next_state_after_block(T1_DATA& t1) { t1.State = t1.OriginalState != 0 ? t1.OriginalState : T1_I_BLOCK; }

// The engine's own name for a block it sent: T1_I_BLOCK, T1_R_BLOCK or the S-block's PCB.
UCHAR sent_kind(UCHAR pcb) {
  switch (t1_block::kind_of(pcb)) {
    case t1_block::BlockKind::information: return T1_I_BLOCK;
    case t1_block::BlockKind::receive_ready: return T1_R_BLOCK;
    case t1_block::BlockKind::supervisory: break;
  }
  return pcb;
}

// Appends NAD PCB LEN INF EDC after the driver's prefix in SmartcardRequest; nothing changes
// when there is no room.
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
  priv(ext).t1_last_sent = sent_kind(pcb);
  return STATUS_SUCCESS;
}

// The next IFSC-sized chunk of what is left (BytesToSend, counted down as the card acknowledges).
NTSTATUS send_i_block(PSMARTCARD_EXTENSION ext) {
  T1_DATA& t1 = ext->T1;
  Private& p = priv(ext);
  const ULONG ifsc = ifsc_of(ext);
  const bool more = t1.BytesToSend > ifsc;
  const ULONG chunk = more ? ifsc : t1.BytesToSend;
  if (t1.BytesSent > p.t1_apdu.size() || p.t1_apdu.size() - t1.BytesSent < chunk) return STATUS_INTERNAL_ERROR;
  const UCHAR pcb = static_cast<UCHAR>((sequence_bit(t1.SSN) << 6) | (more ? kPcbMoreBit : 0));
  const NTSTATUS status = put_block(ext, pcb, p.t1_apdu.data() + t1.BytesSent, chunk);
  if (status != STATUS_SUCCESS) return status;
  t1.InfBytesSent = static_cast<UCHAR>(chunk);
  t1.MoreData = more ? TRUE : FALSE;
  p.t1_i_block_unacknowledged = true;
  set_next_state_after_block(t1);
  return STATUS_SUCCESS;
}

NTSTATUS send_ifs_request(PSMARTCARD_EXTENSION ext) {
  T1_DATA& t1 = ext->T1;
  const UCHAR inf = t1.IFSD;
  const NTSTATUS status = put_block(ext, T1_IFS_REQUEST, &inf, 1);
  if (status != STATUS_SUCCESS) return status;
  priv(ext).t1_awaiting = T1_IFS_REQUEST;
  set_next_state_after_block(t1);
  return STATUS_SUCCESS;
}

// Ends the exchange; the engine is ready for a new APDU.
NTSTATUS finish(PSMARTCARD_EXTENSION ext, NTSTATUS status) {
  ext->T1.State = T1_START;
  ext->T1.OriginalState = 0;
  ext->T1.WaitForReply = FALSE;
  priv(ext).t1_awaiting = 0;
  if (!NT_SUCCESS(status))
    SmartcardDebug(DEBUG_PROTOCOL, ("smclib: T=1 exchange failed %08x\n", static_cast<ULONG>(status)));
  return status;
}

// A resynch counts when it starts; the third one fails the exchange (rules 16, 18).
NTSTATUS start_resynch(PSMARTCARD_EXTENSION ext) {
  T1_DATA& t1 = ext->T1;
  if (++t1.Resynch > T1_MAX_RETRIES) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
  t1.Resend = 0;
  t1.State = T1_RESYNCH_REQUEST;
  return STATUS_MORE_PROCESSING_REQUIRED;
}

// A block that could not be used is answered with an R-block carrying the error, also during
// the S(IFS) exchange (rule 18); after T1_MAX_RETRIES, or when it answered our S(RESYNCH
// request), a resynch starts.
NTSTATUS on_error(PSMARTCARD_EXTENSION ext, UCHAR error) {
  T1_DATA& t1 = ext->T1;
  if (priv(ext).t1_awaiting == T1_RESYNCH_REQUEST) return start_resynch(ext);
  if (++t1.Resend > T1_MAX_RETRIES) return start_resynch(ext);
  t1.LastError = error;
  t1.State = T1_R_BLOCK;
  return STATUS_MORE_PROCESSING_REQUIRED;
}

NTSTATUS retransmit(PSMARTCARD_EXTENSION ext, ULONG state) {
  T1_DATA& t1 = ext->T1;
  if (++t1.Resend > T1_MAX_RETRIES) return start_resynch(ext);
  t1.State = state;
  return STATUS_MORE_PROCESSING_REQUIRED;
}

NTSTATUS on_i_block(PSMARTCARD_EXTENSION ext, UCHAR pcb, const UCHAR* inf, ULONG n) {
  T1_DATA& t1 = ext->T1;
  Private& p = priv(ext);
  // Where S(IFS response) or S(RESYNCH response) is due, an I-block ends the exchange (rule 20).
  if (p.t1_awaiting != 0) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
  if (sequence_bit(pcb >> 6) != sequence_bit(t1.RSN)) return on_error(ext, kOtherError);  // ISO 7816-3 11.6.3
  // Accepted even while our own chain is unfinished (after S(IFS) or S(ABORT), rule 20); it
  // acknowledges our last I-block, if one waits. Only R-block acknowledgments move bytes
  // from BytesToSend to BytesSent (rule 14).
  if (p.t1_i_block_unacknowledged) {
    t1.SSN ^= 1;
    p.t1_i_block_unacknowledged = false;
  }
  t1.RSN ^= 1;  // before the reply-size check (rule 20)
  const ULONG room = ext->IoRequest.ReplyBufferLength > kIoHeader ? ext->IoRequest.ReplyBufferLength - kIoHeader : 0;
  if (p.t1_reply.size() + n > room) return finish(ext, STATUS_BUFFER_TOO_SMALL);
  p.t1_reply.insert(p.t1_reply.end(), inf, inf + n);
  t1.BytesReceived = static_cast<ULONG>(p.t1_reply.size());
  t1.Resend = 0;
  if ((pcb & kPcbMoreBit) != 0) {
    t1.State = T1_R_BLOCK;
    return STATUS_MORE_PROCESSING_REQUIRED;
  }
  t1.ReplyData = ext->IoRequest.ReplyBuffer + kIoHeader;
  return finish(ext, write_reply(ext, SCARD_PROTOCOL_T1, p.t1_reply.data(), static_cast<ULONG>(p.t1_reply.size())));
}

NTSTATUS on_r_block(PSMARTCARD_EXTENSION ext, UCHAR pcb) {
  T1_DATA& t1 = ext->T1;
  Private& p = priv(ext);
  if (p.t1_awaiting == T1_RESYNCH_REQUEST) return start_resynch(ext);
  if (p.t1_awaiting == T1_IFS_REQUEST) return retransmit(ext, T1_IFS_REQUEST);  // the card did not get it
  const bool acknowledges_ours = sequence_bit(pcb >> 4) != sequence_bit(t1.SSN);
  if (p.t1_i_block_unacknowledged) {
    if (t1.MoreData && acknowledges_ours && (pcb & kRBlockErrorBits) == 0) {  // chaining, ISO 7816-3 11.6.2.1
      t1.BytesSent += t1.InfBytesSent;
      t1.BytesToSend -= t1.InfBytesSent;
      t1.SSN ^= 1;
      p.t1_i_block_unacknowledged = false;
      t1.Resend = 0;
      t1.State = T1_I_BLOCK;
      return STATUS_MORE_PROCESSING_REQUIRED;
    }
    if (p.t1_last_sent == T1_R_BLOCK && acknowledges_ours) return retransmit(ext, T1_R_BLOCK);
    return retransmit(ext, T1_I_BLOCK);  // the card asks for our block again
  }
  return retransmit(ext, T1_R_BLOCK);  // the card did not get our R-block
}

NTSTATUS on_s_block(PSMARTCARD_EXTENSION ext, const t1_block::ReceivedBlock& block) {
  T1_DATA& t1 = ext->T1;
  Private& p = priv(ext);
  switch (block.pcb) {
    case T1_VPP_ERROR: return finish(ext, STATUS_DEVICE_POWER_FAILURE);
    case T1_IFS_RESPONSE:
      if (p.t1_awaiting != T1_IFS_REQUEST) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
      p.t1_awaiting = 0;
      t1.Resend = 0;
      t1.State = t1.OriginalState;  // resume (rule 15)
      t1.OriginalState = 0;
      return STATUS_MORE_PROCESSING_REQUIRED;
    case T1_RESYNCH_RESPONSE:
      if (p.t1_awaiting != T1_RESYNCH_REQUEST) return finish(ext, STATUS_DEVICE_PROTOCOL_ERROR);
      p.t1_awaiting = 0;
      p.t1_i_block_unacknowledged = false;
      t1.SSN = 0;
      t1.RSN = 0;
      t1.Resend = 0;  // Resynch keeps its count (rule 16)
      t1.IFSC = ext->CardCapabilities.T1.IFSC;
      t1.OriginalState = 0;
      t1.State = T1_RESTART;  // with the I-block, also during the S(IFS) exchange (rule 18)
      return STATUS_MORE_PROCESSING_REQUIRED;
    // The card's requests: their first INF byte is taken whatever LEN says (rule 19).
    case T1_WTX_REQUEST:
      t1.Wtx = block.first_inf_byte;
      t1.State = T1_WTX_RESPONSE;
      return STATUS_MORE_PROCESSING_REQUIRED;
    case T1_IFS_REQUEST:
      t1.IFSC = block.first_inf_byte;
      t1.State = T1_IFS_RESPONSE;
      return STATUS_MORE_PROCESSING_REQUIRED;
    case T1_ABORT_REQUEST:  // our chain is dropped; N(S) stays where it is (rule 20)
      p.t1_i_block_unacknowledged = false;
      t1.State = T1_ABORT_RESPONSE;
      return STATUS_MORE_PROCESSING_REQUIRED;
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
  switch (t1.State) {
    case T1_INIT:  // the first exchange after an ATR: the APDU is taken now, S(IFS request) goes first
    case T1_START:
    case T1_RESTART: {
      if (t1.State != T1_RESTART) {
        const UCHAR* apdu = nullptr;
        ULONG n = 0;
        if (!request_payload(ext, &apdu, &n)) return STATUS_INVALID_PARAMETER;
        p.t1_apdu.assign(apdu, apdu + n);
        t1.Resynch = 0;
        t1.IFSC = ext->CardCapabilities.T1.IFSC;  // re-read at every APDU (rule 20)
      }
      p.t1_reply.clear();
      p.t1_i_block_unacknowledged = false;
      t1.BytesToSend = static_cast<ULONG>(p.t1_apdu.size());
      t1.BytesSent = 0;
      t1.BytesReceived = 0;
      t1.Resend = 0;
      t1.MoreData = FALSE;
      if (t1.State == T1_INIT) {
        const ULONG max_ifsd = ext->ReaderCapabilities.MaxIFSD;
        t1.IFSD = static_cast<UCHAR>(max_ifsd >= 1 && max_ifsd <= T1_IFSD ? max_ifsd : T1_IFSD_DEFAULT);
        t1.OriginalState = T1_I_BLOCK;  // what the S(IFS) exchange resumes with (rule 15)
        const NTSTATUS status = send_ifs_request(ext);
        if (status != STATUS_SUCCESS) t1.OriginalState = 0;  // still T1_INIT: the next call starts over
        return status;
      }
      t1.OriginalState = 0;
      return send_i_block(ext);
    }
    case T1_I_BLOCK: return send_i_block(ext);
    case T1_IFS_REQUEST: return send_ifs_request(ext);  // again: the card's R-block said it did not get it
    case T1_R_BLOCK: {
      const UCHAR pcb = static_cast<UCHAR>(kRBlock | (sequence_bit(t1.RSN) << 4) | (t1.LastError & kRBlockErrorBits));
      const NTSTATUS status = put_block(ext, pcb, nullptr, 0);
      if (status != STATUS_SUCCESS) return status;
      t1.LastError = 0;  // cleared once the R-block is built (rule 16)
      set_next_state_after_block(t1);
      return STATUS_SUCCESS;
    }
    case T1_IFS_RESPONSE:
    case T1_WTX_RESPONSE: {
      const UCHAR inf = t1.State == T1_IFS_RESPONSE ? t1.IFSC : t1.Wtx;
      const NTSTATUS status = put_block(ext, static_cast<UCHAR>(t1.State), &inf, 1);
      if (status == STATUS_SUCCESS) set_next_state_after_block(t1);
      return status;
    }
    case T1_ABORT_RESPONSE: {
      const NTSTATUS status = put_block(ext, T1_ABORT_RESPONSE, nullptr, 0);
      if (status == STATUS_SUCCESS) set_next_state_after_block(t1);
      return status;
    }
    case T1_RESYNCH_REQUEST: {
      const NTSTATUS status = put_block(ext, T1_RESYNCH_REQUEST, nullptr, 0);
      if (status != STATUS_SUCCESS) return status;
      p.t1_awaiting = T1_RESYNCH_REQUEST;
      t1.State = T1_RESTART;
      return STATUS_SUCCESS;
    }
    default: return STATUS_INTERNAL_ERROR;
  }
}

NTSTATUS SmartcardT1Reply(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  if (ext->OsData == nullptr) return STATUS_INTERNAL_ERROR;
  T1_DATA& t1 = ext->T1;
  if (!t1.WaitForReply) return STATUS_INTERNAL_ERROR;  // no block outstanding
  t1.WaitForReply = FALSE;
  // The answer after S(WTX response) has come: the extended wait is over (rule 16).
  if (priv(ext).t1_last_sent == T1_WTX_RESPONSE) t1.Wtx = 0;
  const ULONG n = reply_length(ext);
  const UCHAR* b = ext->SmartcardReply.Buffer;

  const t1_block::ReceivedBlock block = t1_block::check_block(std::span<const UCHAR>(b, n), edc_kind(ext));
  if (block.verdict == t1_block::Verdict::edc_error) return on_error(ext, kEdcError);
  if (block.verdict != t1_block::Verdict::usable) return on_error(ext, kOtherError);
  switch (t1_block::kind_of(block.pcb)) {
    case t1_block::BlockKind::information:
      return on_i_block(ext, block.pcb, block.inf.data(), static_cast<ULONG>(block.inf.size()));
    case t1_block::BlockKind::receive_ready: return on_r_block(ext, block.pcb);
    case t1_block::BlockKind::supervisory: break;
  }
  return on_s_block(ext, block);
}

}  // extern "C"
