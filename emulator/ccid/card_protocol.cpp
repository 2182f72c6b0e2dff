// The transmission protocol between the reader and the card of a slot, whatever the exchange
// level: the card's T=1 side (and the reader's, at APDU level), one T=0 exchange, and the
// faults and delays a card asks for around each exchange.
#include "emulator/ccid/reader.h"

#include "cards/t0/t0.h"

#include <utility>

namespace readerlab::ccid {
namespace {

// Faults the card asked for earlier (`pending`) with the ones it asks for now, but the delay,
// which the answer in hand takes.
cards::ProtocolFaults merge_faults(cards::ProtocolFaults pending, const cards::ProtocolFaults& asked_now) {
  pending.mute_exchanges += asked_now.mute_exchanges;
  pending.corrupt_edc_blocks += asked_now.corrupt_edc_blocks;
  pending.garbage_answers += asked_now.garbage_answers;
  if (asked_now.wtx_request) pending.wtx_request = asked_now.wtx_request;
  if (asked_now.bad_procedure_byte) pending.bad_procedure_byte = asked_now.bad_procedure_byte;
  pending.drop_off = pending.drop_off || asked_now.drop_off;
  pending.delay = std::chrono::milliseconds(0);
  return pending;
}

// The faults of the exchange to come, as the card's T=1 side counts them in blocks.
void hand_to_t1(cards::t1::CardSide& card_side, const cards::ProtocolFaults& faults) {
  auto& t1 = card_side.faults();
  t1.mute_blocks += faults.mute_exchanges;
  t1.corrupt_edc_blocks += faults.corrupt_edc_blocks;
  t1.garbage_blocks += faults.garbage_answers;
  if (faults.wtx_request) t1.wtx_before_next_answer = faults.wtx_request;
  if (faults.drop_off) t1.drop_off_after_blocks = 0;
}

}  // namespace

// A fresh card side of the transmission protocol, as after the ATR (ISO 7816-3 11.2).
void Reader::start_protocol(Slot& slot) {
  slot.t0_envelope = {};
  slot.t1.reset();
  slot.t1_reader.reset();
  if (slot.protocol != 1 || !slot.card) return;
  const cards::Atr& atr = slot.atr_fields;
  const bool windows_crc = slot.card->protocol_behaviour().t1_crc_windows;
  const auto edc = !atr.uses_crc() ? cards::t1::EdcKind::lrc
                   : windows_crc   ? cards::t1::EdcKind::crc_windows
                                   : cards::t1::EdcKind::crc;
  cards::t1::CardParameters card_parameters;
  card_parameters.wtx_before_every_answer = slot.card->protocol_behaviour().t1_wtx_multiplier;
  card_parameters.garbage_seed = config_.seed;
  cards::Card* card = slot.card.get();
  slot.t1 = std::make_unique<cards::t1::CardSide>(
      [card](std::span<const std::uint8_t> apdu) {
        auto response = card->transmit_apdu(apdu);
        return response.status == cards::CardStatus::ok ? response.data : cards::Bytes{};
      },
      atr.ifsc(), edc, card_parameters);
  if (config_.exchange_level() == ExchangeLevel::tpdu) return;
  cards::t1::InterfaceParameters reader_parameters;
  reader_parameters.ifsc = atr.ifsc();
  reader_parameters.edc = edc;
  slot.t1_reader = std::make_unique<cards::t1::InterfaceSide>(reader_parameters);
}

// Before an exchange: the time the card takes, and faults it asks for reach the protocol side
// that can show them.
cards::ProtocolFaults Reader::prepare_exchange(Slot& slot) {
  if (!slot.card) return {};
  const cards::ProtocolFaults asked_now = slot.card->take_protocol_faults();
  const cards::ProtocolFaults faults = merge_faults(std::exchange(slot.pending_faults, {}), asked_now);
  answer_delay_ += asked_now.delay;
  if (!faults.any()) return faults;
  if (slot.t1) {
    hand_to_t1(*slot.t1, faults);
  } else if (faults.mute_exchanges > 1) {
    // T=0 has no blocks to count: one exchange now, the rest later.
    slot.pending_faults.mute_exchanges = faults.mute_exchanges - 1;
  }
  return faults;
}

// After an exchange: a delay the card asked for while answering holds this answer back; its
// other faults wait for the next exchange. A command the card processed takes its time when
// the scenario asked for card timing.
void Reader::finish_exchange(Slot& slot, bool command_processed) {
  if (!slot.card) return;
  if (config_.card_timing && command_processed) answer_delay_ += slot.card->protocol_behaviour().processing_time;
  cards::ProtocolFaults faults = slot.card->take_protocol_faults();
  answer_delay_ += faults.delay;
  faults.delay = std::chrono::milliseconds(0);
  if (faults.any()) slot.pending_faults = faults;
}

// One T=0 exchange through the card's T=0 side with the faults it asked for: a whole APDU
// (the reader runs GET RESPONSE) or one TPDU (the host does).
cards::t0::Result Reader::run_t0(Slot& slot, std::span<const std::uint8_t> bytes, bool whole_apdu,
                                 const cards::ProtocolFaults& faults) {
  if (faults.drop_off) {
    // The card loses power in the middle of the exchange.
    slot.card->deactivate();
    cards::t0::Result dropped;
    dropped.error = cards::t0::Error::card_deactivated;
    return dropped;
  }
  cards::t0::CardSideOptions options;
  options.null_bytes = slot.card->protocol_behaviour().t0_null_bytes;
  options.convention = slot.convention;
  options.bad_procedure_byte = faults.bad_procedure_byte;
  if (!options.bad_procedure_byte && faults.garbage_answers > 0) options.bad_procedure_byte = 0xFF;
  options.mute = faults.mute_exchanges > 0;
  options.envelope = slot.card->protocol_behaviour().t0_envelope;
  options.envelope_state = &slot.t0_envelope;
  cards::t0::CardSide card_side(*slot.card, options);
  cards::t0::InterfaceOptions reader_options;
  reader_options.convention = slot.convention;
  // bClassGetResponse and bClassEnvelope 0xFF: the command's own class (CCID 5.1, 6.1.10).
  const auto slot_index = static_cast<std::uint8_t>(&slot - slots_.data());
  if (const std::uint8_t cla = get_response_class(slot_index); cla != 0xFF) reader_options.get_response_class = cla;
  // Only an extended-APDU reader gets an APDU with Nc above 255: a short-APDU one refuses more
  // than 261 bytes by dwLength (exchange_apdu.cpp) and a TPDU one leaves the mapping to the host.
  reader_options.envelope = config_.exchange_level() == ExchangeLevel::extended_apdu;
  if (const std::uint8_t cla = envelope_class(slot_index); cla != 0xFF) reader_options.envelope_class = cla;
  cards::t0::InterfaceSide reader_side(reader_options);
  return whole_apdu ? reader_side.transmit(bytes, card_side) : reader_side.transmit_tpdu(bytes, card_side);
}

// bClassEnvelope of a slot: as PC_to_RDR_T0APDU set it (more_commands.cpp), else the reader's.
std::uint8_t Reader::envelope_class(std::uint8_t slot_index) const {
  if (slot_index < controls_.size() && controls_[slot_index].class_envelope)
    return *controls_[slot_index].class_envelope;
  return config_.class_envelope;
}

// A T=0 exchange's result as the RDR_to_PC answer, whichever side ran GET RESPONSE.
Bytes Reader::t0_answer(Slot& slot, const Message& m, const cards::t0::Result& outcome) {
  using cards::t0::Error;
  switch (outcome.error) {
    case Error::none: return deliver_response(slot, m, outcome.response);
    case Error::procedure_byte_conflict:
      return data_block(m.slot, m.seq, failed_status(slot), error::procedure_byte_conflict, {});
    case Error::malformed_command:
    case Error::invalid_ins:
    case Error::command_too_long:
      // The TPDU or APDU cannot be sent under T=0 (its lengths do not add up, or INS 6x/9x):
      // the field at fault is in abData (CCID 6.2.6 offsets).
      return data_block(m.slot, m.seq, failed_status(slot), error::offset_data, {});
    case Error::card_deactivated:
      slot.powered = false;
      return data_block(m.slot, m.seq, failed_status(slot), error::hw_error, {});
    case Error::mute: break;
  }
  return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
}

}  // namespace readerlab::ccid
