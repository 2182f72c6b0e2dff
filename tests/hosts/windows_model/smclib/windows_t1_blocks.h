// T=1 blocks as Windows 11's smclib writes and reads them (issue 10, rule 17): the LRC of ISO
// 7816-3 11.4.4, but a CRC that is not ISO/IEC 13239's. Written bit by bit here, apart from the
// library's codec, so a test compares two independent computations.
#pragma once
#include <cstdint>
#include <vector>

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

// NAD PCB LEN INF EDC with an LRC, or with Windows' CRC sent high byte first.
inline std::vector<UCHAR> block(UCHAR pcb, std::vector<UCHAR> inf = {}, bool crc = false, UCHAR nad = 0) {
  std::vector<UCHAR> b;
  b.reserve(3 + inf.size() + 2);
  b.push_back(nad);
  b.push_back(pcb);
  b.push_back(static_cast<UCHAR>(inf.size()));
  for (UCHAR c : inf) b.push_back(c);
  if (crc) {
    const std::uint16_t c = windows_crc16(b);
    b.push_back(static_cast<UCHAR>(c >> 8));
    b.push_back(static_cast<UCHAR>(c & 0xFF));
  } else {
    UCHAR x = 0;
    for (UCHAR c : b) x = static_cast<UCHAR>(x ^ c);
    b.push_back(x);
  }
  return b;
}

}  // namespace smc_windows
