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

void CcidChannel::attach(UsbIo* io, uint8_t slot, uint32_t max_message_length) {
  io_ = io;
  slot_ = slot;
  seq_ = 0;
  time_extensions_ = 0;
  max_message_ = max_message_length;
  if (max_message_ > kMaxCcidMessage || max_message_ < ccid::kHeaderSize + 1) max_message_ = kMaxCcidMessage;
}

CcidAnswer CcidChannel::exchange(uint8_t type, uint8_t b7, uint8_t b8, uint8_t b9, const uint8_t* data, uint32_t length,
                                 uint32_t timeout_ms) {
  CcidAnswer answer{};
  answer.outcome = CcidOutcome::transport;
  if (io_ == nullptr) return answer;
  if (length > max_message_ - ccid::kHeaderSize) {
    answer.outcome = CcidOutcome::malformed;
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
  UsbStatus status = io_->bulk_out(buffer_, ccid::kHeaderSize + length);
  if (status != UsbStatus::ok) return answer;

  // Bounded: a reader that keeps asking for time or answering other commands is given up on.
  for (int round = 0; round < 1000; ++round) {
    uint32_t received = 0;
    status = io_->bulk_in(buffer_, kMaxCcidMessage, &received, timeout_ms);
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
    const uint32_t dlen = read_le32(buffer_ + 1);
    if (buffer_[6] != seq || buffer_[5] != slot_) continue;  // a late answer to an earlier command
    if (dlen != received - ccid::kHeaderSize) {
      answer.outcome = CcidOutcome::malformed;
      return answer;
    }
    const uint8_t command_status = static_cast<uint8_t>(buffer_[7] >> 6);
    if (command_status == ccid::kCommandTimeExtension) {
      ++time_extensions_;
      continue;  // CCID 6.2.6: the reader asks for more time; the answer follows
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
  answer.outcome = CcidOutcome::timeout;
  return answer;
}

}  // namespace reference_rdf
