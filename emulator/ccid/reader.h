// A USB CCID reader (CCID rev 1.1) working at one of three exchange levels (TPDU, short APDU,
// extended APDU): the USB function, its descriptors, the slot state machines and the
// notifications on the interrupt endpoint.
#pragma once

#include "cards/atr/atr.h"
#include "cards/atr/convention.h"
#include "cards/card.h"
#include "cards/t0/t0.h"
#include "cards/t1/card_side.h"
#include "cards/t1/interface_side.h"
#include "emulator/ccid/faults.h"
#include "emulator/ccid/messages.h"
#include "emulator/usb/descriptors.h"
#include "emulator/usb/device.h"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace readerlab::ccid {

// CCID 5.1 dwFeatures bits.
namespace feature {
inline constexpr std::uint32_t auto_parameters_from_atr = 0x00000002;
inline constexpr std::uint32_t auto_voltage = 0x00000008;
inline constexpr std::uint32_t auto_clock = 0x00000010;
inline constexpr std::uint32_t auto_baud_rate = 0x00000020;
inline constexpr std::uint32_t auto_parameter_negotiation = 0x00000040;
inline constexpr std::uint32_t tpdu_level = 0x00010000;
inline constexpr std::uint32_t short_apdu_level = 0x00020000;
inline constexpr std::uint32_t extended_apdu_level = 0x00040000;
inline constexpr std::uint32_t exchange_level_mask = 0x00070000;
}  // namespace feature

// CCID 5.1 dwFeatures: who runs the transmission protocol. At TPDU level the host driver
// does (T=1 blocks, T=0 TPDUs, PPS); at APDU level the reader does.
enum class ExchangeLevel { tpdu, short_apdu, extended_apdu };
const char* to_string(ExchangeLevel level);

struct ReaderConfig {
  // pid.codes' test product ID under the open-source vendor ID 0x1209: ours to use for a
  // virtual device that never ships as hardware.
  std::uint16_t vendor_id = 0x1209;
  std::uint16_t product_id = 0x0001;
  std::uint16_t device_version_bcd = 0x0100;
  std::string manufacturer = "readerlab";
  std::string product = "Virtual CCID Reader";
  std::string serial_number = "RL0001";
  std::uint8_t slot_count = 1;
  std::uint32_t features = feature::auto_parameters_from_atr | feature::auto_voltage | feature::auto_clock |
                           feature::auto_baud_rate | feature::auto_parameter_negotiation | feature::short_apdu_level;
  // Header plus a short APDU response of 256 data bytes and SW1 SW2, with room to spare (CCID 5.1).
  std::uint32_t max_message_length = 271;
  std::uint8_t interrupt_interval_ms = 10;
  // Answer after the time a card says a command takes (ProtocolBehaviour::processing_time).
  // Off by default: the emulator answers as fast as it can unless a scenario asks for time.
  bool card_timing = false;
  // The run's seed: the bytes of the garbage answers a card asks for (T=1) come from it.
  std::uint64_t seed = 1;
  // Malformed descriptors, as a broken reader's firmware has them (issue 11): a class
  // descriptor whose bLength says this (the 54 bytes are sent all the same), and dwMaxIFSD
  // (0 allowed, though CCID 5.1 asks for at least 1). A max_message_length below what the
  // exchange level needs is allowed too: the reader then refuses what does not fit (CCID 6.2.6).
  std::optional<std::uint8_t> class_descriptor_length;
  std::uint32_t max_ifsd = 254;

