// PC_to_RDR_Secure (CCID 6.1.11): the PIN pad. The host sends a PIN verification or
// modification data structure with the command APDU to complete; the pad's user (a
// KeypadScript) types the PIN; the reader writes it into the APDU as the structure says and
// sends it to the card through the slot's protocol; the card's answer goes back in
// RDR_to_PC_DataBlock. A structure the reader cannot follow is answered with the offset of
// the field at fault (CCID 6.2.6).
#include "emulator/ccid/reader.h"

#include "cards/t1/block.h"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>

namespace readerlab::ccid {
namespace {

// CCID 6.1.11 bPINOperation.
constexpr std::uint8_t kPinVerification = 0x00;
constexpr std::uint8_t kPinModification = 0x01;
constexpr std::uint8_t kLastPinOperation = 0x06;  // 2..6: transfer, wait, cancel, resend, next part
// CCID 5.1 bPINSupport.
constexpr std::uint8_t kPinSupportVerification = 0x01;
constexpr std::uint8_t kPinSupportModification = 0x02;

// Offsets in the message of the fields of the PIN data structures (CCID 6.1.11, the PIN
// verification and modification tables), as bError names them (CCID 6.2.6).
constexpr std::size_t kOffsetPinOperation = 10;
constexpr std::size_t kOffsetFormatString = 12;     // bmFormatString
constexpr std::size_t kOffsetPinBlockString = 13;   // bmPINBlockString
constexpr std::size_t kOffsetPinLengthFormat = 14;  // bmPINLengthFormat
namespace verify_at {
constexpr std::size_t max_extra_digit = 15;  // wPINMaxExtraDigit
constexpr std::size_t entry_validation = 17;
constexpr std::size_t number_message = 18;
constexpr std::size_t msg_index = 21;
constexpr std::size_t teo_prologue = 22;
constexpr std::size_t apdu = 25;
}  // namespace verify_at
namespace modify_at {
constexpr std::size_t insertion_offset_old = 15;
constexpr std::size_t insertion_offset_new = 16;
constexpr std::size_t max_extra_digit = 17;
constexpr std::size_t confirm_pin = 19;
constexpr std::size_t entry_validation = 20;
constexpr std::size_t number_message = 21;
constexpr std::size_t msg_index1 = 24;  // bMsgIndex2 and 3 follow as bNumberMessage says
}  // namespace modify_at

// bmFormatString bits 1-0 (CCID 6.1.11).
constexpr std::uint8_t kFormatBinary = 0x00;
constexpr std::uint8_t kFormatBcd = 0x01;
constexpr std::uint8_t kFormatAscii = 0x02;
// bEntryValidationCondition bits.
constexpr std::uint8_t kValidateMaxSize = 0x01;
constexpr std::uint8_t kValidateKey = 0x02;
constexpr std::uint8_t kValidateTimeout = 0x04;
// bConfirmPIN bits (modification).
constexpr std::uint8_t kConfirmNewPin = 0x01;
constexpr std::uint8_t kAskCurrentPin = 0x02;
// ISO 7816-4 5.1: CLA INS P1 P2 Lc before the command data.
constexpr std::size_t kApduHeader = 5;

// The fields of either structure the reader acts on.
struct PinStructure {
  bool modification = false;
  std::uint8_t format_string = 0;
  std::uint8_t block_string = 0;
  std::uint8_t length_format = 0;
  std::uint8_t insertion_offset_old = 0;  // bytes into the command data (0 at verification)
  std::uint8_t insertion_offset_new = 0;
  std::uint8_t min_digits = 0, max_digits = 0;
  std::uint8_t confirm_pin = 0;
  std::uint8_t entry_validation = 0;
  std::uint8_t teo_prologue[3] = {0, 0, 0};
  std::size_t apdu_offset = 0;  // in the message
  Bytes apdu;
};

std::uint8_t bad_field(std::size_t offset) { return static_cast<std::uint8_t>(offset); }

std::size_t digit_bits(std::uint8_t format_string) { return (format_string & 0x03) == kFormatBcd ? 4 : 8; }
std::size_t pin_position_bits(std::uint8_t format_string) {
  return static_cast<std::size_t>((format_string >> 3) & 0x0F) * ((format_string & 0x80) ? 8 : 1);
}
std::size_t length_position_bits(std::uint8_t length_format) {
  return static_cast<std::size_t>(length_format & 0x0F) * ((length_format & 0x10) ? 8 : 1);
}

// Reads the structure after bPINOperation; the bError of the first bad field, or the fields.
std::variant<PinStructure, std::uint8_t> parse_pin_structure(std::span<const std::uint8_t> data, bool modification,
                                                             const ReaderConfig& pad) {
  const bool has_lcd = pad.lcd_layout != 0;
  // data[0] is bPINOperation, at offset 10 in the message.
  const auto at = [&](std::size_t offset) { return data[offset - kOffsetPinOperation]; };
  const std::size_t end = kOffsetPinOperation + data.size();
  PinStructure s;
  s.modification = modification;
  std::size_t fixed_end = modification ? modify_at::msg_index1 + 1 : verify_at::apdu;
  if (end < fixed_end) return error::offset_length;  // dwLength leaves out part of the structure
  s.format_string = at(kOffsetFormatString);
  s.block_string = at(kOffsetPinBlockString);
  s.length_format = at(kOffsetPinLengthFormat);
  if ((s.format_string & 0x03) == 0x03) return bad_field(kOffsetFormatString);  // RFU format
  if (s.length_format & 0xE0) return bad_field(kOffsetPinLengthFormat);         // RFU bits 7-5
  const std::size_t max_extra_digit = modification ? modify_at::max_extra_digit : verify_at::max_extra_digit;
  // wPINMaxExtraDigit 0xXXYY: XX the minimum, YY the maximum number of digits.
  s.max_digits = at(max_extra_digit + (pad.pin_max_extra_digit_reversed ? 1 : 0));
  s.min_digits = at(max_extra_digit + (pad.pin_max_extra_digit_reversed ? 0 : 1));
  if (s.max_digits == 0 || s.min_digits > s.max_digits) return bad_field(max_extra_digit);
  const std::size_t entry_validation = modification ? modify_at::entry_validation : verify_at::entry_validation;
  s.entry_validation = at(entry_validation);
  if (s.entry_validation == 0 || (s.entry_validation & ~0x07)) return bad_field(entry_validation);
  const std::size_t number_message_at = modification ? modify_at::number_message : verify_at::number_message;
  const std::uint8_t number_message = at(number_message_at);
  if (number_message > 3 && number_message != 0xFF) return bad_field(number_message_at);
  if (pad.pin_only_without_messages && number_message != 0) return bad_field(number_message_at);
  // The message indexes present: one at verification; at modification bMsgIndex2 is there
  // unless bNumberMessage is 0 and bMsgIndex3 when it is 3 or more (the layout libccid sends),
  // or all three on a pad whose firmware reads them so.
  std::size_t index_count = 1;
  if (modification) {
    s.insertion_offset_old = at(modify_at::insertion_offset_old);
    s.insertion_offset_new = at(modify_at::insertion_offset_new);
    s.confirm_pin = at(modify_at::confirm_pin);
    if (s.confirm_pin & ~(kConfirmNewPin | kAskCurrentPin)) return bad_field(modify_at::confirm_pin);
    index_count =
        pad.pin_modify_every_message_index ? 3 : 1 + (number_message != 0 ? 1 : 0) + (number_message >= 3 ? 1 : 0);
  }
  const std::size_t first_index = modification ? modify_at::msg_index1 : verify_at::msg_index;
  const std::size_t teo = first_index + index_count;
  s.apdu_offset = teo + 3;
  if (end < s.apdu_offset) return error::offset_length;
  // A reader with a display knows three messages (CCID 6.1.11: PIN insertion, modification,
  // confirmation); one it does not have is a bad index.
  if (has_lcd && number_message != 0)
    for (std::size_t i = 0; i < index_count; ++i)
      if (at(first_index + i) > 2) return bad_field(first_index + i);
  for (std::size_t i = 0; i < 3; ++i) s.teo_prologue[i] = at(teo + i);
  s.apdu.assign(data.begin() + static_cast<std::ptrdiff_t>(s.apdu_offset - kOffsetPinOperation), data.end());
  // A short command APDU with its data: the reader writes the PIN into that data (Lc = Nc).
  if (s.apdu.size() < kApduHeader) return bad_field(s.apdu_offset);
  if (s.apdu[4] != s.apdu.size() - kApduHeader) return bad_field(s.apdu_offset + 4);
  // Where the PIN blocks go: inside the command data, and large enough for the longest PIN.
  const std::size_t data_bits = (s.apdu.size() - kApduHeader) * 8;
  const std::size_t block_bits = static_cast<std::size_t>(s.block_string & 0x0F) * 8;
  if (block_bits != 0 && static_cast<std::size_t>(s.max_digits) * digit_bits(s.format_string) > block_bits)
    return bad_field(kOffsetPinBlockString);
  const auto check_block = [&](std::uint8_t insertion_offset, std::size_t field) -> std::uint8_t {
    const std::size_t start = static_cast<std::size_t>(insertion_offset) * 8 + pin_position_bits(s.format_string);
    if (block_bits != 0 && start + block_bits > data_bits) return bad_field(field);
    // A fixed block: its length field lies in the command data too.
    const std::size_t length_at =
        static_cast<std::size_t>(insertion_offset) * 8 + length_position_bits(s.length_format);
    if (block_bits != 0 && (s.block_string >> 4) != 0 && length_at + (s.block_string >> 4) > data_bits)
      return bad_field(kOffsetPinLengthFormat);
    return 0;
  };
  if (modification) {
    if (s.confirm_pin & kAskCurrentPin)
      if (const auto bad = check_block(s.insertion_offset_old, modify_at::insertion_offset_old)) return bad;
    if (const auto bad = check_block(s.insertion_offset_new, modify_at::insertion_offset_new)) return bad;
  } else if (const auto bad = check_block(0, kOffsetPinBlockString)) {
    return bad;
  }
  return s;
}

// One PIN entry on the pad: the digits the user's script types, ended as the structure's
// bEntryValidationCondition allows; the PIN, or PIN_TIMEOUT / PIN_CANCELLED.
std::variant<std::string, std::uint8_t> enter_pin(const KeypadScript& script, std::string_view keys,
                                                  const PinStructure& s) {
  if (script.cancel) return error::pin_cancelled;
  std::string pin;
  for (const char key : keys)  // keys the pad does not have do nothing
    if (key >= '0' && key <= '9' && pin.size() < s.max_digits) pin.push_back(key);
  const bool long_enough = pin.size() >= s.min_digits;
  if ((s.entry_validation & kValidateMaxSize) && pin.size() == s.max_digits) return pin;
  // The pad takes the OK key only once the PIN has its minimum length.
  if (!script.timeout && script.confirm && (s.entry_validation & kValidateKey) && long_enough) return pin;
  // Whatever was typed when the time runs out, where that validates the entry.
  if ((s.entry_validation & kValidateTimeout) && long_enough) return pin;
  return error::pin_timeout;
}

// Writes the `bits` low bits of `value` at bit `at` of `data`, most significant bit first.
void put_bits(Bytes& data, std::size_t at, std::size_t bits, std::uint32_t value) {
  for (std::size_t i = 0; i < bits; ++i) {
    const std::size_t bit = at + i;
    const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if ((value >> (bits - 1 - i)) & 1u)
      data[bit / 8] = static_cast<std::uint8_t>(data[bit / 8] | mask);
    else
      data[bit / 8] = static_cast<std::uint8_t>(data[bit / 8] & ~mask);
  }
}

// The PIN into the command data as bmFormatString, bmPINBlockString and bmPINLengthFormat
// say: ASCII, BCD or one byte a digit (binary), left or right justified in its block, and its
// length where the structure wants it. A block size of 0 makes room for the PIN as typed.
void format_pin(Bytes& apdu, const PinStructure& s, std::uint8_t insertion_offset, const std::string& pin) {
  Bytes data(apdu.begin() + kApduHeader, apdu.end());
  const std::size_t width = digit_bits(s.format_string);
  const std::size_t pin_bits = pin.size() * width;
  const std::size_t block_start = static_cast<std::size_t>(insertion_offset) * 8 + pin_position_bits(s.format_string);
  const std::size_t block_bits = static_cast<std::size_t>(s.block_string & 0x0F) * 8;
  const std::size_t length_bits = s.block_string >> 4;
  const std::size_t length_at = static_cast<std::size_t>(insertion_offset) * 8 + length_position_bits(s.length_format);
  std::size_t start = block_start;
  if (block_bits != 0 && (s.format_string & 0x04)) start = block_start + block_bits - pin_bits;  // right justified
  const std::size_t needed_bits = std::max(start + pin_bits, length_bits ? length_at + length_bits : 0);
  if (data.size() * 8 < needed_bits) data.resize((needed_bits + 7) / 8, 0xFF);
  for (std::size_t i = 0; i < pin.size(); ++i) {
    const auto digit = static_cast<std::uint32_t>(pin[i] - '0');
    const std::uint32_t value = (s.format_string & 0x03) == kFormatAscii ? digit + '0' : digit;
    put_bits(data, start + i * width, width, value);
  }
  if (length_bits) put_bits(data, length_at, length_bits, static_cast<std::uint32_t>(pin.size()));
  apdu.resize(kApduHeader);
  apdu[4] = static_cast<std::uint8_t>(data.size());
  apdu.insert(apdu.end(), data.begin(), data.end());
}

}  // namespace

Bytes Reader::secure(Slot& slot, const Message& m) {
  // wLevelParameter other than 0 continues a TPDU-level chain this reader does not start.
  if (m.specific[1] != 0 || m.specific[2] != 0)
    return data_block(m.slot, m.seq, failed_status(slot), error::offset_byte8, {});
  if (m.data.empty()) return data_block(m.slot, m.seq, failed_status(slot), error::offset_length, {});
  const std::uint8_t operation = m.data[0];
  if (operation > kLastPinOperation)
    return data_block(m.slot, m.seq, failed_status(slot), bad_field(kOffsetPinOperation), {});
  const bool supported = (operation == kPinVerification && (config_.pin_support & kPinSupportVerification)) ||
                         (operation == kPinModification && (config_.pin_support & kPinSupportModification));
  if (!supported) return data_block(m.slot, m.seq, failed_status(slot), error::cmd_not_supported, {});
  const auto parsed = parse_pin_structure(m.data, operation == kPinModification, config_);
  if (const auto* bad = std::get_if<std::uint8_t>(&parsed))
    return data_block(m.slot, m.seq, failed_status(slot), *bad, {});
  const PinStructure& s = std::get<PinStructure>(parsed);
  if (!slot.card || !slot.powered || controls_[m.slot].clock_stopped)
    return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});

  // Nobody at the pad: the entry times out.
  KeypadScript nobody;
  nobody.confirm = false;
  nobody.timeout = true;
  const KeypadScript script = controls_[m.slot].keypad.value_or(nobody);
  Bytes apdu = s.apdu;
  const auto entry = [&](std::string_view keys) { return enter_pin(script, keys, s); };
  if (!s.modification) {
    const auto pin = entry(script.digits);
    if (const auto* failed = std::get_if<std::uint8_t>(&pin))
      return data_block(m.slot, m.seq, failed_status(slot), *failed, {});
    format_pin(apdu, s, 0, std::get<std::string>(pin));
  } else {
    std::string current, fresh;
    if (s.confirm_pin & kAskCurrentPin) {
      const auto pin = entry(script.digits);
      if (const auto* failed = std::get_if<std::uint8_t>(&pin))
        return data_block(m.slot, m.seq, failed_status(slot), *failed, {});
      current = std::get<std::string>(pin);
    }
    const auto pin = entry(script.new_digits);
    if (const auto* failed = std::get_if<std::uint8_t>(&pin))
      return data_block(m.slot, m.seq, failed_status(slot), *failed, {});
    fresh = std::get<std::string>(pin);
    if (s.confirm_pin & kConfirmNewPin) {
      const auto again = entry(script.confirm_digits.value_or(script.new_digits));
      if (const auto* failed = std::get_if<std::uint8_t>(&again))
        return data_block(m.slot, m.seq, failed_status(slot), *failed, {});
      // The two entries of the new PIN differ: the pad gives up on the change (CCID names no
      // error of its own for this; a user sees it cancelled).
      if (std::get<std::string>(again) != fresh)
        return data_block(m.slot, m.seq, failed_status(slot), error::pin_cancelled, {});
    }
    if (s.confirm_pin & kAskCurrentPin) format_pin(apdu, s, s.insertion_offset_old, current);
    format_pin(apdu, s, s.insertion_offset_new, fresh);
  }
  return send_reader_apdu(slot, m, apdu, s.teo_prologue);
}

// The reader's own command APDU to the card: at APDU level as XfrBlock would carry it; at
// TPDU level as one T=0 TPDU, or as one T=1 I-block with the host's prologue (bTeoPrologue:
// the host keeps the block sequence, CCID 6.1.11) whose answer block goes back whole.
Bytes Reader::send_reader_apdu(Slot& slot, const Message& m, std::span<const std::uint8_t> apdu,
                               std::span<const std::uint8_t> t1_prologue) {
  if (config_.exchange_level() != ExchangeLevel::tpdu) return complete_apdu(slot, m, apdu);
  slot.pps_allowed = false;
  const cards::ProtocolFaults faults = prepare_exchange(slot);
  Message carried = m;
  if (slot.protocol == 1) {
    if (!slot.t1) start_protocol(slot);
    carried.data = cards::t1::encode_block(t1_prologue[0], t1_prologue[1], apdu, slot.t1->edc());
    return t1_block_exchange(slot, carried);
  }
  carried.data.assign(apdu.begin(), apdu.end());
  return t0_tpdu_exchange(slot, carried, faults);
}

}  // namespace readerlab::ccid
