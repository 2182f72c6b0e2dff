-- @title: a T=0 card answers a case 4 command with 61xx at TPDU level, and GET RESPONSE fetches the data
-- @covers: pcsc:SCardTransmit, ccid:TPDU level, t0:61xx, t0:GET RESPONSE, iso7816-4:case 4
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-3 10.3.3 (procedure bytes), 10.3.4 (61xx); ISO 7816-4 5.1
-- @timeout: 90

local context = pcsc.establish()
local name = pcsc.replug_as(context, { exchange = "tpdu" })
pcsc.insert_and_wait(context, name, "t0-basic")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_T0)
lab.check_eq(protocol, pcsc.SCARD_PROTOCOL_T0, "active protocol")

-- At TPDU level nobody but the application runs GET RESPONSE for T=0.
local data = "cafebabe0102"
local first, first_reply = pcsc.transmit(card, protocol, hex.apdu("80100000", data, 0))
lab.log("case 4 ECHO answered " .. tostring(first) .. " (" .. tostring(first_reply.rv_name) .. ")")
pcsc.ok(first_reply, "SCardTransmit of a case 4 command to a T=0 card at TPDU level")
lab.check(hex.sw(first):sub(1, 2) == "61", "the card asks for GET RESPONSE (61xx), got " .. tostring(first))
if hex.sw(first):sub(1, 2) == "61" then
  local available = tonumber(hex.sw(first):sub(3, 4), 16)
  lab.check_eq(available, hex.len(data), "bytes the card says are waiting")
  local rest = pcsc.transmit(card, protocol, hex.apdu("00c00000", nil, available))
  lab.check_eq(rest, data .. "9000", "GET RESPONSE returns the data and 9000")
end

-- A wrong Le is answered 6Cxx, and the command re-issued with the right one succeeds.
local short = pcsc.transmit(card, protocol, "00b0810004")
lab.check_eq(short, "000102039000", "READ BINARY of 4 bytes")
pcsc.disconnect(card)

-- At short APDU level the reader runs GET RESPONSE itself: the application sees data and 9000.
local apdu_name = pcsc.replug_as(context, { exchange = "short-apdu" })
pcsc.insert_and_wait(context, apdu_name, "t0-basic")
local card2, protocol2 = pcsc.connect_ok(context, apdu_name, pcsc.SCARD_PROTOCOL_T0)
lab.check_eq((pcsc.transmit(card2, protocol2, hex.apdu("80100000", data, 0))), data .. "9000",
  "case 4 ECHO through a reader that runs GET RESPONSE")
pcsc.disconnect(card2)
pcsc.release(context)