  // The rest of the CCID 5.1 class descriptor, as a reader model (a profile) has it. The defaults
  // are readerlab's own reader.
  std::uint16_t ccid_version_bcd = 0x0110;  // bcdCCID 1.10
  std::uint8_t voltage_support = 0x07;      // bVoltageSupport: 5.0 V, 3.0 V, 1.8 V
  std::uint32_t protocols = 0x00000003;     // dwProtocols: T=0 and T=1
  std::uint32_t default_clock_khz = 3580;   // dwDefaultClock (kDefaultClockKhz)
  std::uint32_t maximum_clock_khz = 3580;   // dwMaximumClock
  // The answers to GET_CLOCK_FREQUENCIES and GET_DATA_RATES (CCID 5.3.2, 5.3.3); empty: the
  // default clock alone, and the rates ISO 7816-3's Fi/Di give at that clock.
  std::vector<std::uint32_t> clock_frequencies_khz;
  std::vector<std::uint32_t> data_rates_bps;
  // Descriptor fields a real reader's dump may give apart from its lists (bNumClockSupported 0
  // with a list, a dwDataRate that is not the list's lowest); unset: taken from the lists.
  std::optional<std::uint8_t> clock_count;
  std::optional<std::uint8_t> data_rate_count;
  std::optional<std::uint32_t> data_rate_bps;
  std::optional<std::uint32_t> max_data_rate_bps;
  std::uint32_t synch_protocols = 0;       // dwSynchProtocols
  std::uint32_t mechanical = 0;            // dwMechanical: bit 0 accept, 1 eject, 2 capture, 3 lock
  std::uint8_t class_get_response = 0xFF;  // bClassGetResponse: 0xFF echoes the APDU's class
  std::uint8_t class_envelope = 0xFF;      // bClassEnvelope
  std::uint16_t lcd_layout = 0;            // wLcdLayout: lines << 8 | characters per line; 0 none
  std::uint8_t pin_support = 0;            // bPINSupport: bit 0 verification, bit 1 modification
  // A PIN-pad firmware quirk: at modification the structure always holds bMsgIndex1, 2 and 3,
  // whatever bNumberMessage says (CCID 6.1.11 has bMsgIndex2 only when bNumberMessage is not 0
  // and bMsgIndex3 only when it is 3). libccid sends that layout to the SPR532, the Cherry
  // ST-2000 and Gemalto pads with the modify-PIN bug, because their firmware reads it.
  bool pin_modify_every_message_index = false;
  // Firmware quirks of the Dell SK-3106 keyboard's pad, as libccid works around them: it reads
  // wPINMaxExtraDigit's two bytes the other way round (minimum in the low byte), and refuses
  // any bNumberMessage but 00 (no message).
  bool pin_max_extra_digit_reversed = false;
  bool pin_only_without_messages = false;
  std::uint8_t max_busy_slots = 1;     // bMaxCCIDBusySlots
  std::uint16_t bulk_max_packet = 64;  // wMaxPacketSize of both bulk endpoints (full speed)

  bool operator==(const ReaderConfig&) const = default;

  // The data rates the reader announces and answers GET_DATA_RATES with.
  std::vector<std::uint32_t> announced_data_rates() const;
  std::vector<std::uint32_t> announced_clock_frequencies() const;

  ExchangeLevel exchange_level() const;
  // Sets the dwFeatures level bits and a dwMaxCCIDMessageLength that suits the level.
  void set_exchange_level(ExchangeLevel level);
};

// Endpoint addresses of the reader's single interface.
inline constexpr std::uint8_t kBulkOut = 0x01;
inline constexpr std::uint8_t kBulkIn = 0x82;
inline constexpr std::uint8_t kInterruptIn = 0x83;

// CCID 5.3 class-specific requests.
inline constexpr std::uint8_t kRequestAbort = 0x01;
inline constexpr std::uint8_t kRequestGetClockFrequencies = 0x02;
inline constexpr std::uint8_t kRequestGetDataRates = 0x03;

// What the PIN pad's user does when PC_to_RDR_Secure asks for a PIN (CCID 6.1.11), scripted per
// slot by a case or a reader profile. A slot with no script: nobody types, the entry times out.
struct KeypadScript {
  std::string digits;      // the PIN typed ('0'-'9'); at modification the current PIN
  std::string new_digits;  // modification: the new PIN
  // modification: the new PIN typed again when the structure asks for a confirmation; unset:
  // the same as new_digits
  std::optional<std::string> confirm_digits;
  bool confirm = true;   // the OK key follows the digits (else the entry ends only by its conditions)
  bool timeout = false;  // the user walks away: PIN_TIMEOUT (CCID 6.2.6)
  bool cancel = false;   // the Cancel key: PIN_CANCELLED (CCID 6.2.6)

