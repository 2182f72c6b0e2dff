-- @title: scenario: a power glitch (the card deactivated and reactivated, the same card back in the slot) in the middle of a session: the old connection does not silently talk to the reset card, and a reconnect reads the ATR again and works
-- @covers: pcsc:SCardTransmit, pcsc:SCardReconnect, ccid:RDR_to_PC_NotifySlotChange, scenario:power-glitch
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.2.6 (bmICCStatus 1: present, not active), ISO 7816-3 6.2 (activation), PC/SC part 5 SCARD_W_RESET_CARD
-- @timeout: 120

local session = faults.session()
local apdu, expected = faults.echo()
lab.check_eq((pcsc.transmit(session.card, session.protocol, apdu)), expected, "ECHO before the glitch")
lab.reader(1):power_glitch(0)
lab.check_eq(lab.reader(1):info().powered, false, "the card is deactivated after the glitch")
lab.sleep(500)
local response, reply = pcsc.transmit(session.card, session.protocol, apdu)
lab.log("SCardTransmit after the glitch -> " .. tostring(reply.rv_name))
lab.check(reply.rv ~= 0, "SCardTransmit after the glitch fails (the card was reset under the connection), got " ..
  tostring(reply.rv_name) .. " " .. tostring(response))
local recovery = faults.recover(session)
lab.log("then " .. recovery)
lab.check(recovery:find("^ok") ~= nil, "the card works again after a reconnect (" .. recovery .. ")")
lab.check(pcsc.wait_state(session.context, session.name, pcsc.SCARD_STATE_PRESENT, true, 3000) ~= nil, "the card is reported present")
pcsc.disconnect(session.card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(session.context)
