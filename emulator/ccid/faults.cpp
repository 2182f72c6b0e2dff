// Faults at the CCID message level (issue 11): the names of the kinds and slot errors, and how
// an armed fault changes the reader's answers and interrupt-IN messages.
#include "emulator/ccid/faults.h"

#include "emulator/ccid/reader.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <utility>

namespace readerlab::ccid {
namespace {

struct KindName {
  FaultKind kind;
  const char* name;
};

constexpr KindName kKindNames[] = {
    {FaultKind::wrong_seq, "wrong-seq"},
    {FaultKind::wrong_slot, "wrong-slot"},
    {FaultKind::length_short, "length-short"},
    {FaultKind::length_long, "length-long"},
    {FaultKind::unknown_type, "unknown-type"},
    {FaultKind::error, "error"},
    {FaultKind::duplicate, "duplicate"},
    {FaultKind::no_response, "no-response"},
    {FaultKind::late, "late"},
    {FaultKind::time_extension_storm, "time-extension-storm"},
    {FaultKind::hardware_error, "hardware-error"},
    {FaultKind::spurious_slot_change, "spurious-slot-change"},
    {FaultKind::missing_slot_change, "missing-slot-change"},
};

struct ErrorName {
  std::uint8_t code;
  const char* name;
};

// CCID 6.2.6 Table 6.2-2.
constexpr ErrorName kErrorNames[] = {
    {error::cmd_aborted, "CMD_ABORTED"},
    {error::icc_mute, "ICC_MUTE"},
    {error::xfr_parity_error, "XFR_PARITY_ERROR"},
    {error::xfr_overrun, "XFR_OVERRUN"},
    {error::hw_error, "HW_ERROR"},
    {error::bad_atr_ts, "BAD_ATR_TS"},
    {error::bad_atr_tck, "BAD_ATR_TCK"},
    {error::icc_protocol_not_supported, "ICC_PROTOCOL_NOT_SUPPORTED"},
    {error::icc_class_not_supported, "ICC_CLASS_NOT_SUPPORTED"},
    {error::procedure_byte_conflict, "PROCEDURE_BYTE_CONFLICT"},
    {error::deactivated_protocol, "DEACTIVATED_PROTOCOL"},
    {error::busy_with_auto_sequence, "BUSY_WITH_AUTO_SEQUENCE"},
    {error::pin_timeout, "PIN_TIMEOUT"},
    {error::pin_cancelled, "PIN_CANCELLED"},
    {error::cmd_slot_busy, "CMD_SLOT_BUSY"},
    {error::cmd_not_supported, "CMD_NOT_SUPPORTED"},
};

// The unknown RDR_to_PC type an unknown-type fault sends: CCID 6.2 defines 0x80..0x84 only.
constexpr std::uint8_t kUndefinedResponseType = 0x8F;
// CCID 6.3.2 bHardwareErrorCode: the only code the specification defines.
constexpr std::uint8_t kOverCurrent = 0x01;
// A time-extension storm asks no more than this many (10 bytes each): a fault is bounded too.
constexpr std::uint32_t kMaxStorm = 10000;

std::string hex_byte(std::uint8_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "%02X", value);
  return text;
}

std::uint32_t length_field(const Bytes& message) {
  return static_cast<std::uint32_t>(message[1]) | static_cast<std::uint32_t>(message[2]) << 8 |
         static_cast<std::uint32_t>(message[3]) << 16 | static_cast<std::uint32_t>(message[4]) << 24;
}

void set_length_field(Bytes& message, std::uint32_t length) {
  for (std::size_t i = 0; i < 4; ++i) message[1 + i] = static_cast<std::uint8_t>(length >> (8 * i));
}

// "RDR_to_PC_DataBlock answering PC_to_RDR_XfrBlock"
std::string answering(const Bytes& answer, std::span<const std::uint8_t> command) {
  std::string text = answer.empty() ? std::string("no answer") : response_name(answer[0]);
  text += " answering ";
  text += command.empty() ? "an empty transfer" : command_name(command[0]);
  return text;
}

}  // namespace

const char* to_string(FaultKind kind) {
  for (const auto& entry : kKindNames)
    if (entry.kind == kind) return entry.name;
  return "?";
}

std::optional<FaultKind> fault_kind_from_string(const std::string& name) {
  for (const auto& entry : kKindNames)
    if (name == entry.name) return entry.kind;
  return std::nullopt;
}

std::optional<std::uint8_t> slot_error_from_name(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const auto& entry : kErrorNames)
    if (upper == entry.name) return entry.code;
  return std::nullopt;
}

