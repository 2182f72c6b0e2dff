-- @title: at TPDU level the library's T=1 engine chains commands and answers with IFSC 254 and with IFSC 16
-- @covers: t1:chaining IFSC 254, t1:chaining IFSC 16, callback:RDF_TRANSMIT, ioctl:IOCTL_SMARTCARD_TRANSMIT
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 5 (SmartcardT1Request/Reply); ISO 7816-3 11.6.2.1 (chaining)

lab.reader(1):configure({ exchange = "tpdu" })
for _, profile in ipairs({ "t1-fs", "t1-ifsc16" }) do
  smc.insert(profile)
  local _, protocol = smc.power_and_select(smc.SCARD_PROTOCOL_T1)
  lab.check_eq(protocol, smc.SCARD_PROTOCOL_T1, profile .. ": T=1 selected")
  local function transmit(apdu)
    local reply = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, apdu), 300)
    smc.expect(reply, "STATUS_SUCCESS", profile .. ": TRANSMIT " .. apdu:sub(1, 8))
    return reply.output:sub(17)  -- after the SCARD_IO_REQUEST header
  end
  lab.check_eq(hex.sw(transmit("00a4000c023f00")), "9000", profile .. ": SELECT MF")
  local read = transmit("00b0810000")
  lab.check_eq(hex.len(read), 258, profile .. ": READ BINARY of 256 bytes arrives whole")
  local data = string.rep("5a", 200)
  lab.check_eq(transmit(hex.apdu("80100000", data, 0)), data .. "9000", profile .. ": ECHO of 200 bytes")
  lab.reader(1):remove()
end
