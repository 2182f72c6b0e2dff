-- @title: scenario: a storm of NotifySlotChange messages for changes that never happened (after every answer of the reader, for 6 s), over real insertions and removals: the driver reports every real change and, once the storm is over, has the right state and a working card
-- @covers: pcsc:SCardGetStatusChange, ccid:RDR_to_PC_NotifySlotChange, fault:spurious-slot-change, scenario:slot-change-storm
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.3.1 (bmSlotICCState: present and changed bits)
-- @timeout: 120

local context, name = pcsc.setup()
local storm_ms = 6000
local armed_at = lab.now_ms()
lab.faults{ { kind = "spurious-slot-change", times = 0, until_ms = storm_ms } }
for i = 1, 4 do
  lab.reader(1):insert("t1-fs")
  lab.check(pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000) ~= nil, "insertion " .. i .. " reported")
  lab.reader(1):remove()
  lab.check(pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000) ~= nil, "removal " .. i .. " reported")
end
lab.reader(1):insert("t1-fs")
-- The storm ends; the driver settles on the card in the slot.
lab.sleep(math.max(0, math.floor(storm_ms - (lab.now_ms() - armed_at))) + 1000)
lab.check(pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000) ~= nil, "the last insertion reported")
local card, protocol = pcsc.connect_ok(context, name)
local apdu, expected = faults.echo()
lab.check_eq((pcsc.transmit(card, protocol, apdu)), expected, "ECHO after the storm")
lab.metric("spurious slot changes sent", #lab.firings(), "")
lab.check(#lab.firings() > 0, "spurious slot changes were sent")
pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(context)
