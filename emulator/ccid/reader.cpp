// The reader as a USB function: its configuration and descriptors (CCID 5.1), the cards in
// its slots, the bulk and interrupt endpoints and the slot-change notifications (CCID 6.3).
// Messages are answered in dispatch.cpp, the slot commands in slot_commands.cpp, XfrBlock
// per exchange level in exchange_tpdu.cpp, exchange_apdu.cpp and exchange_extended_apdu.cpp,
// and the protocol with the card in card_protocol.cpp.
#include "emulator/ccid/reader.h"

#include "base/bytes.h"

#include "emulator/ccid/exchange_limits.h"

#include <algorithm>
#include <utility>

namespace readerlab::ccid {
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

std::vector<std::uint32_t> ReaderConfig::announced_data_rates() const {
  return data_rates_bps.empty() ? supported_data_rates(default_clock_khz) : data_rates_bps;
}

std::vector<std::uint32_t> ReaderConfig::announced_clock_frequencies() const {
  return clock_frequencies_khz.empty() ? std::vector<std::uint32_t>{default_clock_khz} : clock_frequencies_khz;
}

std::vector<std::uint32_t> supported_data_rates(std::uint32_t clock_khz) {
  // f = 3.58 MHz with the Fi and Di of ISO 7816-3 Tables 7 and 8 a TA1 may name (rate =
  // Di / Fi * f, ISO 7816-3 7.1), so that a host can pick any of them for PPS.
  // Rates below Fd/Dd's are left out: no card needs to go slower than its default.
  std::vector<std::uint32_t> rates;
  const std::uint32_t default_rate = clock_khz * 1000u / 372u;
  for (std::uint32_t fi : {372u, 512u, 558u, 744u, 768u, 1024u, 1116u, 1488u, 1536u, 2048u, 1860u})
    for (std::uint32_t di : {1u, 2u, 4u, 8u, 12u, 16u, 20u, 32u, 64u})
      if (const std::uint32_t rate = clock_khz * 1000u * di / fi; rate >= default_rate) rates.push_back(rate);
  std::sort(rates.begin(), rates.end());
  rates.erase(std::unique(rates.begin(), rates.end()), rates.end());
  return rates;
}

Reader::Reader(ReaderConfig config) { reconfigure(std::move(config)); }

void Reader::reconfigure(ReaderConfig config) {
  config_ = std::move(config);
  if (config_.slot_count == 0) config_.slot_count = 1;
  slots_.resize(config_.slot_count);
  // Another model: no lock, no keypad script, its own clock and classes; a swap under way
  // keeps its card.
  std::vector<SlotControls> controls(config_.slot_count);
  for (std::size_t i = 0; i < controls.size() && i < controls_.size(); ++i) {
    controls[i].incoming = std::move(controls_[i].incoming);
    controls[i].incoming_due = controls_[i].incoming_due;
  }
  controls_ = std::move(controls);
  description_ = {};
  description_.identity = {usb::Speed::full,          0, 0, 0, config_.vendor_id, config_.product_id,
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
  d.push_back(config_.class_descriptor_length.value_or(0x36));     // bLength
  d.push_back(0x21);                                               // bDescriptorType: CCID functional descriptor
  append_le(d, config_.ccid_version_bcd, 2);                       // bcdCCID
  d.push_back(static_cast<std::uint8_t>(config_.slot_count - 1));  // bMaxSlotIndex
  d.push_back(config_.voltage_support);                            // bVoltageSupport
  append_le(d, config_.protocols, 4);                              // dwProtocols
  append_le(d, config_.default_clock_khz, 4);                      // dwDefaultClock (kHz)
  append_le(d, config_.maximum_clock_khz, 4);                      // dwMaximumClock
  const auto clocks = config_.announced_clock_frequencies();
  d.push_back(config_.clock_count.value_or(static_cast<std::uint8_t>(clocks.size())));  // bNumClockSupported
  const auto rates = config_.announced_data_rates();
  append_le(d, config_.data_rate_bps.value_or(rates.front()), 4);                          // dwDataRate (bps)
  append_le(d, config_.max_data_rate_bps.value_or(rates.back()), 4);                       // dwMaxDataRate
  d.push_back(config_.data_rate_count.value_or(static_cast<std::uint8_t>(rates.size())));  // bNumDataRatesSupported
  append_le(d, config_.max_ifsd, 4);                                                       // dwMaxIFSD
  append_le(d, config_.synch_protocols, 4);                                                // dwSynchProtocols
  append_le(d, config_.mechanical, 4);                                                     // dwMechanical
  append_le(d, config_.features, 4);                                                       // dwFeatures
  append_le(d, config_.max_message_length, 4);                                             // dwMaxCCIDMessageLength
  d.push_back(config_.class_get_response);                                                 // bClassGetResponse
  d.push_back(config_.class_envelope);                                                     // bClassEnvelope
  append_le(d, config_.lcd_layout, 2);                                                     // wLcdLayout
  d.push_back(config_.pin_support);                                                        // bPINSupport
  d.push_back(config_.max_busy_slots);                                                     // bMaxCCIDBusySlots
  return d;
}

std::vector<usb::InterfaceInfo> Reader::interfaces() const { return {description_.interfaces.front().info}; }

std::vector<usb::EndpointInfo> Reader::endpoints() const {
  return {
      {kBulkOut, usb::TransferType::bulk, config_.bulk_max_packet, 0, 0},
      {kBulkIn, usb::TransferType::bulk, config_.bulk_max_packet, 0, 0},
      {kInterruptIn, usb::TransferType::interrupt, 8, config_.interrupt_interval_ms, 0},
  };
}

void Reader::insert(std::unique_ptr<cards::Card> card, std::uint8_t slot_index) {
  if (slot_index >= slots_.size() || !card || card_locked(slot_index)) return;
  SlotControls& controls = controls_[slot_index];
  if (controls.incoming) {  // a swap under way: this card goes in instead
    controls.incoming = std::move(card);
    return;
  }
  if (slots_[slot_index].card) {
    (void)remove(slot_index);
    controls.incoming = std::move(card);
    controls.incoming_due.reset();
    // A transport that pushes notifications as they are queued (usbredir) has already read the
    // removal, before the card to come was known: the hand time runs from now, and the
    // transport is told when to look again.
    if (interrupt_in_.empty()) {
      controls.incoming_due = std::chrono::steady_clock::now() + kSwapHandTime;
      notify_in_data_ready(kInterruptIn);
    }
    return;
  }
  place_card(slot_index, std::move(card));
}

void Reader::place_card(std::uint8_t slot_index, std::unique_ptr<cards::Card> card) {
  Slot& slot = slots_[slot_index];
  slot = Slot{};
  controls_[slot_index].clock_stopped = false;
  controls_[slot_index].clock_khz = controls_[slot_index].data_rate_bps = 0;
  slot.card = std::move(card);
  slot.changed = true;
  queue_slot_change();
}

void Reader::complete_swap(std::uint8_t slot_index) {
  SlotControls& controls = controls_[slot_index];
  if (!controls.incoming) return;
  controls.incoming_due.reset();
  place_card(slot_index, std::move(controls.incoming));
}

void Reader::complete_due_swaps(std::chrono::steady_clock::time_point now) {
  for (std::size_t i = 0; i < controls_.size(); ++i)
    if (controls_[i].incoming && controls_[i].incoming_due && *controls_[i].incoming_due <= now)
      complete_swap(static_cast<std::uint8_t>(i));
}

void Reader::on_slot_change_read(const Bytes& message, std::chrono::steady_clock::time_point now) {
  if (message.empty() || message[0] != kNotifySlotChange) return;
  slot_change_read_at_ = now;
  for (std::size_t i = 0; i < controls_.size(); ++i) {
    const std::size_t byte = 1 + i / 4, bit = (i % 4) * 2;  // CCID 6.3.1: two bits a slot
    const bool reported_absent = byte < message.size() && ((message[byte] >> bit) & 0x01) == 0;
    if (controls_[i].incoming && !controls_[i].incoming_due && reported_absent)
      controls_[i].incoming_due = now + kSwapHandTime;
  }
}

std::unique_ptr<cards::Card> Reader::remove(std::uint8_t slot_index) {
  // The card of a swap under way has not gone in yet: it is taken back as it is.
  if (slot_index < controls_.size() && controls_[slot_index].incoming) {
    controls_[slot_index].incoming_due.reset();
    return std::move(controls_[slot_index].incoming);
  }
  if (slot_index >= slots_.size() || !slots_[slot_index].card || card_locked(slot_index)) return nullptr;
  Slot& slot = slots_[slot_index];
  slot.card->deactivate();
  auto card = std::move(slot.card);
  slot = Slot{};
  controls_[slot_index].clock_stopped = false;
  controls_[slot_index].clock_khz = controls_[slot_index].data_rate_bps = 0;
  slot.changed = true;
  abort_held_answer(slot_index);
  queue_slot_change();
  return card;
}

// A card pulled out while it still works on a command never answers: the reader gives up on it
// at once and reports the slot empty (bmICCStatus 2, bmCommandStatus 1, ICC_MUTE; CCID 6.2.6).
// An answer a late fault holds is the reader's, not the card's: it stays as it is.
void Reader::abort_held_answer(std::uint8_t slot_index) {
  bool aborted = false;
  const auto now = std::chrono::steady_clock::now();
  for (auto& held : held_answers_) {
    if (!held.waits_for_card || held.bytes.size() < kHeaderSize || held.bytes[5] != slot_index) continue;
    const std::uint8_t status = status_byte(IccStatus::absent, CommandStatus::failed);
    held.bytes = failure_answer(held.bytes[0], held.bytes[5], held.bytes[6], status, error::icc_mute);
    held.ready_at = now;
    held.waits_for_card = false;
    aborted = true;
  }
  if (!aborted) return;
  release_held_answers(now);
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
  Bytes message =
      notify_slot_change(std::span<const bool>(present, slots_.size()), std::span<const bool>(changed, slots_.size()));
  if (drop_slot_change(message)) return;
  queue_notification(std::move(message));
}

namespace {

// Whether `pending` reports a slot emptied (present 0, changed 1) that `next` reports present.
bool hides_removal(const Bytes& pending, const Bytes& next) {
  for (std::size_t byte = 1; byte < pending.size() && byte < next.size(); ++byte)
    for (unsigned bit = 0; bit < 8; bit += 2) {
      const bool removed = ((pending[byte] >> bit) & 0x03) == 0x02;
      const bool present = ((next[byte] >> bit) & 0x01) != 0;
      if (removed && present) return true;
    }
  return false;
}

}  // namespace

void Reader::queue_notification(Bytes message) {
  // A notification not yet read is replaced: its change bits carry over (CCID 6.3.1 reports
  // every change since the last report). A hardware error in between is a message of its own,
  // and so is a card's arrival after an unread removal: merged, the host would read "present,
  // changed" and could keep the card it knew (a swap).
  if (message.at(0) == kNotifySlotChange && !interrupt_in_.empty() && interrupt_in_.back().at(0) == kNotifySlotChange &&
      !hides_removal(interrupt_in_.back(), message)) {
    Bytes& pending = interrupt_in_.back();
    for (std::size_t i = 1; i < message.size() && i < pending.size(); ++i)
      message[i] = static_cast<std::uint8_t>(message[i] | (pending[i] & 0xAA));
    pending = std::move(message);
  } else {
    interrupt_in_.push_back(std::move(message));
  }
  notify_in_data_ready(kInterruptIn);
}

void Reader::handle_bus_reset() {
  // A swap under way ends: its card is in when the host looks again.
  for (std::size_t i = 0; i < controls_.size(); ++i) complete_swap(static_cast<std::uint8_t>(i));
  bulk_in_.clear();
  held_answers_.clear();
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

usb::ControlResult Reader::handle_control(const usb::SetupPacket& setup, std::span<const std::uint8_t>) {
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
      case kRequestAbort: return {};
      case kRequestGetClockFrequencies: {
        Bytes out;
        for (auto clock : config_.announced_clock_frequencies()) append_le(out, clock, 4);
        if (out.size() > setup.length) out.resize(setup.length);
        return {usb::TransferStatus::ok, out};
      }
      case kRequestGetDataRates: {
        Bytes out;
        for (auto rate : config_.announced_data_rates()) append_le(out, rate, 4);
        if (out.size() > setup.length) out.resize(setup.length);
        return {usb::TransferStatus::ok, out};
      }
      default: break;
    }
  }
  return {usb::TransferStatus::stall, {}};
}

usb::TransferStatus Reader::handle_transfer_out(std::uint8_t endpoint, std::span<const std::uint8_t> data) {
  if (endpoint != kBulkOut) return usb::TransferStatus::stall;
  Bytes answer = handle_message(data);
  // Time extensions go out at once; the answer waits while the card (or a late fault) takes its
  // time. Whatever waits already keeps its place in front.
  for (auto& interim : take_time_extensions()) queue_bulk_in(std::move(interim), std::chrono::milliseconds(0), false);
  for (std::size_t copy = 0; copy < answer_copies_; ++copy)
    queue_bulk_in(answer, answer_delay_ + answer_late_by_, answer_delay_.count() > 0);
  notify_in_data_ready(kBulkIn);
  return usb::TransferStatus::ok;
}

void Reader::queue_bulk_in(Bytes message, std::chrono::milliseconds delay, bool waits_for_card) {
  // An answer ready now passes the answers held only for slow cards in other slots: a
  // multi-slot reader works on its slots side by side (CCID 5.1 bMaxCCIDBusySlots). Answers a
  // late fault holds, and those of the same slot, keep their order.
  const bool passes_held = std::all_of(held_answers_.begin(), held_answers_.end(), [&](const HeldAnswer& held) {
    return held.waits_for_card && held.bytes.size() >= kHeaderSize && message.size() >= kHeaderSize &&
           held.bytes[5] != message[5];
  });
  if (delay.count() <= 0 && passes_held) {
    bulk_in_.push_back(std::move(message));
    return;
  }
  auto ready_at = std::chrono::steady_clock::now() + delay;
  // Sent in order: never before an answer held in front of it.
  if (!held_answers_.empty()) ready_at = std::max(ready_at, held_answers_.back().ready_at);
  held_answers_.push_back({std::move(message), ready_at, waits_for_card});
}

void Reader::release_held_answers(std::chrono::steady_clock::time_point now) {
  while (!held_answers_.empty() && held_answers_.front().ready_at <= now) {
    bulk_in_.push_back(std::move(held_answers_.front().bytes));
    held_answers_.pop_front();
  }
}

std::optional<usb::Device::InResult> Reader::handle_transfer_in(std::uint8_t endpoint, std::size_t max_length) {
  std::deque<Bytes>* queue = nullptr;
  if (endpoint == kBulkIn) {
    queue = &bulk_in_;
    release_held_answers(std::chrono::steady_clock::now());
  } else if (endpoint == kInterruptIn) {
    queue = &interrupt_in_;
    complete_due_swaps(std::chrono::steady_clock::now());
  } else {
    return InResult{usb::TransferStatus::stall, {}};
  }
  if (queue->empty()) return std::nullopt;
  Bytes& front = queue->front();
  InResult result;
  if (front.size() <= max_length) {
    result.data = std::move(front);
    queue->pop_front();
    if (endpoint == kInterruptIn) on_slot_change_read(result.data, std::chrono::steady_clock::now());
  } else {
    // The host reads a long message in several transfers.
    result.data.assign(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(max_length));
    front.erase(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(max_length));
  }
  return result;
}

std::optional<std::chrono::steady_clock::time_point> Reader::in_ready_at(std::uint8_t endpoint) const {
  if (endpoint == kInterruptIn && interrupt_in_.empty()) {  // a swap's card goes in then
    std::optional<std::chrono::steady_clock::time_point> due;
    for (const auto& controls : controls_)
      if (controls.incoming && controls.incoming_due && (!due || *controls.incoming_due < *due))
        due = controls.incoming_due;
    return due;
  }
  if (endpoint != kBulkIn || !bulk_in_.empty() || held_answers_.empty()) return std::nullopt;
  return held_answers_.front().ready_at;
}

}  // namespace readerlab::ccid
