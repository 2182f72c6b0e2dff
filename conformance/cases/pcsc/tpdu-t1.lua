-- @title: at TPDU level libccid runs T=1 itself: IFSD negotiation, chained responses and SELECT work
-- @covers: pcsc:SCardTransmit, ccid:TPDU level, t1:S(IFS), t1:chaining, iso7816-4:READ BINARY
-- @spec: ISO 7816-3 11.3 to 11.6 (T=1); CCID 6.1.4
-- @timeout: 90

local context = pcsc.establish()
local reader = lab.reader(1)
local old = pcsc.find_reader(context)
reader:configure({ exchange = "tpdu" })
if old then pcsc.wait_for_reader_gone(context, old, 20000) end
local name = pcsc.wait_for_reader(context, 30000)
lab.check(name ~= nil, "the TPDU-level reader was listed")
if name then
  reader:insert("t1-fs")
  lab.check(pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000) ~= nil, "card seen")
  local card, protocol, reply = pcsc.connect(context, name, pcsc.SCARD_PROTOCOL_ANY)
  pcsc.ok(reply, "SCardConnect")
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
