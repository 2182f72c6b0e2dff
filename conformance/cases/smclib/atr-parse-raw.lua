-- @title: SET_PROTOCOL with a mask without T=0 or T=1 (RAW) goes through RDF_ATR_PARSE and selects RAW in SPECIFIC
-- @covers: callback:RDF_ATR_PARSE, ioctl:IOCTL_SMARTCARD_SET_PROTOCOL, callback:RDF_SET_PROTOCOL
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.2 SET_PROTOCOL (a mask without T0/T1 calls RDF_ATR_PARSE), 2 RDF_ATR_PARSE

smc.insert("t1-fs")
smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
local raw = smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_RAW), 4)
smc.expect(raw, "STATUS_SUCCESS", "SET_PROTOCOL RAW")
lab.check_eq(smc.ulong_at(raw.output), smc.SCARD_PROTOCOL_RAW, "the selected protocol")
lab.check_eq(raw.state, smc.SCARD_SPECIFIC, "state after SET_PROTOCOL RAW")
-- The reader exchanges APDUs, not raw bytes: the driver refuses a raw TRANSMIT as a bad dwProtocol.
local transmit = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_RAW, "00a4000c023f00"), 300)
smc.expect(transmit, "STATUS_INVALID_DEVICE_REQUEST", "raw TRANSMIT through an APDU-level reader")
