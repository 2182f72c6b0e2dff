// Sizes and codes the reader's exchange levels share (private to emulator/ccid).
#pragma once

#include <cstddef>
#include <cstdint>

namespace readerlab::ccid {

// ISO 7816-4 5.1: the longest short command APDU is 4 + 1 + 255 + 1 bytes.
inline constexpr std::size_t kMaxShortApdu = 261;
// ISO 7816-4 5.1: the longest extended command APDU is 4 + 3 + 65535 + 2 bytes.
inline constexpr std::size_t kMaxExtendedApdu = 65544;

// CCID 6.1.4 wLevelParameter and 6.2.1 bChainParameter at extended APDU level.
inline constexpr std::uint16_t kChainComplete = 0x0000;
inline constexpr std::uint16_t kChainBegins = 0x0001;
inline constexpr std::uint16_t kChainEnds = 0x0002;
inline constexpr std::uint16_t kChainContinues = 0x0003;
inline constexpr std::uint16_t kChainMoreExpected = 0x0010;

}  // namespace readerlab::ccid
