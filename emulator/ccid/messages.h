// CCID message codec: PC_to_RDR and RDR_to_PC bulk messages and the interrupt-IN
// notifications of the USB CCID specification, revision 1.1.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace readerlab::ccid {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t kHeaderSize = 10;  // CCID 6.1: every bulk message starts with 10 bytes

// CCID 6.1 Table 6.1-1: PC_to_RDR message types.
enum class Command : std::uint8_t {
  set_parameters = 0x61,
  icc_power_on = 0x62,
  icc_power_off = 0x63,
  get_slot_status = 0x65,
  secure = 0x69,
  t0_apdu = 0x6A,
  escape = 0x6B,
  get_parameters = 0x6C,
  reset_parameters = 0x6D,
  icc_clock = 0x6E,
  xfr_block = 0x6F,
  mechanical = 0x71,
  abort = 0x72,
  set_data_rate_and_clock_frequency = 0x73,
};

// CCID 6.2 Table 6.2-1: RDR_to_PC message types.
enum class Response : std::uint8_t {
  data_block = 0x80,
  slot_status = 0x81,
  parameters = 0x82,
  escape = 0x83,
  data_rate_and_clock_frequency = 0x84,
};

// CCID 6.3: interrupt-IN messages.
inline constexpr std::uint8_t kNotifySlotChange = 0x50;
inline constexpr std::uint8_t kHardwareError = 0x51;

// CCID 6.2.6 bmICCStatus (bStatus bits 0-1).
enum class IccStatus : std::uint8_t { active = 0, inactive = 1, absent = 2 };
// CCID 6.2.6 bmCommandStatus (bStatus bits 6-7).
enum class CommandStatus : std::uint8_t { ok = 0, failed = 1, time_extension = 2 };

// CCID 6.2.6 Table 6.2-2 slot error codes (bError when bmCommandStatus is failed).
namespace error {
inline constexpr std::uint8_t cmd_aborted = 0xFF;
inline constexpr std::uint8_t icc_mute = 0xFE;
inline constexpr std::uint8_t xfr_parity_error = 0xFD;
inline constexpr std::uint8_t xfr_overrun = 0xFC;
inline constexpr std::uint8_t hw_error = 0xFB;
inline constexpr std::uint8_t bad_atr_ts = 0xF8;
inline constexpr std::uint8_t bad_atr_tck = 0xF7;
inline constexpr std::uint8_t icc_protocol_not_supported = 0xF6;
inline constexpr std::uint8_t icc_class_not_supported = 0xF5;
inline constexpr std::uint8_t procedure_byte_conflict = 0xF4;
inline constexpr std::uint8_t deactivated_protocol = 0xF3;
inline constexpr std::uint8_t busy_with_auto_sequence = 0xF2;
inline constexpr std::uint8_t pin_timeout = 0xF0;
inline constexpr std::uint8_t pin_cancelled = 0xEF;
inline constexpr std::uint8_t cmd_slot_busy = 0xE0;
inline constexpr std::uint8_t cmd_not_supported = 0x00;
// Values 1..127 name the offset of the bad field in the command (CCID 6.2.6).
inline constexpr std::uint8_t offset_length = 1;  // dwLength
inline constexpr std::uint8_t offset_slot = 5;    // bSlot
inline constexpr std::uint8_t offset_byte7 = 7;   // first message-specific byte
inline constexpr std::uint8_t offset_byte8 = 8;
inline constexpr std::uint8_t offset_data = 10;  // abData
}  // namespace error

struct Message {
  std::uint8_t type = 0;
  std::uint8_t slot = 0;
  std::uint8_t seq = 0;
  std::uint8_t specific[3] = {0, 0, 0};  // bytes 7..9, meaning depends on the type
  Bytes data;
};

enum class DecodeError { none, too_short, length_mismatch, too_long };
std::string to_string(DecodeError error);

struct DecodeResult {
  std::optional<Message> message;
  DecodeError error = DecodeError::none;
  // Even a malformed message carries a header the reader answers to (bSeq, bSlot).
  std::uint8_t type = 0, slot = 0, seq = 0;
};

// Decodes one bulk-OUT transfer. max_message_length is the reader's dwMaxCCIDMessageLength.
DecodeResult decode(std::span<const std::uint8_t> transfer, std::size_t max_message_length);

