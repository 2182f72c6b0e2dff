-- @title: at TPDU level libccid runs T=1 itself: IFSD negotiation, chained responses and SELECT work
-- @covers: pcsc:SCardTransmit, ccid:TPDU level, t1:S(IFS), t1:chaining, iso7816-4:READ BINARY
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-3 11.3 to 11.6 (T=1); CCID 6.1.4
-- @timeout: 90

local context = pcsc.establish()
local name = pcsc.replug_as(context, { exchange = "tpdu" })
do
  pcsc.insert_and_wait(context, name, "t1-fs")
  local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
  lab.check_eq(protocol, pcsc.SCARD_PROTOCOL_T1, "active protocol")

  local aid = "f07265616465726c616201"
  local fci = pcsc.transmit(card, protocol, "00a40400" .. string.format("%02x", hex.len(aid)) .. aid .. "00")
  lab.check_eq(hex.sw(fci), "9000", "SELECT by AID")

  -- 256 data bytes and SW1 SW2 exceed an IFSD of 254: the card answers in a chain.
  local binary = pcsc.transmit(card, protocol, "00a4000c023f00")
  lab.check_eq(hex.sw(binary), "9000", "SELECT MF")
  local read = pcsc.transmit(card, protocol, "00b0810000")
  lab.check_eq(hex.len(read), 258, "READ BINARY of 256 bytes through a chained response")
  local expected = {}
  for i = 0, 255 do expected[#expected + 1] = string.format("%02x", i) end
  lab.check(hex.data(read) == table.concat(expected), "the 256 bytes arrive in order")

  local data = string.rep("a5", 250)
  local echo = pcsc.transmit(card, protocol, "80100000fa" .. data .. "00")
  lab.check_eq(echo, data .. "9000", "ECHO of 250 bytes")
  pcsc.disconnect(card)
end
pcsc.release(context)
