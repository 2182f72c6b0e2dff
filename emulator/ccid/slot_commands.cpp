// The slot commands other than XfrBlock: power (CCID 6.1.1, 6.1.2) and the protocol
// parameters (6.1.5, 6.1.6, 6.1.7), with the reader's own PPS when it negotiates.
#include "emulator/ccid/reader.h"

#include "cards/atr/atr.h"
#include "cards/pps/pps.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace readerlab::ccid {
namespace {

// CCID 6.1.1 bPowerSelect: 0 automatic, 1 5.0 V, 2 3.0 V, 3 1.8 V.
constexpr std::uint8_t kMaxPowerSelect = 3;
// CCID 6.1.7: abProtocolData is 5 bytes for T=0 and 7 for T=1.
constexpr std::size_t kT0ParameterLength = 5;
constexpr std::size_t kT1ParameterLength = 7;

// CCID 6.2.6: a bad TS or a wrong TCK have their own codes; other faults read as a mute card.
std::uint8_t atr_error_code(cards::AtrError error) {
  if (error == cards::AtrError::bad_ts) return error::bad_atr_ts;
  if (error == cards::AtrError::wrong_tck || error == cards::AtrError::missing_tck) return error::bad_atr_tck;
  return error::icc_mute;
}

}  // namespace

Bytes Reader::power_on(Slot& slot, const Message& m) {
  if (!slot.card) return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
  if (m.specific[0] > kMaxPowerSelect) return data_block(m.slot, m.seq, failed_status(slot), error::offset_byte7, {});
  if (!m.data.empty()) return data_block(m.slot, m.seq, failed_status(slot), error::offset_length, {});
  controls_[m.slot].clock_stopped = false;  // a reset starts the clock again (CCID 6.1.9)
  const auto kind = slot.powered ? cards::ResetKind::warm : cards::ResetKind::cold;
  auto atr = slot.card->reset(kind);
  if (!atr || atr->empty()) {
    slot.powered = false;
    return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
  }
  slot.atr = std::move(*atr);
  const auto parsed = cards::parse_atr(slot.atr);
  slot.atr_fields = parsed.atr.value_or(cards::Atr{});
  if (!parsed.atr) {
    slot.card->deactivate();
    slot.powered = false;
    return data_block(m.slot, m.seq, failed_status(slot), atr_error_code(parsed.error), {});
  }
  slot.powered = true;
  slot.convention = slot.atr_fields.inverse_convention ? cards::Convention::inverse : cards::Convention::direct;
  reset_parameters_from_atr(slot);
  slot.pps_allowed = true;
  if (config_.features & feature::auto_parameter_negotiation) negotiate_pps(slot);
  return data_block(m.slot, m.seq, ok_status(slot), 0, slot.atr);
}

Bytes Reader::power_off(Slot& slot, const Message& m) {
  if (slot.card && slot.powered) slot.card->deactivate();
  slot.powered = false;
  controls_[m.slot].clock_stopped = false;
  return slot_status(m.slot, m.seq, ok_status(slot), 0, 0);
}

namespace {

// The Di codes of ISO 7816-3 Table 8 from the fastest D down to D = 1.
constexpr std::uint8_t kDiCodesFastestFirst[] = {0x7, 0x6, 0x9, 0x5, 0x8, 0x4, 0x3, 0x2, 0x1};

}  // namespace

// The TA1 a reader can offer for the card's: the card's Fi with the largest D up to the card's
// whose rate (f * D / Fi, ISO 7816-3 7.1, at dwDefaultClock) is at most dwMaxDataRate and, when
// the reader lists its rates, one of them (CCID 5.1 dwMaxDataRate, bNumDataRatesSupported). A
// real reader proposes no rate it cannot clock; nullopt: none fits above Fd/Dd's rate, which stays.
std::optional<std::uint8_t> Reader::offered_fi_di(std::uint8_t card_fi_di) const {
  const unsigned fi = cards::clock_rate_conversion_factor(static_cast<std::uint8_t>(card_fi_di >> 4));
  const unsigned card_d = cards::baud_rate_adjustment_factor(card_fi_di);
  if (fi == 0 || card_d == 0) return std::nullopt;
  const auto rates = config_.announced_data_rates();
  const std::uint64_t max_rate = config_.max_data_rate_bps.value_or(rates.empty() ? 0 : rates.back());
  const auto listed = [&](std::uint64_t rate) {
    // bNumDataRatesSupported 0: every rate from dwDataRate to dwMaxDataRate (CCID 5.1), whatever
    // GET_DATA_RATES answers.
    if (config_.data_rates_bps.empty() || config_.data_rate_count == std::optional<std::uint8_t>(0)) return true;
    // The reader's list holds rounded figures: 1 % either way is the same rate.
    return std::any_of(rates.begin(), rates.end(), [&](std::uint32_t r) {
      return rate * 100 >= std::uint64_t{r} * 99 && rate * 100 <= std::uint64_t{r} * 101;
    });
  };
  const std::uint64_t clock_hz = std::uint64_t{config_.default_clock_khz} * 1000u;
  for (const std::uint8_t di_code : kDiCodesFastestFirst) {
    const unsigned d = cards::baud_rate_adjustment_factor(di_code);
    if (d > card_d) continue;
    const std::uint64_t rate = clock_hz * d / fi;
    if (rate <= clock_hz / 372) return std::nullopt;  // Fd = 372, Dd = 1 (ISO 7816-3 8.3) is as fast
    if (rate <= max_rate && listed(rate)) return static_cast<std::uint8_t>((card_fi_di & 0xF0) | di_code);
  }
  return std::nullopt;
}

