-- @title: SCardConnect on a T=0 card gives T=0, and a case 4 APDU returns its data with 9000
-- @covers: pcsc:SCardConnect, pcsc:SCardTransmit, ccid:PC_to_RDR_XfrBlock, iso7816-4:case 4
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-3 10.3 (T=0); ISO 7816-4 5.1

local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t0-basic")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(protocol, pcsc.SCARD_PROTOCOL_T0, "active protocol")

-- The cards' ECHO command (CLA 80, INS 10) returns its command data: a case 4 APDU.
local data = "0102030405060708090a0b0c0d0e0f10"
local response = pcsc.ok(select(2, pcsc.transmit(card, protocol, "80100000" .. string.format("%02x", hex.len(data)) .. data .. "00")),
  "ECHO").response
lab.check_eq(hex.data(response), data, "response data")
lab.check_eq(hex.sw(response), "9000", "status word")

-- SELECT by AID with Le is case 4 too.
local aid = "f07265616465726c616201"
local fci = pcsc.transmit(card, protocol, "00a40400" .. string.format("%02x", hex.len(aid)) .. aid .. "00")
lab.check_eq(hex.sw(fci), "9000", "SELECT status word")
pcsc.disconnect(card)
pcsc.release(context)
