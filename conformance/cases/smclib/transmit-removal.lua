-- @title: the card pulled out 300 ms into a 1.5 s command: TRANSMIT fails with NO_MEDIA at once, the state is ABSENT, and the next card works (short APDU and TPDU level)
-- @covers: ioctl:IOCTL_SMARTCARD_TRANSMIT, callback:RDF_TRANSMIT, callback:RDF_TRANSMIT/NO_MEDIA
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.2 TRANSMIT, 2 (RDF_TRANSMIT); CCID 6.2.6 (bmICCStatus 2 in the answer)
-- @timeout: 60

local echo = hex.apdu("80100000", "a1a2a3a4", 0)
local reader = lab.reader(1)
for _, level in ipairs({ "short-apdu", "tpdu" }) do
  reader:configure({ exchange = level, card_timing = true })
  smc.insert("slow")
  local _, protocol = smc.power_and_select(smc.SCARD_PROTOCOL_T1)

  reader:remove_after(300)
  local start = lab.now_ms()
  local reply = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(protocol, echo), 300)
  local took = lab.now_ms() - start
  lab.metric(level .. ": TRANSMIT answered after the removal in", took, "ms")
  smc.expect(reply, "STATUS_NO_MEDIA", level .. ": TRANSMIT while the card is pulled out")
  lab.check(took >= 250 and took < 1400,
    string.format("%s: the driver failed when the card left (%.0f ms), not when the card would have answered", level, took))
  lab.check_eq(reply.information, 0, level .. ": no reply bytes")
  lab.check_eq(smc.ulong_at(smc.ioctl(smc.IOCTL_SMARTCARD_GET_STATE, "", 4).output), smc.SCARD_ABSENT,
    level .. ": state after the removal")
  smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(protocol, echo), 300),
    "STATUS_INVALID_DEVICE_STATE", level .. ": TRANSMIT with no card (the library: state is not SPECIFIC)")

  -- The reader and the driver carry on with the next card.
  smc.insert("t1-fs")
  smc.power_and_select(smc.SCARD_PROTOCOL_T1)
  local after = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, echo), 300)
  smc.expect(after, "STATUS_SUCCESS", level .. ": TRANSMIT to the next card")
  lab.check_eq(hex.sw(after.output), "9000", level .. ": the next card's status word")
  reader:remove()
end
