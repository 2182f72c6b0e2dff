-- @title: every attribute group by state: reader data always, ICC_PRESENCE and ICC_INTERFACE_STATUS by state, protocol tags only above POWERED, the NOT_SUPPORTED tags
-- @covers: ioctl:IOCTL_SMARTCARD_GET_ATTRIBUTE, attr:SCARD_ATTR_VENDOR_IFD_TYPE, attr:SCARD_ATTR_VENDOR_IFD_VERSION, attr:SCARD_ATTR_CHANNEL_ID, attr:SCARD_ATTR_ICC_PRESENCE, attr:SCARD_ATTR_MAXINPUT, attr:SCARD_ATTR_CURRENT_PROTOCOL_TYPE
-- @drivers: reference-rdf
-- @spec: smclib.md 4 (attribute table and state rules)

local function get(tag, size) return smc.ioctl(smc.IOCTL_SMARTCARD_GET_ATTRIBUTE, smc.ulong(tag), size or 64) end
local ICC_PRESENCE, ICC_INTERFACE_STATUS, CURRENT_PROTOCOL, CURRENT_IFSC = 0x00090300, 0x00090301, 0x00080201, 0x00080207
local MAXINPUT, SYNC_PROTOCOL_TYPES = 0x0007A007, 0x00030126

for _, tag in ipairs({ 0x00010101, 0x00010102, 0x00020110 }) do
  smc.expect(get(tag), "STATUS_SUCCESS", string.format("reader attribute 0x%08X", tag))
end
for _, tag in ipairs({ MAXINPUT, SYNC_PROTOCOL_TYPES }) do
  smc.expect(get(tag), "STATUS_NOT_SUPPORTED", string.format("attribute 0x%08X", tag))
end

local function presence() return tonumber(get(ICC_PRESENCE, 1).output, 16) end
lab.check_eq(presence(), 0, "ICC_PRESENCE with no card")
lab.check_eq(tonumber(get(ICC_INTERFACE_STATUS, 1).output, 16), 0, "ICC_INTERFACE_STATUS with no card")
smc.expect(get(CURRENT_PROTOCOL, 4), "STATUS_INVALID_DEVICE_STATE", "CURRENT_PROTOCOL_TYPE with no card")

smc.insert("t1-fs")
lab.check(presence() >= 1, "ICC_PRESENCE with a card")
smc.expect(get(CURRENT_PROTOCOL, 4), "STATUS_INVALID_DEVICE_STATE", "CURRENT_PROTOCOL_TYPE before a reset")
smc.power_and_select(smc.SCARD_PROTOCOL_T1)
lab.check_eq(presence(), 2, "ICC_PRESENCE of a powered card")
lab.check_eq(tonumber(get(ICC_INTERFACE_STATUS, 1).output, 16), 0xFF, "ICC_INTERFACE_STATUS of a powered card")
lab.check_eq(smc.ulong_at(get(CURRENT_PROTOCOL, 4).output), smc.SCARD_PROTOCOL_T1, "CURRENT_PROTOCOL_TYPE")
lab.check_eq(smc.ulong_at(get(CURRENT_IFSC, 4).output), 254, "CURRENT_IFSC from TA3")
smc.expect(get(CURRENT_PROTOCOL, 1), "STATUS_BUFFER_TOO_SMALL", "a ULONG tag into 1 byte")
