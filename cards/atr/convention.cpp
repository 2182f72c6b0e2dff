#include "cards/atr/convention.h"

namespace readerlab::cards {
namespace {
constexpr std::uint8_t kDirectTs = 0x3B;         // ISO 7816-3 8.1
constexpr std::uint8_t kInverseTs = 0x3F;        // ISO 7816-3 8.1 (decoded value)
constexpr std::uint8_t kInverseTsOnWire = 0x03;  // 3F inverted and reversed, ISO 7816-3 8.1
}  // namespace

std::uint8_t invert_and_reverse(std::uint8_t byte) {
  std::uint8_t reversed = 0;
  for (int bit = 0; bit < 8; ++bit) {
    if (byte & (1u << bit)) reversed = static_cast<std::uint8_t>(reversed | (0x80u >> bit));
  }
  return static_cast<std::uint8_t>(~reversed);
}

Bytes to_wire(std::span<const std::uint8_t> logical, Convention convention) {
  Bytes wire(logical.begin(), logical.end());
  if (convention == Convention::inverse) {
    for (auto& byte : wire) byte = invert_and_reverse(byte);
  }
  return wire;
}

Bytes from_wire(std::span<const std::uint8_t> wire, Convention convention) {
  return to_wire(wire, convention);  // the transform is an involution
}

std::optional<Convention> convention_of_wire_ts(std::uint8_t first_wire_byte) {
  if (first_wire_byte == kDirectTs) return Convention::direct;
  if (first_wire_byte == kInverseTsOnWire) return Convention::inverse;
  return std::nullopt;
}

std::optional<Convention> convention_of_atr(std::span<const std::uint8_t> atr) {
  if (atr.empty()) return std::nullopt;
  if (atr[0] == kDirectTs) return Convention::direct;
  if (atr[0] == kInverseTs) return Convention::inverse;
  return std::nullopt;
}

}  // namespace readerlab::cards
