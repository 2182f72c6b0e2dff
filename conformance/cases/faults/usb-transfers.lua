-- @title: USB transfers go wrong under a transmit (STALL on bulk-OUT and bulk-IN, NAK for a while, a short packet, babble, a missing zero-length packet, a message split at odd sizes) and on the interrupt pipe (STALL): the driver recovers (CLEAR_FEATURE ENDPOINT_HALT), fails cleanly or succeeds with the right data, and the reader works again
-- @covers: pcsc:SCardTransmit, usb:bulk-out, usb:bulk-in, usb:interrupt-in, usb:CLEAR_FEATURE(ENDPOINT_HALT), fault:stall, fault:nak, fault:short-packet, fault:babble, fault:missing-zlp, fault:split
-- @drivers: libccid, reference-rdf, windows
-- @spec: USB 2.0 8.4.5 (STALL), 8.5.3.4 (halt), 9.4.1 (CLEAR_FEATURE ENDPOINT_HALT), 5.8.3 (short packet, zero-length packet), 8.4.4 (babble)
-- @timeout: 300

local session = faults.session()
faults.probe_transmit(session, { kind = "stall", endpoint = "bulk-out" }, { label = "usb stall (bulk-out)" })
faults.probe_transmit(session, { kind = "stall", endpoint = "bulk-in" }, { label = "usb stall (bulk-in)" })
faults.probe_transmit(session, { kind = "nak", endpoint = "bulk-in", duration_ms = 500 },
  { label = "usb nak (bulk-in, 500 ms)", must_work = true })
faults.probe_transmit(session, { kind = "short-packet", endpoint = "bulk-in" }, { label = "usb short-packet" })
faults.probe_transmit(session, { kind = "babble", endpoint = "bulk-in" }, { label = "usb babble" })
-- 52 data bytes + SW1 SW2 + the 10-byte header: one 64-byte message, a multiple of wMaxPacketSize.
faults.probe_transmit(session, { kind = "missing-zlp", endpoint = "bulk-in" },
  { label = "usb missing-zlp", data = string.rep("3c", 52), timeout_ms = 60000 })
faults.probe_transmit(session, { kind = "split", endpoint = "bulk-in", sizes = { 7, 13 } },
  { label = "usb split (7, 13)" })

-- The interrupt pipe halts: a removal after it must still reach the application, by the
-- driver clearing the halt or by asking the reader.
local fired_before = faults.fired_count()
lab.reader(1):fault{ kind = "stall", endpoint = "interrupt-in" }
lab.reader(1):remove()
local empty = pcsc.wait_state(session.context, session.name, pcsc.SCARD_STATE_EMPTY, true, 5000)
local fired = faults.fired_count() - fired_before
lab.reader(1):clear_faults()
pcsc.disconnect(session.card, pcsc.SCARD_LEAVE_CARD)
lab.reader(1):insert("t1-fs")
local inserted = pcsc.wait_state(session.context, session.name, pcsc.SCARD_STATE_PRESENT, true, 5000)
local text = string.format("removal after the halt %s; next card %s", empty and "reported" or "NOT reported within 5 s",
  inserted and "reported" or "NOT reported")
lab.outcome("usb stall (interrupt-in)", text)
lab.log("stall interrupt-in: " .. text)
lab.check(fired > 0, "stall (interrupt-in): the fault fired")
lab.check(empty ~= nil, "stall (interrupt-in): the removal reached the application (" .. text .. ")")
lab.check(inserted ~= nil, "stall (interrupt-in): the next card reached the application (" .. text .. ")")
pcsc.release(session.context)