  bool operator==(const KeypadScript&) const = default;
};

// A vendor's answer to PC_to_RDR_Escape's abData (CCID 6.1.8); nullopt: not supported.
using EscapeHandler = std::function<std::optional<std::vector<std::uint8_t>>(std::span<const std::uint8_t>)>;

// One message seen at the bulk endpoints, for traces and tests.
struct TraceEvent {
  bool to_reader = true;
  Bytes bytes;
};

class Reader : public usb::Device {
 public:
  explicit Reader(ReaderConfig config = {});

  // Gives the reader other descriptors and behaviour, as if another reader model were
  // plugged in: only while no host uses it (unplugged); cards stay in their slots.
  void reconfigure(ReaderConfig config);

  const ReaderConfig& config() const { return config_; }
  const usb::DeviceDescription& description() const { return description_; }
  Bytes class_descriptor() const;

  // The PIN pad's user of a slot, for the PC_to_RDR_Secure commands to come (more_commands.cpp).
  void set_keypad(std::uint8_t slot, KeypadScript script);
  // PC_to_RDR_Escape's handler (more_commands.cpp); none: CMD_NOT_SUPPORTED.
  void set_escape_handler(EscapeHandler handler) { escape_handler_ = std::move(handler); }

  // Contact-level events, driven by scenarios. Inserting into an occupied slot is a swap: the
  // card in it comes out (a slot change) and the new one goes in (another one) once the host
  // has seen the slot empty: a bulk answer about the slot, or kSwapHandTime after the host read
  // the removal's notification. A slot locked by Mechanical keeps its card: insert and remove
  // do nothing there.
  void insert(std::unique_ptr<cards::Card> card, std::uint8_t slot = 0);
  std::unique_ptr<cards::Card> remove(std::uint8_t slot = 0);
  bool card_present(std::uint8_t slot = 0) const;
  // Locked in by PC_to_RDR_Mechanical (CCID 6.1.12): remove() leaves it where it is.
  bool card_locked(std::uint8_t slot = 0) const;
  bool card_powered(std::uint8_t slot = 0) const;
  cards::Card* card(std::uint8_t slot = 0);
  // The transmission protocol in force (0 T=0, 1 T=1) and its CCID 6.1.7 parameters; the
  // first parameter byte is the Fi/Di in use (TA1 coding).
  std::uint8_t protocol(std::uint8_t slot = 0) const { return slot < slots_.size() ? slots_[slot].protocol : 0; }
  Bytes protocol_data(std::uint8_t slot = 0) const {
    return slot < slots_.size() ? slots_[slot].protocol_data : Bytes{};
  }
  std::uint64_t time_extensions_sent() const { return time_extensions_sent_; }
  std::uint64_t pps_exchanges() const { return pps_exchanges_; }
  // A slot change the host has not read from the interrupt endpoint yet.
  bool notification_pending() const { return !interrupt_in_.empty(); }
  // When the host last read a slot change, and when it last configured the device (SET_CONFIGURATION
  // other than 0); the epoch when it has not. A scenario paces its hands by them.
  std::chrono::steady_clock::time_point slot_change_read_at() const { return slot_change_read_at_; }
  std::chrono::steady_clock::time_point configured_at() const { return configured_at_; }

  void on_trace(std::function<void(const TraceEvent&)> handler) { trace_ = std::move(handler); }
  std::uint64_t commands_handled() const { return commands_handled_; }

  // Handles one PC_to_RDR message and returns the RDR_to_PC answer (also used in-process).
  // A slow card's time-extension messages (CCID 6.2.6, bmCommandStatus 2) come before the
  // answer on the bulk-IN endpoint; take_time_extensions() hands them to in-process callers.
  Bytes handle_message(std::span<const std::uint8_t> message);
  std::vector<Bytes> take_time_extensions();

