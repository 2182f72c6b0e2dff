// The CCID 1.1 commands beyond power, parameters and XfrBlock: Escape (6.1.8), IccClock
// (6.1.9), T0APDU (6.1.10), Mechanical (6.1.12) and SetDataRateAndClockFrequency (6.1.14).
// PC_to_RDR_Secure, the PIN pad, lives in secure.cpp.
#include "emulator/ccid/reader.h"

#include <algorithm>
#include <utility>

namespace readerlab::ccid {
namespace {

// CCID 6.1.9 bClockCommand.
constexpr std::uint8_t kClockRestart = 0x00;
constexpr std::uint8_t kClockStop = 0x01;
// CCID 6.2.2 bClockStatus.
constexpr std::uint8_t kClockRunning = 0x00;
constexpr std::uint8_t kClockStoppedLow = 0x01;
constexpr std::uint8_t kClockStoppedHigh = 0x02;

// CCID 6.1.10 bmChanges.
constexpr std::uint8_t kChangesGetResponse = 0x01;
constexpr std::uint8_t kChangesEnvelope = 0x02;

// CCID 6.1.12 bFunction, and the dwMechanical bit (CCID 5.1) each needs.
constexpr std::uint8_t kMechanicalAccept = 0x01;
constexpr std::uint8_t kMechanicalEject = 0x02;
constexpr std::uint8_t kMechanicalCapture = 0x03;
constexpr std::uint8_t kMechanicalLock = 0x04;
constexpr std::uint8_t kMechanicalUnlock = 0x05;
std::uint32_t mechanical_bit(std::uint8_t function) {
  switch (function) {
    case kMechanicalAccept: return 0x01;
    case kMechanicalEject: return 0x02;
    case kMechanicalCapture: return 0x04;
    case kMechanicalLock:
    case kMechanicalUnlock: return 0x08;
    default: return 0;
  }
}

// CCID 6.1.14: dwClockFrequency (kHz) and dwDataRate (bps).
constexpr std::size_t kDataRateAndClockLength = 8;

std::uint32_t read_u32_le(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint32_t>(bytes[at]) | static_cast<std::uint32_t>(bytes[at + 1]) << 8 |
         static_cast<std::uint32_t>(bytes[at + 2]) << 16 | static_cast<std::uint32_t>(bytes[at + 3]) << 24;
}

// The clock stop indicator X of the first TA for T=15 (ISO 7816-3 8.3): 10 asks for state H.
bool card_stops_high(const cards::Atr& atr) {
  for (std::size_t i = 0; i + 1 < atr.groups.size(); ++i) {
    const auto& td = atr.groups[i].td;
    if (td && (*td & 0x0F) == 0x0F) return atr.groups[i + 1].ta && (*atr.groups[i + 1].ta >> 6) == 0x02;
  }
  return false;
}

// The supported value nearest to the one asked for (the lower of two as near).
std::uint32_t closest(const std::vector<std::uint32_t>& supported, std::uint32_t wanted) {
  std::uint32_t best = supported.front();
  for (const std::uint32_t value : supported) {
    const auto distance = [wanted](std::uint32_t v) { return v > wanted ? v - wanted : wanted - v; };
    if (distance(value) < distance(best) || (distance(value) == distance(best) && value < best)) best = value;
  }
  return best;
}

}  // namespace

void Reader::set_keypad(std::uint8_t slot, KeypadScript script) {
  if (slot < controls_.size()) controls_[slot].keypad = std::move(script);
}

bool Reader::card_locked(std::uint8_t slot) const { return slot < controls_.size() && controls_[slot].locked; }

std::uint8_t Reader::clock_status(std::uint8_t slot_index) const {
  if (slot_index >= controls_.size() || !controls_[slot_index].clock_stopped) return kClockRunning;
  // In the state the card asked for: only "high" stops it high.
  return card_stops_high(slots_[slot_index].atr_fields) ? kClockStoppedHigh : kClockStoppedLow;
}

// CCID 6.1.8: abData goes to the vendor's handler and its answer back in RDR_to_PC_Escape
// (6.2.4). No handler, or one that does not know the command: CMD_NOT_SUPPORTED.
Bytes Reader::escape(Slot& slot, const Message& m) {
  std::optional<Bytes> answer;
  if (escape_handler_) answer = escape_handler_(m.data);
  if (!answer) return escape_response(m.slot, m.seq, failed_status(slot), error::cmd_not_supported, {});
  return escape_response(m.slot, m.seq, ok_status(slot), 0, *answer);
}

// CCID 6.1.9: stop or restart the clock of an active card; the answer's bClockStatus says
// where it is (6.2.2). A card with its clock stopped answers nothing until it runs again.
Bytes Reader::icc_clock(Slot& slot, const Message& m) {
  const std::uint8_t command = m.specific[0];
  if (command != kClockRestart && command != kClockStop)
    return slot_status(m.slot, m.seq, failed_status(slot), error::offset_byte7, clock_status(m.slot));
  if (!slot.card || !slot.powered)
    return slot_status(m.slot, m.seq, failed_status(slot), error::icc_mute, clock_status(m.slot));
  controls_[m.slot].clock_stopped = command == kClockStop;
  return slot_status(m.slot, m.seq, ok_status(slot), 0, clock_status(m.slot));
}

// CCID 6.1.10: the classes an APDU-level reader puts in the GET RESPONSE (and ENVELOPE) it
// sends a T=0 card; 0xFF echoes the command's class. A TPDU-level reader sends neither.
Bytes Reader::t0_apdu(Slot& slot, const Message& m) {
  if (config_.exchange_level() == ExchangeLevel::tpdu)
    return slot_status(m.slot, m.seq, failed_status(slot), error::cmd_not_supported, clock_status(m.slot));
  const std::uint8_t changes = m.specific[0];
  if (changes & ~(kChangesGetResponse | kChangesEnvelope))
    return slot_status(m.slot, m.seq, failed_status(slot), error::offset_byte7, clock_status(m.slot));
  SlotControls& controls = controls_[m.slot];
  if (changes & kChangesGetResponse) controls.class_get_response = m.specific[1];
  if (changes & kChangesEnvelope) controls.class_envelope = m.specific[2];
  return slot_status(m.slot, m.seq, ok_status(slot), 0, clock_status(m.slot));
}

std::uint8_t Reader::get_response_class(std::uint8_t slot_index) const {
  if (slot_index < controls_.size() && controls_[slot_index].class_get_response)
    return *controls_[slot_index].class_get_response;
  return config_.class_get_response;
}

// CCID 6.1.14: the host picks the card's clock and data rate. The reader takes the values of
// its lists (CCID 5.3.2, 5.3.3) nearest to those asked for and answers with the ones now in
// force (6.2.5).
Bytes Reader::set_data_rate_and_clock(Slot& slot, const Message& m) {
  if (m.data.size() != kDataRateAndClockLength)
    return data_rate_and_clock(m.slot, m.seq, failed_status(slot), error::offset_length, 0, 0);
  if (!slot.card) return data_rate_and_clock(m.slot, m.seq, failed_status(slot), error::icc_mute, 0, 0);
  const auto clock_khz = read_u32_le(m.data, 0);
  const auto rate_bps = read_u32_le(m.data, 4);
  SlotControls& controls = controls_[m.slot];
  controls.clock_khz = closest(config_.announced_clock_frequencies(), clock_khz);
  controls.data_rate_bps = closest(config_.announced_data_rates(), rate_bps);
  return data_rate_and_clock(m.slot, m.seq, ok_status(slot), 0, controls.clock_khz, controls.data_rate_bps);
}

// CCID 6.1.12: the motor and the latch of a motorised reader, as its dwMechanical (CCID 5.1)
// offers them. Eject and capture take the card away (a slot change); lock keeps the rig from
// pulling it out until unlock.
Bytes Reader::mechanical(Slot& slot, const Message& m) {
  const std::uint8_t function = m.specific[0];
  const std::uint32_t needed = mechanical_bit(function);
  if (needed == 0) return slot_status(m.slot, m.seq, failed_status(slot), error::offset_byte7, clock_status(m.slot));
  if ((config_.mechanical & needed) == 0)
    return slot_status(m.slot, m.seq, failed_status(slot), error::cmd_not_supported, clock_status(m.slot));
  SlotControls& controls = controls_[m.slot];
  switch (function) {
    case kMechanicalAccept:
      // The card the rig put in is drawn in; without one there is nothing to accept.
      if (!slot.card) return slot_status(m.slot, m.seq, failed_status(slot), error::icc_mute, 0);
      break;
    case kMechanicalEject:
    case kMechanicalCapture: {
      if (!slot.card) return slot_status(m.slot, m.seq, failed_status(slot), error::icc_mute, 0);
      controls.locked = false;
      controls.clock_stopped = false;
      slot.card->deactivate();
      const std::uint8_t index = m.slot;
      // Gone from the reader for good: the rig inserts another one if the case wants.
      slot = Slot{};
      slot.changed = true;
      queue_slot_change();
      return slot_status(index, m.seq, ok_status(slots_[index]), 0, 0);
    }
    case kMechanicalLock: controls.locked = true; break;
    case kMechanicalUnlock: controls.locked = false; break;
    default: break;
  }
  return slot_status(m.slot, m.seq, ok_status(slot), 0, clock_status(m.slot));
}

}  // namespace readerlab::ccid
