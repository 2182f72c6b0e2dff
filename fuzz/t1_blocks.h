// T=1 blocks as the T=1 targets read them from a fuzz input. Most records describe a block
// (NAD, PCB, INF) whose epilogue the harness computes, so the mutations reach the protocol
// states behind the EDC check; the others are raw bytes or, for a card, no answer at all.
//   record: flags, then
//     flags & 0x80: raw bytes (length byte + bytes)
//     flags & 0x40: no block (the card stays silent; the interface side sees a timeout)
//     otherwise:    NAD, PCB, INF (length byte + bytes, at most 254 kept);
//                   flags & 0x01 flips the last EDC byte (a transmission error)
#pragma once

#include "cards/t1/block.h"
#include "fuzz/fuzz_input.h"

#include <optional>

namespace readerlab::fuzz {

inline std::optional<cards::t1::Bytes> next_t1_block(FuzzInput& input, cards::t1::EdcKind edc) {
  const std::uint8_t flags = input.byte();
  if (flags & 0x80) return input.record8();
  if (flags & 0x40) return std::nullopt;
  const std::uint8_t nad = input.byte();
  const std::uint8_t pcb = input.byte();
  auto inf = input.record8();
  if (inf.size() > cards::t1::kMaxInfSize) inf.resize(cards::t1::kMaxInfSize);
  auto block = cards::t1::encode_block(nad, pcb, inf, edc);
  if (flags & 0x01) block.back() ^= 0xFF;
  return block;
}

}  // namespace readerlab::fuzz
