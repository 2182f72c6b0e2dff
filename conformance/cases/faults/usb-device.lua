-- @title: the device misbehaves as a whole (a failed control request, a device that needs a bus reset, a disconnect in the middle of a transfer): the driver fails cleanly and the reader works again once it is back
-- @covers: pcsc:SCardTransmit, pcsc:SCardListReaders, usb:control, usb:reset, usb:disconnect, fault:control-fail, fault:needs-reset, fault:disconnect
-- @drivers: libccid, reference-rdf, windows
-- @spec: USB 2.0 9.4 (standard requests; a request error is a STALL of the control pipe, 8.5.3.4), 7.1.7.5 (reset), 11.24.2.7.1 (port status on disconnect)
-- @timeout: 300

local context = pcsc.establish()
local listing_ms = pcsc.listing_ms()

-- Waits for the reader to be listed and its card to work: "ok", or what did not.
-- A multi-slot reader is one name per slot, which pcscd removes one after the other after an
-- unplug: a name found while the old reader is still going away is looked up again.
local function reader_works()
  local start = lab.now_ms()
  local name, present
  repeat
    name = pcsc.wait_for_reader(context, math.max(0, listing_ms - (lab.now_ms() - start)))
    if not name then return "not listed" end
    local watched, state = pcall(pcsc.wait_state, context, name, pcsc.SCARD_STATE_PRESENT, true, 5000)
    if not watched and not tostring(state):find("SCARD_E_UNKNOWN_READER", 1, true) then error(state, 0) end
    present = watched and state
  until watched or lab.now_ms() - start >= listing_ms
  if not present then return "card not reported" end
  local card, protocol, connect = pcsc.connect(context, name)
  if connect.rv ~= 0 then return "SCardConnect -> " .. tostring(connect.rv_name) end
  local apdu, expected = faults.echo()
  local response, reply = pcsc.transmit(card, protocol, apdu)
  pcsc.disconnect(card, pcsc.SCARD_LEAVE_CARD)
  if reply.rv ~= 0 then return "SCardTransmit -> " .. tostring(reply.rv_name) end
  if response ~= expected then return "WRONG DATA " .. tostring(response) end
  return "ok"
end

-- Plugs the reader out and in (a person doing it); the card stays in it.
local function replug()
  lab.reader(1):unplug()
  lab.sleep(500)
  lab.reader(1):replug()
end

-- control-fail: the first control request after the replug (enumeration or the driver's start)
-- is answered STALL. The host or the driver may retry; else the reader works after the next replug.
do
  local name = pcsc.wait_for_reader(context, listing_ms)
  lab.reader(1):insert("t1-fs")
  if name then pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000) end
  local fired_before = faults.fired_count()
  lab.reader(1):fault{ kind = "control-fail" }
  replug()
  local first = reader_works()
  local fired = faults.fired_count() - fired_before
  lab.reader(1):clear_faults()
  local text = "after a failed control request: " .. first
  if first ~= "ok" then
    replug()
    local second = reader_works()
    text = text .. "; after the next replug: " .. second
    lab.check(second == "ok", "control-fail: the reader works after the next replug (" .. text .. ")")
  end
  lab.outcome("usb control-fail", text)
  lab.log("control-fail: " .. text)
  lab.check(fired > 0, "control-fail: the fault fired")
end

-- needs-reset: the device stops answering until a bus reset; a driver that resets it gets it
-- back, one that does not loses the reader until it is replugged.
do
  local name = pcsc.wait_for_reader(context, listing_ms)
  lab.check(name ~= nil, "needs-reset: the reader is listed before the fault")
  local session = { context = context, name = name }
  session.card, session.protocol = pcsc.connect_ok(context, name)
  local apdu, expected = faults.echo()
  local fired_before = faults.fired_count()
  lab.reader(1):fault{ kind = "needs-reset" }
  local start = lab.now_ms()
  local reply = lab.wait(lab.send("Transmit", { card = session.card, protocol = session.protocol, apdu = apdu }), 90000)
  local took = lab.now_ms() - start
  local fired = faults.fired_count() - fired_before
  local recovery = faults.recover(session)
  lab.reader(1):clear_faults()
  local text = string.format("SCardTransmit -> %s (%.0f ms); without a replug %s", reply and tostring(reply.rv_name) or "no answer",
    took, recovery)
  lab.check(reply ~= nil, "needs-reset: SCardTransmit answered")
  if reply and reply.rv == 0 then lab.check(reply.response == expected, "needs-reset: no wrong data as success") end
  if recovery:find("^ok") == nil then
    pcsc.disconnect(session.card, pcsc.SCARD_LEAVE_CARD)
    replug()
    text = text .. "; after a replug: " .. reader_works()
  end
  lab.outcome("usb needs-reset", text)
  lab.log("needs-reset: " .. text)
  lab.check(fired > 0, "needs-reset: the fault fired")
  lab.check(recovery:find("^ok") ~= nil, "needs-reset: the driver resets the device and works again (" .. text .. ")")
  if recovery:find("^ok") then pcsc.disconnect(session.card, pcsc.SCARD_LEAVE_CARD) end
end

-- disconnect: the device leaves the bus while the answer is awaited and is back 1 s later.
do
  local name = pcsc.wait_for_reader(context, listing_ms)
  lab.check(name ~= nil, "disconnect: the reader is listed before the fault")
  pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000)
  local card, protocol = pcsc.connect_ok(context, name)
  local apdu, expected = faults.echo()
  local fired_before = faults.fired_count()
  lab.reader(1):fault{ kind = "disconnect", duration_ms = 1000 }
  local start = lab.now_ms()
  local reply = lab.wait(lab.send("Transmit", { card = card, protocol = protocol, apdu = apdu }), 60000)
  local took = lab.now_ms() - start
  lab.sleep(1500)
  local fired = faults.fired_count() - fired_before
  lab.reader(1):clear_faults()
  pcsc.disconnect(card, pcsc.SCARD_LEAVE_CARD)
  local after = reader_works()
  local text = string.format("SCardTransmit -> %s (%.0f ms); once back: %s", reply and tostring(reply.rv_name) or "no answer",
    took, after)
  lab.outcome("usb disconnect", text)
  lab.log("disconnect: " .. text)
  lab.check(fired > 0, "disconnect: the fault fired")
  lab.check(reply ~= nil, "disconnect: SCardTransmit answered")
  if reply and reply.rv == 0 then lab.check(reply.response == expected, "disconnect: no wrong data as success") end
  lab.check(after == "ok", "disconnect: the reader works once it is back (" .. text .. ")")
end
pcsc.release(context)
