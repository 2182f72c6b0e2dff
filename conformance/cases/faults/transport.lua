-- @title: the usbredir socket misbehaves (every packet late, packets split across writes, the connection dropped in the middle of a transfer and made again): transmits succeed or fail cleanly and the reader works again
-- @covers: pcsc:SCardTransmit, usbredir:socket, fault:latency, fault:split-writes, fault:drop
-- @drivers: libccid, reference-rdf, windows
-- @spec: usbredir protocol (a packet is a header and its data, whatever the writes)
-- @timeout: 240

local session = faults.session()
-- In-process USB has no socket: the transport faults apply to the usbredir peers only.
if not lab.reader(1):info().connected then
  for _, label in ipairs({ "transport latency (30 ms a packet)", "transport split-writes (3 bytes)", "transport drop" }) do
    lab.outcome(label, "not applicable: in-process USB transfers, no usbredir socket")
  end
  lab.log("in-process USB transfers: no usbredir socket to fault")
  pcsc.release(session.context)
  return
end

faults.probe_transmit(session, { kind = "latency", delay_ms = 30, times = 0, until_ms = 3000 },
  { label = "transport latency (30 ms a packet)", must_work = true })
faults.probe_transmit(session, { kind = "split-writes", chunk = 3, times = 0, until_ms = 3000 },
  { label = "transport split-writes (3 bytes)", must_work = true })

-- The connection drops while the command is in flight; the peer makes it again.
local fired_before = faults.fired_count()
lab.reader(1):fault{ kind = "drop" }
local apdu, expected = faults.echo()
local start = lab.now_ms()
local reply = lab.wait(lab.send("Transmit", { card = session.card, protocol = session.protocol, apdu = apdu }), 60000)
local took = lab.now_ms() - start
local fired = faults.fired_count() - fired_before
lab.reader(1):clear_faults()
local back = lab.poll(function() return lab.reader(1):info().connected end, 20000, 100)
pcsc.disconnect(session.card, pcsc.SCARD_LEAVE_CARD)
local listing_ms = lab.in_guest() and 30000 or 5000
local name = pcsc.wait_for_reader(session.context, listing_ms)
local after = "reader not listed again"
if name then
  session.name = name
  pcsc.wait_state(session.context, name, pcsc.SCARD_STATE_PRESENT, true, 5000)
  local card, protocol, connect = pcsc.connect(session.context, name)
  after = "SCardConnect -> " .. tostring(connect.rv_name)
  if connect.rv == 0 then
    session.card, session.protocol = card, protocol
    after = faults.recover(session)
  end
end
local text = string.format("SCardTransmit -> %s (%.0f ms); peer %s; then %s", reply and tostring(reply.rv_name) or "no answer",
  took, back and "reconnected" or "did NOT reconnect", after)
lab.outcome("transport drop", text)
lab.log("drop: " .. text)
lab.check(fired > 0, "drop: the fault fired")
lab.check(reply ~= nil, "drop: SCardTransmit answered")
if reply and reply.rv == 0 then lab.check(reply.response == expected, "drop: no wrong data as success") end
lab.check(after == "ok", "drop: the reader works once the connection is made again (" .. text .. ")")
pcsc.release(session.context)