// The reader's own PPS when it negotiates (CCID 5.1 dwFeatures 0x40): ask for the card's
// TA1 (or the fastest Di below it the reader can clock) on its first offered protocol; a card
// that does not answer keeps Fd and Dd, after the warm reset ISO 7816-3 9.3 asks for.
void Reader::negotiate_pps(Slot& slot) {
  if (slot.atr_fields.specific_mode()) return;
  // Until a PPS succeeds, a card in negotiable mode works at Fd and Dd (ISO 7816-3 6.3.1).
  constexpr std::uint8_t kDefaultFiDi = 0x11;
  slot.protocol_data.at(0) = kDefaultFiDi;
  const auto offered = offered_fi_di(slot.atr_fields.fi_di());
  if (!offered) return;  // nothing to gain over Fd and Dd
  const std::uint8_t fi_di = *offered;
  cards::Pps request;
  request.protocol = slot.protocol;
  request.pps1 = fi_di;
  const cards::Bytes request_bytes = cards::build_pps(request);
  slot.pps_allowed = false;
  ++pps_exchanges_;
  const auto response = slot.card->answer_pps(request_bytes);
  const auto agreed = response ? cards::pps_outcome(request, *response) : std::nullopt;
  if (!agreed) {
    auto atr = slot.card->reset(cards::ResetKind::warm);
    if (!atr) slot.powered = false;
    return;
  }
  slot.protocol = agreed->protocol;
  slot.protocol_data.at(0) = agreed->fi_di;
}

void Reader::reset_parameters_from_atr(Slot& slot) {
  const cards::Atr& atr = slot.atr_fields;
  // Specific mode (TA2) fixes the protocol; otherwise the first offered one (ISO 7816-3 6.3.1).
  slot.protocol = atr.first_protocol() == 1 ? 1 : 0;
  if (atr.specific_mode() && atr.groups.size() >= 2 && atr.groups[1].ta) slot.protocol = *atr.groups[1].ta & 0x0F;
  const std::uint8_t convention = atr.inverse_convention ? 0x02 : 0x00;  // CCID 6.1.7 bmTCCKST bit 1
  if (slot.protocol == 1) {
    slot.protocol_data = {atr.fi_di(),
                          static_cast<std::uint8_t>(0x10 | convention | (atr.uses_crc() ? 1 : 0)),
                          atr.extra_guard_time(),
                          atr.bwi_cwi(),
                          0x00,  // bClockStop: not allowed
                          atr.ifsc(),
                          0x00};  // bNadValue
  } else {
    slot.protocol_data = {atr.fi_di(), convention, atr.extra_guard_time(), atr.waiting_integer(), 0x00};
  }
  if (slot.card) slot.card->select_protocol(slot.protocol == 1 ? cards::Protocol::t1 : cards::Protocol::t0);
  start_protocol(slot);
}

Bytes Reader::parameters_answer(const Slot& slot, const Message& m, std::uint8_t status, std::uint8_t error) const {
  return parameters(m.slot, m.seq, status, error, slot.protocol, slot.protocol_data);
}

Bytes Reader::get_parameters(Slot& slot, const Message& m) {
  if (!slot.card) return failure(m.type, m.slot, m.seq, failed_status(slot), error::icc_mute);
  return parameters_answer(slot, m, ok_status(slot), 0);
}

Bytes Reader::reset_parameters(Slot& slot, const Message& m) {
  if (!slot.card) return failure(m.type, m.slot, m.seq, failed_status(slot), error::icc_mute);
  reset_parameters_from_atr(slot);
  return parameters_answer(slot, m, ok_status(slot), 0);
}

Bytes Reader::set_parameters(Slot& slot, const Message& m) {
  if (!slot.card) return failure(m.type, m.slot, m.seq, failed_status(slot), error::icc_mute);
  const std::uint8_t protocol = m.specific[0];
  if (protocol > 1) return parameters_answer(slot, m, failed_status(slot), error::offset_byte7);
  const std::size_t expected = protocol == 1 ? kT1ParameterLength : kT0ParameterLength;
  if (m.data.size() != expected) return parameters_answer(slot, m, failed_status(slot), error::offset_length);
  if (slot.powered && !slot.atr_fields.supports(protocol))
    return parameters_answer(slot, m, failed_status(slot), error::offset_byte7);
  slot.protocol = protocol;
  slot.protocol_data = m.data;
  slot.card->select_protocol(protocol == 1 ? cards::Protocol::t1 : cards::Protocol::t0);
  start_protocol(slot);
  return parameters_answer(slot, m, ok_status(slot), 0);
}

}  // namespace readerlab::ccid
