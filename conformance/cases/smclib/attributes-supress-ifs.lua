-- @title: SET_ATTRIBUTE SUPRESS_T1_IFS_REQUEST is taken and the next T=1 exchange at TPDU level goes without S(IFS request), while GET of the tag stays NOT_SUPPORTED
-- @covers: ioctl:IOCTL_SMARTCARD_SET_ATTRIBUTE, attr:SCARD_ATTR_SUPRESS_T1_IFS_REQUEST
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 4 (SUPRESS_T1_IFS_REQUEST: GET NOT_SUPPORTED, SET supported), 1.2 SET_ATTRIBUTE, 5 (T=1 engine: the first Request after an ATR sends S(IFS req))

-- At TPDU level every T=1 block the library builds is one CCID XfrBlock, so the reader's count
-- of commands shows whether S(IFS request) went before the first I-block.
lab.reader(1):configure({ exchange = "tpdu" })
local function commands() return lab.reader(1):info().commands end
local function select_mf(what)
  local before = commands()
  local reply = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, "00a4000c023f00"), 300)
  smc.expect(reply, "STATUS_SUCCESS", "TRANSMIT " .. what)
  lab.check_eq(hex.sw(reply.output), "9000", "SELECT MF " .. what)
  return commands() - before
end

smc.insert("t1-fs")
smc.power_and_select(smc.SCARD_PROTOCOL_T1)
lab.check_eq(select_mf("first after the reset"), 2, "blocks of the first exchange: S(IFS request), then the I-block")
lab.check_eq(select_mf("second"), 1, "blocks of the second exchange")

smc.power_and_select(smc.SCARD_PROTOCOL_T1)
local set = smc.ioctl(smc.IOCTL_SMARTCARD_SET_ATTRIBUTE, smc.ulong(smc.attr.SUPRESS_T1_IFS_REQUEST), 0)
smc.expect(set, "STATUS_SUCCESS", "SET_ATTRIBUTE SUPRESS_T1_IFS_REQUEST")
lab.check_eq(set.information, 0, "SET_ATTRIBUTE returns no bytes")
smc.expect(smc.get_attribute("SUPRESS_T1_IFS_REQUEST"), "STATUS_NOT_SUPPORTED", "GET_ATTRIBUTE SUPRESS_T1_IFS_REQUEST")
lab.check_eq(select_mf("first after the SET"), 1, "blocks of the first exchange after SUPRESS_T1_IFS_REQUEST")
