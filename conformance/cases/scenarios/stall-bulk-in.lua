-- @title: scenario: the bulk-IN endpoint halts while the answer is awaited, three times in a row: each transmit fails cleanly or recovers through CLEAR_FEATURE(ENDPOINT_HALT), never with wrong data, and the reader works afterwards
-- @covers: pcsc:SCardTransmit, usb:bulk-in, usb:CLEAR_FEATURE(ENDPOINT_HALT), fault:stall, scenario:stall-bulk-in
-- @drivers: libccid, reference-rdf, windows
-- @spec: USB 2.0 8.4.5 (STALL), 9.4.1 (CLEAR_FEATURE ENDPOINT_HALT)
-- @timeout: 180

local session = faults.session()
for i = 1, 3 do
  faults.probe_transmit(session, { kind = "stall", endpoint = "bulk-in" }, { label = "scenario stall-bulk-in #" .. i })
end
pcsc.disconnect(session.card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(session.context)
