// The reader's message dispatch: one PC_to_RDR message in, its RDR_to_PC answer out. A
// message that does not decode, names no slot or carries data it may not is answered here
// (CCID 6.2.6); the others go to the slot commands (slot_commands.cpp) or, for XfrBlock, to
// the exchange level the reader works at (exchange_tpdu.cpp, exchange_apdu.cpp,
// exchange_extended_apdu.cpp).
#include "emulator/ccid/reader.h"

#include <algorithm>
#include <utility>

namespace readerlab::ccid {
namespace {

// Commands whose dwLength is 0 by definition (CCID 6.1.2, 6.1.3, 6.1.5, 6.1.6, 6.1.13): data
// after the header is a wrong dwLength, answered at its offset (6.2.6). IccPowerOn checks its own.
bool carries_no_data(std::uint8_t type) {
  switch (static_cast<Command>(type)) {
    case Command::icc_power_off:
    case Command::get_slot_status:
    case Command::get_parameters:
    case Command::reset_parameters:
    case Command::abort: return true;
    default: return false;
  }
}

}  // namespace

IccStatus Reader::icc_status(const Slot& slot) const {
  if (!slot.card) return IccStatus::absent;
  return slot.powered ? IccStatus::active : IccStatus::inactive;
}

std::uint8_t Reader::ok_status(const Slot& slot) const { return status_byte(icc_status(slot), CommandStatus::ok); }
std::uint8_t Reader::failed_status(const Slot& slot) const {
  return status_byte(icc_status(slot), CommandStatus::failed);
}

Bytes Reader::failure(std::uint8_t type, std::uint8_t slot, std::uint8_t seq, std::uint8_t status,
                      std::uint8_t error) const {
  return failure_answer(response_type_for(type), slot, seq, status, error);
}

Bytes Reader::failure_answer(std::uint8_t response_type, std::uint8_t slot, std::uint8_t seq, std::uint8_t status,
                             std::uint8_t error) const {
  switch (static_cast<Response>(response_type)) {
    case Response::data_block: return data_block(slot, seq, status, error, {});
    case Response::parameters: return parameters(slot, seq, status, error, 0, {});
    case Response::escape: return escape_response(slot, seq, status, error, {});
    case Response::data_rate_and_clock_frequency: return data_rate_and_clock(slot, seq, status, error, 0, 0);
    default: return slot_status(slot, seq, status, error, 0);
  }
}

Bytes Reader::handle_message(std::span<const std::uint8_t> bytes) {
  time_extensions_.clear();
  answer_delay_ = std::chrono::milliseconds(0);
  answer_late_by_ = std::chrono::milliseconds(0);
  answer_copies_ = 1;
  if (trace_) trace_({true, Bytes(bytes.begin(), bytes.end())});
  ++commands_handled_;
  const auto fired = fire_answer_faults(bytes);
  std::optional<Bytes> answer;
  for (const ArmedFault* armed : fired)
    if (!answer) answer = replace_command(*armed, bytes);
  if (!answer) answer = answer_message(bytes);
  for (const ArmedFault* armed : fired) change_answer(*armed, bytes, *answer);
  if (trace_) {
    for (const auto& interim : time_extensions_) trace_({false, interim});
    for (std::size_t copy = 0; copy < answer_copies_; ++copy) trace_({false, *answer});
  }
  if (answer_copies_ == 0) return {};
  return std::move(*answer);
}

std::vector<Bytes> Reader::take_time_extensions() { return std::exchange(time_extensions_, {}); }

Bytes Reader::answer_message(std::span<const std::uint8_t> bytes) {
  Bytes answer = dispatch_message(bytes);
  // A reader configured with a dwMaxCCIDMessageLength too small for its answer sends none
  // longer: the data that does not fit is an overrun (CCID 6.2.6), the header always goes.
  if (answer.size() > kHeaderSize && answer.size() > config_.max_message_length) {
    const std::uint8_t status = static_cast<std::uint8_t>((answer[7] & 0x03) | 0x40);  // bmCommandStatus failed
    answer = failure_answer(answer[0], answer[5], answer[6], status, error::xfr_overrun);
  }
  return answer;
}

Bytes Reader::dispatch_message(std::span<const std::uint8_t> bytes) {
  const auto decoded = decode(bytes, config_.max_message_length);
  if (!decoded.message) {
    const std::uint8_t slot_status_bits = decoded.slot < slots_.size()
                                              ? failed_status(slots_[decoded.slot])
                                              : status_byte(IccStatus::absent, CommandStatus::failed);
    return failure(decoded.type, decoded.slot, decoded.seq, slot_status_bits, error::offset_length);
  }
  const Message& m = *decoded.message;
  if (m.slot >= slots_.size()) {
    return failure(m.type, m.slot, m.seq, status_byte(IccStatus::absent, CommandStatus::failed), error::offset_slot);
  }
  Slot& slot = slots_[m.slot];
  if (!m.data.empty() && carries_no_data(m.type)) {
    return failure(m.type, m.slot, m.seq, failed_status(slot), error::offset_length);
  }
  // A slot whose card still works on a command (its answer held for the card's time) is busy.
  // While bMaxCCIDBusySlots slots are, a command for another one is refused with CMD_SLOT_BUSY
  // (CCID 5.1, 6.2.6); Abort always goes through (CCID 5.3.1). A second command for the busy
  // slot itself is queued behind its answer, as before.
  if (m.type != static_cast<std::uint8_t>(Command::abort)) {
    const auto now = std::chrono::steady_clock::now();
    bool busy[256] = {};  // bSlot is a byte
    std::size_t busy_count = 0;
    for (const auto& held : held_answers_) {
      if (!held.waits_for_card || held.ready_at <= now || held.bytes.size() < kHeaderSize) continue;
      if (!busy[held.bytes[5]]) ++busy_count;
      busy[held.bytes[5]] = true;
    }
    const std::size_t allowed = std::max<std::size_t>(config_.max_busy_slots, 1);  // 0 is a malformed model's
    if (!busy[m.slot] && busy_count >= allowed)
      return failure(m.type, m.slot, m.seq, failed_status(slot), error::cmd_slot_busy);
  }
  return dispatch(slot, m);
}

Bytes Reader::dispatch(Slot& slot, const Message& m) {
  switch (static_cast<Command>(m.type)) {
    case Command::icc_power_on: return power_on(slot, m);
    case Command::icc_power_off: return power_off(slot, m);
    case Command::get_slot_status:
      return slot_status(m.slot, m.seq, ok_status(slot), 0, 0);  // bClockStatus 0: running (CCID 6.2.2)
    case Command::xfr_block: return xfr_block(slot, m);
    case Command::get_parameters: return get_parameters(slot, m);
    case Command::reset_parameters: return reset_parameters(slot, m);
    case Command::set_parameters: return set_parameters(slot, m);
    case Command::escape:
      // No vendor escape commands: answer with the Escape response type (CCID 6.2.4) and
      // bError CMD_NOT_SUPPORTED, which libccid reads.
      return escape_response(m.slot, m.seq, failed_status(slot), error::cmd_not_supported, {});
    case Command::abort: return slot_status(m.slot, m.seq, ok_status(slot), 0, 0);
    default: return failure(m.type, m.slot, m.seq, failed_status(slot), error::cmd_not_supported);
  }
}

// XfrBlock goes to the exchange level of CCID 5.1 dwFeatures the reader works at.
Bytes Reader::xfr_block(Slot& slot, const Message& m) {
  if (!slot.card || !slot.powered) return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
  switch (config_.exchange_level()) {
    case ExchangeLevel::tpdu: return tpdu_xfr_block(slot, m);
    case ExchangeLevel::short_apdu: return short_apdu_xfr_block(slot, m);
    case ExchangeLevel::extended_apdu: return extended_xfr_block(slot, m);
  }
  return short_apdu_xfr_block(slot, m);
}

}  // namespace readerlab::ccid
