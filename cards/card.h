// The contact interface of an ICC, as the reader sees it.
// Cards know nothing of CCID or USB: a reader activates a card, reads its ATR and
// exchanges APDUs (short APDU exchange level) with it.
#pragma once

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
};

}  // namespace readerlab::cards
