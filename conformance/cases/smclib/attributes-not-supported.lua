-- @title: the attributes smclib does not answer (sync protocols, security, EXTENDED_BWT, CURRENT_IO_STATE, ESC_*, system names, SUPRESS_T1_IFS_REQUEST, PERF_*) are NOT_SUPPORTED with and without a card; SET_ATTRIBUTE takes SUPRESS_T1_IFS_REQUEST only
-- @covers: ioctl:IOCTL_SMARTCARD_GET_ATTRIBUTE, ioctl:IOCTL_SMARTCARD_SET_ATTRIBUTE, ioctl:GET_ATTRIBUTE/NOT_SUPPORTED, attr:SCARD_ATTR_SYNC_PROTOCOL_TYPES, attr:SCARD_ATTR_USER_TO_CARD_AUTH_DEVICE, attr:SCARD_ATTR_USER_AUTH_INPUT_DEVICE, attr:SCARD_ATTR_EXTENDED_BWT, attr:SCARD_ATTR_CURRENT_IO_STATE, attr:SCARD_ATTR_ESC_RESET, attr:SCARD_ATTR_ESC_CANCEL, attr:SCARD_ATTR_ESC_AUTHREQUEST, attr:SCARD_ATTR_MAXINPUT, attr:SCARD_ATTR_VENDOR_SPECIFIC_INFO, attr:SCARD_ATTR_DEVICE_IN_USE, attr:SCARD_ATTR_DEVICE_FRIENDLY_NAME_A, attr:SCARD_ATTR_DEVICE_SYSTEM_NAME_A, attr:SCARD_ATTR_DEVICE_FRIENDLY_NAME_W, attr:SCARD_ATTR_DEVICE_SYSTEM_NAME_W, attr:SCARD_ATTR_SUPRESS_T1_IFS_REQUEST, attr:SCARD_ATTR_PERF_NUM_TRANSMISSIONS, attr:SCARD_ATTR_PERF_BYTES_TRANSMITTED, attr:SCARD_ATTR_PERF_TRANSMISSION_TIME
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 4 (attribute table: the NOT_SUPPORTED rows), 1.2 GET_ATTRIBUTE, SET_ATTRIBUTE

-- smclib.md 4: NOT_SUPPORTED on Win11 (ESC_CANCEL, ESC_AUTHREQUEST and VENDOR_SPECIFIC_INFO were
-- not in the recording; the table gives them the same answer).
local NOT_SUPPORTED = { "SYNC_PROTOCOL_TYPES", "USER_TO_CARD_AUTH_DEVICE", "USER_AUTH_INPUT_DEVICE", "CURRENT_IO_STATE",
  "ESC_RESET", "ESC_CANCEL", "ESC_AUTHREQUEST", "MAXINPUT", "VENDOR_SPECIFIC_INFO", "DEVICE_IN_USE",
  "DEVICE_FRIENDLY_NAME_A", "DEVICE_SYSTEM_NAME_A", "DEVICE_FRIENDLY_NAME_W", "DEVICE_SYSTEM_NAME_W",
  "SUPRESS_T1_IFS_REQUEST", "PERF_NUM_TRANSMISSIONS", "PERF_BYTES_TRANSMITTED", "PERF_TRANSMISSION_TIME" }

local function check_not_supported(where)
  for _, name in ipairs(NOT_SUPPORTED) do
    local reply = smc.get_attribute(name)
    smc.expect(reply, "STATUS_NOT_SUPPORTED", name .. " " .. where)
    lab.check_eq(reply.information, 0, name .. " bytes returned " .. where)
  end
end

check_not_supported("with no card")
-- EXTENDED_BWT is an IFD_PROTOCOL tag: below NEGOTIABLE the state rule of smclib.md 4 may answer
-- first, so it is only asked of a reset card, where the table's NOT_SUPPORTED is unambiguous.
smc.insert("t1-fs")
check_not_supported("with an unpowered card")
local _, protocol = smc.power_and_select(smc.SCARD_PROTOCOL_T1)
lab.check_eq(protocol, smc.SCARD_PROTOCOL_T1, "T=1 selected")
check_not_supported("in SPECIFIC")
smc.expect(smc.get_attribute("EXTENDED_BWT"), "STATUS_NOT_SUPPORTED", "EXTENDED_BWT in SPECIFIC")

-- SET_ATTRIBUTE: SUPRESS_T1_IFS_REQUEST is taken (no value needed) though GET refuses it.
local function set(name, value_hex) return smc.ioctl(smc.IOCTL_SMARTCARD_SET_ATTRIBUTE, smc.ulong(smc.attr[name]) .. (value_hex or ""), 0) end
smc.expect(set("SUPRESS_T1_IFS_REQUEST"), "STATUS_SUCCESS", "SET SUPRESS_T1_IFS_REQUEST")
smc.expect(set("SUPRESS_T1_IFS_REQUEST", smc.ulong(1)), "STATUS_SUCCESS", "SET SUPRESS_T1_IFS_REQUEST with a value")
smc.expect(smc.get_attribute("SUPRESS_T1_IFS_REQUEST"), "STATUS_NOT_SUPPORTED", "GET SUPRESS_T1_IFS_REQUEST after the SET")
-- The T=1 channel still works after it.
local reply = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, "00a4000c023f00"), 300)
smc.expect(reply, "STATUS_SUCCESS", "TRANSMIT after SET SUPRESS_T1_IFS_REQUEST")
lab.check_eq(hex.sw(reply.output), "9000", "SELECT MF after SET SUPRESS_T1_IFS_REQUEST")
-- smclib.md 1.2: every other tag is refused, readable ones included. DEVICE_IN_USE is left out:
-- the spec records no answer for it (a DDI page claims SUCCESS).
for _, name in ipairs({ "VENDOR_NAME", "DEVICE_UNIT", "CURRENT_IFSD", "CURRENT_PROTOCOL_TYPE", "MAX_IFSD",
  "PERF_NUM_TRANSMISSIONS", "ICC_PRESENCE" }) do
  smc.expect(set(name, smc.ulong(1)), "STATUS_NOT_SUPPORTED", "SET " .. name)
end
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_SET_ATTRIBUTE, smc.ulong(0x7FFF1234), 0), "STATUS_NOT_SUPPORTED", "SET of an unknown tag")
lab.check_eq(smc.attribute_ulong("CURRENT_PROTOCOL_TYPE"), smc.SCARD_PROTOCOL_T1, "CURRENT_PROTOCOL_TYPE after the refused SETs")
lab.check_eq(smc.attribute_ulong("CURRENT_IFSD"), 254, "CURRENT_IFSD after the refused SETs")
