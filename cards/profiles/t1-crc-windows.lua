-- The t1-crc card, except that its T=1 blocks carry the CRC Windows' smclib computes
-- (CRC-16/ARC, high byte first) instead of ISO/IEC 13239's: no real card does this; it is here
-- so a vendor can watch the CRC exchange that does work against Windows' engine.

name = "t1-crc-windows"
description = "T=1 only, CRC EDC (TC3 = 01) computed as Windows' smclib does (t1_crc = \"windows\")"

atr = {
  protocols = {1},
  ifsc = 254, bwi = 4, cwi = 5, crc = true,
  historical = "80 59 74 31 63 72 63 77",   -- category 80, "Yt1crcw"
}
t1_crc = "windows"

files = {
  ef{ fid = 0x0101, sfi = 1, contents = "00 01 02 03 04 05 06 07" },
}
