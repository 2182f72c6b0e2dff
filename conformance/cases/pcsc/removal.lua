-- @title: a removal is reported within 2 s, and a transmit after it fails with a removed-card error
-- @covers: pcsc:SCardGetStatusChange, pcsc:SCardTransmit, ccid:RDR_to_PC_NotifySlotChange
-- @drivers: libccid, reference-rdf, windows
-- @spec: PC/SC part 5 SCardGetStatusChange, SCardTransmit; CCID 6.3.1

local context, name = pcsc.setup()
local reader = lab.reader(1)
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(hex.sw((pcsc.transmit(card, protocol, "0084000008"))), "9000", "GET CHALLENGE before removal")

-- Start waiting for the change first, so the time measured is the driver's, not the poll's.
local state = lab.call("GetStatusChange", { context = context, timeout_ms = 0,
  readers = { { name = name, current_state = pcsc.SCARD_STATE_UNAWARE } } })
local pending = lab.send("GetStatusChange", { context = context, timeout_ms = 5000,
  readers = { { name = name, current_state = state.readers[1].event_state } } })
lab.sleep(200)
local removed_at = lab.now_ms()
reader:remove()
local change = lab.wait(pending, 10000)
local took = lab.now_ms() - removed_at
lab.check(change ~= nil and change.rv == 0, "SCardGetStatusChange returned the change")
if change and change.rv == 0 then
  lab.check((change.readers[1].event_state & pcsc.SCARD_STATE_EMPTY) ~= 0, "the reader is reported empty")
  lab.metric("removal reported after", took, "ms")
  lab.check(took <= 2000, string.format("removal reported within 2 s (took %.0f ms)", took))
end

local _, after = pcsc.transmit(card, protocol, "0084000008")
lab.check(after.rv_name == "SCARD_W_REMOVED_CARD" or after.rv_name == "SCARD_E_NO_SMARTCARD",
  "transmit after removal gives SCARD_W_REMOVED_CARD or SCARD_E_NO_SMARTCARD, not " .. tostring(after.rv_name))
pcsc.disconnect(card)
pcsc.release(context)
