// Character / TPDU exchange level (CCID 5.1 dwFeatures 0x00010000): the host driver runs the
// transmission protocol itself. Each XfrBlock carries a PPS request, a T=1 block or a T=0
// TPDU, and the card's answer goes back as it is (CCID 6.1.4).
#include "emulator/ccid/reader.h"

#include "cards/pps/pps.h"

namespace readerlab::ccid {

Bytes Reader::tpdu_xfr_block(Slot& slot, const Message& m) {
  if (m.specific[1] != 0 || m.specific[2] != 0)
    return data_block(m.slot, m.seq, failed_status(slot), error::offset_byte8, {});
  if (slot.pps_allowed && !m.data.empty() && m.data[0] == 0xFF) return pps_exchange(slot, m);
  slot.pps_allowed = false;
  const cards::ProtocolFaults faults = prepare_exchange(slot);
  if (slot.protocol == 1) return t1_block_exchange(slot, m);
  return t0_tpdu_exchange(slot, m, faults);
}

// One T=1 block of the host's to the card's T=1 side, and the card's block back.
Bytes Reader::t1_block_exchange(Slot& slot, const Message& m) {
  if (!slot.t1) start_protocol(slot);
  const auto apdus_before = slot.t1->apdus_handled();
  auto answer = slot.t1->receive(m.data);
  // The card's processing time belongs to the block that carried a whole command.
  finish_exchange(slot, slot.t1->apdus_handled() != apdus_before);
  if (!answer) return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
  return data_block(m.slot, m.seq, ok_status(slot), 0, *answer);
}

// A T=0 TPDU is the header and P3 data bytes (ISO 7816-3 10.3.2). Hosts that pass a case 4
// APDU whole (libccid does) add Le: like a reader on the wire, send what P3 announces.
Bytes Reader::t0_tpdu_exchange(Slot& slot, const Message& m, const cards::ProtocolFaults& faults) {
  std::span<const std::uint8_t> tpdu(m.data);
  if (tpdu.size() > 5 && tpdu[4] != 0 && tpdu.size() == 5u + tpdu[4] + 1u) tpdu = tpdu.first(tpdu.size() - 1);
  const auto outcome = run_t0(slot, tpdu, false, faults);
  finish_exchange(slot, true);
  return t0_answer(slot, m, outcome);
}

// PPS sent by the host through XfrBlock (CCID 6.1.4 at TPDU level): the card's answer goes
// back as it is, and the parameters it agreed to are in force from then on.
Bytes Reader::pps_exchange(Slot& slot, const Message& m) {
  slot.pps_allowed = false;
  ++pps_exchanges_;
  const auto parsed = cards::parse_pps(m.data);
  const auto response = slot.card->answer_pps(m.data);
  if (!response) return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
  if (parsed.pps) {
    if (const auto agreed = cards::pps_outcome(*parsed.pps, *response)) {
      slot.protocol = agreed->protocol;
      if (!slot.protocol_data.empty()) slot.protocol_data[0] = agreed->fi_di;
      start_protocol(slot);
    }
  }
  return data_block(m.slot, m.seq, ok_status(slot), 0, *response);
}

}  // namespace readerlab::ccid
