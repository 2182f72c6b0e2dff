// Extended APDU exchange level (CCID 5.1 dwFeatures 0x00040000): an APDU longer than
// dwMaxCCIDMessageLength travels in several XfrBlocks (wLevelParameter, CCID 6.1.4) and a
// response longer than it in several DataBlocks (bChainParameter, CCID 6.2.1); the APDU itself
// is exchanged as at short APDU level (exchange_apdu.cpp).
#include "emulator/ccid/reader.h"

#include "emulator/ccid/exchange_limits.h"

#include <algorithm>
#include <utility>

namespace readerlab::ccid {

Bytes Reader::extended_xfr_block(Slot& slot, const Message& m) {
  const auto level_parameter = static_cast<std::uint16_t>(m.specific[1] | (m.specific[2] << 8));
  switch (level_parameter) {
    case kChainComplete:
      slot.command_chain.clear();
      if (m.data.empty() || m.data.size() > kMaxExtendedApdu) return chain_failure(slot, m, error::offset_length);
      return complete_apdu(slot, m, m.data);
    case kChainBegins:
    case kChainContinues: return add_to_command_chain(slot, m, level_parameter == kChainBegins);
    case kChainEnds: return end_command_chain(slot, m);
    case kChainMoreExpected:
      if (slot.response_chain.empty()) return chain_failure(slot, m, error::offset_byte8);
      return next_response_part(slot, m);
    default: return chain_failure(slot, m, error::offset_byte8);
  }
}

// A broken chain is dropped in both directions; `code` names the field at fault (CCID 6.2.6).
Bytes Reader::chain_failure(Slot& slot, const Message& m, std::uint8_t code) {
  slot.command_chain.clear();
  slot.response_chain.clear();
  return data_block(m.slot, m.seq, failed_status(slot), code, {});
}

Bytes Reader::add_to_command_chain(Slot& slot, const Message& m, bool begins) {
  // A continuation of a command chain that never began names a wrong wLevelParameter
  // (CCID 6.1.4, 6.2.6).
  if (!begins && slot.command_chain.empty()) return chain_failure(slot, m, error::offset_byte8);
  if (begins) slot.command_chain.clear();
  if (slot.command_chain.size() + m.data.size() > kMaxExtendedApdu) return chain_failure(slot, m, error::offset_length);
  slot.command_chain.insert(slot.command_chain.end(), m.data.begin(), m.data.end());
  return data_block(m.slot, m.seq, ok_status(slot), 0, {}, static_cast<std::uint8_t>(kChainMoreExpected));
}

Bytes Reader::end_command_chain(Slot& slot, const Message& m) {
  // The end of a command chain that never began names a wrong wLevelParameter (CCID 6.2.6).
  if (slot.command_chain.empty()) return chain_failure(slot, m, error::offset_byte8);
  if (slot.command_chain.size() + m.data.size() > kMaxExtendedApdu) return chain_failure(slot, m, error::offset_length);
  Bytes command = std::move(slot.command_chain);
  slot.command_chain.clear();
  command.insert(command.end(), m.data.begin(), m.data.end());
  return complete_apdu(slot, m, command);
}

Bytes Reader::start_response_chain(Slot& slot, const Message& m, Bytes response) {
  slot.response_chain = std::move(response);
  slot.response_chain_sent = 0;
  return next_response_part(slot, m);
}

Bytes Reader::next_response_part(Slot& slot, const Message& m) {
  const std::size_t room = config_.max_message_length - kHeaderSize;
  const bool first = slot.response_chain.size() > 0 && slot.response_chain_sent == 0;
  const std::size_t part = std::min(room, slot.response_chain.size() - slot.response_chain_sent);
  const auto begin = slot.response_chain.begin() + static_cast<std::ptrdiff_t>(slot.response_chain_sent);
  Bytes data(begin, begin + static_cast<std::ptrdiff_t>(part));
  slot.response_chain_sent += part;
  const bool last = slot.response_chain_sent == slot.response_chain.size();
  std::uint8_t chain =
      first ? static_cast<std::uint8_t>(kChainBegins) : static_cast<std::uint8_t>(last ? kChainEnds : kChainContinues);
  if (last) {
    slot.response_chain.clear();
    slot.response_chain_sent = 0;
  }
  return data_block(m.slot, m.seq, ok_status(slot), 0, data, chain);
}

}  // namespace readerlab::ccid
