-- @title: a hostile Lua card that goes mute or drops off makes the driver fail that APDU, and a fresh card works again in the same reader
-- @covers: pcsc:SCardTransmit, card:Lua misbehaviour hooks, ccid:ICC_MUTE, t1:error recovery
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-3 11.6 (T=1 error handling); CCID 6.2.6 (bError ICC_MUTE)
-- @timeout: 120

local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "hostile")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_T1)
local function send(apdu) return pcsc.transmit(card, protocol, apdu) end

lab.check_eq(hex.sw((send("00a4000c023f00"))), "9000", "the card answers before it turns hostile")
-- A wrong EDC on one block: the interface device's T=1 recovery hides it.
lab.check_eq(hex.sw((send("80f1010000"))), "9000", "arm one bad EDC")
lab.check_eq(hex.sw((send("00a4000c023f00"))), "9000", "an APDU through a block with a bad EDC still succeeds")
-- Dropping off in the middle of an exchange: that APDU fails, the driver reports it.
lab.check_eq(hex.sw((send("80f5000000"))), "9000", "arm a drop-off")
local _, dropped = send("00a4000c023f00")
lab.log("after the drop-off: " .. tostring(dropped.rv_name))
lab.check(dropped.rv ~= 0, "the APDU the card dropped off in fails (" .. tostring(dropped.rv_name) .. ")")
pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)

-- The reader keeps working: remove the broken card, insert a good one.
lab.reader(1):remove()
lab.check(lab.reader(1):wait_change_read(5000), "the driver read the removal")
pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
pcsc.insert_and_wait(context, name, "t1-fs")
local good, good_protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(hex.sw((pcsc.transmit(good, good_protocol, "0084000008"))), "9000", "a fresh card works in the same reader")
pcsc.disconnect(good)
pcsc.release(context)
