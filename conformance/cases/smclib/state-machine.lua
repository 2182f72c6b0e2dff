-- @title: the reader state machine: ABSENT, SWALLOWED on insertion, NEGOTIABLE or SPECIFIC after the ATR, SPECIFIC after SET_PROTOCOL, back on power down and removal
-- @covers: ioctl:IOCTL_SMARTCARD_GET_STATE, ioctl:IOCTL_SMARTCARD_POWER, ioctl:IOCTL_SMARTCARD_SET_PROTOCOL, state:ABSENT-PRESENT-POWERED-NEGOTIABLE-SPECIFIC
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 3 (reader states), 5 (ATR parsing: resulting state)

local function state() return smc.ulong_at(smc.ioctl(smc.IOCTL_SMARTCARD_GET_STATE, "", 4).output) end
lab.check_eq(state(), smc.SCARD_ABSENT, "no card")
smc.insert("t1-fs")
local present = state()
lab.check(present == smc.SCARD_PRESENT or present == smc.SCARD_SWALLOWED, "inserted: PRESENT or SWALLOWED, got " .. present)
smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
-- TA1 = 13 is not the default Fi/Di: the card can be negotiated.
lab.check_eq(state(), smc.SCARD_NEGOTIABLE, "after the ATR of a card with TA1 13")
smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T1), 4)
lab.check_eq(state(), smc.SCARD_SPECIFIC, "after SET_PROTOCOL")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T1), 4), "STATUS_SUCCESS",
  "SET_PROTOCOL again in SPECIFIC with the selected protocol in the mask")
smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_POWER_DOWN), 0)
lab.check(state() <= smc.SCARD_POWERED and state() >= smc.SCARD_PRESENT, "after power down: present, unpowered")
lab.reader(1):remove()
lab.check_eq(state(), smc.SCARD_ABSENT, "after removal")
-- One protocol at the default Fi/Di: SPECIFIC straight after the ATR.
smc.insert("t0-basic")
smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
lab.check_eq(state(), smc.SCARD_SPECIFIC, "after the ATR of a T=0-only card with default parameters")
