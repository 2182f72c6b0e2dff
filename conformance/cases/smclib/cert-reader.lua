-- @title: reader certification part B, reader: attribute checks with no card, GET_ATTRIBUTE into no buffer fails, a close with IS_PRESENT pending leaves the device usable, the IBM test card resets within 2 s and reports its ATR and protocol, a card "inserted backwards" (bad ATR) stays unpowered and is UNRECOGNIZED_MEDIA
-- @covers: cert:reader attributes, attr:SCARD_ATTR_VENDOR_NAME, attr:SCARD_ATTR_VENDOR_IFD_TYPE, attr:SCARD_ATTR_DEVICE_UNIT, attr:SCARD_ATTR_DEFAULT_CLK, attr:SCARD_ATTR_MAX_CLK, attr:SCARD_ATTR_MAX_IFSD, attr:SCARD_ATTR_PROTOCOL_TYPES, attr:SCARD_ATTR_ATR_STRING, attr:SCARD_ATTR_CURRENT_PROTOCOL_TYPE, callback:RDF_CARD_TRACKING/CANCELLED, callback:RDF_CARD_POWER/UNRECOGNIZED_MEDIA
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 6 B (ifdtest reader test), 4 (attributes), 1.2 POWER, SET_PROTOCOL

-- The device-name check of ifdtest (the interface GUID in the name) has no counterpart here:
-- the host port opens the driver's device object directly.
local RESET_LIMIT_MS = 2000  -- smclib.md 6 B: cold reset within 2 s

-- With no card.
lab.check_eq(smc.state(), smc.SCARD_ABSENT, "state with no card")
for _, name in ipairs({ "VENDOR_NAME", "VENDOR_IFD_TYPE" }) do
  local reply = smc.get_attribute(name)
  smc.expect(reply, "STATUS_SUCCESS", name)
  lab.check(reply.information > 0, name .. " is not empty")
  lab.log(name .. ": " .. hex.to_string(reply.output))
end
lab.check(smc.attribute_ulong("DEVICE_UNIT") < 4, "DEVICE_UNIT below 4")
for _, name in ipairs({ "DEFAULT_CLK", "MAX_CLK" }) do
  local khz = smc.attribute_ulong(name)
  lab.check(khz >= 1000 and khz <= 20000, name .. " within 1000-20000 kHz, got " .. khz)
end
local ifsd = smc.attribute_ulong("MAX_IFSD")
lab.check(ifsd >= 1 and ifsd <= 254, "MAX_IFSD within 1-254, got " .. ifsd)
local both = smc.SCARD_PROTOCOL_T0 | smc.SCARD_PROTOCOL_T1
lab.check_eq(smc.attribute_ulong("PROTOCOL_TYPES") & both, both, "PROTOCOL_TYPES has T=0 and T=1")
-- ifdtest only asks for failures; smclib.md 4 names the status.
for _, name in ipairs({ "ATR_STRING", "CURRENT_PROTOCOL_TYPE" }) do
  local reply = smc.get_attribute(name)
  smc.expect(reply, "STATUS_INVALID_DEVICE_STATE", name .. " with no card")
  lab.check_eq(reply.information, 0, name .. " bytes with no card")
end
-- A GET_ATTRIBUTE with no output buffer: ifdtest accepts ERROR_INSUFFICIENT_BUFFER (from
-- BUFFER_TOO_SMALL) or ERROR_BAD_COMMAND (from INVALID_DEVICE_STATE).
for _, name in ipairs({ "VENDOR_NAME", "DEVICE_UNIT", "ATR_STRING" }) do
  local reply = smc.get_attribute(name, 0)
  lab.check(reply.rv_name == "STATUS_BUFFER_TOO_SMALL" or reply.rv_name == "STATUS_INVALID_DEVICE_STATE",
    name .. " into no buffer fails, got " .. tostring(reply.rv_name))
end

-- A close with IS_PRESENT pending, then the device again.
local waiting = smc.ioctl(smc.IOCTL_SMARTCARD_IS_PRESENT, "", 0)
lab.check(waiting.pending, "IS_PRESENT with no card is left pending")
local closed = lab.call("CancelPending", {})
smc.expect(closed, "STATUS_CANCELLED", "the pending IS_PRESENT when the handle closes")
lab.check_eq(smc.state(), smc.SCARD_ABSENT, "GET_STATE after the close")
local again = smc.ioctl(smc.IOCTL_SMARTCARD_IS_PRESENT, "", 0)
lab.check(again.pending, "IS_PRESENT pending again after the close (not DEVICE_BUSY)")
lab.reader(1):insert("ibm-test")
local done = smc.wait_pending(5000)
lab.check(done.completed, "the insertion completed the new IS_PRESENT")
smc.expect(done, "STATUS_SUCCESS", "the new IS_PRESENT")

-- The IBM T=1 test card of part D.
local IBM_ATR = "3bef00ff8131864549424d204d4643343030303038333143"  -- smclib.md 6 D
local start = lab.now_ms()
local power = smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
local took = lab.now_ms() - start
smc.expect(power, "STATUS_SUCCESS", "cold reset of the IBM test card")
lab.check(took <= RESET_LIMIT_MS, "cold reset within 2 s, took " .. took .. " ms")
lab.check_eq(power.output, IBM_ATR, "ATR of the cold reset")
local set = smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(both), 4)
smc.expect(set, "STATUS_SUCCESS", "SET_PROTOCOL T0|T1")
-- The card is SPECIFIC in T=1 after its reset (one protocol, default F/D): the library answers
-- alone and writes nothing (issue 10 rule 24); CURRENT_PROTOCOL_TYPE below names the protocol.
lab.check_eq(set.information, 0, "SET_PROTOCOL on the SPECIFIC card: Information")
local atr = smc.get_attribute("ATR_STRING")
smc.expect(atr, "STATUS_SUCCESS", "ATR_STRING with the card")
lab.check_eq(atr.output, IBM_ATR, "ATR_STRING with the card")
lab.check_eq(smc.attribute_ulong("CURRENT_PROTOCOL_TYPE"), smc.SCARD_PROTOCOL_T1, "CURRENT_PROTOCOL_TYPE with the card")
lab.reader(1):remove()
lab.check_eq(smc.state(), smc.SCARD_ABSENT, "state after the removal")

-- The card inserted backwards: the bad-atr profile, whose ATR the reader rejects.
smc.insert("bad-atr")
local state = smc.state()
lab.check(state >= smc.SCARD_PRESENT and state <= smc.SCARD_SWALLOWED, "state of the card inserted backwards, got " .. state)
start = lab.now_ms()
local bad = smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
took = lab.now_ms() - start
smc.expect(bad, "STATUS_UNRECOGNIZED_MEDIA", "cold reset of the card inserted backwards")
lab.check(took <= RESET_LIMIT_MS, "the failed cold reset within 2 s, took " .. took .. " ms")
lab.check_eq(bad.information, 0, "ATR bytes returned by the failed reset")
state = smc.state()
lab.check(state >= smc.SCARD_PRESENT and state <= smc.SCARD_SWALLOWED, "state after the failed reset, got " .. state)
smc.expect(smc.get_attribute("ATR_STRING"), "STATUS_INVALID_DEVICE_STATE", "ATR_STRING after the failed reset")
