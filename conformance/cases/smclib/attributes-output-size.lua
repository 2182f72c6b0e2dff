-- @title: GET_ATTRIBUTE output sizes: with 1 byte the ULONG and string tags are BUFFER_TOO_SMALL and the 1-byte ICC tags succeed; with 0 bytes every tag fails; a ULONG needs 4 bytes and a string its length
-- @covers: ioctl:IOCTL_SMARTCARD_GET_ATTRIBUTE, ioctl:GET_ATTRIBUTE/BUFFER_TOO_SMALL, attr:SCARD_ATTR_ICC_PRESENCE, attr:SCARD_ATTR_ICC_INTERFACE_STATUS, attr:SCARD_ATTR_ICC_TYPE_PER_ATR, attr:SCARD_ATTR_ATR_STRING, attr:SCARD_ATTR_VENDOR_NAME, attr:SCARD_ATTR_VENDOR_IFD_TYPE
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 4 (state rules: a 1-byte output), 1.2 GET_ATTRIBUTE (a short output gives BUFFER_TOO_SMALL)

local READER_ULONGS = { "VENDOR_IFD_VERSION", "CHANNEL_ID", "PROTOCOL_TYPES", "DEFAULT_CLK", "MAX_CLK",
  "DEFAULT_DATA_RATE", "MAX_DATA_RATE", "MAX_IFSD", "POWER_MGMT_SUPPORT", "CHARACTERISTICS", "DEVICE_UNIT" }
local PROTOCOL_ULONGS = { "CURRENT_PROTOCOL_TYPE", "CURRENT_CLK", "CURRENT_F", "CURRENT_D", "CURRENT_N", "CURRENT_W",
  "CURRENT_IFSC", "CURRENT_IFSD", "CURRENT_BWT", "CURRENT_CWT", "CURRENT_EBC_ENCODING" }
local STRINGS = { "VENDOR_NAME", "VENDOR_IFD_TYPE" }
local ONE_BYTE = { "ICC_PRESENCE", "ICC_INTERFACE_STATUS" }

local function too_small(names, size, where)
  for _, name in ipairs(names) do
    local reply = smc.get_attribute(name, size)
    smc.expect(reply, "STATUS_BUFFER_TOO_SMALL", name .. " into " .. size .. " byte(s) " .. where)
    lab.check_eq(reply.information, 0, name .. " bytes returned into " .. size .. " " .. where)
  end
end
local function fits(names, size, where)
  for _, name in ipairs(names) do
    local reply = smc.get_attribute(name, size)
    smc.expect(reply, "STATUS_SUCCESS", name .. " into " .. size .. " byte(s) " .. where)
    lab.check_eq(reply.information, size, name .. " bytes returned into " .. size .. " " .. where)
  end
end
-- A string tag needs exactly its length: one byte less is refused.
local function string_boundary(name, where)
  local full = smc.get_attribute(name)
  smc.expect(full, "STATUS_SUCCESS", name .. " " .. where)
  local n = full.information
  lab.check(n >= 2, name .. " is long enough to cut " .. where)
  local exact = smc.get_attribute(name, n)
  smc.expect(exact, "STATUS_SUCCESS", name .. " into its own length " .. where)
  lab.check_eq(exact.output, full.output, name .. " into its own length " .. where)
  too_small({ name }, n - 1, where)
end

too_small(READER_ULONGS, 1, "with no card")
too_small(READER_ULONGS, 3, "with no card")
fits(READER_ULONGS, 4, "with no card")
too_small(STRINGS, 1, "with no card")
fits(ONE_BYTE, 1, "with no card")
-- ifdtest part B asks with no output buffer at all: every answerable tag must fail.
too_small(READER_ULONGS, 0, "with no card")
too_small(STRINGS, 0, "with no card")
too_small(ONE_BYTE, 0, "with no card")
for _, name in ipairs(STRINGS) do string_boundary(name, "with no card") end

smc.insert("t1-fs")
smc.power_and_select(smc.SCARD_PROTOCOL_T1)
lab.check_eq(smc.state(), smc.SCARD_SPECIFIC, "state after SET_PROTOCOL")
too_small(READER_ULONGS, 1, "in SPECIFIC")
too_small(PROTOCOL_ULONGS, 1, "in SPECIFIC")
too_small(PROTOCOL_ULONGS, 3, "in SPECIFIC")
fits(PROTOCOL_ULONGS, 4, "in SPECIFIC")
too_small({ "VENDOR_NAME", "VENDOR_IFD_TYPE", "ATR_STRING" }, 1, "in SPECIFIC")
fits({ "ICC_PRESENCE", "ICC_INTERFACE_STATUS", "ICC_TYPE_PER_ATR" }, 1, "in SPECIFIC")
too_small({ "ICC_PRESENCE", "ICC_INTERFACE_STATUS", "ICC_TYPE_PER_ATR", "ATR_STRING" }, 0, "in SPECIFIC")
too_small(PROTOCOL_ULONGS, 0, "in SPECIFIC")
string_boundary("ATR_STRING", "in SPECIFIC")
