-- @title: a slow card asking for waiting time extension (T=1 S(WTX)) keeps working through libccid
-- @covers: pcsc:SCardTransmit, t1:S(WTX), ccid:time extension, t0:NULL procedure bytes
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-3 11.6.2.3 (S(WTX)), 10.3.3 (NULL); CCID 6.2.6 (bmCommandStatus time extension)
-- @timeout: 120

local context = pcsc.establish()
-- TPDU level: libccid itself receives the card's S(WTX request) blocks and answers them.
local name = pcsc.replug_as(context, { exchange = "tpdu" })
pcsc.insert_and_wait(context, name, "slow")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_T1)
lab.check_eq(protocol, pcsc.SCARD_PROTOCOL_T1, "T=1 selected by PPS")
for i = 1, 5 do
  local data = string.format("%02x", i):rep(8)
  lab.check_eq((pcsc.transmit(card, protocol, hex.apdu("80100000", data, 0))), data .. "9000", "ECHO " .. i)
end
pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
lab.reader(1):remove()
pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)

-- APDU level: the reader answers the WTX and tells libccid with CCID time-extension messages.
local apdu_name = pcsc.replug_as(context, { exchange = "short-apdu" })
pcsc.insert_and_wait(context, apdu_name, "slow")
local card2, protocol2 = pcsc.connect_ok(context, apdu_name, pcsc.SCARD_PROTOCOL_ANY)
local before = lab.reader(1):info().time_extensions
local data = "0123456789abcdef"
lab.check_eq((pcsc.transmit(card2, protocol2, hex.apdu("80100000", data, 0))), data .. "9000", "ECHO at APDU level")
local info = lab.reader(1):info()
lab.log("protocol " .. info.protocol .. ", time extensions sent " .. (info.time_extensions - before))
if info.protocol == 1 then
  lab.check(info.time_extensions > before, "the reader sent time-extension messages for the card's WTX")
end
pcsc.disconnect(card2)
pcsc.release(context)
