-- @title: scenario: the reader reports a hardware error (over-current) and deactivates the card, once at power-on and once in the middle of a session: the call fails cleanly and a new power-on works
-- @covers: pcsc:SCardConnect, pcsc:SCardTransmit, pcsc:SCardReconnect, ccid:RDR_to_PC_HardwareError, fault:hardware-error, scenario:hardware-error
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.3.2 (RDR_to_PC_HardwareError, bHardwareErrorCode 01 over-current), 6.2.6 (HW_ERROR)
-- @timeout: 120

local context, name = pcsc.setup()
-- At power-on: the driver's first IccPowerOn (reading the new card's ATR) meets the hardware
-- error. The card may be reported mute or the connect may fail; after the card is taken out
-- and put back, everything works.
lab.reader(1):fault{ kind = "hardware-error", command = "IccPowerOn" }
lab.reader(1):insert("t1-fs")
local state = pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000)
local card, protocol, reply = pcsc.connect(context, name)
local text = string.format("insertion under the hardware error: %s; SCardConnect -> %s",
  state and (((state.event_state & pcsc.SCARD_STATE_MUTE) ~= 0) and "reported MUTE" or "reported present") or "not reported",
  tostring(reply.rv_name))
if reply.rv == 0 then
  local apdu, expected = faults.echo()
  local response, transmitted = pcsc.transmit(card, protocol, apdu)
  text = text .. "; SCardTransmit -> " .. tostring(transmitted.rv_name)
  if transmitted.rv == 0 then lab.check_eq(response, expected, "no wrong data from a card that failed to power") end
  pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
end
lab.reader(1):clear_faults()
lab.check(#lab.firings() == 1, "the hardware error at power-on fired")
lab.reader(1):remove()
pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
pcsc.insert_and_wait(context, name, "t1-fs")
card, protocol = pcsc.connect_ok(context, name)
lab.outcome("scenario hardware-error at power-on", text .. "; after reinsertion ok")
lab.log(text)
-- In a session: SCardTransmit fails or the driver powers the card again itself.
local session = { context = context, name = name, card = card, protocol = protocol }
faults.probe_transmit(session, { kind = "hardware-error", command = "XfrBlock" },
  { label = "scenario hardware-error in a session", recover = "reconnect" })
lab.check(#lab.firings() >= 2, "both hardware errors fired")
pcsc.disconnect(session.card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(context)
