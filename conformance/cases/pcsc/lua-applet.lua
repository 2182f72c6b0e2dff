-- @title: a Lua card (the wallet applet) answers its proprietary commands and falls through to ISO 7816-4 through libccid
-- @covers: pcsc:SCardTransmit, card:Lua on_apdu, iso7816-4:SELECT, iso7816-4:VERIFY, iso7816-4:READ RECORD
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-4 5.1, 11.2.2, 11.5.6

local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "applet")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(protocol, pcsc.SCARD_PROTOCOL_T1, "active protocol")
local function send(apdu) return (pcsc.transmit(card, protocol, apdu)) end

lab.check_eq(send("80500000" .. "04"), "6985", "GET BALANCE before the wallet is selected")
lab.check_eq(hex.sw(send(hex.apdu("00a40400", "f07265616465726c616220", 0))), "9000", "SELECT the wallet by AID (ISO, built in)")
lab.check_eq(send("8050000004"), "000000649000", "GET BALANCE: 100")
lab.check_eq(send(hex.apdu("80520000", "00000020")), "9000", "CREDIT 32")
lab.check_eq(send(hex.apdu("80540000", "00000010")), "6982", "DEBIT before VERIFY")
lab.check_eq(send(hex.apdu("00200080", hex.from_string("1234"))), "9000", "VERIFY (ISO, built in)")
lab.check_eq(send(hex.apdu("80540000", "00000010")), "9000", "DEBIT 16 after VERIFY")
lab.check_eq(send("8050000004"), "000000749000", "GET BALANCE: 116")
lab.check_eq(send("00b2010c05"), "02000000109000", "READ RECORD 1 of the log (ISO, built in): the last DEBIT")
pcsc.disconnect(card)
pcsc.release(context)
