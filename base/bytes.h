// Bytes as the whole host side writes and reads them: hex text both ways, and printing.
// Hex text is pairs of digits 0-9 A-F (either case); blanks may stand between bytes, never
// inside one. Output is upper case.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace readerlab {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Appends the `width` low-order bytes of `value`, least significant first: the byte order of USB,
// CCID and pcap fields.
void append_le(Bytes& out, std::uint64_t value, std::size_t width);

// Hex text to bytes; nullopt when a character is not a digit or blank, or a byte is cut.
std::optional<Bytes> parse_hex(std::string_view text);

// The same, with the reason and the offending column, for messages a user reads.
Expected<Bytes> read_hex(std::string_view text);

enum class HexCase { upper, lower };

// "3B0214" with no separator; "3B 02 14" with separator " "; "3b0214" in lower case (the agent
// protocol's wire form).
std::string to_hex(ByteView bytes, std::string_view separator = {}, HexCase letters = HexCase::upper);

// Two digits: "3B".
std::string hex_byte(std::uint8_t value);

// Four digits of a 16-bit value: "3F00".
std::string hex_word(std::uint16_t value);

}  // namespace readerlab
