-- A T=1 card with a small information field: IFSC 16 (TA3 = 10), so every command above 16
-- bytes reaches it as a chain of I-blocks, and its 256-byte file comes back in a chain too.

name = "t1-ifsc16"
description = "T=1 only, IFSC 16: commands and answers above 16 bytes are chained"

atr = {
  protocols = {1},
  ifsc = 16, bwi = 4, cwi = 5,
  historical = "80 59 69 66 73 63 31 36",   -- category 80, "Yifsc16"
}

local function counting(n)
  local bytes = {}
  for i = 0, n - 1 do bytes[#bytes + 1] = string.format("%02X", i) end
  return table.concat(bytes, " ")
end

files = {
  ef{ fid = 0x0101, sfi = 1, contents = counting(256) },
}