Bytes encode(const Message& message);

std::uint8_t status_byte(IccStatus icc, CommandStatus command);

// RDR_to_PC builders. bError is only meaningful when command status is failed.
Bytes data_block(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                 std::span<const std::uint8_t> data, std::uint8_t chain_parameter = 0);
Bytes slot_status(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                  std::uint8_t clock_status);
Bytes parameters(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                 std::uint8_t protocol_num, std::span<const std::uint8_t> protocol_data);
Bytes escape_response(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                      std::span<const std::uint8_t> data);
Bytes data_rate_and_clock(std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error,
                          std::uint32_t clock_khz, std::uint32_t data_rate);

// CCID 6.1.11 bPINOperation.
inline constexpr std::uint8_t kPinVerify = 0x00;
inline constexpr std::uint8_t kPinModify = 0x01;

// CCID 6.1.11: the PIN verification data structure a host sends after bPINOperation 0. The
// defaults: an ASCII PIN of 4 to 8 digits, left justified in an 8-byte block at the start of
// the command data, validated by the OK key.
struct PinVerifyStructure {
  std::uint8_t timeout = 0;              // bTimeOut (0: the reader's default)
  std::uint8_t format_string = 0x82;     // bmFormatString: bytes, position 0, left, ASCII
  std::uint8_t block_string = 0x08;      // bmPINBlockString: no length field, 8-byte block
  std::uint8_t length_format = 0x00;     // bmPINLengthFormat
  std::uint8_t min_digits = 4;           // wPINMaxExtraDigit high byte
  std::uint8_t max_digits = 8;           // wPINMaxExtraDigit low byte
  std::uint8_t entry_validation = 0x02;  // bEntryValidationCondition: OK key
  std::uint8_t number_message = 0x01;    // bNumberMessage
  std::uint16_t lang_id = 0x0409;        // wLangId
  std::uint8_t msg_index = 0;            // bMsgIndex
  std::uint8_t teo_prologue[3] = {0, 0, 0};
  Bytes apdu;  // abPINApdu
};

// CCID 6.1.11: the PIN modification data structure (after bPINOperation 1). bMsgIndex2 is
// sent unless bNumberMessage is 0 and bMsgIndex3 when it is 3 or more (libccid's layout).
struct PinModifyStructure {
  std::uint8_t timeout = 0;
  std::uint8_t format_string = 0x82;
  std::uint8_t block_string = 0x08;
  std::uint8_t length_format = 0x00;
  std::uint8_t insertion_offset_old = 0;  // bytes into the command data
  std::uint8_t insertion_offset_new = 8;
  std::uint8_t min_digits = 4;
  std::uint8_t max_digits = 8;
  std::uint8_t confirm_pin = 0x03;  // bConfirmPIN: current PIN asked, new PIN confirmed
  std::uint8_t entry_validation = 0x02;
  std::uint8_t number_message = 0x03;
  std::uint16_t lang_id = 0x0409;
  std::uint8_t msg_index[3] = {0, 1, 2};
  std::uint8_t teo_prologue[3] = {0, 0, 0};
  Bytes apdu;
};

// PC_to_RDR_Secure's abData: bPINOperation and the structure.
Bytes secure_data(const PinVerifyStructure& structure);
Bytes secure_data(const PinModifyStructure& structure);

// RDR_to_PC_DataRateAndClockFrequency's values (CCID 6.2.5); nullopt for another message or a
// wrong length.
struct DataRateAndClock {
  std::uint32_t clock_khz = 0;
  std::uint32_t data_rate_bps = 0;
  bool operator==(const DataRateAndClock&) const = default;
};
std::optional<DataRateAndClock> decode_data_rate_and_clock(std::span<const std::uint8_t> answer);

// CCID 6.3.1: two bits per slot, bit 0 present, bit 1 changed.
Bytes notify_slot_change(std::span<const bool> present, std::span<const bool> changed);

// The RDR_to_PC type that answers a given PC_to_RDR type (CCID 6.2 and Table 6.1-1).
std::uint8_t response_type_for(std::uint8_t command_type);

const char* command_name(std::uint8_t type);
// "RDR_to_PC_DataBlock", ... and "RDR_to_PC message 8F" for a type CCID 6.2 does not define.
std::string response_name(std::uint8_t type);

}  // namespace readerlab::ccid
