-- A T=1 card that announces CRC as its error detection code (TC3 = 01, ISO 7816-3 11.4.4):
-- every block it sends and expects carries the ISO/IEC 13239 CRC of ISO 7816-3, two bytes.
-- Windows' smclib computes another CRC (CRC-16/ARC, high byte first), so at TPDU level no
-- block gets through between the two; the case smclib/t1-crc-edc shows what then happens.

name = "t1-crc"
description = "T=1 only, CRC EDC (TC3 = 01): ISO/IEC 13239 CRC on every block"

atr = {
  protocols = {1},
  ifsc = 254, bwi = 4, cwi = 5, crc = true,
  historical = "80 59 74 31 63 72 63",   -- category 80, "Yt1crc"
}

files = {
  ef{ fid = 0x0101, sfi = 1, contents = "00 01 02 03 04 05 06 07" },
}
