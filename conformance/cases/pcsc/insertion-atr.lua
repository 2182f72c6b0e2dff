-- @title: a card insertion is reported by SCardGetStatusChange with the card's ATR
-- @covers: pcsc:SCardGetStatusChange, ccid:RDR_to_PC_NotifySlotChange, ccid:PC_to_RDR_IccPowerOn
-- @drivers: libccid, reference-rdf, windows
-- @spec: PC/SC part 5 SCardGetStatusChange; CCID 6.3.1

local context, name = pcsc.setup()
local empty = pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
lab.check(empty ~= nil, "the empty reader is reported as SCARD_STATE_EMPTY")

lab.reader(1):insert("t1-fs")
local state, took = pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000)
lab.check(state ~= nil, "insertion reported within 5 s")
if state then
  lab.metric("insertion reported after", took, "ms")
  lab.check_eq(state.atr, "3b9b138131fe4580597265616465726c616230", "ATR reported with the insertion")
end
pcsc.release(context)
