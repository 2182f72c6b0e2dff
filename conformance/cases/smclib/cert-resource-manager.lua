-- @title: reader certification part C, resource-manager simulation: never UNKNOWN; ABSENT: IS_PRESENT pends; present: IS_ABSENT pends, cold reset gives NEGOTIABLE; SET_PROTOCOL T0|T1 gives SPECIFIC; POWER_DOWN gives at most POWERED; the removal completes IS_ABSENT
-- @covers: cert:resource manager simulation, ioctl:IOCTL_SMARTCARD_IS_PRESENT, ioctl:IOCTL_SMARTCARD_IS_ABSENT, ioctl:IOCTL_SMARTCARD_POWER, ioctl:IOCTL_SMARTCARD_SET_PROTOCOL, ioctl:IOCTL_SMARTCARD_GET_STATE, callback:RDF_CARD_TRACKING, callback:RDF_CARD_POWER, callback:RDF_SET_PROTOCOL, state:ABSENT-PRESENT-POWERED-NEGOTIABLE-SPECIFIC
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 6 C (ifdtest resource-manager simulation), 4 (reader states), 1.2 IS_PRESENT, IS_ABSENT, POWER, SET_PROTOCOL

-- Every GET_STATE answer of the walk; UNKNOWN is illegal in all of them.
local function state(where)
  local value = smc.state()
  lab.check(value ~= smc.SCARD_UNKNOWN, "UNKNOWN " .. where)
  return value
end
local function still_pending(what)
  lab.check(not smc.wait_pending(0).completed, "IS_ABSENT still pending " .. what)
end

-- ABSENT: the resource manager waits for a card.
lab.check_eq(state("with no card"), smc.SCARD_ABSENT, "state with no card")
local wait_in = smc.ioctl(smc.IOCTL_SMARTCARD_IS_PRESENT, "", 0)
lab.check(wait_in.pending, "IS_PRESENT in ABSENT returns PENDING (ERROR_IO_PENDING), got " .. tostring(wait_in.rv_name))
smc.expect(wait_in, "STATUS_PENDING", "IS_PRESENT in ABSENT")
lab.reader(1):insert("t1-fs")
local arrived = smc.wait_pending(5000)
lab.check(arrived.completed, "the insertion completed IS_PRESENT")
smc.expect(arrived, "STATUS_SUCCESS", "IS_PRESENT's completion")

-- PRESENT to POWERED: watch for the removal, then reset the card.
local present = state("with a card")
lab.check(present >= smc.SCARD_PRESENT and present <= smc.SCARD_POWERED, "state with a card in PRESENT..POWERED, got " .. present)
local wait_out = smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0)
lab.check(wait_out.pending, "IS_ABSENT with a card returns PENDING, got " .. tostring(wait_out.rv_name))
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64), "STATUS_SUCCESS", "cold reset")
-- t1-fs offers TA1 13: it waits for the PTS in NEGOTIABLE.
lab.check_eq(state("after the cold reset"), smc.SCARD_NEGOTIABLE, "state after the cold reset")
still_pending("after the cold reset")

-- NEGOTIABLE: select a protocol.
local set = smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T0 | smc.SCARD_PROTOCOL_T1), 4)
smc.expect(set, "STATUS_SUCCESS", "SET_PROTOCOL T0|T1")
lab.check_eq(smc.ulong_at(set.output), smc.SCARD_PROTOCOL_T1, "the protocol of a T=1-only card")
lab.check_eq(state("after SET_PROTOCOL"), smc.SCARD_SPECIFIC, "state after SET_PROTOCOL")
still_pending("after SET_PROTOCOL")

-- SPECIFIC: the card is released, then taken out.
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_POWER_DOWN), 0), "STATUS_SUCCESS", "POWER_DOWN")
local down = state("after POWER_DOWN")
lab.check(down >= smc.SCARD_PRESENT and down <= smc.SCARD_POWERED, "state after POWER_DOWN at most POWERED, got " .. down)
still_pending("after POWER_DOWN")
lab.reader(1):remove()
local gone = smc.wait_pending(5000)
lab.check(gone.completed, "the removal completed IS_ABSENT")
smc.expect(gone, "STATUS_SUCCESS", "IS_ABSENT's completion")
lab.check_eq(state("after the removal"), smc.SCARD_ABSENT, "state after the removal")
