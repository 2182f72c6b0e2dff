-- @title: the card pulled out 300 ms into a 1.5 s command: SCardTransmit fails at once (not after the card's time), the reader reports the slot empty, and the next card works (short APDU and TPDU level)
-- @covers: pcsc:SCardTransmit, ccid:removal during a command
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.2.6 (bmICCStatus 2 in the answer to a command the card never finished); PC/SC part 5 SCARD_W_REMOVED_CARD
-- @timeout: 120

local context = pcsc.establish()
local echo = hex.apdu("80100000", "a1a2a3a4", 0)
for _, level in ipairs({ "short-apdu", "tpdu" }) do
  local name = pcsc.replug_as(context, { exchange = level, card_timing = true })
  pcsc.insert_and_wait(context, name, "slow")
  local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_T1)

  lab.reader(1):remove_after(300)
  local start = lab.now_ms()
  local _, reply = pcsc.transmit(card, protocol, echo)
  local took = lab.now_ms() - start
  lab.metric(level .. ": SCardTransmit answered after the removal in", took, "ms")
  lab.check(reply.rv ~= 0, level .. ": SCardTransmit failed while the card was pulled out")
  lab.log(level .. ": SCardTransmit gave " .. tostring(reply.rv_name))
  -- libccid at APDU level and an RDF driver (NO_MEDIA) say the card is gone; libccid's T=1
  -- layer at TPDU level turns any failed XfrBlock into IFD_COMMUNICATION_ERROR, which pcscd
  -- reports as SCARD_E_NOT_TRANSACTED (the slot state below still shows the removal).
  local libccid_tpdu = level == "tpdu" and lab.driver_name():find("libccid", 1, true) ~= nil
  local expected = libccid_tpdu and { SCARD_E_NOT_TRANSACTED = true }
    or { SCARD_W_REMOVED_CARD = true, SCARD_E_NO_SMARTCARD = true }
  lab.check(expected[reply.rv_name or ""] == true,
    level .. ": SCardTransmit's failure (" .. tostring(reply.rv_name) .. ")")
  lab.check(took < 1400, string.format("%s: the driver gave up when the card left (%.0f ms), not when it would have answered", level, took))
  pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
  pcsc.disconnect(card, pcsc.SCARD_LEAVE_CARD)

  pcsc.insert_and_wait(context, name, "t1-fs")
  local next_card, next_protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_T1)
  local response = pcsc.transmit(next_card, next_protocol, echo)
  lab.check_eq(response, "a1a2a3a49000", level .. ": ECHO to the next card")
  pcsc.disconnect(next_card, pcsc.SCARD_UNPOWER_CARD)
  lab.reader(1):remove()
  pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
end
pcsc.release(context)
