// Protocol and parameters selection, ISO 7816-3 section 9: the request/response codec, the
// card's answer by the rules, and the interface device's check of that answer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "cards/atr/atr.h"
#include "cards/card.h"

namespace readerlab::cards {

enum class PpsError {
  none,
  bad_ppss,       // the first byte is not FF, ISO 7816-3 9.2
  reserved_bit,   // PPS0 b8 is reserved and must be 0, ISO 7816-3 9.2
  truncated,      // fewer bytes than PPS0 announces (or no PCK)
  wrong_pck,      // the XOR of PPSS..PCK is not 00, ISO 7816-3 9.2
  trailing_bytes  // bytes after PCK
};

std::string to_string(PpsError error);

// A PPS request or response. `protocol` is PPS0 b4-b1; the optional bytes are present
// exactly when PPS0 b5, b6, b7 say so.
struct Pps {
  std::uint8_t protocol = 0;
  std::optional<std::uint8_t> pps1;  // Fi (b8-b5) and Di (b4-b1), coded as TA1
  std::optional<std::uint8_t> pps2;  // SPU use, ISO 7816-3 9.2
  std::optional<std::uint8_t> pps3;  // RFU
  bool operator==(const Pps&) const = default;
};

struct PpsParseResult {
  std::optional<Pps> pps;
  PpsError error = PpsError::none;
  std::size_t offset = 0;  // the offending byte (bytes.size() when bytes are missing)
};

PpsParseResult parse_pps(std::span<const std::uint8_t> bytes);

// PPSS PPS0 [PPS1] [PPS2] [PPS3] PCK with PCK computed. Protocol values above 15 are masked.
Bytes build_pps(const Pps& pps);

// How a card answers a well-formed PPS request it could honour.
enum class PpsReaction {
  accept,   // echo what it supports, ISO 7816-3 9.3 (PPS1 within TA1's range is echoed)
  decline,  // answer the protocol but omit PPS1: the exchange goes on with Fd and Dd
  silent    // never answer: the interface device times out and deactivates
};

// The parameters in force after a successful exchange.
struct NegotiatedParameters {
  std::uint8_t protocol = 0;
  std::uint8_t fi_di = 0x11;  // Fd=372 Dd=1 when PPS1 was not echoed, ISO 7816-3 9.3
  bool operator==(const NegotiatedParameters&) const = default;
};

struct PpsCardAnswer {
  std::optional<Bytes> response;               // nullopt: the card stays silent
  std::optional<NegotiatedParameters> agreed;  // set exactly when a response is sent
};

// The card side, ISO 7816-3 9.3: no answer to a malformed request, to a protocol the ATR does
// not offer, or in specific mode (TA2 present: the card does not negotiate); otherwise PPS0's
// protocol is echoed, PPS1 echoed when its F lies in Fd..Fi and its D in Dd..Di of TA1 (else
// omitted), PPS2 and PPS3 omitted (no SPU use, RFU).
PpsCardAnswer answer_pps_request(const Atr& atr, PpsReaction reaction, std::span<const std::uint8_t> request);

// The interface device side, ISO 7816-3 9.3: the parameters to use when `response` is a
// successful answer to `request`, nullopt when the exchange failed (the reader deactivates).
std::optional<NegotiatedParameters> pps_outcome(const Pps& request, std::span<const std::uint8_t> response);

}  // namespace readerlab::cards
