// Short APDU exchange level (CCID 5.1 dwFeatures 0x00020000), and the APDU exchange it shares
// with the extended level: the host sends whole command APDUs and the reader runs the
// transmission protocol with the card — T=0 with GET RESPONSE, T=1 blocks with the card's
// S(WTX) requests turned into CCID time extensions (CCID 6.2.6).
#include "emulator/ccid/reader.h"

#include "emulator/ccid/exchange_limits.h"

#include <utility>

namespace readerlab::ccid {

Bytes Reader::short_apdu_xfr_block(Slot& slot, const Message& m) {
  // Short APDU level: wLevelParameter must be 0 (CCID 6.1.4) and the APDU short.
  if (m.specific[1] != 0 || m.specific[2] != 0)
    return data_block(m.slot, m.seq, failed_status(slot), error::offset_byte8, {});
  // No APDU at all is a wrong dwLength, not a mute card (CCID 6.2.6).
  if (m.data.empty() || m.data.size() > kMaxShortApdu)
    return data_block(m.slot, m.seq, failed_status(slot), error::offset_length, {});
  return complete_apdu(slot, m, m.data);
}

Bytes Reader::complete_apdu(Slot& slot, const Message& m, std::span<const std::uint8_t> apdu) {
  slot.pps_allowed = false;
  const cards::ProtocolFaults faults = prepare_exchange(slot);
  if (slot.protocol == 0) {
    const auto outcome = run_t0(slot, apdu, true, faults);
    finish_exchange(slot, true);
    return t0_answer(slot, m, outcome);
  }
  cards::CardResponse response = transmit_t1(slot, m, apdu);
  switch (response.status) {
    case cards::CardStatus::ok: return deliver_response(slot, m, std::move(response.data));
    case cards::CardStatus::mute: return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
    case cards::CardStatus::deactivated:
      slot.powered = false;
      return data_block(m.slot, m.seq, failed_status(slot), error::hw_error, {});
  }
  return data_block(m.slot, m.seq, failed_status(slot), error::hw_error, {});
}

// The reader's T=1 side carries one APDU to the card's (the exchange finishes here); the
// card's response, or why none came.
cards::CardResponse Reader::transmit_t1(Slot& slot, const Message& m, std::span<const std::uint8_t> apdu) {
  if (!slot.t1_reader) start_protocol(slot);
  // A card asking for more time makes the reader ask the host for it (CCID 6.2.6: bError
  // carries the multiplier while bmCommandStatus says time extension).
  slot.t1_reader->on_wtx([&](std::uint8_t multiplier) {
    time_extensions_.push_back(
        data_block(m.slot, m.seq, status_byte(icc_status(slot), CommandStatus::time_extension), multiplier, {}));
    ++time_extensions_sent_;
  });
  auto* card_side = slot.t1.get();
  const auto result = slot.t1_reader->transmit(
      apdu, [card_side](std::span<const std::uint8_t> block) { return card_side->receive(block); });
  slot.t1_reader->on_wtx(nullptr);
  finish_exchange(slot, true);
  cards::CardResponse response;
  if (result.ok()) {
    response.data = result.response;
  } else if (card_side->deactivated()) {
    response.status = cards::CardStatus::deactivated;
  } else {
    response.status = cards::CardStatus::mute;
    // Recovery failed: the reader deactivates the card (ISO 7816-3 11.6.3).
    if (result.error == cards::t1::TransmitError::deactivate_card) {
      slot.card->deactivate();
      slot.powered = false;
    }
  }
  return response;
}

// A response APDU to the host: whole, chained at extended APDU level, or an overrun.
Bytes Reader::deliver_response(Slot& slot, const Message& m, Bytes response) {
  if (response.size() + kHeaderSize <= config_.max_message_length)
    return data_block(m.slot, m.seq, ok_status(slot), 0, response);
  // Chaining needs room for at least one byte after the header in every part.
  if (config_.exchange_level() != ExchangeLevel::extended_apdu || config_.max_message_length <= kHeaderSize)
    return data_block(m.slot, m.seq, failed_status(slot), error::xfr_overrun, {});
  return start_response_chain(slot, m, std::move(response));
}

}  // namespace readerlab::ccid
