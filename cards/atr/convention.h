// Direct and inverse convention of the characters on the I/O line, ISO 7816-3 8.1.
//
// The card model and the engines work with logical byte values. On the wire a direct
// convention card sends each byte LSB first with high = 1; an inverse convention card sends
// it MSB first with low = 1. Seen by a receiver decoding the direct way, an inverse byte is
// therefore bit-inverted and bit-reversed: TS 3F arrives as 03. The transform is its own
// inverse, so the same function encodes and decodes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "cards/card.h"

namespace readerlab::cards {

enum class Convention { direct, inverse };

// The logical value <-> the direct-decoded wire value of one inverse-convention byte.
std::uint8_t invert_and_reverse(std::uint8_t byte);

// Logical bytes to what the line carries (read as direct convention), and back.
Bytes to_wire(std::span<const std::uint8_t> logical, Convention convention);
Bytes from_wire(std::span<const std::uint8_t> wire, Convention convention);

// The convention announced by the first character as received with direct decoding:
// 3B direct, 03 inverse (TS 3F), ISO 7816-3 8.1; nullopt for anything else.
std::optional<Convention> convention_of_wire_ts(std::uint8_t first_wire_byte);

// The convention of an ATR as Card::reset returns it (TS already decoded: 3B or 3F).
std::optional<Convention> convention_of_atr(std::span<const std::uint8_t> atr);

}  // namespace readerlab::cards
