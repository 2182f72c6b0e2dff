-- @title: with card timing on, a card that takes 1.5 s per command is waited for by libccid (time extension), not timed out
-- @covers: pcsc:SCardTransmit, ccid:time extension, t1:S(WTX), card:processing time
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.2.6 (bmCommandStatus time extension); ISO 7816-3 11.6.2.3 (S(WTX))
-- @timeout: 120

local context = pcsc.establish()
for _, level in ipairs({ "short-apdu", "tpdu" }) do
  local name = pcsc.replug_as(context, { exchange = level, card_timing = true })
  pcsc.insert_and_wait(context, name, "slow")
  local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_T1)
  for i = 1, 2 do
    local data = string.format("%02x", i):rep(4)
    local start = lab.now_ms()
    local response, reply = pcsc.transmit(card, protocol, hex.apdu("80100000", data, 0))
    local took = lab.now_ms() - start
    lab.metric(level .. " APDU " .. i .. " took", took, "ms")
    lab.check(reply.rv == 0, level .. ": the driver waited for the slow card instead of failing (" .. tostring(reply.rv_name) .. ")")
    lab.check_eq(response, data .. "9000", level .. ": ECHO " .. i)
    lab.check(took >= 1400, string.format("%s: the answer came after the card's 1.5 s (%.0f ms)", level, took))
  end
  pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
  lab.reader(1):remove()
  pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
end
pcsc.release(context)
