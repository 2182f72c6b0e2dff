#include "drivers_under_test/reference_rdf/ccid.h"

namespace reference_rdf {

uint32_t read_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

void write_le32(uint8_t* p, uint32_t value) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(value >> (8 * i));
}

ExchangeLevel exchange_level(const CcidDescriptor& descriptor) {
  const uint32_t level = descriptor.features & ccid::kFeatureLevelMask;
  if (level & ccid::kFeatureExtendedApdu) return ExchangeLevel::extended_apdu;
  if (level & ccid::kFeatureShortApdu) return ExchangeLevel::short_apdu;
  if (level & ccid::kFeatureTpdu) return ExchangeLevel::tpdu;
  return ExchangeLevel::character;
}

bool parse_ccid_descriptor(const uint8_t* config, uint32_t length, CcidDescriptor* out) {
  uint32_t offset = 0;
  while (offset + 2 <= length) {
    const uint8_t dlen = config[offset];
    if (dlen < 2 || offset + dlen > length) return false;
    // CCID 5.1: bDescriptorType 0x21, bLength 0x36
    if (config[offset + 1] == ccid::kFunctionalDescriptorType && dlen >= ccid::kFunctionalDescriptorLength) {
      const uint8_t* d = config + offset;
      out->max_slot_index = d[4];
      out->voltage_support = d[5];
      out->protocols = read_le32(d + 6);
      out->default_clock_khz = read_le32(d + 10);
      out->max_clock_khz = read_le32(d + 14);
      out->num_clocks = d[18];
      out->data_rate = read_le32(d + 19);
      out->max_data_rate = read_le32(d + 23);
      out->num_data_rates = d[27];
      out->max_ifsd = read_le32(d + 28);
      // d + 32: dwSynchProtocols
      out->mechanical = read_le32(d + 36);
      out->features = read_le32(d + 40);
      out->max_message_length = read_le32(d + 44);
      return true;
    }
    offset += dlen;
  }
  return false;
}

CcidEndpoints parse_ccid_endpoints(const uint8_t* config, uint32_t length) {
  CcidEndpoints endpoints{};
  uint32_t offset = 0;
  while (offset + 2 <= length) {
    const uint8_t dlen = config[offset];
    if (dlen < 2 || offset + dlen > length) break;
    // USB 2.0 Table 9-13: bDescriptorType 5, bEndpointAddress, bmAttributes bits 0-1 the type
    if (config[offset + 1] == 0x05 && dlen >= 7) {
      const uint8_t address = config[offset + 2];
      const uint8_t type = config[offset + 3] & 0x03;
      const bool in = (address & 0x80) != 0;
      if (type == 2 && !in && endpoints.bulk_out == 0) endpoints.bulk_out = address;
      if (type == 2 && in && endpoints.bulk_in == 0) endpoints.bulk_in = address;
      if (type == 3 && in && endpoints.interrupt_in == 0) endpoints.interrupt_in = address;
    }
    offset += dlen;
  }
  return endpoints;
}

bool clear_halt(UsbIo* io, uint8_t endpoint) {
  if (io == nullptr || endpoint == 0) return false;
  const UsbSetup setup{ccid::kRequestTypeEndpointOut, ccid::kRequestClearFeature, ccid::kFeatureEndpointHalt, endpoint,
                       0};
  uint32_t transferred = 0;
  return io->control(setup, nullptr, &transferred) == UsbStatus::ok;
}

namespace {

// CCID 6.2 Table 6.2-1 with 6.1: the RDR_to_PC type that answers each PC_to_RDR type.
uint8_t answer_type_for(uint8_t command) {
  switch (command) {
    case ccid::kIccPowerOn:
    case ccid::kXfrBlock: return ccid::kDataBlock;
    case ccid::kSetParameters:
    case ccid::kGetParameters: return ccid::kParameters;
    case ccid::kEscape: return ccid::kEscapeAnswer;
    default: return ccid::kSlotStatus;
  }
}

// bSeq values ahead of the command's own were never sent: such an answer is no late answer.
bool seq_not_sent_yet(uint8_t answer_seq, uint8_t command_seq) {
  const uint8_t ahead = static_cast<uint8_t>(answer_seq - command_seq);
  return ahead >= 1 && ahead <= 127;
}

}  // namespace

void CcidChannel::attach(UsbIo* io, uint8_t slot, uint32_t max_message_length, const CcidEndpoints& endpoints) {
  io_ = io;
  endpoints_ = endpoints;
  slot_ = slot;
  seq_ = 0;
  time_extensions_ = 0;
  stale_answers_ = 0;
  rejected_ = 0;
  stalls_cleared_ = 0;
  port_resets_ = 0;
  busy_retries_ = 0;
  // What the reader takes, as far as the driver's buffer goes (RdfStartDevice refuses a reader
  // whose messages cannot carry a header and one byte).
  max_message_ = max_message_length > kMaxCcidMessage ? kMaxCcidMessage : max_message_length;
}

UsbStatus CcidChannel::send(uint32_t length) {
  UsbStatus status = io_->bulk_out(buffer_, length);
  if (status != UsbStatus::stall) return status;
  if (clear_halt(io_, endpoints_.bulk_out)) {
    ++stalls_cleared_;
    status = io_->bulk_out(buffer_, length);
    if (status != UsbStatus::stall) return status;
  }
  return reset_after_stalls();
}

