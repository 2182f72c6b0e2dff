-- @title: every attribute group by state: reader data always, ICC_PRESENCE and ICC_INTERFACE_STATUS in each state from ABSENT to SPECIFIC and back, protocol tags only above POWERED, the NOT_SUPPORTED tags
-- @covers: ioctl:IOCTL_SMARTCARD_GET_ATTRIBUTE, attr:SCARD_ATTR_VENDOR_IFD_TYPE, attr:SCARD_ATTR_VENDOR_IFD_VERSION, attr:SCARD_ATTR_CHANNEL_ID, attr:SCARD_ATTR_ICC_PRESENCE, attr:SCARD_ATTR_ICC_INTERFACE_STATUS, attr:SCARD_ATTR_MAXINPUT, attr:SCARD_ATTR_CURRENT_PROTOCOL_TYPE
-- @drivers: reference-rdf, windows
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

-- smclib.md 4: ICC_PRESENCE is 0 in ABSENT, 1 in PRESENT, 2 from SWALLOWED up; ICC_INTERFACE_STATUS
-- 0 up to PRESENT and FF from SWALLOWED up. Both are one byte, read here into exactly one.
local function one_byte(tag, what)
  local reply = get(tag, 1)
  smc.expect(reply, "STATUS_SUCCESS", what)
  lab.check_eq(reply.information, 1, what .. " length")
  return tonumber(reply.output, 16)
end
local function check_icc(where)
  local state = smc.state()
  local presence = state == smc.SCARD_ABSENT and 0 or (state == smc.SCARD_PRESENT and 1 or 2)
  lab.check_eq(one_byte(ICC_PRESENCE, "ICC_PRESENCE " .. where), presence, "ICC_PRESENCE " .. where .. " (state " .. state .. ")")
  lab.check_eq(one_byte(ICC_INTERFACE_STATUS, "ICC_INTERFACE_STATUS " .. where), state >= smc.SCARD_SWALLOWED and 0xFF or 0,
    "ICC_INTERFACE_STATUS " .. where .. " (state " .. state .. ")")
  return state
end

lab.check_eq(check_icc("with no card"), smc.SCARD_ABSENT, "state with no card")
smc.expect(get(CURRENT_PROTOCOL, 4), "STATUS_INVALID_DEVICE_STATE", "CURRENT_PROTOCOL_TYPE with no card")

smc.insert("t1-fs")
-- A CCID reader holds an inserted card in contact position: SWALLOWED rather than PRESENT.
lab.check_eq(check_icc("with an unpowered card"), smc.SCARD_SWALLOWED, "state with an unpowered card")
smc.expect(get(CURRENT_PROTOCOL, 4), "STATUS_INVALID_DEVICE_STATE", "CURRENT_PROTOCOL_TYPE before a reset")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64), "STATUS_SUCCESS", "cold reset")
lab.check_eq(check_icc("after the ATR"), smc.SCARD_NEGOTIABLE, "state after the ATR")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T1), 4), "STATUS_SUCCESS", "SET_PROTOCOL T=1")
lab.check_eq(check_icc("after SET_PROTOCOL"), smc.SCARD_SPECIFIC, "state after SET_PROTOCOL")
lab.check_eq(smc.ulong_at(get(CURRENT_PROTOCOL, 4).output), smc.SCARD_PROTOCOL_T1, "CURRENT_PROTOCOL_TYPE")
lab.check_eq(smc.ulong_at(get(CURRENT_IFSC, 4).output), 254, "CURRENT_IFSC from TA3")
smc.expect(get(CURRENT_PROTOCOL, 1), "STATUS_BUFFER_TOO_SMALL", "a ULONG tag into 1 byte")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_POWER_DOWN), 0), "STATUS_SUCCESS", "power down")
lab.check_eq(check_icc("after power down"), smc.SCARD_SWALLOWED, "state after power down")
lab.reader(1):remove()
lab.check_eq(check_icc("after the removal"), smc.SCARD_ABSENT, "state after the removal")
