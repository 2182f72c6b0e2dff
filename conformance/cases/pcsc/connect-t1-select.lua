-- @title: SCardConnect on a T=1 card gives T=1, and SELECT by AID returns the FCI with 9000
-- @covers: pcsc:SCardConnect, pcsc:SCardTransmit, ccid:PC_to_RDR_XfrBlock, iso7816-4:SELECT
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-4 11.2.2; CCID 6.1.4

local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(protocol, pcsc.SCARD_PROTOCOL_T1, "active protocol")

aid = "f07265616465726c616201"
local response = pcsc.ok(select(2, pcsc.transmit(card, protocol, "00a40400" .. string.format("%02x", hex.len(aid)) .. aid .. "00")),
  "SELECT by AID").response
lab.log("SELECT answered " .. response)
lab.check_eq(hex.sw(response), "9000", "status word")
lab.check(hex.data(response):sub(1, 2) == "6f", "the answer is an FCI template (tag 6F)")
lab.check(hex.data(response):find("84" .. string.format("%02x", hex.len(aid)) .. aid, 1, true) ~= nil,
  "the FCI names the AID in tag 84")

local missing = pcsc.transmit(card, protocol, "00a4040005a00000000100")
lab.check_eq(hex.sw(missing), "6a82", "SELECT of an unknown AID")
pcsc.disconnect(card)
pcsc.release(context)