  // Faults at the CCID message level (faults.cpp): each armed fault asks its trigger at every
  // event of its kind (an answer to its command type, or a slot change) and, when it fires,
  // changes what the host sees and writes a firing (level "ccid") to the device's fault log.
  // In-process callers of handle_message see a changed answer (an empty one for no-response);
  // the bulk-IN queue that the transfer functions serve also shows duplicates and late answers.
  void arm_ccid_fault(const Fault& fault, std::uint64_t seed, std::size_t fault_index);
  void clear_ccid_faults();

  // usb::Device
  usb::DeviceIdentity identity() const override { return description_.identity; }
  std::vector<usb::InterfaceInfo> interfaces() const override;
  std::vector<usb::EndpointInfo> endpoints() const override;
  std::optional<std::chrono::steady_clock::time_point> in_ready_at(std::uint8_t endpoint) const override;
  std::uint8_t configuration() const override { return configuration_; }

 protected:
  usb::ControlResult handle_control(const usb::SetupPacket& setup, std::span<const std::uint8_t> out_data) override;
  usb::TransferStatus handle_transfer_out(std::uint8_t endpoint, std::span<const std::uint8_t> data) override;
  std::optional<InResult> handle_transfer_in(std::uint8_t endpoint, std::size_t max_length) override;
  void handle_set_configuration(std::uint8_t value) override {
    configuration_ = value;
    if (value != 0) configured_at_ = std::chrono::steady_clock::now();
  }
  void handle_bus_reset() override;

 private:
  struct Slot {
    std::unique_ptr<cards::Card> card;
    bool powered = false;
    Bytes atr;
    cards::Atr atr_fields;      // slot.atr decoded once at activation (defaults if it is malformed)
    std::uint8_t protocol = 0;  // bProtocolNum: 0 T=0, 1 T=1
    Bytes protocol_data;        // abProtocolData of CCID 6.1.7
    bool changed = false;       // a change not yet reported on the interrupt endpoint
    Bytes command_chain;        // extended APDU level: a command arriving in several XfrBlocks
    Bytes response_chain;       // extended APDU level: a response sent in several DataBlocks
    std::size_t response_chain_sent = 0;
    // The card's side of T=1: fed the host driver's blocks at TPDU level, the reader's own
    // blocks (t1_reader) at APDU level.
    std::unique_ptr<cards::t1::CardSide> t1;
    std::unique_ptr<cards::t1::InterfaceSide> t1_reader;
    cards::Convention convention = cards::Convention::direct;
    cards::t0::EnvelopeState t0_envelope;  // the T=0 card's ENVELOPE chain between exchanges
    // Only the first exchange after the ATR may be a PPS (ISO 7816-3 9.1).
    bool pps_allowed = false;
    // Faults a card asked for during an exchange, for the next one (its delay applies at once).
    cards::ProtocolFaults pending_faults;
  };

  // What survives a card's removal in a slot: the PIN pad's script, the clock and the lock
  // (more_commands.cpp).
  struct SlotControls {
    std::optional<KeypadScript> keypad;
    bool clock_stopped = false;  // PC_to_RDR_IccClock
    bool locked = false;         // PC_to_RDR_Mechanical lock: the rig cannot pull the card
    // PC_to_RDR_T0APDU (CCID 6.1.10): the classes the reader uses for GET RESPONSE and
    // ENVELOPE at APDU level, as set by the host (none: bClassGetResponse/bClassEnvelope).
    std::optional<std::uint8_t> class_get_response;
    std::optional<std::uint8_t> class_envelope;
    // PC_to_RDR_SetDataRateAndClockFrequency: in force until the card leaves.
    std::uint32_t clock_khz = 0;
    std::uint32_t data_rate_bps = 0;
    // A card inserted while another was in (a swap): the first one came out, and this one goes
    // in once the host has seen the slot empty (reader.cpp).
    std::unique_ptr<cards::Card> incoming;
    std::optional<std::chrono::steady_clock::time_point> incoming_due;  // set when the removal was read
  };