std::string slot_error_name(std::uint8_t code) {
  for (const auto& entry : kErrorNames)
    if (entry.code == code) return entry.name;
  // CCID 6.2.6: 1..127 name the offset of the field the reader refused; the rest are reserved
  // or vendor codes.
  if (code >= 1 && code <= 0x7F) return "bad field at offset " + std::to_string(code);
  return "0x" + hex_byte(code);
}

void Reader::arm_ccid_fault(const Fault& fault, std::uint64_t seed, std::size_t fault_index) {
  ccid_faults_.push_back({fault, faults::ArmedTrigger(fault.trigger, seed), fault_index});
}

void Reader::clear_ccid_faults() { ccid_faults_.clear(); }

void Reader::record_ccid_firing(const ArmedFault& armed, std::string detail) {
  faults::Firing firing;
  firing.level = "ccid";
  firing.kind = to_string(armed.fault.kind);
  firing.detail = std::move(detail);
  firing.event = armed.trigger.events_seen();
  firing.at_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - armed.trigger.armed_at()).count();
  firing.fault_index = armed.index;
  record_firing(std::move(firing));
}

std::vector<const Reader::ArmedFault*> Reader::fire_answer_faults(std::span<const std::uint8_t> command) {
  std::vector<const ArmedFault*> fired;
  const auto now = std::chrono::steady_clock::now();
  for (auto& armed : ccid_faults_) {
    // A slot change is the event of missing-slot-change, not an answer.
    if (armed.fault.kind == FaultKind::missing_slot_change) continue;
    if (armed.fault.command && (command.empty() || command[0] != *armed.fault.command)) continue;
    if (armed.trigger.fire(now)) fired.push_back(&armed);
  }
  return fired;
}

std::optional<Bytes> Reader::replace_command(const ArmedFault& armed, std::span<const std::uint8_t> command) {
  const auto kind = armed.fault.kind;
  if (kind != FaultKind::error && kind != FaultKind::hardware_error) return std::nullopt;
  const std::uint8_t type = command.empty() ? 0 : command[0];
  const std::uint8_t slot_index = command.size() > 5 ? command[5] : 0;
  const std::uint8_t seq = command.size() > 6 ? command[6] : 0;
  Slot* slot = slot_index < slots_.size() ? &slots_[slot_index] : nullptr;
  std::string detail;
  std::uint8_t code = armed.fault.error;
  if (kind == FaultKind::hardware_error) {
    // Over-current: the reader cuts the card's power (CCID 6.3.2) and fails the command.
    code = error::hw_error;
    queue_notification(Bytes{kHardwareError, slot_index, seq, kOverCurrent});
    detail = "RDR_to_PC_HardwareError (slot " + std::to_string(slot_index) + ", bSeq " + hex_byte(seq) +
             ", over-current) on interrupt-IN";
    if (slot && slot->powered) {
      slot->card->deactivate();
      slot->powered = false;
      detail += ", card deactivated";
    }
    detail += ", ";
  } else if (slot && type == static_cast<std::uint8_t>(Command::icc_power_on) && slot->powered) {
    // A failed activation leaves the contacts deactivated: no ATR, no power (ISO 7816-3 6.2.5).
    slot->card->deactivate();
    slot->powered = false;
    detail = "card deactivated, ";
  }
  const std::uint8_t status = slot ? failed_status(*slot) : status_byte(IccStatus::absent, CommandStatus::failed);
  Bytes answer = failure(type, slot_index, seq, status, code);
  detail += response_name(answer[0]) + " with bError " + slot_error_name(code) + " (" + hex_byte(code) +
            ") answering " + (command.empty() ? std::string("an empty transfer") : command_name(type)) +
            ", command not run";
  record_ccid_firing(armed, std::move(detail));
  return answer;
}

