#include "emulator/ccid/messages.h"

#include "base/bytes.h"

#include <iterator>

namespace readerlab::ccid {
namespace {

std::uint32_t get32(std::span<const std::uint8_t> in) {
  return static_cast<std::uint32_t>(in[0]) | static_cast<std::uint32_t>(in[1]) << 8 |
         static_cast<std::uint32_t>(in[2]) << 16 | static_cast<std::uint32_t>(in[3]) << 24;
}

Bytes header(std::uint8_t type, std::size_t length, std::uint8_t slot, std::uint8_t seq, std::uint8_t b7,
             std::uint8_t b8, std::uint8_t b9) {
  Bytes out;
  out.reserve(kHeaderSize + length);
  out.push_back(type);
  append_le(out, static_cast<std::uint32_t>(length), 4);
  out.push_back(slot);
  out.push_back(seq);
  out.push_back(b7);
  out.push_back(b8);
  out.push_back(b9);
  return out;
}

}  // namespace

std::string to_string(DecodeError error) {
  switch (error) {
    case DecodeError::none: return "none";
    case DecodeError::too_short: return "shorter than the 10-byte header";
    case DecodeError::length_mismatch: return "dwLength does not match the bytes received";
    case DecodeError::too_long: return "longer than dwMaxCCIDMessageLength";
  }
  return "unknown";
}

DecodeResult decode(std::span<const std::uint8_t> transfer, std::size_t max_message_length) {
  DecodeResult result;
  if (transfer.size() < kHeaderSize) {
    result.error = DecodeError::too_short;
    if (!transfer.empty()) result.type = transfer[0];
    if (transfer.size() > 5) result.slot = transfer[5];
    if (transfer.size() > 6) result.seq = transfer[6];
    return result;
  }
  result.type = transfer[0];
  result.slot = transfer[5];
  result.seq = transfer[6];
  if (transfer.size() > max_message_length) {
    result.error = DecodeError::too_long;
    return result;
  }
  const std::uint32_t length = get32(transfer.subspan(1, 4));
  if (length != transfer.size() - kHeaderSize) {
    result.error = DecodeError::length_mismatch;
    return result;
  }
  Message message;
  message.type = transfer[0];
  message.slot = transfer[5];
  message.seq = transfer[6];
  message.specific[0] = transfer[7];
  message.specific[1] = transfer[8];
  message.specific[2] = transfer[9];
  message.data.assign(transfer.begin() + kHeaderSize, transfer.end());
  result.message = std::move(message);
  return result;
}

Bytes encode(const Message& m) {
  Bytes out = header(m.type, m.data.size(), m.slot, m.seq, m.specific[0], m.specific[1], m.specific[2]);
  out.insert(out.end(), m.data.begin(), m.data.end());
  return out;
}

std::uint8_t status_byte(IccStatus icc, CommandStatus command) {
  return static_cast<std::uint8_t>(static_cast<std::uint8_t>(icc) | (static_cast<std::uint8_t>(command) << 6));
}

Bytes data_block(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                 std::span<const std::uint8_t> data, std::uint8_t chain_parameter) {
  Bytes out =
      header(static_cast<std::uint8_t>(Response::data_block), data.size(), slot, seq, status, error, chain_parameter);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes slot_status(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                  std::uint8_t clock_status) {
  return header(static_cast<std::uint8_t>(Response::slot_status), 0, slot, seq, status, error, clock_status);
}

Bytes parameters(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                 std::uint8_t protocol_num, std::span<const std::uint8_t> protocol_data) {
  Bytes out = header(static_cast<std::uint8_t>(Response::parameters), protocol_data.size(), slot, seq, status, error,
                     protocol_num);
  out.insert(out.end(), protocol_data.begin(), protocol_data.end());
  return out;
}

Bytes escape_response(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                      std::span<const std::uint8_t> data) {
  Bytes out = header(static_cast<std::uint8_t>(Response::escape), data.size(), slot, seq, status, error, 0);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes data_rate_and_clock(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                          std::uint32_t clock_khz, std::uint32_t data_rate) {
  Bytes out =
      header(static_cast<std::uint8_t>(Response::data_rate_and_clock_frequency), 8, slot, seq, status, error, 0);
  append_le(out, clock_khz, 4);
  append_le(out, data_rate, 4);
  return out;
}

Bytes secure_data(const PinVerifyStructure& s) {
  Bytes out{kPinVerify,   s.timeout,    s.format_string,    s.block_string,  s.length_format,
            s.max_digits, s.min_digits, s.entry_validation, s.number_message};
  append_le(out, s.lang_id, 2);
  out.push_back(s.msg_index);
  out.insert(out.end(), std::begin(s.teo_prologue), std::end(s.teo_prologue));
  out.insert(out.end(), s.apdu.begin(), s.apdu.end());
  return out;
}

Bytes secure_data(const PinModifyStructure& s) {
  Bytes out{kPinModify,
            s.timeout,
            s.format_string,
            s.block_string,
            s.length_format,
            s.insertion_offset_old,
            s.insertion_offset_new,
            s.max_digits,
            s.min_digits,
            s.confirm_pin,
            s.entry_validation,
            s.number_message};
  append_le(out, s.lang_id, 2);
  out.push_back(s.msg_index[0]);
  if (s.number_message != 0) out.push_back(s.msg_index[1]);
  if (s.number_message >= 3) out.push_back(s.msg_index[2]);
  out.insert(out.end(), std::begin(s.teo_prologue), std::end(s.teo_prologue));
  out.insert(out.end(), s.apdu.begin(), s.apdu.end());
  return out;
}

std::optional<DataRateAndClock> decode_data_rate_and_clock(std::span<const std::uint8_t> answer) {
  if (answer.size() != kHeaderSize + 8 ||
      answer[0] != static_cast<std::uint8_t>(Response::data_rate_and_clock_frequency))
    return std::nullopt;
  const auto u32 = [&](std::size_t at) { return get32(answer.subspan(at, 4)); };
  if (u32(1) != 8) return std::nullopt;
  return DataRateAndClock{u32(kHeaderSize), u32(kHeaderSize + 4)};
}

Bytes notify_slot_change(std::span<const bool> present, std::span<const bool> changed) {
  Bytes out{kNotifySlotChange};
  const std::size_t slots = present.size();
  out.resize(1 + (slots + 3) / 4, 0);
  for (std::size_t i = 0; i < slots; ++i) {
    std::uint8_t bits = static_cast<std::uint8_t>((present[i] ? 1 : 0) | (i < changed.size() && changed[i] ? 2 : 0));
    out[1 + i / 4] = static_cast<std::uint8_t>(out[1 + i / 4] | (bits << (2 * (i % 4))));
  }
  return out;
}

std::uint8_t response_type_for(std::uint8_t command_type) {
  switch (static_cast<Command>(command_type)) {
    case Command::icc_power_on:
    case Command::xfr_block:
    case Command::secure: return static_cast<std::uint8_t>(Response::data_block);
    case Command::get_parameters:
    case Command::reset_parameters:
    case Command::set_parameters: return static_cast<std::uint8_t>(Response::parameters);
    case Command::escape: return static_cast<std::uint8_t>(Response::escape);
    case Command::set_data_rate_and_clock_frequency:
      return static_cast<std::uint8_t>(Response::data_rate_and_clock_frequency);
    default: return static_cast<std::uint8_t>(Response::slot_status);
  }
}

const char* command_name(std::uint8_t type) {
  switch (static_cast<Command>(type)) {
    case Command::set_parameters: return "PC_to_RDR_SetParameters";
    case Command::icc_power_on: return "PC_to_RDR_IccPowerOn";
    case Command::icc_power_off: return "PC_to_RDR_IccPowerOff";
    case Command::get_slot_status: return "PC_to_RDR_GetSlotStatus";
    case Command::secure: return "PC_to_RDR_Secure";
    case Command::t0_apdu: return "PC_to_RDR_T0APDU";
    case Command::escape: return "PC_to_RDR_Escape";
    case Command::get_parameters: return "PC_to_RDR_GetParameters";
    case Command::reset_parameters: return "PC_to_RDR_ResetParameters";
    case Command::icc_clock: return "PC_to_RDR_IccClock";
    case Command::xfr_block: return "PC_to_RDR_XfrBlock";
    case Command::mechanical: return "PC_to_RDR_Mechanical";
    case Command::abort: return "PC_to_RDR_Abort";
    case Command::set_data_rate_and_clock_frequency: return "PC_to_RDR_SetDataRateAndClockFrequency";
  }
  return "unknown";
}

std::string response_name(std::uint8_t type) {
  switch (static_cast<Response>(type)) {
    case Response::data_block: return "RDR_to_PC_DataBlock";
    case Response::slot_status: return "RDR_to_PC_SlotStatus";
    case Response::parameters: return "RDR_to_PC_Parameters";
    case Response::escape: return "RDR_to_PC_Escape";
    case Response::data_rate_and_clock_frequency: return "RDR_to_PC_DataRateAndClockFrequency";
  }
  static const char digits[] = "0123456789ABCDEF";
  return std::string("RDR_to_PC message ") + digits[type >> 4] + digits[type & 0x0F];
}

}  // namespace readerlab::ccid
