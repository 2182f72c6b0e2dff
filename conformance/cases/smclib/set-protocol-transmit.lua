-- @title: SET_PROTOCOL T=1 gives SPECIFIC; TRANSMIT answers SELECT with the FCI and 9000; TRANSMIT's buffer and state checks
-- @covers: ioctl:IOCTL_SMARTCARD_SET_PROTOCOL, callback:RDF_SET_PROTOCOL, ioctl:IOCTL_SMARTCARD_TRANSMIT, callback:RDF_TRANSMIT, ioctl:TRANSMIT/INVALID_PARAMETER, ioctl:TRANSMIT/INVALID_DEVICE_STATE, ioctl:SET_PROTOCOL/NOT_SUPPORTED
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.2 SET_PROTOCOL, TRANSMIT

smc.insert("t1-fs")
local select_aid = hex.apdu("00a40400", "f07265616465726c616201", 0)
local early = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, select_aid), 300)
smc.expect(early, "STATUS_INVALID_DEVICE_STATE", "TRANSMIT before a protocol is selected")
smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T0), 4), "STATUS_NOT_SUPPORTED",
  "SET_PROTOCOL T=0 on a T=1-only card")
local set = smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T0 | smc.SCARD_PROTOCOL_T1), 4)
smc.expect(set, "STATUS_SUCCESS", "SET_PROTOCOL T0|T1")
lab.check_eq(smc.ulong_at(set.output), smc.SCARD_PROTOCOL_T1, "the selected protocol")
lab.check_eq(set.state, smc.SCARD_SPECIFIC, "state after SET_PROTOCOL")
local reply = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, select_aid), 300)
smc.expect(reply, "STATUS_SUCCESS", "TRANSMIT SELECT by AID")
lab.check_eq(reply.output:sub(1, 16), smc.ulong(smc.SCARD_PROTOCOL_T1) .. smc.ulong(8), "the reply's SCARD_IO_REQUEST header")
lab.check_eq(hex.sw(reply.output), "9000", "status word")
lab.check_eq(reply.output:sub(17, 18), "6f", "the FCI template")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.ulong(2) .. "0800", 300), "STATUS_INVALID_PARAMETER",
  "TRANSMIT with 6 input bytes")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T0, select_aid), 300),
  "STATUS_INVALID_DEVICE_STATE", "TRANSMIT with a protocol other than the selected one")
