#include "base/bytes.h"

namespace readerlab {
namespace {

constexpr char kDigits[] = "0123456789ABCDEF";
constexpr char kLowerDigits[] = "0123456789abcdef";

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

Expected<Bytes> read_hex(std::string_view text) {
  Bytes bytes;
  bytes.reserve(text.size() / 2);
  int high = -1;
  for (std::size_t column = 0; column < text.size(); ++column) {
    const char c = text[column];
    const std::string at = "column " + std::to_string(column + 1);
    if (is_blank(c)) {
      if (high >= 0) return error(at, "a blank splits a byte (hex digits come in pairs)");
      continue;
    }
    const int value = digit_value(c);
    if (value < 0) return error(at, std::string("'") + c + "' is not a hex digit");
    if (high < 0) {
      high = value;
    } else {
      bytes.push_back(static_cast<std::uint8_t>(high << 4 | value));
      high = -1;
    }
  }
  if (high >= 0) return error("column " + std::to_string(text.size()), "odd number of hex digits");
  return bytes;
}

std::optional<Bytes> parse_hex(std::string_view text) {
  auto bytes = read_hex(text);
  if (!bytes) return std::nullopt;
  return std::move(bytes).value();
}

std::string to_hex(ByteView bytes, std::string_view separator, HexCase letters) {
  const char* digits = letters == HexCase::upper ? kDigits : kLowerDigits;
  std::string text;
  text.reserve(bytes.size() * (2 + separator.size()));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i != 0) text += separator;
    text += digits[bytes[i] >> 4];
    text += digits[bytes[i] & 0x0F];
  }
  return text;
}

std::string hex_byte(std::uint8_t value) { return {kDigits[value >> 4], kDigits[value & 0x0F]}; }

std::string hex_word(std::uint16_t value) {
  return hex_byte(static_cast<std::uint8_t>(value >> 8)) + hex_byte(static_cast<std::uint8_t>(value & 0xFF));
}

void append_le(Bytes& out, std::uint64_t value, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

}  // namespace readerlab
