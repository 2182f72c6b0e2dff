-- @title: at extended APDU level, a T=0 card gets 3000-byte APDUs in ENVELOPE chains and a 3000-byte answer through GET RESPONSE
-- @covers: pcsc:SCardTransmit, ccid:extended APDU level, ccid:bClassEnvelope, iso7816-4:ENVELOPE, iso7816-3:T=0
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 5.1 (bClassEnvelope), 6.1.4; ISO/IEC 7816-4:1995 annex A.3E.2 and A.4E.2 (ENVELOPE, GET RESPONSE)
-- @timeout: 90

-- Hex of an extended APDU: header, Lc 00 xx xx, the data, and Le 0000 when asked.
local function extended(header, n, with_le)
  local data = {}
  for i = 0, n - 1 do data[#data + 1] = string.format("%02x", (i * 13 + 5) % 256) end
  data = table.concat(data)
  return header .. string.format("00%04x", n) .. data .. (with_le and "0000" or ""), data
end

local context = pcsc.establish()
local reader = lab.reader(1)

-- bClassEnvelope 00: the reader's ENVELOPEs are in class 00 whatever the APDU's class, so
-- the card's ECHO (CLA 80) travels too.
local name = pcsc.replug_as(context, { exchange = "extended-apdu", class_envelope = 0x00 })
pcsc.insert_and_wait(context, name, "extended-t0")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(protocol, pcsc.SCARD_PROTOCOL_T0, "extended-t0 runs T=0")
local apdu, data = extended("80100000", 3000, true)
local response, transmit = pcsc.transmit(card, protocol, apdu)
pcsc.ok(transmit, "SCardTransmit of a 3000-byte extended ECHO to a T=0 card")
lab.check_eq(hex.len(response), 3002, "response length")
lab.check(hex.data(response) == data, "the 3000-byte answer matches byte for byte")
lab.check_eq(hex.sw(response), "9000", "status word")
pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
reader:remove()
pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)

-- bClassEnvelope FF: the APDU's own class. UPDATE BINARY (class 00) reaches the card whole;
-- ECHO's class 80 is no class for this card's ENVELOPE and the reader passes its 6D00 on.
name = pcsc.replug_as(context, { exchange = "extended-apdu", class_envelope = 0xFF })
pcsc.insert_and_wait(context, name, "extended-t0")
card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
local update, written = extended("00d68400", 3000, false)  -- EF 0104 by SFI 4, offset 0
local answer = pcsc.transmit(card, protocol, update)
lab.check_eq(hex.sw(answer), "9000", "UPDATE BINARY of 3000 bytes in ENVELOPEs of class 00")
local head = pcsc.transmit(card, protocol, "00b0000000")
lab.check(hex.data(head) == written:sub(1, 512), "READ BINARY: the first 256 bytes are the ones written")
local tail = pcsc.transmit(card, protocol, "00b00bb008")
lab.check(hex.data(tail) == written:sub(-16), "READ BINARY: the last 8 bytes are the ones written")
local refused = pcsc.transmit(card, protocol, (extended("80100000", 300, true)))
lab.check_eq(hex.sw(refused), "6d00", "ECHO's class 80 on the ENVELOPE: the card's 6D00 reaches the application")
pcsc.disconnect(card)
pcsc.release(context)
