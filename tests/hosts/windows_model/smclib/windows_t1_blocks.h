// T=1 blocks as Windows 11's smclib writes and reads them (issue 10, rule 17): the LRC of ISO
// 7816-3 11.4.4, but a CRC that is not ISO/IEC 13239's. Written bit by bit here, apart from the
// library's codec, so a test compares two independent computations.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "harness.h"
#include "smclib.h"

namespace smc_windows {

// CRC-16 with the polynomial 0x8005 taken reflected (0xA001), register preset 0, no final
// exclusive-or (the catalogue's CRC-16/ARC, check value BB3D over "123456789").
inline std::uint16_t windows_crc16(const std::vector<UCHAR>& bytes) {
  unsigned reg = 0;
  for (UCHAR b : bytes) {
    reg ^= b;
    for (int bit = 0; bit < 8; ++bit) reg = (reg & 1) ? (reg >> 1) ^ 0xA001 : reg >> 1;
  }
  return static_cast<std::uint16_t>(reg);
}

// NAD PCB LEN INF EDC with an LRC (harness.h's builder), or with Windows' CRC sent high byte first.
inline std::vector<UCHAR> block(UCHAR pcb, std::vector<UCHAR> inf = {}, bool crc = false, UCHAR nad = 0) {
  std::vector<UCHAR> b = smc::t1_block(pcb, std::move(inf), false, nad);
  if (!crc) return b;
  b.pop_back();  // the LRC
  const std::uint16_t c = windows_crc16(b);
  b.push_back(static_cast<UCHAR>(c >> 8));
  b.push_back(static_cast<UCHAR>(c & 0xFF));
  return b;
}

}  // namespace smc_windows
