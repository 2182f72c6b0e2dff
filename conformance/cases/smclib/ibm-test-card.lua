-- @title: reader-certification style sequence with the IBM-style test card: write and read back 1 to 254 bytes, patterns 55/AA and 00/FF
-- @covers: ioctl:IOCTL_SMARTCARD_TRANSMIT, callback:RDF_TRANSMIT, callback:RDF_SET_PROTOCOL, cert:test card read/write 1-254
-- @drivers: reference-rdf
-- @spec: smclib.md 6 D (PC/SC test cards: WRITE/READ BINARY of 1-254 bytes)
-- @timeout: 120

smc.insert("ibm-test")
local _, protocol = smc.power_and_select(smc.SCARD_PROTOCOL_T1)
lab.check_eq(protocol, smc.SCARD_PROTOCOL_T1, "T=1 selected")
local function transmit(apdu)
  local reply = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, apdu), 300)
  if reply.rv ~= 0 then return nil, reply.rv_name end
  return reply.output:sub(17)
end
local wrong, start = 0, lab.now_ms()
for n = 1, 254 do
  local pattern = ({ "55", "aa", "00", "ff" })[n % 4 + 1]
  local data = pattern:rep(n)
  local written = transmit(hex.apdu("00d60000", data))
  local read = transmit(string.format("00b00000%02x", n))
  if written ~= "9000" or read ~= data .. "9000" then
    wrong = wrong + 1
    if wrong == 1 then lab.log(string.format("n = %d: write %s, read %s", n, tostring(written), tostring(read))) end
  end
end
lab.check_eq(wrong, 0, "lengths whose write or read back failed")
lab.metric("254 write/read pairs took", lab.now_ms() - start, "ms")
