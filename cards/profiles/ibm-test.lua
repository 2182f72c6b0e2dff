-- The IBM T=1 test card that ifdtest part D drives (smclib.md 6 D): T=1 only, a test EF 0007
-- that SELECT FILE makes current, and a data field of at most 128 bytes. A WRITE (UPDATE
-- BINARY, D6) of more than 128 bytes is refused with 6700; a READ BINARY asking for more
-- returns 128 bytes. Everything else is the built-in ISO 7816-4 card.
--
-- "WRITE BINARY" of the test is D6: the test reads 00/FF back after 55/AA, which the OR
-- semantics of ISO WRITE BINARY (D0) on an unerased file could not give.

name = "ibm-test"
description = "ifdtest part D IBM T=1 card: SELECT EF 0007, WRITE/READ BINARY 1-254 (write > 128: 6700, read: at most 128)"

-- smclib.md 6 D, exact: TB1 00, TC1 FF, T=1 with IFSC 134 (TA3 86), BWI 4 CWI 5,
-- "IBM MFC40000831", TCK 43.
atr = "3B EF 00 FF 81 31 86 45 49 42 4D 20 4D 46 43 34 30 30 30 30 38 33 31 43"
protocols = {1}

local MAX_DATA = 128  -- smclib.md 6 D: writes above it give 6700, reads return min(n, 128)
local SW_WRONG_LENGTH = 0x6700  -- ISO 7816-4 5.1.3 (Table 6)
local INS_READ_BINARY, INS_UPDATE_BINARY = 0xB0, 0xD6  -- ISO 7816-4 7.2.3, 7.2.5

files = {
  ef{ fid = 0x0007, size = MAX_DATA },
}

function on_apdu(apdu)
  if apdu.malformed or apdu.cla ~= 0x00 then return nil end
  if apdu.ins == INS_UPDATE_BINARY and #apdu.data > MAX_DATA then return SW_WRONG_LENGTH end
  if apdu.ins == INS_READ_BINARY and apdu.case == 2 and apdu.ne > MAX_DATA then
    -- Ask the built-in card for exactly what this card can send, so a read from offset 0
    -- ends with 9000 rather than the 6282 of a short file.
    return hex.encode(card.iso(apdu.bytes:sub(1, 4) .. string.char(MAX_DATA)))
  end
  return nil
end
