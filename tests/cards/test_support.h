// Small helpers shared by the card tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "cards/card.h"

namespace readerlab::cards::test {

// "3B 02 14 50" or "3B021450" to bytes; any character that is not a hex digit separates.
inline Bytes hex(std::string_view text) {
  Bytes bytes;
  int high = -1;
  for (char c : text) {
    int nibble = -1;
    if (c >= '0' && c <= '9') nibble = c - '0';
    if (c >= 'a' && c <= 'f') nibble = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') nibble = c - 'A' + 10;
    if (nibble < 0) continue;
    if (high < 0) {
      high = nibble;
    } else {
      bytes.push_back(static_cast<std::uint8_t>(high << 4 | nibble));
      high = -1;
    }
  }
  return bytes;
}

inline std::string to_hex(std::span<const std::uint8_t> bytes) {
  static const char digits[] = "0123456789ABCDEF";
  std::string text;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i) text += ' ';
    text += digits[bytes[i] >> 4];
    text += digits[bytes[i] & 0x0F];
  }
  return text;
}

}  // namespace readerlab::cards::test
