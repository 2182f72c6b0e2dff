-- @title: scenario: the card pulled out in the middle of a transmit at every exchange level (TPDU, short APDU, extended APDU): SCardTransmit fails without waiting for the card, the slot is reported empty, and the next card works
-- @covers: pcsc:SCardTransmit, ccid:removal during a command, scenario:removal-mid-transmit
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.2.6 (bmICCStatus 2 in the answer to a command the card never finished); PC/SC part 5 SCARD_W_REMOVED_CARD
-- @timeout: 180

local context = pcsc.establish()
local apdu, expected = faults.echo("c0c1c2c3")
for _, level in ipairs({ "tpdu", "short-apdu", "extended-apdu" }) do
  local name = pcsc.replug_as(context, { exchange = level, card_timing = true })
  pcsc.insert_and_wait(context, name, "slow")
  local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_T1)
  lab.reader(1):remove_after(300)
  local start = lab.now_ms()
  local response, reply = pcsc.transmit(card, protocol, apdu)
  local took = lab.now_ms() - start
  lab.metric(level .. ": SCardTransmit answered after the removal in", took, "ms")
  lab.log(string.format("%s: SCardTransmit -> %s after %.0f ms", level, tostring(reply.rv_name), took))
  lab.check(reply.rv ~= 0, level .. ": SCardTransmit failed while the card was pulled out (" .. tostring(response) .. ")")
  lab.check(took < 1400, string.format("%s: the driver gave up when the card left (%.0f ms), not when it would have answered", level, took))
  lab.check(pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000) ~= nil, level .. ": the slot is reported empty")
  pcsc.disconnect(card, pcsc.SCARD_LEAVE_CARD)
  pcsc.insert_and_wait(context, name, "t1-fs")
  local next_card, next_protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_T1)
  lab.check_eq((pcsc.transmit(next_card, next_protocol, apdu)), expected, level .. ": ECHO to the next card")
  pcsc.disconnect(next_card, pcsc.SCARD_UNPOWER_CARD)
  lab.reader(1):remove()
  pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
end
pcsc.release(context)
