// Faults at the CCID message level (issue 11): what a misbehaving reader's firmware sends. They
// are armed on a Reader (Reader::arm_ccid_fault) and applied to its RDR_to_PC answers and its
// interrupt-IN messages; a firing goes to the reader's fault log.
#pragma once

#include "base/fault_trigger.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace readerlab::ccid {

enum class FaultKind {
  // The answer to a PC_to_RDR message (event: each answer of the filtered command type):
  wrong_seq,             // bSeq + 1
  wrong_slot,            // bSlot + 1, or the one the fault names
  length_short,          // dwLength one less than the data that follows
  length_long,           // dwLength one more than the data that follows
  unknown_type,          // bMessageType 0x8F, a type CCID 6.2 does not define
  error,                 // bmCommandStatus failed with bError `error` (CCID 6.2.6 Table 6.2-2), no data
  duplicate,             // the answer sent twice
  no_response,           // no answer at all
  late,                  // the answer after `delay`
  time_extension_storm,  // `count` time-extension messages (CCID 6.2.6 bmCommandStatus 2) first
  hardware_error,        // RDR_to_PC_HardwareError over-current on interrupt-IN (CCID 6.3.2),
                         // the card deactivated, the command answered HW_ERROR
  // Interrupt-IN (event: spurious, each answer; missing, each slot change):
  spurious_slot_change,  // NotifySlotChange with the changed bit set and nothing changed
  missing_slot_change,   // the slot change is not reported
};

// "wrong-seq", "time-extension-storm", ... (the names the lab API and reports use).
const char* to_string(FaultKind kind);
std::optional<FaultKind> fault_kind_from_string(const std::string& name);

struct Fault {
  FaultKind kind = FaultKind::wrong_seq;
  // Only answers to this PC_to_RDR bMessageType count as events (nullopt: every message).
  std::optional<std::uint8_t> command;
  std::uint8_t error = 0;              // FaultKind::error: the bError
  std::uint32_t count = 0;             // time_extension_storm: how many
  std::chrono::milliseconds delay{0};  // late: how late
  std::optional<std::uint8_t> slot;    // wrong_slot: the bSlot the answer gets (nullopt: bSlot + 1)
  faults::Trigger trigger;
};

// CCID 6.2.6 Table 6.2-2 names ("ICC_MUTE", "HW_ERROR", ...) both ways.
std::optional<std::uint8_t> slot_error_from_name(const std::string& name);
std::string slot_error_name(std::uint8_t error);

}  // namespace readerlab::ccid
