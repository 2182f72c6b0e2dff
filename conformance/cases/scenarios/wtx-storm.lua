-- @title: scenario: a storm of CCID time-extension requests (200 before each of three answers): the driver keeps waiting and every APDU gets its right answer
-- @covers: pcsc:SCardTransmit, ccid:time extension, fault:time-extension-storm, scenario:wtx-storm
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.2.6 (bmCommandStatus 2: time extension requested, bError the BWT multiplier)
-- @timeout: 120

local session = faults.session()
lab.faults{ { kind = "time-extension-storm", command = "XfrBlock", count = 200, times = 3 } }
for i = 1, 3 do
  local apdu, expected = faults.echo(string.format("%02x", i):rep(16))
  local start = lab.now_ms()
  local response, reply = pcsc.transmit(session.card, session.protocol, apdu)
  lab.metric("APDU " .. i .. " through 200 time extensions", lab.now_ms() - start, "ms")
  lab.check(reply.rv == 0, "APDU " .. i .. ": SCardTransmit succeeded (" .. tostring(reply.rv_name) .. ")")
  lab.check_eq(response, expected, "APDU " .. i .. ": the answer after the storm")
end
lab.check_eq(#lab.firings(), 3, "storms fired")
pcsc.disconnect(session.card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(session.context)
