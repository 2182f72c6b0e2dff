// Helpers shared by the CCID tests: hex bytes, PC_to_RDR builders and RDR_to_PC field reads.
#pragma once

#include "emulator/ccid/messages.h"
#include "tests/support/hex.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace readerlab::ccid::test {

using readerlab::test::hex;
using readerlab::test::to_hex;

// A PC_to_RDR message with a correct dwLength.
inline Bytes command(std::uint8_t type, std::uint8_t seq, Bytes data = {}, std::uint8_t slot = 0, std::uint8_t b7 = 0,
                     std::uint8_t b8 = 0, std::uint8_t b9 = 0) {
  Message m;
  m.type = type;
  m.slot = slot;
  m.seq = seq;
  m.specific[0] = b7;
  m.specific[1] = b8;
  m.specific[2] = b9;
  m.data = std::move(data);
  return encode(m);
}

inline Bytes command(Command type, std::uint8_t seq, Bytes data = {}, std::uint8_t slot = 0, std::uint8_t b7 = 0,
                     std::uint8_t b8 = 0, std::uint8_t b9 = 0) {
  return command(static_cast<std::uint8_t>(type), seq, std::move(data), slot, b7, b8, b9);
}

// Field reads of an RDR_to_PC answer (CCID 6.2).
inline std::uint8_t type_of(const Bytes& m) { return m.at(0); }
inline std::uint32_t length_of(const Bytes& m) {
  return static_cast<std::uint32_t>(m.at(1)) | static_cast<std::uint32_t>(m.at(2)) << 8 |
         static_cast<std::uint32_t>(m.at(3)) << 16 | static_cast<std::uint32_t>(m.at(4)) << 24;
}
inline std::uint8_t slot_of(const Bytes& m) { return m.at(5); }
inline std::uint8_t seq_of(const Bytes& m) { return m.at(6); }
inline std::uint8_t status_of(const Bytes& m) { return m.at(7); }
inline std::uint8_t error_of(const Bytes& m) { return m.at(8); }
inline std::uint8_t byte9_of(const Bytes& m) { return m.at(9); }
inline Bytes data_of(const Bytes& m) { return Bytes(m.begin() + static_cast<std::ptrdiff_t>(kHeaderSize), m.end()); }

inline constexpr std::uint8_t type(Response r) { return static_cast<std::uint8_t>(r); }

// bStatus values of CCID 6.2.6.
inline constexpr std::uint8_t kActiveOk = 0x00, kInactiveOk = 0x01, kAbsentOk = 0x02;
inline constexpr std::uint8_t kActiveFailed = 0x40, kInactiveFailed = 0x41, kAbsentFailed = 0x42;

// SELECT by DF name of the readerlab application every file-system card carries, with Le.
inline Bytes select_readerlab_application() { return hex("00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 01 00"); }

}  // namespace readerlab::ccid::test
