-- @title: reader attributes (vendor, channel, protocol, power, mechanical, device unit) give the driver's values unchanged in ABSENT, SWALLOWED, NEGOTIABLE and SPECIFIC
-- @covers: ioctl:IOCTL_SMARTCARD_GET_ATTRIBUTE, attr:SCARD_ATTR_VENDOR_NAME, attr:SCARD_ATTR_VENDOR_IFD_TYPE, attr:SCARD_ATTR_VENDOR_IFD_VERSION, attr:SCARD_ATTR_VENDOR_IFD_SERIAL_NO, attr:SCARD_ATTR_CHANNEL_ID, attr:SCARD_ATTR_PROTOCOL_TYPES, attr:SCARD_ATTR_DEFAULT_CLK, attr:SCARD_ATTR_MAX_CLK, attr:SCARD_ATTR_DEFAULT_DATA_RATE, attr:SCARD_ATTR_MAX_DATA_RATE, attr:SCARD_ATTR_MAX_IFSD, attr:SCARD_ATTR_POWER_MGMT_SUPPORT, attr:SCARD_ATTR_CHARACTERISTICS, attr:SCARD_ATTR_DEVICE_UNIT
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 4 (attribute table: VendorAttr and ReaderCapabilities fields), 3 (VENDOR_ATTR, SCARD_READER_CAPABILITIES)

-- What the reference driver declares, most of it taken from the virtual reader's CCID class
-- descriptor: dwProtocols T=0|T=1, dwDefaultClock = dwMaximumClock = 3580 kHz, dwDataRate the
-- rate of Fd/Dd at that clock, dwMaxDataRate the rate of Fi 372 / Di 64, dwMaxIFSD 254,
-- dwMechanical 0.
local CLOCK_KHZ = 3580
local expected_ulong = {
  VENDOR_IFD_VERSION = 0x01000001,  -- smclib.md 4: Major << 24 | Minor << 16 | Build; version 1.0 build 1
  PROTOCOL_TYPES = smc.SCARD_PROTOCOL_T0 | smc.SCARD_PROTOCOL_T1,
  DEFAULT_CLK = CLOCK_KHZ,
  MAX_CLK = CLOCK_KHZ,
  DEFAULT_DATA_RATE = CLOCK_KHZ * 1000 // 372,
  MAX_DATA_RATE = CLOCK_KHZ * 1000 * 64 // 372,
  MAX_IFSD = 254,
  POWER_MGMT_SUPPORT = 0,
  CHARACTERISTICS = 0,
  DEVICE_UNIT = 0,
}
local expected_string = {
  VENDOR_NAME = hex.from_string("readerlab"),
  VENDOR_IFD_TYPE = hex.from_string("Reference RDF CCID"),
}
local READER_TYPE_USB = 0x20  -- smclib.md 4 reader types
local VENDOR_STRING_MAX = 32  -- smclib.md 3: VENDOR_ATTR strings hold 32 bytes

-- The library reads these fields whatever the card does: the same answers in every state.
local function check_reader_data(where)
  for name, value in pairs(expected_ulong) do
    local reply = smc.get_attribute(name)
    smc.expect(reply, "STATUS_SUCCESS", name .. " " .. where)
    lab.check_eq(reply.information, 4, name .. " length " .. where)
    lab.check_eq(smc.ulong_at(reply.output), value, name .. " " .. where)
  end
  for name, value in pairs(expected_string) do
    local reply = smc.get_attribute(name)
    smc.expect(reply, "STATUS_SUCCESS", name .. " " .. where)
    lab.check_eq(reply.output, value, name .. " " .. where)
  end
  -- smclib.md 4 with [X]: the reader type in the high word, the channel (USB: the device
  -- number, which the driver may leave 0) in the low one.
  local channel = smc.get_attribute("CHANNEL_ID")
  smc.expect(channel, "STATUS_SUCCESS", "CHANNEL_ID " .. where)
  lab.check_eq(channel.information, 4, "CHANNEL_ID length " .. where)
  lab.check_eq(smc.ulong_at(channel.output) >> 16, READER_TYPE_USB, "CHANNEL_ID reader type " .. where)
  -- IfdSerialNo comes back as the driver set it, at most 32 bytes (VENDOR_ATTR).
  local serial = smc.get_attribute("VENDOR_IFD_SERIAL_NO")
  smc.expect(serial, "STATUS_SUCCESS", "VENDOR_IFD_SERIAL_NO " .. where)
  lab.check(serial.information <= VENDOR_STRING_MAX, "VENDOR_IFD_SERIAL_NO fits VENDOR_ATTR " .. where)
  -- The reference driver reports the reader's USB iSerialNumber string.
  lab.check_eq(hex.to_string(serial.output), "RL0001", "VENDOR_IFD_SERIAL_NO " .. where)
end

lab.check_eq(smc.state(), smc.SCARD_ABSENT, "state with no card")
check_reader_data("with no card")
smc.insert("t1-fs")
lab.check_eq(smc.state(), smc.SCARD_SWALLOWED, "state with an unpowered card")
check_reader_data("in SWALLOWED")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64), "STATUS_SUCCESS", "cold reset")
lab.check_eq(smc.state(), smc.SCARD_NEGOTIABLE, "state after the ATR (TA1 13)")
check_reader_data("in NEGOTIABLE")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T1), 4), "STATUS_SUCCESS", "SET_PROTOCOL T=1")
lab.check_eq(smc.state(), smc.SCARD_SPECIFIC, "state after SET_PROTOCOL")
check_reader_data("in SPECIFIC")
lab.reader(1):remove()
lab.check_eq(smc.state(), smc.SCARD_ABSENT, "state after the removal")
check_reader_data("after the removal")
