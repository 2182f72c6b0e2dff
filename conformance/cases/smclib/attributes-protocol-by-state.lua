-- @title: IFD_PROTOCOL attributes, ATR_STRING and ICC_TYPE_PER_ATR: INVALID_DEVICE_STATE until the card is reset, then the values of its ATR in NEGOTIABLE and SPECIFIC (T=1 card with TA1, T=0 card with defaults)
-- @covers: ioctl:IOCTL_SMARTCARD_GET_ATTRIBUTE, attr:SCARD_ATTR_CURRENT_PROTOCOL_TYPE, attr:SCARD_ATTR_CURRENT_CLK, attr:SCARD_ATTR_CURRENT_F, attr:SCARD_ATTR_CURRENT_D, attr:SCARD_ATTR_CURRENT_N, attr:SCARD_ATTR_CURRENT_W, attr:SCARD_ATTR_CURRENT_IFSC, attr:SCARD_ATTR_CURRENT_IFSD, attr:SCARD_ATTR_CURRENT_BWT, attr:SCARD_ATTR_CURRENT_CWT, attr:SCARD_ATTR_CURRENT_EBC_ENCODING, attr:SCARD_ATTR_ATR_STRING, attr:SCARD_ATTR_ICC_TYPE_PER_ATR
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 4 (attribute table, state rules), 5 (ATR parsing defaults, F and D tables)

local ULONG_TAGS = { "CURRENT_PROTOCOL_TYPE", "CURRENT_CLK", "CURRENT_F", "CURRENT_D", "CURRENT_N", "CURRENT_W",
  "CURRENT_IFSC", "CURRENT_IFSD", "CURRENT_BWT", "CURRENT_CWT", "CURRENT_EBC_ENCODING" }
local CLOCK_KHZ = 3580  -- the virtual reader's dwDefaultClock: no PTS changes the clock
local MAX_IFSD = 254    -- the reader's dwMaxIFSD, which the library takes for T1.IFSD

-- smclib.md 4: these tags need CurrentState > POWERED.
local function check_refused(where)
  for _, name in ipairs(ULONG_TAGS) do
    smc.expect(smc.get_attribute(name), "STATUS_INVALID_DEVICE_STATE", name .. " " .. where)
  end
  smc.expect(smc.get_attribute("ATR_STRING"), "STATUS_INVALID_DEVICE_STATE", "ATR_STRING " .. where)
  smc.expect(smc.get_attribute("ICC_TYPE_PER_ATR"), "STATUS_INVALID_DEVICE_STATE", "ICC_TYPE_PER_ATR " .. where)
end

local function check_values(expected, atr, icc_type, where)
  for _, name in ipairs(ULONG_TAGS) do
    local reply = smc.get_attribute(name)
    smc.expect(reply, "STATUS_SUCCESS", name .. " " .. where)
    lab.check_eq(reply.information, 4, name .. " length " .. where)
    lab.check_eq(smc.ulong_at(reply.output), expected[name], name .. " " .. where)
  end
  local atr_string = smc.get_attribute("ATR_STRING")
  smc.expect(atr_string, "STATUS_SUCCESS", "ATR_STRING " .. where)
  lab.check_eq(atr_string.output, atr, "ATR_STRING " .. where)
  local icc = smc.get_attribute("ICC_TYPE_PER_ATR")
  smc.expect(icc, "STATUS_SUCCESS", "ICC_TYPE_PER_ATR " .. where)
  lab.check_eq(icc.output, icc_type, "ICC_TYPE_PER_ATR " .. where)
end

check_refused("with no card")

-- t1-fs: TA1 13 (Fl 1 = F 372, Dl 3 = D 4), no TC1, TD1 T=1, TA3 FE (IFSC 254), TB3 45 (BWI 4,
-- CWI 5), no TC3 (LRC). Two Fi/Di on offer: NEGOTIABLE after the ATR.
local T1_ATR = "3b9b138131fe4580597265616465726c616230"
smc.insert("t1-fs")
check_refused("in SWALLOWED")
local power = smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
smc.expect(power, "STATUS_SUCCESS", "cold reset of t1-fs")
lab.check_eq(power.output, T1_ATR, "the ATR POWER returned")
lab.check_eq(smc.state(), smc.SCARD_NEGOTIABLE, "state after the ATR of t1-fs")
local t1 = {
  CURRENT_PROTOCOL_TYPE = 0, CURRENT_CLK = CLOCK_KHZ, CURRENT_F = 372, CURRENT_D = 4, CURRENT_N = 0,
  CURRENT_W = 0,  -- issue 10 rule 2: a card without T=0 gets no WI
  CURRENT_IFSC = 254, CURRENT_IFSD = MAX_IFSD,
  CURRENT_BWT = 4, CURRENT_CWT = 5,  -- smclib.md 4: the BWI and CWI integers, not times
  CURRENT_EBC_ENCODING = 0,          -- smclib.md 4: 0 = LRC
}
-- smclib.md 4: ICC_TYPE_PER_ATR is 0 before a protocol is selected.
check_values(t1, T1_ATR, "00", "in NEGOTIABLE")
local set = smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(smc.SCARD_PROTOCOL_T1), 4)
smc.expect(set, "STATUS_SUCCESS", "SET_PROTOCOL T=1")
lab.check_eq(smc.state(), smc.SCARD_SPECIFIC, "state after SET_PROTOCOL")
-- The ATR's F and D stay what CURRENT_F/CURRENT_D report after the PTS (smclib.md 4 recording:
-- TA1 94 gave 512 and 8 while the PTS chose other values).
t1.CURRENT_PROTOCOL_TYPE = smc.SCARD_PROTOCOL_T1
check_values(t1, T1_ATR, "01", "in SPECIFIC")  -- 1 = ISO 7816 asynchronous
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_POWER_DOWN), 0), "STATUS_SUCCESS", "power down")
lab.check(smc.state() <= smc.SCARD_POWERED, "state after power down")
check_refused("after power down")
lab.reader(1):remove()
check_refused("after the removal")

-- t0-basic: no interface bytes at all, so the T=0 defaults of smclib.md 5 show; one protocol at
-- the default Fi/Di gives SPECIFIC with T=0 at once.
local T0_ATR = "3b0a805874302d6261736963"
smc.insert("t0-basic")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64), "STATUS_SUCCESS", "cold reset of t0-basic")
lab.check_eq(smc.state(), smc.SCARD_SPECIFIC, "state after the ATR of t0-basic")
check_values({
  CURRENT_PROTOCOL_TYPE = smc.SCARD_PROTOCOL_T0, CURRENT_CLK = CLOCK_KHZ, CURRENT_F = 372, CURRENT_D = 1,
  CURRENT_N = 0, CURRENT_W = 10,     -- smclib.md 5: WI defaults to 10
  CURRENT_IFSC = 0,                  -- issue 10 rule 2: a card without T=1 gets no T=1 parameters
  CURRENT_IFSD = MAX_IFSD,
  CURRENT_BWT = 0, CURRENT_CWT = 0,
  CURRENT_EBC_ENCODING = 0,
}, T0_ATR, "01", "in SPECIFIC with T=0")