  // The message dispatch (dispatch.cpp).
  IccStatus icc_status(const Slot& slot) const;
  std::uint8_t ok_status(const Slot& slot) const;
  std::uint8_t failed_status(const Slot& slot) const;
  Bytes answer_message(std::span<const std::uint8_t> bytes);
  Bytes dispatch_message(std::span<const std::uint8_t> bytes);
  Bytes dispatch(Slot& slot, const Message& m);
  Bytes xfr_block(Slot& slot, const Message& m);
  Bytes failure(std::uint8_t type, std::uint8_t slot, std::uint8_t seq, std::uint8_t status, std::uint8_t error) const;
  Bytes failure_answer(std::uint8_t response_type, std::uint8_t slot, std::uint8_t seq, std::uint8_t status,
                       std::uint8_t error) const;

  // The slot commands: power and protocol parameters (slot_commands.cpp).
  Bytes power_on(Slot& slot, const Message& m);
  Bytes power_off(Slot& slot, const Message& m);
  void negotiate_pps(Slot& slot);
  std::optional<std::uint8_t> offered_fi_di(std::uint8_t card_fi_di) const;
  void reset_parameters_from_atr(Slot& slot);
  Bytes get_parameters(Slot& slot, const Message& m);
  Bytes reset_parameters(Slot& slot, const Message& m);
  Bytes set_parameters(Slot& slot, const Message& m);
  Bytes parameters_answer(const Slot& slot, const Message& m, std::uint8_t status, std::uint8_t error) const;

  // The other CCID 1.1 commands (more_commands.cpp).
  Bytes escape(Slot& slot, const Message& m);
  Bytes icc_clock(Slot& slot, const Message& m);
  Bytes t0_apdu(Slot& slot, const Message& m);
  Bytes set_data_rate_and_clock(Slot& slot, const Message& m);
  Bytes mechanical(Slot& slot, const Message& m);
  Bytes secure(Slot& slot, const Message& m);
  // One command APDU of the reader's own (a PIN pad's VERIFY) through the slot's protocol at
  // whatever exchange level; the card's response APDU or the failed answer.
  Bytes send_reader_apdu(Slot& slot, const Message& m, std::span<const std::uint8_t> apdu,
                         std::span<const std::uint8_t> t1_prologue);
  std::uint8_t clock_status(std::uint8_t slot_index) const;
  std::uint8_t get_response_class(std::uint8_t slot_index) const;
  std::uint8_t envelope_class(std::uint8_t slot_index) const;

  // The protocol with the card, whatever the exchange level (card_protocol.cpp).
  void start_protocol(Slot& slot);
  cards::ProtocolFaults prepare_exchange(Slot& slot);
  void finish_exchange(Slot& slot, bool command_processed);
  cards::t0::Result run_t0(Slot& slot, std::span<const std::uint8_t> bytes, bool whole_apdu,
                           const cards::ProtocolFaults& faults);
  Bytes t0_answer(Slot& slot, const Message& m, const cards::t0::Result& outcome);

  // Character / TPDU level (exchange_tpdu.cpp).
  Bytes tpdu_xfr_block(Slot& slot, const Message& m);
  Bytes t1_block_exchange(Slot& slot, const Message& m);
  Bytes t0_tpdu_exchange(Slot& slot, const Message& m, const cards::ProtocolFaults& faults);
  Bytes pps_exchange(Slot& slot, const Message& m);

  // Short APDU level and the APDU exchange both APDU levels share (exchange_apdu.cpp).
  Bytes short_apdu_xfr_block(Slot& slot, const Message& m);
  Bytes complete_apdu(Slot& slot, const Message& m, std::span<const std::uint8_t> apdu);
  cards::CardResponse transmit_t1(Slot& slot, const Message& m, std::span<const std::uint8_t> apdu);
  Bytes deliver_response(Slot& slot, const Message& m, Bytes response);