UsbStatus CcidChannel::receive(uint32_t* received, uint32_t timeout_ms) {
  UsbStatus status = io_->bulk_in(buffer_, kMaxCcidMessage, received, timeout_ms);
  if (status != UsbStatus::stall) return status;
  if (clear_halt(io_, endpoints_.bulk_in)) {
    ++stalls_cleared_;
    status = io_->bulk_in(buffer_, kMaxCcidMessage, received, timeout_ms);
    if (status != UsbStatus::stall) return status;
  }
  return reset_after_stalls();
}

// A halt that CLEAR_FEATURE cannot clear, or that comes back at once, is a device that needs a
// bus reset (USB 2.0 7.1.7.5; Windows drivers send IOCTL_INTERNAL_USB_RESET_PORT). The transfer
// still fails: the reset powered the card down, which the reader reports as a slot change.
UsbStatus CcidChannel::reset_after_stalls() {
  if (io_->reset_port() == UsbStatus::ok) ++port_resets_;
  return UsbStatus::error;
}

CcidAnswer CcidChannel::exchange(uint8_t type, uint8_t b7, uint8_t b8, uint8_t b9, const uint8_t* data, uint32_t length,
                                 uint32_t timeout_ms) {
  CcidAnswer answer{};
  for (uint32_t attempt = 0; attempt < kBusyAttempts; ++attempt) {
    answer = exchange_once(type, b7, b8, b9, data, length, timeout_ms);
    // CCID 6.2.6: a busy slot did not run the command, so sending it again is safe.
    const bool busy = answer.outcome == CcidOutcome::failed &&
                      (answer.error == ccid::kErrorCmdSlotBusy || answer.error == ccid::kErrorBusyWithAutoSequence);
    if (!busy) break;
    ++busy_retries_;
  }
  return answer;
}

CcidAnswer CcidChannel::exchange_once(uint8_t type, uint8_t b7, uint8_t b8, uint8_t b9, const uint8_t* data,
                                      uint32_t length, uint32_t timeout_ms) {
  CcidAnswer answer{};
  answer.outcome = CcidOutcome::transport;
  if (io_ == nullptr) return answer;
  if (length > max_message_ - ccid::kHeaderSize) {
    answer.outcome = CcidOutcome::too_long;
    return answer;
  }
  const uint8_t seq = seq_++;
  // CCID 6.1: bMessageType, dwLength, bSlot, bSeq, three message-specific bytes, abData
  buffer_[0] = type;
  write_le32(buffer_ + 1, length);
  buffer_[5] = slot_;
  buffer_[6] = seq;
  buffer_[7] = b7;
  buffer_[8] = b8;
  buffer_[9] = b9;
  for (uint32_t i = 0; i < length; ++i) buffer_[ccid::kHeaderSize + i] = data[i];
  UsbStatus status = send(ccid::kHeaderSize + length);
  if (status != UsbStatus::ok) return answer;

  uint32_t time_extensions = 0;
  uint32_t stale = 0;
  for (;;) {
    uint32_t received = 0;
    status = receive(&received, timeout_ms);
    if (status == UsbStatus::timeout) {
      answer.outcome = CcidOutcome::timeout;
      return answer;
    }
    if (status == UsbStatus::overflow) {
      answer.outcome = CcidOutcome::malformed;
      return answer;
    }
    if (status != UsbStatus::ok) return answer;
    if (received < ccid::kHeaderSize) {
      answer.outcome = CcidOutcome::malformed;
      return answer;
    }
    if (buffer_[6] != seq) {
      if (seq_not_sent_yet(buffer_[6], seq)) {
        ++rejected_;
        answer.outcome = CcidOutcome::rejected;
        return answer;
      }
      // A late answer to an earlier command, or a duplicate: not this command's.
      ++stale_answers_;
      if (++stale > kMaxStaleAnswers) {
        answer.outcome = CcidOutcome::timeout;
        return answer;
      }
      continue;
    }
    const uint32_t dlen = read_le32(buffer_ + 1);
    if (dlen != received - ccid::kHeaderSize) {
      answer.outcome = CcidOutcome::malformed;
      return answer;
    }
    const uint8_t command_status = static_cast<uint8_t>(buffer_[7] >> 6);
    // CCID 6.2.6: a failure may come as SlotStatus whatever the command (no data to misread).
    const bool type_answers = buffer_[0] == answer_type_for(type) ||
                              (buffer_[0] == ccid::kSlotStatus && command_status == ccid::kCommandFailed);
    if (buffer_[5] != slot_ || !type_answers) {
      ++rejected_;
      answer.outcome = CcidOutcome::rejected;
      return answer;
    }
    if (command_status == ccid::kCommandTimeExtension) {
      // CCID 6.2.6: the reader asks for more time; the answer follows.
      ++time_extensions_;
      if (++time_extensions >= kMaxTimeExtensions) {
        answer.outcome = CcidOutcome::timeout;
        return answer;
      }
      continue;
    }
    answer.type = buffer_[0];
    answer.status = buffer_[7];
    answer.error = buffer_[8];
    answer.specific = buffer_[9];
    answer.data = buffer_ + ccid::kHeaderSize;
    answer.length = dlen;
    answer.outcome = command_status == ccid::kCommandOk ? CcidOutcome::ok : CcidOutcome::failed;
    return answer;
  }
}

}  // namespace reference_rdf
