-- @title: an inverse-convention card (TS 3F) is reported with its ATR and works through the driver
-- @covers: pcsc:SCardGetStatusChange, pcsc:SCardTransmit, iso7816-3:inverse convention, ccid:bmTCCKST
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-3 8.1 (TS), 6.4; CCID 6.1.7 (bmTCCKST0 bit 1)

local context, name = pcsc.setup()
local state = pcsc.insert_and_wait(context, name, "inverse")
lab.check_eq(state.atr:sub(1, 2), "3f", "the ATR starts with TS = 3F")
lab.check_eq(state.atr, "3f098057696e7665727365", "ATR of the inverse-convention card")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(protocol, pcsc.SCARD_PROTOCOL_T0, "active protocol")
lab.check_eq((pcsc.transmit(card, protocol, "00b0811003")), "1011129000", "READ BINARY through the inverse card")
pcsc.disconnect(card)
pcsc.release(context)
