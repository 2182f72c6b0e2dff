-- @title: IOCTL_SMARTCARD_GET_STATE reports ABSENT, then a state of a present card; a 3-byte output is BUFFER_TOO_SMALL
-- @covers: ioctl:IOCTL_SMARTCARD_GET_STATE, ioctl:GET_STATE/BUFFER_TOO_SMALL
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.2 GET_STATE

local absent = smc.ioctl(smc.IOCTL_SMARTCARD_GET_STATE, "", 4)
smc.expect(absent, "STATUS_SUCCESS", "GET_STATE")
lab.check_eq(absent.information, 4, "Information")
lab.check_eq(smc.ulong_at(absent.output), smc.SCARD_ABSENT, "state without a card")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_GET_STATE, "", 3), "STATUS_BUFFER_TOO_SMALL", "GET_STATE into 3 bytes")
local present = smc.insert("t1-fs")
lab.check(smc.ulong_at(present.output) >= smc.SCARD_PRESENT, "state with a card is PRESENT or above")
