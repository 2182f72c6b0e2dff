-- @title: GET_ATTRIBUTE is answered by the library: the vendor name always, ATR_STRING only above POWERED; unknown tags are NOT_SUPPORTED
-- @covers: ioctl:IOCTL_SMARTCARD_GET_ATTRIBUTE, attr:SCARD_ATTR_VENDOR_NAME, attr:SCARD_ATTR_ATR_STRING, attr:SCARD_ATTR_CURRENT_PROTOCOL_TYPE, ioctl:GET_ATTRIBUTE/NOT_SUPPORTED, ioctl:GET_ATTRIBUTE/BUFFER_TOO_SMALL, ioctl:IOCTL_SMARTCARD_SET_ATTRIBUTE
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.2 GET_ATTRIBUTE, SET_ATTRIBUTE; 4 attributes

local VENDOR_NAME, ATR_STRING, CURRENT_PROTOCOL = 0x00010100, 0x00090303, 0x00080201
local vendor = smc.ioctl(smc.IOCTL_SMARTCARD_GET_ATTRIBUTE, smc.ulong(VENDOR_NAME), 64)
smc.expect(vendor, "STATUS_SUCCESS", "SCARD_ATTR_VENDOR_NAME")
lab.log("vendor name: " .. hex.to_string(vendor.output))
lab.check(vendor.information > 0, "a vendor name")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_GET_ATTRIBUTE, smc.ulong(0x7FFF1234), 64), "STATUS_NOT_SUPPORTED", "an unknown tag")
smc.insert("t1-fs")
-- smclib.md 4: ATR_STRING gives INVALID_DEVICE_STATE while the state is POWERED or below.
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_GET_ATTRIBUTE, smc.ulong(ATR_STRING), 64), "STATUS_INVALID_DEVICE_STATE",
  "ATR_STRING before the card is reset")
smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T1), 4)
local atr = smc.ioctl(smc.IOCTL_SMARTCARD_GET_ATTRIBUTE, smc.ulong(ATR_STRING), 64)
smc.expect(atr, "STATUS_SUCCESS", "ATR_STRING in SPECIFIC")
lab.check_eq(atr.output, "3b9b138131fe4580597265616465726c616230", "ATR_STRING")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_GET_ATTRIBUTE, smc.ulong(ATR_STRING), 4), "STATUS_BUFFER_TOO_SMALL",
  "ATR_STRING into 4 bytes")
local protocol = smc.ioctl(smc.IOCTL_SMARTCARD_GET_ATTRIBUTE, smc.ulong(CURRENT_PROTOCOL), 4)
smc.expect(protocol, "STATUS_SUCCESS", "CURRENT_PROTOCOL_TYPE")
lab.check_eq(smc.ulong_at(protocol.output), smc.SCARD_PROTOCOL_T1, "CURRENT_PROTOCOL_TYPE")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_SET_ATTRIBUTE, smc.ulong(0x7FFF0007), 0), "STATUS_SUCCESS",
  "SET_ATTRIBUTE SUPRESS_T1_IFS_REQUEST")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_SET_ATTRIBUTE, smc.ulong(VENDOR_NAME) .. "41", 0), "STATUS_NOT_SUPPORTED",
  "SET_ATTRIBUTE of another tag")
