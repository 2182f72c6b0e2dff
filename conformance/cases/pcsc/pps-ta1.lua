-- @title: a card whose TA1 (Fi 512, Di 32) needs PPS is negotiated by the reader at APDU level and by libccid at TPDU level
-- @covers: pcsc:SCardConnect, ccid:PPS, ccid:PC_to_RDR_SetParameters, iso7816-3:PPS
-- @drivers: libccid, reference-rdf
-- @spec: ISO 7816-3 9 (PPS), 8.3 (TA1); CCID 5.1 dwFeatures 0x40, 6.1.7
-- @timeout: 120

local context = pcsc.establish()
for _, level in ipairs({ "short-apdu", "tpdu" }) do
  local name = pcsc.replug_as(context, { exchange = level })
  pcsc.insert_and_wait(context, name, "t0-t1")
  local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
  local info = lab.reader(1):info()
  lab.log(level .. ": protocol " .. tostring(protocol) .. ", Fi/Di " .. string.format("%02X", info.fi_di) ..
    ", PPS exchanges " .. info.pps_exchanges)
  lab.check(info.pps_exchanges >= 1, level .. ": a PPS exchange took place")
  lab.check_eq(string.format("%02X", info.fi_di), "96", level .. ": Fi/Di in force after PPS")
  local response = pcsc.transmit(card, protocol, "00b0810008")
  lab.check_eq(response, "00010203040506079000", level .. ": READ BINARY at the negotiated rate")
  pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
  lab.reader(1):remove()
  pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
end
pcsc.release(context)
