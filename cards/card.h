// The contact interface of an ICC, as the reader sees it.
// Cards know nothing of CCID or USB: a reader activates a card, reads its ATR and
// exchanges APDUs (short APDU exchange level) with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace readerlab::cards {

using Bytes = std::vector<std::uint8_t>;

enum class ResetKind { cold, warm };

// Transmission protocol numbers, ISO 7816-3 8.2.3 (T=0 and T=1 are the two in use).
enum class Protocol : std::uint8_t { t0 = 0, t1 = 1 };

// Outcome of an exchange at the contact interface.
enum class CardStatus {
  ok,          // the card answered
  mute,        // the card sent nothing within the waiting time
  deactivated  // the card is not powered (no activation, or it dropped off)
};

struct CardResponse {
  CardStatus status = CardStatus::ok;
  Bytes data;  // response data followed by SW1 SW2 when status is ok
};

// How a card behaves at the transmission-protocol level, on every exchange (a slow card) or
// once (a fault a script asks for). The T=0 and T=1 card sides and the reader apply it.
struct ProtocolBehaviour {
  unsigned t0_null_bytes = 0;                    // T=0: NULL procedure bytes (60) before each answer
  std::uint8_t t1_wtx_multiplier = 0;            // T=1: S(WTX request) with this multiplier before each answer
  bool t1_crc_windows = false;                   // T=1 with CRC: Windows' CRC-16/ARC instead of ISO/IEC 13239's
  bool t0_envelope = false;                      // T=0: takes Nc above 255 in ENVELOPE chains (cards/t0/t0.h)
  std::chrono::milliseconds processing_time{0};  // real time a command takes, when a scenario asks for it
};

// Misbehaviour for the next exchanges; taken (and so cleared) by the reader that applies it.
struct ProtocolFaults {
  unsigned mute_exchanges = 0;                     // stay silent for the next N exchanges
  unsigned corrupt_edc_blocks = 0;                 // T=1: a wrong EDC on the next N blocks
  unsigned garbage_answers = 0;                    // answer random bytes the next N times
  std::optional<std::uint8_t> wtx_request;         // T=1: ask S(WTX) with this multiplier once
  std::optional<std::uint8_t> bad_procedure_byte;  // T=0: send this instead of a procedure byte once
  bool drop_off = false;                           // deactivate in the middle of the next exchange
  std::chrono::milliseconds delay{0};              // wait this long before the next answer
  bool any() const {
    return mute_exchanges || corrupt_edc_blocks || garbage_answers || wtx_request || bad_procedure_byte || drop_off ||
           delay.count() > 0;
  }
};

class Card {
 public:
  virtual ~Card() = default;

  // Human-readable name of the card (the profile's name).
  virtual std::string name() const = 0;

  // Activation: cold or warm reset (ISO 7816-3 6.2). Returns the ATR bytes in direct
  // convention order as the reader decodes them, or nullopt when the card stays mute.
  virtual std::optional<Bytes> reset(ResetKind kind) = 0;

  // Deactivation (ISO 7816-3 6.4).
  virtual void deactivate() = 0;

  // The protocol the reader selected for the following exchanges (after PPS or by default).
  virtual void select_protocol(Protocol protocol) = 0;

  // One command APDU (ISO 7816-4 5.1) in, one response APDU out.
  virtual CardResponse transmit_apdu(std::span<const std::uint8_t> command) = 0;

  // PPS (ISO 7816-3 9): the card's answer to a request, nullopt when it stays silent. Only
  // the first exchange after the ATR may be a PPS. A card that does not negotiate stays silent.
  virtual std::optional<Bytes> answer_pps(std::span<const std::uint8_t> request) {
    (void)request;
    return std::nullopt;
  }

  virtual ProtocolBehaviour protocol_behaviour() const { return {}; }
  virtual ProtocolFaults take_protocol_faults() { return {}; }
};

}  // namespace readerlab::cards