  // Extended APDU level: command and response chains (exchange_extended_apdu.cpp).
  Bytes extended_xfr_block(Slot& slot, const Message& m);
  Bytes chain_failure(Slot& slot, const Message& m, std::uint8_t code);
  Bytes add_to_command_chain(Slot& slot, const Message& m, bool begins);
  Bytes end_command_chain(Slot& slot, const Message& m);
  Bytes start_response_chain(Slot& slot, const Message& m, Bytes response);
  Bytes next_response_part(Slot& slot, const Message& m);

  // CCID message faults (faults.cpp).
  struct ArmedFault {
    Fault fault;
    faults::ArmedTrigger trigger;
    std::size_t index = 0;
  };
  // The faults that fire on the answer to this command: asked once each, in arming order.
  std::vector<const ArmedFault*> fire_answer_faults(std::span<const std::uint8_t> command);
  // An answer instead of running the command (error, hardware-error), or nullopt.
  std::optional<Bytes> replace_command(const ArmedFault& armed, std::span<const std::uint8_t> command);
  void change_answer(const ArmedFault& armed, std::span<const std::uint8_t> command, Bytes& answer);
  // Whether an armed fault drops this slot change report (missing-slot-change).
  bool drop_slot_change(const Bytes& report);
  void record_ccid_firing(const ArmedFault& armed, std::string detail);

  // The USB function (reader.cpp).
  void abort_held_answer(std::uint8_t slot_index);
  void queue_slot_change();
  void place_card(std::uint8_t slot_index, std::unique_ptr<cards::Card> card);
  // A swap's second half: the incoming card goes in (a slot change of its own).
  void complete_swap(std::uint8_t slot_index);
  void complete_due_swaps(std::chrono::steady_clock::time_point now);
  // The host read a NotifySlotChange: a swap's removal it reports starts the swap's hand time.
  void on_slot_change_read(const Bytes& message, std::chrono::steady_clock::time_point now);
  // An interrupt-IN message; a NotifySlotChange merges into one the host has not read yet.
  void queue_notification(Bytes message);
  void queue_bulk_in(Bytes message, std::chrono::milliseconds delay, bool waits_for_card);
  void release_held_answers(std::chrono::steady_clock::time_point now);

  ReaderConfig config_;
  usb::DeviceDescription description_;
  std::vector<Slot> slots_;
  std::vector<SlotControls> controls_;  // one per slot
  EscapeHandler escape_handler_;
  std::uint8_t configuration_ = 0;
  std::chrono::steady_clock::time_point configured_at_{};
  std::chrono::steady_clock::time_point slot_change_read_at_{};
  std::deque<Bytes> bulk_in_;
  std::deque<Bytes> interrupt_in_;
  std::function<void(const TraceEvent&)> trace_;
  std::uint64_t commands_handled_ = 0;
  std::vector<Bytes> time_extensions_;
  std::chrono::milliseconds answer_delay_{0};    // the card's time for the message being handled
  std::chrono::milliseconds answer_late_by_{0};  // a late fault's, for the message being handled
  std::size_t answer_copies_ = 1;                // 0: no-response, 2: duplicate
  // Answers held back for time (a slow card, a late fault), sent in order when their time comes.
  struct HeldAnswer {
    Bytes bytes;
    std::chrono::steady_clock::time_point ready_at;
    bool waits_for_card = false;  // a removal ends the wait with ICC_MUTE
  };
  std::deque<HeldAnswer> held_answers_;
  std::vector<ArmedFault> ccid_faults_;
  std::uint64_t time_extensions_sent_ = 0;
  std::uint64_t pps_exchanges_ = 0;
};

// How long a hand takes to put another card in during a swap, when the host does not ask the
// slot's status in between.
inline constexpr std::chrono::milliseconds kSwapHandTime{300};

// The data rates and clock frequencies the reader advertises (CCID 5.1, 5.3.2, 5.3.3).
inline constexpr std::uint32_t kDefaultClockKhz = 3580;
std::vector<std::uint32_t> supported_data_rates(std::uint32_t clock_khz = kDefaultClockKhz);

}  // namespace readerlab::ccid
