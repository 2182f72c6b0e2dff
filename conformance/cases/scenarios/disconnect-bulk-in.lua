-- @title: scenario: the reader leaves the bus while the driver waits for an answer on bulk-IN and comes back 2 s later with the card still in it: the call fails cleanly, the reader is listed again and its card works
-- @covers: pcsc:SCardTransmit, pcsc:SCardListReaders, usb:disconnect, fault:disconnect, scenario:disconnect-bulk-in
-- @drivers: libccid, reference-rdf, windows
-- @spec: USB 2.0 11.24.2.7.1 (port connect status change)
-- @timeout: 180

local session = faults.session()
local apdu, expected = faults.echo()
lab.reader(1):fault{ kind = "disconnect", duration_ms = 2000 }
local start = lab.now_ms()
local reply = lab.wait(lab.send("Transmit", { card = session.card, protocol = session.protocol, apdu = apdu }), 60000)
local took = lab.now_ms() - start
lab.check(reply ~= nil, "SCardTransmit answered while the reader was gone")
if reply then
  lab.log(string.format("SCardTransmit -> %s after %.0f ms", tostring(reply.rv_name), took))
  if reply.rv == 0 then lab.check_eq(reply.response, expected, "no wrong data as success") end
end
lab.check(#lab.firings() > 0, "the disconnect fired")
lab.sleep(2500)
pcsc.disconnect(session.card, pcsc.SCARD_LEAVE_CARD)
local libccid = lab.driver_name():find("libccid", 1, true) ~= nil
local name = pcsc.wait_for_reader(session.context, libccid and 30000 or 5000)
lab.check(name ~= nil, "the reader is listed again once it is back")
if name then
  lab.check(pcsc.wait_state(session.context, name, pcsc.SCARD_STATE_PRESENT, true, 5000) ~= nil, "its card is reported")
  local card, protocol = pcsc.connect_ok(session.context, name)
  lab.check_eq((pcsc.transmit(card, protocol, apdu)), expected, "ECHO once the reader is back")
  pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
end
pcsc.release(session.context)