void Reader::change_answer(const ArmedFault& armed, std::span<const std::uint8_t> command, Bytes& answer) {
  const Fault& fault = armed.fault;
  const std::string what = answering(answer, command);
  switch (fault.kind) {
    case FaultKind::error:
    case FaultKind::hardware_error:
    case FaultKind::missing_slot_change: return;  // replace_command and drop_slot_change did it
    case FaultKind::wrong_seq: {
      const std::uint8_t before = answer.at(6);
      answer[6] = static_cast<std::uint8_t>(before + 1);
      record_ccid_firing(armed, "bSeq " + hex_byte(before) + " -> " + hex_byte(answer[6]) + " on " + what);
      return;
    }
    case FaultKind::wrong_slot: {
      const std::uint8_t before = answer.at(5);
      answer[5] = armed.fault.slot.value_or(static_cast<std::uint8_t>(before + 1));
      record_ccid_firing(armed, "bSlot " + std::to_string(before) + " -> " + std::to_string(answer[5]) + " on " + what);
      return;
    }
    case FaultKind::length_short: {
      const auto data = static_cast<std::uint32_t>(answer.size() - kHeaderSize);
      if (data == 0) {
        // Nothing to come short of: one byte more follows a dwLength of 0.
        answer.push_back(0x00);
        record_ccid_firing(armed, "dwLength 0 with 1 byte of data (00 added) on " + what);
      } else {
        set_length_field(answer, data - 1);
        record_ccid_firing(armed, "dwLength " + std::to_string(data) + " -> " + std::to_string(data - 1) + " with " +
                                      std::to_string(data) + " bytes of data on " + what);
      }
      return;
    }
    case FaultKind::length_long: {
      const std::uint32_t before = length_field(answer);
      set_length_field(answer, before + 1);
      record_ccid_firing(armed, "dwLength " + std::to_string(before) + " -> " + std::to_string(before + 1) + " with " +
                                    std::to_string(answer.size() - kHeaderSize) + " bytes of data on " + what);
      return;
    }
    case FaultKind::unknown_type: {
      const std::uint8_t before = answer.at(0);
      answer[0] = kUndefinedResponseType;
      record_ccid_firing(
          armed, "bMessageType " + hex_byte(before) + " -> " + hex_byte(kUndefinedResponseType) + " on " + what);
      return;
    }
    case FaultKind::duplicate:
      answer_copies_ = answer_copies_ == 0 ? 0 : answer_copies_ + 1;
      record_ccid_firing(armed, what + " (bSeq " + hex_byte(answer.at(6)) + ") sent twice");
      return;
    case FaultKind::no_response:
      answer_copies_ = 0;
      record_ccid_firing(armed,
                         "no " + what + " (bSeq " + hex_byte(answer.at(6)) + "): the command ran, its answer dropped");
      return;
    case FaultKind::late:
      answer_late_by_ += fault.delay;
      record_ccid_firing(
          armed, what + " (bSeq " + hex_byte(answer.at(6)) + ") held " + std::to_string(fault.delay.count()) + " ms");
      return;
    case FaultKind::time_extension_storm: {
      const std::uint32_t count = std::min(fault.count, kMaxStorm);
      // CCID 6.2.6: bmCommandStatus 2 asks the host for more time; bError carries the multiplier.
      const std::uint8_t status = static_cast<std::uint8_t>(
          (answer.at(7) & 0x03) | (static_cast<std::uint8_t>(CommandStatus::time_extension) << 6));
      const Bytes interim = failure_answer(answer[0], answer[5], answer[6], status, 1);
      for (std::uint32_t i = 0; i < count; ++i) time_extensions_.push_back(interim);
      time_extensions_sent_ += count;
      std::string detail = std::to_string(count) + " time extensions (bmCommandStatus 2) before " + what;
      if (count != fault.count) detail += " (" + std::to_string(fault.count) + " asked, capped)";
      record_ccid_firing(armed, std::move(detail));
      return;
    }
    case FaultKind::spurious_slot_change: {
      const std::uint8_t slot_index = answer.at(5) < slots_.size() ? answer[5] : 0;
      bool present[256] = {}, changed[256] = {};  // slot_count is a byte
      for (std::size_t i = 0; i < slots_.size(); ++i) present[i] = slots_[i].card != nullptr;
      changed[slot_index] = true;
      Bytes message = notify_slot_change(std::span<const bool>(present, slots_.size()),
                                         std::span<const bool>(changed, slots_.size()));
      const std::string bits = hex_byte(message.at(1));
      queue_notification(std::move(message));
      record_ccid_firing(armed, "NotifySlotChange " + bits + " (slot " + std::to_string(slot_index) +
                                    " changed, card " + (present[slot_index] ? "present" : "absent") +
                                    " as before) after " + what);
      return;
    }
  }
}

bool Reader::drop_slot_change(const Bytes& report) {
  const auto now = std::chrono::steady_clock::now();
  bool dropped = false;
  for (auto& armed : ccid_faults_) {
    if (armed.fault.kind != FaultKind::missing_slot_change || !armed.trigger.fire(now)) continue;
    record_ccid_firing(armed, "NotifySlotChange " + hex_byte(report.at(1)) + " not sent");
    dropped = true;
  }
  return dropped;
}

}  // namespace readerlab::ccid
