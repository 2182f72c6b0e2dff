-- @title: the interrupt pipe misbehaves (a hardware error with the card deactivated, a slot change that never happened, a removal never notified): the driver fails cleanly, keeps the right card state and works again
-- @covers: pcsc:SCardTransmit, pcsc:SCardGetStatusChange, ccid:RDR_to_PC_HardwareError, ccid:RDR_to_PC_NotifySlotChange, fault:hardware-error, fault:spurious-slot-change, fault:missing-slot-change
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.3.1 (NotifySlotChange), 6.3.2 (HardwareError), 6.2.6 (HW_ERROR)
-- @timeout: 180

local session = faults.session()

-- Over-current: the reader deactivates the card and says so; a SCardReconnect powers it again.
faults.probe_transmit(session, { kind = "hardware-error", command = "XfrBlock" },
  { label = "ccid hardware-error", recover = "reconnect" })

-- A slot change with nothing changed: the card may be treated as a new one (a reconnect), but it
-- stays reported present and works.
faults.probe_transmit(session, { kind = "spurious-slot-change" },
  { label = "ccid spurious-slot-change", recover = "reconnect" })
local present = pcsc.wait_state(session.context, session.name, pcsc.SCARD_STATE_PRESENT, true, 3000)
lab.check(present ~= nil, "spurious-slot-change: the card is still reported present")

-- The removal is never notified: the driver must learn it from the reader's answers (bmICCStatus
-- 2, CCID 6.2.6), at the latest when an application talks to the card.
local fired_before = faults.fired_count()
lab.reader(1):fault{ kind = "missing-slot-change" }
lab.reader(1):remove()
local empty_early = pcsc.wait_state(session.context, session.name, pcsc.SCARD_STATE_EMPTY, true, 1500)
local apdu, expected = faults.echo()
local response, reply = pcsc.transmit(session.card, session.protocol, apdu)
local empty = empty_early or pcsc.wait_state(session.context, session.name, pcsc.SCARD_STATE_EMPTY, true, 5000)
local fired = faults.fired_count() - fired_before
lab.reader(1):clear_faults()
local text = string.format("removal %s; SCardTransmit -> %s; slot %s", empty_early and "seen without the notification" or
  "not seen for 1.5 s", tostring(reply.rv_name), empty and "reported EMPTY" or "still reported PRESENT after 5 s")
lab.check(fired > 0, "missing-slot-change: the fault fired")
lab.check(reply.rv ~= 0, "missing-slot-change: SCardTransmit to the removed card failed (" .. text .. ")")
lab.check(empty ~= nil, "missing-slot-change: the slot is reported empty once the driver had to look (" .. text .. ")")
pcsc.disconnect(session.card, pcsc.SCARD_LEAVE_CARD)
-- The next card, notified again, works.
pcsc.insert_and_wait(session.context, session.name, "t1-fs")
session.card, session.protocol = pcsc.connect_ok(session.context, session.name)
local after = faults.recover(session)
text = text .. "; next card " .. after
lab.outcome("ccid missing-slot-change", text)
lab.log("missing-slot-change: " .. text)
lab.check(after == "ok", "missing-slot-change: the next card works (" .. after .. ")")
pcsc.disconnect(session.card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(session.context)
