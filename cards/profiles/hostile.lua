-- A hostile card for robustness tests of readers and drivers. Commands in the proprietary
-- class 80 arm misbehaviour, answered 9000; it shows from the next exchange on (the reader
-- takes it before each exchange):
--
--   80 F0 n 00   stay mute for n exchanges (n = 0: one)
--   80 F1 n 00   T=1: a wrong EDC on the next n blocks
--   80 F2 m 00   T=1: ask S(WTX) with multiplier m once
--   80 F3 b 00   T=0: send the byte b instead of a procedure byte once
--   80 F4 n 00   answer n times with garbage
--   80 F5 00 00  drop off (deactivate) in the middle of the next exchange
--   80 F6 n 00   wait n * 10 ms before the next answer
--   80 F7 h l    wait h * 256 + l ETU before the next answer
--   80 F8 00 00  swallow this very command: no answer at all
--
-- A warm reset answers another ATR (T=0 only, historical bytes "warm"); each reset forgets
-- armed misbehaviour. Everything else is the built-in ISO 7816-4 behaviour.

name = "hostile"
description = "T=0/T=1; CLA 80 INS F0-F8 arm mute, bad EDC, WTX, bad procedure byte, garbage, drop-off, delays; another ATR on warm reset"

atr = {
  protocols = {0, 1},
  ifsc = 32, bwi = 4, cwi = 5,
  historical = "80 57 68 6F 73 74 69 6C 65",   -- category 80, card issuer's data "hostile"
}

files = {
  ef{ fid = 0x0101, sfi = 1, size = 128, fill = 0x55 },
}
pin = "0000"

local WARM_ATR = "3B 04 77 61 72 6D"   -- T0 = 04: T=0 alone, four historical bytes "warm"

local function at_least_one(n) return n > 0 and n or 1 end

local arm = {
  [0xF0] = function(apdu) card.mute(at_least_one(apdu.p1)) end,
  [0xF1] = function(apdu) card.wrong_edc(at_least_one(apdu.p1)) end,
  [0xF2] = function(apdu) card.wtx(at_least_one(apdu.p1)) end,
  [0xF3] = function(apdu) card.bad_procedure_byte(apdu.p1) end,
  [0xF4] = function(apdu) card.garbage(at_least_one(apdu.p1)) end,
  [0xF5] = function() card.drop_off() end,
  [0xF6] = function(apdu) card.delay_ms(apdu.p1 * 10) end,
  [0xF7] = function(apdu) card.wait_etu(apdu.p1 * 256 + apdu.p2) end,
}

function on_reset(kind)
  if kind == "warm" then return WARM_ATR end
end

function on_apdu(apdu)
  if apdu.cla ~= 0x80 then return nil end
  if apdu.ins == 0xF8 then return false end
  local misbehave = arm[apdu.ins]
  if not misbehave then return nil end
  misbehave(apdu)
  print(string.format("armed %02X %02X %02X", apdu.ins, apdu.p1, apdu.p2))
  return 0x9000
end
