#include "emulator/ccid/reader.h"

#include "cards/atr/atr.h"
#include "cards/pps/pps.h"
#include "cards/t0/t0.h"

#include <algorithm>
#include <utility>

namespace readerlab::ccid {
namespace {

void put32(Bytes& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// CCID 6.1.1 bPowerSelect: 0 automatic, 1 5.0 V, 2 3.0 V, 3 1.8 V.
constexpr std::uint8_t kMaxPowerSelect = 3;
// CCID 6.1.7: abProtocolData is 5 bytes for T=0 and 7 for T=1.
constexpr std::size_t kT0ParameterLength = 5;
constexpr std::size_t kT1ParameterLength = 7;
// ISO 7816-4 5.1: the longest short command APDU is 4 + 1 + 255 + 1 bytes.
constexpr std::size_t kMaxShortApdu = 261;

// CCID 6.1.4 wLevelParameter and 6.2.1 bChainParameter at extended APDU level.
constexpr std::uint16_t kChainComplete = 0x0000;
constexpr std::uint16_t kChainBegins = 0x0001;
constexpr std::uint16_t kChainEnds = 0x0002;
constexpr std::uint16_t kChainContinues = 0x0003;
constexpr std::uint16_t kChainMoreExpected = 0x0010;
// ISO 7816-4 5.1: the longest extended command APDU is 4 + 3 + 65535 + 2 bytes.
constexpr std::size_t kMaxExtendedApdu = 65544;

// Commands whose dwLength is 0 by definition (CCID 6.1.2, 6.1.3, 6.1.5, 6.1.6, 6.1.13): data
// after the header is a wrong dwLength, answered at its offset (6.2.6). IccPowerOn checks its own.
bool carries_no_data(std::uint8_t type) {
  switch (static_cast<Command>(type)) {
    case Command::icc_power_off:
    case Command::get_slot_status:
    case Command::get_parameters:
    case Command::reset_parameters:
    case Command::abort:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* to_string(ExchangeLevel level) {
  switch (level) {
    case ExchangeLevel::tpdu: return "tpdu";
    case ExchangeLevel::short_apdu: return "short-apdu";
    case ExchangeLevel::extended_apdu: return "extended-apdu";
  }
  return "?";
}

ExchangeLevel ReaderConfig::exchange_level() const {
  if (features & feature::extended_apdu_level) return ExchangeLevel::extended_apdu;
  if (features & feature::short_apdu_level) return ExchangeLevel::short_apdu;
  return ExchangeLevel::tpdu;
}

void ReaderConfig::set_exchange_level(ExchangeLevel level) {
  features &= ~feature::exchange_level_mask;
  switch (level) {
    case ExchangeLevel::tpdu:
      features |= feature::tpdu_level;
      // At TPDU level the host negotiates PPS itself (CCID 5.1 dwFeatures 0x40 cleared).
      features &= ~feature::auto_parameter_negotiation;
      // A T=1 block of 254 INF bytes plus prologue and CRC, and room to spare (CCID 5.1).
      max_message_length = 271;
      break;
    case ExchangeLevel::short_apdu:
      features |= feature::short_apdu_level | feature::auto_parameter_negotiation;
      max_message_length = 271;
      break;
    case ExchangeLevel::extended_apdu:
      features |= feature::extended_apdu_level | feature::auto_parameter_negotiation;
      // Header plus the longest extended command APDU: no chaining needed, though it works.
      max_message_length = static_cast<std::uint32_t>(kHeaderSize + kMaxExtendedApdu);
      break;
  }
}

std::vector<std::uint32_t> supported_data_rates() {
  // f = 3.58 MHz with the Fi and Di of ISO 7816-3 Tables 7 and 8 a TA1 may name (rate =
  // Di / Fi * f, ISO 7816-3 7.1), so that a host can pick any of them for PPS.
  // Rates below Fd/Dd's are left out: no card needs to go slower than its default.
  std::vector<std::uint32_t> rates;
  const std::uint32_t default_rate = kDefaultClockKhz * 1000u / 372u;
  for (std::uint32_t fi : {372u, 512u, 558u, 744u, 768u, 1024u, 1116u, 1488u, 1536u, 2048u, 1860u})
    for (std::uint32_t di : {1u, 2u, 4u, 8u, 12u, 16u, 20u, 32u, 64u})
      if (const std::uint32_t rate = kDefaultClockKhz * 1000u * di / fi; rate >= default_rate) rates.push_back(rate);
  std::sort(rates.begin(), rates.end());
  rates.erase(std::unique(rates.begin(), rates.end()), rates.end());
  return rates;
}

Reader::Reader(ReaderConfig config) { reconfigure(std::move(config)); }

void Reader::reconfigure(ReaderConfig config) {
  config_ = std::move(config);
  if (config_.slot_count == 0) config_.slot_count = 1;
  slots_.resize(config_.slot_count);
  description_ = {};
  description_.identity = {usb::Speed::full, 0, 0, 0, config_.vendor_id, config_.product_id,
                           config_.device_version_bcd};
  description_.manufacturer = config_.manufacturer;
  description_.product = config_.product;
  description_.serial_number = config_.serial_number;
  usb::InterfaceDescription iface;
  iface.info = {0, 0x0B, 0x00, 0x00};  // CCID 4.3: interface class 0x0B, subclass 0, protocol 0
  iface.class_descriptor = class_descriptor();
  iface.endpoints = endpoints();
  description_.interfaces.push_back(std::move(iface));
}

Bytes Reader::class_descriptor() const {
  // CCID 5.1 Table 5.1-1, 54 bytes.
  Bytes d;
  d.push_back(0x36);                  // bLength
  d.push_back(0x21);                  // bDescriptorType: CCID functional descriptor
  d.push_back(0x10);                  // bcdCCID 1.10
  d.push_back(0x01);
  d.push_back(static_cast<std::uint8_t>(config_.slot_count - 1));  // bMaxSlotIndex
  d.push_back(0x07);                  // bVoltageSupport: 5.0 V, 3.0 V, 1.8 V
  put32(d, 0x00000003);               // dwProtocols: T=0 and T=1
  put32(d, kDefaultClockKhz);         // dwDefaultClock (kHz)
  put32(d, kDefaultClockKhz);         // dwMaximumClock
  d.push_back(1);                     // bNumClockSupported
  const auto rates = supported_data_rates();
  put32(d, rates.front());            // dwDataRate (bps)
  put32(d, rates.back());             // dwMaxDataRate
  d.push_back(static_cast<std::uint8_t>(rates.size()));  // bNumDataRatesSupported
  put32(d, 254);                      // dwMaxIFSD
  put32(d, 0);                        // dwSynchProtocols
  put32(d, 0);                        // dwMechanical
  put32(d, config_.features);         // dwFeatures
  put32(d, config_.max_message_length);  // dwMaxCCIDMessageLength
  d.push_back(0xFF);                  // bClassGetResponse: echo the APDU's class
  d.push_back(0xFF);                  // bClassEnvelope
  d.push_back(0);                     // wLcdLayout: no LCD
  d.push_back(0);
  d.push_back(0);                     // bPINSupport: none
  d.push_back(1);                     // bMaxCCIDBusySlots
  return d;
}

std::vector<usb::InterfaceInfo> Reader::interfaces() const { return {description_.interfaces.front().info}; }

std::vector<usb::EndpointInfo> Reader::endpoints() const {
  return {
      {kBulkOut, usb::TransferType::bulk, 64, 0, 0},
      {kBulkIn, usb::TransferType::bulk, 64, 0, 0},
      {kInterruptIn, usb::TransferType::interrupt, 8, config_.interrupt_interval_ms, 0},
  };
}

void Reader::insert(std::unique_ptr<cards::Card> card, std::uint8_t slot_index) {
  if (slot_index >= slots_.size() || !card) return;
  Slot& slot = slots_[slot_index];
  if (slot.card) slot.card->deactivate();
  slot = Slot{};
  slot.card = std::move(card);
  slot.changed = true;
  queue_slot_change();
}

std::unique_ptr<cards::Card> Reader::remove(std::uint8_t slot_index) {
  if (slot_index >= slots_.size() || !slots_[slot_index].card) return nullptr;
  Slot& slot = slots_[slot_index];
  slot.card->deactivate();
  auto card = std::move(slot.card);
  slot = Slot{};
  slot.changed = true;
  abort_held_answer(slot_index);
  queue_slot_change();
  return card;
}

// A card pulled out while it still works on a command never answers: the reader gives up on it
// at once and reports the slot empty (bmICCStatus 2, bmCommandStatus 1, ICC_MUTE; CCID 6.2.6).
void Reader::abort_held_answer(std::uint8_t slot_index) {
  if (!answer_held_until_ || bulk_in_.empty()) return;
  const Bytes& held = bulk_in_.back();
  if (held.size() < kHeaderSize || held[5] != slot_index) return;
  const std::uint8_t status = status_byte(IccStatus::absent, CommandStatus::failed);
  bulk_in_.back() = failure_answer(held[0], held[5], held[6], status, error::icc_mute);
  answer_held_until_.reset();
  notify_in_data_ready(kBulkIn);
}

bool Reader::card_present(std::uint8_t slot) const { return slot < slots_.size() && slots_[slot].card != nullptr; }
bool Reader::card_powered(std::uint8_t slot) const { return slot < slots_.size() && slots_[slot].powered; }
cards::Card* Reader::card(std::uint8_t slot) { return slot < slots_.size() ? slots_[slot].card.get() : nullptr; }

void Reader::queue_slot_change() {
  bool present[256] = {}, changed[256] = {};  // slot_count is a byte
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    present[i] = slots_[i].card != nullptr;
    changed[i] = slots_[i].changed;
    slots_[i].changed = false;
  }
  Bytes message = notify_slot_change(std::span<const bool>(present, slots_.size()),
                                     std::span<const bool>(changed, slots_.size()));
  // A notification not yet read is replaced: its change bits carry over (CCID 6.3.1 reports
  // every change since the last report).
  if (!interrupt_in_.empty()) {
    Bytes& pending = interrupt_in_.back();
    for (std::size_t i = 1; i < message.size() && i < pending.size(); ++i)
      message[i] = static_cast<std::uint8_t>(message[i] | (pending[i] & 0xAA));
    pending = std::move(message);
  } else {
    interrupt_in_.push_back(std::move(message));
  }
  notify_in_data_ready(kInterruptIn);
}

void Reader::bus_reset() {
  bulk_in_.clear();
  answer_held_until_.reset();
  interrupt_in_.clear();
  configuration_ = 0;
  bool any_present = false;
  for (auto& slot : slots_) {
    if (slot.card && slot.powered) slot.card->deactivate();
    slot.powered = false;
    slot.atr.clear();
    slot.atr_fields = cards::Atr{};
    slot.changed = slot.card != nullptr;
    any_present = any_present || slot.card;
  }
  if (any_present) queue_slot_change();
}

usb::ControlResult Reader::control(const usb::SetupPacket& setup, std::span<const std::uint8_t>) {
  if (setup.type() == 0 && setup.recipient() == 2) {
    // Endpoint requests (USB 2.0 9.4.1, 9.4.5): no endpoint halts on its own here. An endpoint
    // the device does not have (wIndex low byte) is a Request Error, a STALL (9.4.1, 9.4.5, 9.4.9).
    const auto address = static_cast<std::uint8_t>(setup.index & 0xFF);
    bool known = (address & 0x7F) == 0;  // the default control pipe
    for (const auto& ep : endpoints()) known = known || ep.address == address;
    if (!known) return {usb::TransferStatus::stall, {}};
    if (setup.request == usb::kRequestGetStatus) {
      Bytes status{0, 0};
      // The data stage carries at most wLength bytes (USB 2.0 9.3.5).
      status.resize(std::min<std::size_t>(status.size(), setup.length));
      return {usb::TransferStatus::ok, status};
    }
    return {};
  }
  if (auto standard = usb::standard_request(description_, setup, configuration_)) return *standard;
  if (setup.type() == 1 && setup.recipient() == 1) {
    switch (setup.request) {
      case kRequestAbort:
        return {};
      case kRequestGetClockFrequencies: {
        Bytes out;
        put32(out, kDefaultClockKhz);
        if (out.size() > setup.length) out.resize(setup.length);
        return {usb::TransferStatus::ok, out};
      }
      case kRequestGetDataRates: {
        Bytes out;
        for (auto rate : supported_data_rates()) put32(out, rate);
        if (out.size() > setup.length) out.resize(setup.length);
        return {usb::TransferStatus::ok, out};
      }
      default:
        break;
    }
  }
  return {usb::TransferStatus::stall, {}};
}

usb::TransferStatus Reader::transfer_out(std::uint8_t endpoint, std::span<const std::uint8_t> data) {
  if (endpoint != kBulkOut) return usb::TransferStatus::stall;
  Bytes answer = handle_message(data);
  for (auto& interim : take_time_extensions()) bulk_in_.push_back(std::move(interim));
  bulk_in_.push_back(std::move(answer));
  // The answer is the last message queued; it waits while the card takes its time.
  if (answer_delay_.count() > 0) answer_held_until_ = std::chrono::steady_clock::now() + answer_delay_;
  notify_in_data_ready(kBulkIn);
  return usb::TransferStatus::ok;
}

std::optional<usb::Device::InResult> Reader::transfer_in(std::uint8_t endpoint, std::size_t max_length) {
  std::deque<Bytes>* queue = nullptr;
  if (endpoint == kBulkIn) queue = &bulk_in_;
  else if (endpoint == kInterruptIn) queue = &interrupt_in_;
  else return InResult{usb::TransferStatus::stall, {}};
  if (queue->empty()) return std::nullopt;
  if (queue == &bulk_in_ && answer_held_until_) {
    if (bulk_in_.size() == 1 && std::chrono::steady_clock::now() < *answer_held_until_) return std::nullopt;
    if (bulk_in_.size() == 1) answer_held_until_.reset();
  }
  Bytes& front = queue->front();
  InResult result;
  if (front.size() <= max_length) {
    result.data = std::move(front);
    queue->pop_front();
  } else {
    // The host reads a long message in several transfers.
    result.data.assign(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(max_length));
    front.erase(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(max_length));
  }
  return result;
}

std::optional<std::chrono::steady_clock::time_point> Reader::in_ready_at(std::uint8_t endpoint) const {
  if (endpoint != kBulkIn || bulk_in_.size() != 1) return std::nullopt;
  return answer_held_until_;
}

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
  Bytes answer;
  time_extensions_.clear();
  answer_delay_ = std::chrono::milliseconds(0);
  if (trace_) trace_({true, Bytes(bytes.begin(), bytes.end())});
  ++commands_handled_;
  const auto decoded = decode(bytes, config_.max_message_length);
  if (!decoded.message) {
    const std::uint8_t slot_status_bits =
        decoded.slot < slots_.size() ? failed_status(slots_[decoded.slot]) : status_byte(IccStatus::absent, CommandStatus::failed);
    answer = failure(decoded.type, decoded.slot, decoded.seq, slot_status_bits, error::offset_length);
  } else {
    const Message& m = *decoded.message;
    if (m.slot >= slots_.size()) {
      answer = failure(m.type, m.slot, m.seq, status_byte(IccStatus::absent, CommandStatus::failed), error::offset_slot);
    } else {
      Slot& slot = slots_[m.slot];
      if (!m.data.empty() && carries_no_data(m.type)) {
        answer = failure(m.type, m.slot, m.seq, failed_status(slot), error::offset_length);
      } else switch (static_cast<Command>(m.type)) {
        case Command::icc_power_on:
          answer = power_on(slot, m);
          break;
        case Command::icc_power_off:
          if (slot.card && slot.powered) slot.card->deactivate();
          slot.powered = false;
          answer = slot_status(m.slot, m.seq, ok_status(slot), 0, 0);
          break;
        case Command::get_slot_status:
          answer = slot_status(m.slot, m.seq, ok_status(slot), 0, 0);  // bClockStatus 0: running (CCID 6.2.2)
          break;
        case Command::xfr_block:
          answer = xfr_block(slot, m);
          break;
        case Command::get_parameters:
          answer = slot.card ? parameters_answer(slot, m, ok_status(slot), 0)
                             : failure(m.type, m.slot, m.seq, failed_status(slot), error::icc_mute);
          break;
        case Command::reset_parameters:
          if (!slot.card) {
            answer = failure(m.type, m.slot, m.seq, failed_status(slot), error::icc_mute);
          } else {
            reset_parameters_from_atr(slot);
            answer = parameters_answer(slot, m, ok_status(slot), 0);
          }
          break;
        case Command::set_parameters:
          answer = set_parameters(slot, m);
          break;
        case Command::escape:
          // No vendor escape commands: answer with the Escape response type (CCID 6.2.4) and
          // bError CMD_NOT_SUPPORTED, which libccid reads.
          answer = escape_response(m.slot, m.seq, failed_status(slot), error::cmd_not_supported, {});
          break;
        case Command::abort:
          answer = slot_status(m.slot, m.seq, ok_status(slot), 0, 0);
          break;
        default:
          answer = failure(m.type, m.slot, m.seq, failed_status(slot), error::cmd_not_supported);
          break;
      }
    }
  }
  if (trace_) {
    for (const auto& interim : time_extensions_) trace_({false, interim});
    trace_({false, answer});
  }
  return answer;
}

std::vector<Bytes> Reader::take_time_extensions() { return std::exchange(time_extensions_, {}); }

Bytes Reader::power_on(Slot& slot, const Message& m) {
  if (!slot.card) return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
  if (m.specific[0] > kMaxPowerSelect) return data_block(m.slot, m.seq, failed_status(slot), error::offset_byte7, {});
  if (!m.data.empty()) return data_block(m.slot, m.seq, failed_status(slot), error::offset_length, {});
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
    // CCID 6.2.6: a bad TS or a wrong TCK have their own codes; other faults read as a mute card.
    std::uint8_t code = error::icc_mute;
    if (parsed.error == cards::AtrError::bad_ts) code = error::bad_atr_ts;
    else if (parsed.error == cards::AtrError::wrong_tck || parsed.error == cards::AtrError::missing_tck)
      code = error::bad_atr_tck;
    return data_block(m.slot, m.seq, failed_status(slot), code, {});
  }
  slot.powered = true;
  slot.convention = slot.atr_fields.inverse_convention ? cards::Convention::inverse : cards::Convention::direct;
  reset_parameters_from_atr(slot);
  slot.pps_allowed = true;
  if (config_.features & feature::auto_parameter_negotiation) negotiate_pps(slot);
  return data_block(m.slot, m.seq, ok_status(slot), 0, slot.atr);
}

// The reader's own PPS when it negotiates (CCID 5.1 dwFeatures 0x40): ask for the card's
// TA1 on its first offered protocol; a card that does not answer keeps Fd and Dd, after the
// warm reset ISO 7816-3 9.3 asks for.
void Reader::negotiate_pps(Slot& slot) {
  if (slot.atr_fields.specific_mode()) return;
  const std::uint8_t fi_di = slot.atr_fields.fi_di();
  if (fi_di == 0x11) return;  // nothing to gain: Fd and Dd already
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

Bytes Reader::xfr_block(Slot& slot, const Message& m) {
  if (!slot.card || !slot.powered) return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
  if (config_.exchange_level() == ExchangeLevel::extended_apdu) return extended_xfr_block(slot, m);
  if (config_.exchange_level() == ExchangeLevel::tpdu) return tpdu_xfr_block(slot, m);
  // Short APDU level: wLevelParameter must be 0 (CCID 6.1.4) and the APDU short.
  if (m.specific[1] != 0 || m.specific[2] != 0)
    return data_block(m.slot, m.seq, failed_status(slot), error::offset_byte8, {});
  // No APDU at all is a wrong dwLength, not a mute card (CCID 6.2.6).
  if (m.data.empty() || m.data.size() > kMaxShortApdu)
    return data_block(m.slot, m.seq, failed_status(slot), error::offset_length, {});
  return complete_apdu(slot, m, m.data);
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
  cards::t0::CardSide card_side(*slot.card, options);
  cards::t0::InterfaceSide reader_side({slot.convention});
  return whole_apdu ? reader_side.transmit(bytes, card_side) : reader_side.transmit_tpdu(bytes, card_side);
}

Bytes Reader::tpdu_xfr_block(Slot& slot, const Message& m) {
  if (m.specific[1] != 0 || m.specific[2] != 0)
    return data_block(m.slot, m.seq, failed_status(slot), error::offset_byte8, {});
  if (slot.pps_allowed && !m.data.empty() && m.data[0] == 0xFF) return pps_exchange(slot, m);
  slot.pps_allowed = false;
  const cards::ProtocolFaults faults = prepare_exchange(slot);
  if (slot.protocol == 1) {
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

// A T=0 exchange's result as the RDR_to_PC answer, whichever side ran GET RESPONSE.
Bytes Reader::t0_answer(Slot& slot, const Message& m, const cards::t0::Result& outcome) {
  using cards::t0::Error;
  switch (outcome.error) {
    case Error::none:
      return deliver_response(slot, m, outcome.response);
    case Error::procedure_byte_conflict:
      return data_block(m.slot, m.seq, failed_status(slot), error::procedure_byte_conflict, {});
    case Error::malformed_command:
    case Error::invalid_ins:
    case Error::command_too_long:
      // The TPDU cannot be sent under T=0: the header field at fault is P3 (CCID 6.2.6 offsets).
      return data_block(m.slot, m.seq, failed_status(slot), error::offset_data, {});
    case Error::card_deactivated:
      slot.powered = false;
      return data_block(m.slot, m.seq, failed_status(slot), error::hw_error, {});
    case Error::mute:
      break;
  }
  return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
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

// Before an exchange: the time the card takes, and faults it asks for reach the protocol side
// that can show them.
cards::ProtocolFaults Reader::prepare_exchange(Slot& slot) {
  if (!slot.card) return {};
  cards::ProtocolFaults faults = std::exchange(slot.pending_faults, {});
  const cards::ProtocolFaults asked_now = slot.card->take_protocol_faults();
  faults.mute_exchanges += asked_now.mute_exchanges;
  faults.corrupt_edc_blocks += asked_now.corrupt_edc_blocks;
  faults.garbage_answers += asked_now.garbage_answers;
  if (asked_now.wtx_request) faults.wtx_request = asked_now.wtx_request;
  if (asked_now.bad_procedure_byte) faults.bad_procedure_byte = asked_now.bad_procedure_byte;
  faults.drop_off = faults.drop_off || asked_now.drop_off;
  answer_delay_ += asked_now.delay;
  faults.delay = std::chrono::milliseconds(0);
  if (!faults.any()) return faults;
  if (slot.t1) {
    auto& t1 = slot.t1->faults();
    t1.mute_blocks += faults.mute_exchanges;
    t1.corrupt_edc_blocks += faults.corrupt_edc_blocks;
    t1.garbage_blocks += faults.garbage_answers;
    if (faults.wtx_request) t1.wtx_before_next_answer = faults.wtx_request;
    if (faults.drop_off) t1.drop_off_after_blocks = 0;
  } else if (faults.mute_exchanges > 1) {
    // T=0 has no blocks to count: one exchange now, the rest later.
    slot.pending_faults.mute_exchanges = faults.mute_exchanges - 1;
  }
  return faults;
}

// A fresh card side of the transmission protocol, as after the ATR (ISO 7816-3 11.2).
void Reader::start_protocol(Slot& slot) {
  slot.t1.reset();
  slot.t1_reader.reset();
  if (slot.protocol != 1 || !slot.card) return;
  const cards::Atr& atr = slot.atr_fields;
  const auto edc = atr.uses_crc() ? cards::t1::EdcKind::crc : cards::t1::EdcKind::lrc;
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

Bytes Reader::extended_xfr_block(Slot& slot, const Message& m) {
  const auto level_parameter = static_cast<std::uint16_t>(m.specific[1] | (m.specific[2] << 8));
  const auto fail = [&](std::uint8_t code) {
    slot.command_chain.clear();
    slot.response_chain.clear();
    return data_block(m.slot, m.seq, failed_status(slot), code, {});
  };
  switch (level_parameter) {
    case kChainComplete:
      slot.command_chain.clear();
      if (m.data.empty() || m.data.size() > kMaxExtendedApdu) return fail(error::offset_length);
      return complete_apdu(slot, m, m.data);
    case kChainBegins:
    case kChainContinues:
      // A continuation or an end of a command chain that never began names a wrong
      // wLevelParameter (CCID 6.1.4, 6.2.6).
      if (level_parameter == kChainContinues && slot.command_chain.empty()) return fail(error::offset_byte8);
      if (level_parameter == kChainBegins) slot.command_chain.clear();
      if (slot.command_chain.size() + m.data.size() > kMaxExtendedApdu) return fail(error::offset_length);
      slot.command_chain.insert(slot.command_chain.end(), m.data.begin(), m.data.end());
      return data_block(m.slot, m.seq, ok_status(slot), 0, {}, static_cast<std::uint8_t>(kChainMoreExpected));
    case kChainEnds: {
      if (slot.command_chain.empty()) return fail(error::offset_byte8);
      if (slot.command_chain.size() + m.data.size() > kMaxExtendedApdu) return fail(error::offset_length);
      Bytes command = std::move(slot.command_chain);
      slot.command_chain.clear();
      command.insert(command.end(), m.data.begin(), m.data.end());
      return complete_apdu(slot, m, command);
    }
    case kChainMoreExpected:
      if (slot.response_chain.empty()) return fail(error::offset_byte8);
      return next_response_part(slot, m);
    default:
      return fail(error::offset_byte8);
  }
}

Bytes Reader::next_response_part(Slot& slot, const Message& m) {
  const std::size_t room = config_.max_message_length - kHeaderSize;
  const bool first = slot.response_chain.size() > 0 && slot.response_chain_sent == 0;
  const std::size_t part = std::min(room, slot.response_chain.size() - slot.response_chain_sent);
  const auto begin = slot.response_chain.begin() + static_cast<std::ptrdiff_t>(slot.response_chain_sent);
  Bytes data(begin, begin + static_cast<std::ptrdiff_t>(part));
  slot.response_chain_sent += part;
  const bool last = slot.response_chain_sent == slot.response_chain.size();
  std::uint8_t chain = first ? static_cast<std::uint8_t>(kChainBegins)
                             : static_cast<std::uint8_t>(last ? kChainEnds : kChainContinues);
  if (last) {
    slot.response_chain.clear();
    slot.response_chain_sent = 0;
  }
  return data_block(m.slot, m.seq, ok_status(slot), 0, data, chain);
}

// A response APDU to the host: whole, chained at extended APDU level, or an overrun.
Bytes Reader::deliver_response(Slot& slot, const Message& m, Bytes response) {
  if (response.size() + kHeaderSize <= config_.max_message_length)
    return data_block(m.slot, m.seq, ok_status(slot), 0, response);
  if (config_.exchange_level() != ExchangeLevel::extended_apdu)
    return data_block(m.slot, m.seq, failed_status(slot), error::xfr_overrun, {});
  slot.response_chain = std::move(response);
  slot.response_chain_sent = 0;
  return next_response_part(slot, m);
}

Bytes Reader::complete_apdu(Slot& slot, const Message& m, std::span<const std::uint8_t> apdu) {
  slot.pps_allowed = false;
  const cards::ProtocolFaults faults = prepare_exchange(slot);
  if (slot.protocol == 0) {
    const auto outcome = run_t0(slot, apdu, true, faults);
    finish_exchange(slot, true);
    return t0_answer(slot, m, outcome);
  }
  if (!slot.t1_reader) start_protocol(slot);
  // A card asking for more time makes the reader ask the host for it (CCID 6.2.6: bError
  // carries the multiplier while bmCommandStatus says time extension).
  slot.t1_reader->on_wtx([&](std::uint8_t multiplier) {
    time_extensions_.push_back(
        data_block(m.slot, m.seq, status_byte(icc_status(slot), CommandStatus::time_extension), multiplier, {}));
    ++time_extensions_sent_;
  });
  auto* card_side = slot.t1.get();
  const auto result = slot.t1_reader->transmit(apdu, [card_side](std::span<const std::uint8_t> block) {
    return card_side->receive(block);
  });
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
  switch (response.status) {
    case cards::CardStatus::ok:
      return deliver_response(slot, m, std::move(response.data));
    case cards::CardStatus::mute:
      return data_block(m.slot, m.seq, failed_status(slot), error::icc_mute, {});
    case cards::CardStatus::deactivated:
      slot.powered = false;
      return data_block(m.slot, m.seq, failed_status(slot), error::hw_error, {});
  }
  return data_block(m.slot, m.seq, failed_status(slot), error::hw_error, {});
}

}  // namespace readerlab::ccid
