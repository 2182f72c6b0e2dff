-- The Lua half of the lab API, loaded into every case and scenario before it runs.
-- C functions prefixed with "_" are wrapped here into objects.

local Reader = {}
Reader.__index = Reader

function lab.reader(index)
  index = index or 1
  if index < 1 or index > lab.reader_count() then
    error("no reader " .. tostring(index) .. " (the rig has " .. lab.reader_count() .. ")", 2)
  end
  return setmetatable({ index = index }, Reader)
end

-- Slots are numbered from 1 (bSlot 0) up to the reader's slot count; slot 1 when not given.
function Reader:insert(profile, slot) lab._insert(self.index, profile, slot) end
function Reader:remove(slot) lab._remove(self.index, slot) end
-- The card leaves after delay_ms whatever the driver does then (a transmit in flight, say).
function Reader:remove_after(delay_ms, slot) lab._remove_after(self.index, delay_ms, slot) end
-- A card goes in after delay_ms, at that moment: not at a hand's pace (insert waits for the
-- driver to have read the last removal; this one is for cases that test a driver's timing).
function Reader:insert_after(delay_ms, profile, slot) lab._insert_after(self.index, delay_ms, profile, slot) end
function Reader:unplug() lab._unplug(self.index) end
-- The card loses power and gets it back (the same card, deactivated) after gap_ms (default 0).
function Reader:power_glitch(gap_ms) lab._power_glitch(self.index, gap_ms or 0) end
function Reader:replug() lab._replug(self.index) end
function Reader:info() return lab._reader_info(self.index) end
-- Waits until the driver has read the last insertion or removal from the interrupt endpoint;
-- a change it has not read yet merges with the next one, as on real hardware, but for a
-- removal followed by an insertion, which stay two notifications (a swap).
function Reader:wait_change_read(timeout_ms) return lab._wait_change_read(self.index, timeout_ms or 5000) end
-- Plugs in another reader model: { profile = NAME (a reader profile, scenarios/readers/NAME.lua,
-- see readerlab readers; the other fields apply on top of it), exchange = "tpdu"|"short-apdu"|"extended-apdu", product = ...,
-- serial = ..., max_message_length = n, card_timing = true (answer after the time cards say
-- they take) }. The new model comes empty. The next case starts from the first model again.
function Reader:configure(fields) lab._configure(self.index, fields) end
-- What the PIN pad's user does at the next PC_to_RDR_Secure commands: digits typed (the current
-- PIN at a change), new_digits and confirm_digits (a change), confirm (the OK key, default
-- true), timeout (walks away), cancel (the Cancel key), slot (1 = the first, the default).
-- configure{} plugs in a new model with no script: call keypad{} after it.
function Reader:keypad(fields) lab._keypad(self.index, fields) end
-- Arms one fault on this reader (the fields of lab.faults, without reader): e.g.
-- lab.reader(1):fault{kind = "wrong-seq", command = "XfrBlock", after = 1}.
function Reader:fault(fields) lab._fault(self.index, fields) end
-- Disarms this reader's faults at every level; what fired stays in lab.firings().
function Reader:clear_faults() lab._clear_faults(self.index) end

function lab.fail(message) error(message, 2) end

function lab.call(call, args, timeout_ms)
  local reply = lab.wait(lab.send(call, args), timeout_ms)
  if reply == nil then error(call .. ": the driver did not answer within " .. (timeout_ms or 30000) .. " ms", 2) end
  return reply
end

-- Records a failed check when actual ~= expected, naming both.
function lab.check_eq(actual, expected, what)
  local ok = actual == expected
  if not ok then
    lab.check(false, (what or "value") .. ": expected " .. tostring(expected) .. ", got " .. tostring(actual))
  end
  return ok
end

-- Polls fn every interval_ms until it returns a true value or timeout_ms passes.
function lab.poll(fn, timeout_ms, interval_ms)
  local start = lab.now_ms()
  interval_ms = interval_ms or 50
  while true do
    local result = fn()
    if result then return result, lab.now_ms() - start end
    if lab.now_ms() - start >= timeout_ms then return nil, lab.now_ms() - start end
    lab.sleep(interval_ms)
  end
end

-- Hex strings: any case, spaces allowed; the canonical form is lowercase without spaces.
hex = {}
function hex.clean(text) return (text:gsub("%s", ""):lower()) end
function hex.len(text) return #hex.clean(text) // 2 end
function hex.sw(response) local r = hex.clean(response) return r:sub(-4) end
function hex.data(response) local r = hex.clean(response) return r:sub(1, -5) end
function hex.from_string(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
function hex.to_string(h)
  return (hex.clean(h):gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end))
end

-- PC/SC through the driver port (the guest agent speaks these calls).
pcsc = {
  SCARD_S_SUCCESS = 0,
  SCARD_SCOPE_SYSTEM = 2,
  SCARD_SHARE_EXCLUSIVE = 1, SCARD_SHARE_SHARED = 2, SCARD_SHARE_DIRECT = 3,
  SCARD_PROTOCOL_T0 = 1, SCARD_PROTOCOL_T1 = 2, SCARD_PROTOCOL_ANY = 3,
  SCARD_LEAVE_CARD = 0, SCARD_RESET_CARD = 1, SCARD_UNPOWER_CARD = 2, SCARD_EJECT_CARD = 3,
  SCARD_STATE_UNAWARE = 0x0, SCARD_STATE_IGNORE = 0x1, SCARD_STATE_CHANGED = 0x2,
  SCARD_STATE_UNKNOWN = 0x4, SCARD_STATE_UNAVAILABLE = 0x8, SCARD_STATE_EMPTY = 0x10,
  SCARD_STATE_PRESENT = 0x20, SCARD_STATE_EXCLUSIVE = 0x80, SCARD_STATE_INUSE = 0x100,
  SCARD_STATE_MUTE = 0x200,
  -- PC/SC part 3 attribute tags (SCARD_ATTR_VALUE(class, tag)).
  SCARD_ATTR_VENDOR_NAME = 0x00010100,
  SCARD_ATTR_VENDOR_IFD_TYPE = 0x00010101,
  SCARD_ATTR_VENDOR_IFD_VERSION = 0x00010102,
  SCARD_ATTR_VENDOR_IFD_SERIAL_NO = 0x00010103,
  SCARD_ATTR_CHANNEL_ID = 0x00020110,
  SCARD_ATTR_MAXINPUT = 0x0007A007,
  SCARD_ATTR_ICC_PRESENCE = 0x00090300,
  SCARD_ATTR_ATR_STRING = 0x00090303,
  INFINITE = 0xFFFFFFFF,
}

-- Fails the case unless the reply's rv is SCARD_S_SUCCESS.
function pcsc.ok(reply, what)
  if reply.rv ~= 0 then
    error((what or reply.call or "PC/SC call") .. " failed: " .. tostring(reply.rv_name) ..
      string.format(" (0x%08X)", reply.rv or 0) .. (reply.ntstatus and (", the driver said " .. reply.ntstatus) or "") ..
      (reply.error and (" " .. reply.error) or ""), 2)
  end
  return reply
end

function pcsc.establish()
  return pcsc.ok(lab.call("EstablishContext", { scope = pcsc.SCARD_SCOPE_SYSTEM }), "SCardEstablishContext").context
end

function pcsc.release(context) return lab.call("ReleaseContext", { context = context }) end

function pcsc.list(context)
  local reply = lab.call("ListReaders", { context = context })
  return reply.readers or {}, reply
end

-- The first listed reader whose name contains pattern (plain text; any reader without one),
-- or nil.
function pcsc.find_reader(context, pattern)
  for _, name in ipairs((pcsc.list(context))) do
    if not pattern or name:find(pattern, 1, true) then return name end
  end
  return nil
end

function pcsc.wait_for_reader(context, timeout_ms, pattern)
  return lab.poll(function() return pcsc.find_reader(context, pattern) end, timeout_ms or 20000, 100)
end

function pcsc.wait_for_reader_gone(context, name, timeout_ms)
  return lab.poll(function()
    for _, listed in ipairs((pcsc.list(context))) do if listed == name then return false end end
    return true
  end, timeout_ms or 20000, 100)
end

-- Waits with SCardGetStatusChange until the reader's state has (or lacks) the given bit.
-- Returns the reader state table and the time it took in ms, or nil on timeout. pcscd may
-- change a newly added reader's state without counting an event, so the state a timed-out
-- call reports is looked at too, and each call waits at most a second.
function pcsc.wait_state(context, reader, bit, want_set, timeout_ms)
  local start = lab.now_ms()
  local current = pcsc.SCARD_STATE_UNAWARE
  while lab.now_ms() - start < timeout_ms do
    local wait_ms = math.max(1, math.min(1000, math.floor(timeout_ms - (lab.now_ms() - start))))
    local reply = lab.call("GetStatusChange", {
      context = context, timeout_ms = wait_ms,
      readers = { { name = reader, current_state = current } } }, wait_ms + 10000)
    if reply.rv ~= 0 and reply.rv_name ~= "SCARD_E_TIMEOUT" then
      error("SCardGetStatusChange failed: " .. tostring(reply.rv_name), 2)
    end
    local state = reply.readers and reply.readers[1]
    if state and state.event_state then
      if ((state.event_state & bit) ~= 0) == want_set then return state, lab.now_ms() - start end
      current = state.event_state & ~pcsc.SCARD_STATE_CHANGED
    end
  end
  return nil, lab.now_ms() - start
end

function pcsc.connect(context, reader, protocols, share_mode)
  local reply = lab.call("Connect", { context = context, reader = reader,
    share_mode = share_mode or pcsc.SCARD_SHARE_SHARED, preferred_protocols = protocols or pcsc.SCARD_PROTOCOL_ANY })
  return reply.card, reply.active_protocol, reply
end

function pcsc.disconnect(card, disposition)
  return lab.call("Disconnect", { card = card, disposition = disposition or pcsc.SCARD_LEAVE_CARD })
end

-- Returns the response hex and the whole reply.
function pcsc.transmit(card, protocol, apdu_hex)
  local reply = lab.call("Transmit", { card = card, protocol = protocol, apdu = hex.clean(apdu_hex) })
  return reply.response, reply
end

function pcsc.get_attrib(card, attr, max_len)
  local reply = lab.call("GetAttrib", { card = card, attr = attr, max_len = max_len })
  return reply.value, reply
end

-- Establishes a context, waits for the first readerlab reader and returns both.
function pcsc.setup(timeout_ms)
  local context = pcsc.establish()
  local reader = pcsc.wait_for_reader(context, timeout_ms or 30000)
  if not reader then error("no readerlab reader was listed within " .. (timeout_ms or 30000) .. " ms", 2) end
  return context, reader
end

-- A multi-slot reader's names, one a slot (libccid gives each slot a reader of its own), sorted
-- by slot, once `count` listed names contain `pattern`; nil when they are not within timeout_ms.
function pcsc.slot_names(context, pattern, count, timeout_ms)
  local names = lab.poll(function()
    local listed = {}
    for _, name in ipairs((pcsc.list(context))) do
      if name:find(pattern, 1, true) then listed[#listed + 1] = name end
    end
    if #listed == count then return listed end
    return nil
  end, timeout_ms or 30000, 200)
  if names then table.sort(names) end
  return names
end

-- Whether the driver runs in a guest (libccid in the Linux guest, Windows in the Windows guest),
-- where a reader is listed after USB enumeration in the guest, seconds after it is plugged in.
function lab.in_guest()
  local driver = lab.driver_name()
  return driver:find("libccid", 1, true) ~= nil or driver:find("windows", 1, true) ~= nil
end

-- How long a reader may take to be listed: the guest's pcscd or Windows' resource manager
-- lists it after USB enumeration, the host's resource manager at the first call that finds the
-- device (a poll or two).
function pcsc.listing_ms()
  return lab.in_guest() and 30000 or 500
end

-- Plugs reader `index` (default 1) in as another model (see Reader:configure) and waits
-- until pcscd lists it; returns its name.
function pcsc.replug_as(context, fields, index)
  local reader = lab.reader(index or 1)
  -- pcscd adds a multi-slot reader's names one after the other: all of them are the old ones.
  local slots = #reader:info().slots
  local old = lab.poll(function()
    local listed = pcsc.list(context)
    if #listed >= slots then return listed end
    return nil
  end, math.min(pcsc.listing_ms(), 5000), 100) or pcsc.list(context)
  reader:configure(fields)
  -- The guest's pcscd lists a reader after USB enumeration; the host's resource manager at
  -- once, or never when the driver did not start on this reader model. A multi-slot reader
  -- is one name per slot, removed one after the other: every old name must have gone.
  local listing_ms = pcsc.listing_ms()
  local start = lab.now_ms()
  for _, name in ipairs(old) do
    if not pcsc.wait_for_reader_gone(context, name, math.max(0, listing_ms - (lab.now_ms() - start))) then
      error(string.format("the unplugged reader '%s' was still listed after %d ms: the driver did not let it go",
        name, listing_ms), 2)
    end
  end
  local name = pcsc.wait_for_reader(context, listing_ms)
  if not name then error(string.format("the reconfigured reader was not listed within %d ms", listing_ms), 2) end
  return name
end

-- Inserts a bundled card into reader `index` (default 1) and waits until pcscd reports it;
-- returns the reader state (with the ATR).
function pcsc.insert_and_wait(context, name, profile, index)
  lab.reader(index or 1):insert(profile)
  local state = pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000)
  if not state then error("card '" .. profile .. "' was not reported present within 5 s", 2) end
  return state
end

-- Connects and fails the case unless it worked; returns the card handle and protocol.
function pcsc.connect_ok(context, name, protocols)
  local card, protocol, reply = pcsc.connect(context, name, protocols)
  if reply.rv ~= 0 then error("SCardConnect failed: " .. tostring(reply.rv_name), 2) end
  return card, protocol
end

-- Hex of a command APDU from its parts; Lc is written when data is given, Le when le is.
function hex.apdu(header, data, le)
  local apdu = hex.clean(header)
  if data and #data > 0 then apdu = apdu .. string.format("%02x", hex.len(data)) .. hex.clean(data) end
  if le then apdu = apdu .. string.format("%02x", le % 256) end
  return apdu
end

-- IOCTLs through a Windows reader driver on the host (the smclib model and an RDF driver).
-- Values from winsmcrd.h as the smclib spec lists them: SCARD_CTL_CODE(n) = 0x310000 | n << 2.
smc = {
  IOCTL_SMARTCARD_POWER = 0x310004, IOCTL_SMARTCARD_GET_ATTRIBUTE = 0x310008,
  IOCTL_SMARTCARD_SET_ATTRIBUTE = 0x31000C, IOCTL_SMARTCARD_CONFISCATE = 0x310010,
  IOCTL_SMARTCARD_TRANSMIT = 0x310014, IOCTL_SMARTCARD_EJECT = 0x310018,
  IOCTL_SMARTCARD_SWALLOW = 0x31001C, IOCTL_SMARTCARD_READ = 0x310020, IOCTL_SMARTCARD_WRITE = 0x310024,
  IOCTL_SMARTCARD_IS_PRESENT = 0x310028, IOCTL_SMARTCARD_IS_ABSENT = 0x31002C,
  IOCTL_SMARTCARD_SET_PROTOCOL = 0x310030, IOCTL_SMARTCARD_GET_STATE = 0x310038,
  IOCTL_SMARTCARD_GET_LAST_ERROR = 0x31003C, IOCTL_SMARTCARD_GET_PERF_CNTR = 0x310040,
  IOCTL_SMARTCARD_GET_FEATURE_REQUEST = 0x313520,
  SCARD_POWER_DOWN = 0, SCARD_COLD_RESET = 1, SCARD_WARM_RESET = 2,
  SCARD_PROTOCOL_T0 = 1, SCARD_PROTOCOL_T1 = 2, SCARD_PROTOCOL_RAW = 0x10000,
  SCARD_PROTOCOL_DEFAULT = 0x80000000,
  SCARD_UNKNOWN = 0, SCARD_ABSENT = 1, SCARD_PRESENT = 2, SCARD_SWALLOWED = 3, SCARD_POWERED = 4,
  SCARD_NEGOTIABLE = 5, SCARD_SPECIFIC = 6,
}

-- A ULONG as the 4 little-endian bytes an IOCTL buffer carries.
function smc.ulong(value)
  return string.format("%02x%02x%02x%02x", value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF, (value >> 24) & 0xFF)
end

function smc.ulong_at(hex_text, offset)
  local b = hex.clean(hex_text)
  local at = (offset or 0) * 2
  local function byte(i) return tonumber(b:sub(at + 2 * i + 1, at + 2 * i + 2), 16) or 0 end
  return byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24
end

-- One IOCTL: input as hex, output buffer size; the reply has rv_name, information, output,
-- pending and the reader state after it.
function smc.ioctl(code, input_hex, output_size)
  local reply = lab.call("Ioctl", { code = code, input = hex.clean(input_hex or ""), output_size = output_size or 0 })
  if reply.error then error("IOCTL " .. string.format("0x%06X", code) .. ": " .. reply.error, 2) end
  return reply
end

-- Checks an IOCTL's status by name, e.g. smc.expect(reply, "STATUS_SUCCESS", "POWER").
function smc.expect(reply, status_name, what)
  return lab.check_eq(reply.rv_name, status_name, what or "status")
end

-- The SCARD_IO_REQUEST header {dwProtocol, cbPciLength = 8} and the APDU.
function smc.transmit_input(protocol, apdu_hex) return smc.ulong(protocol) .. smc.ulong(8) .. hex.clean(apdu_hex) end

-- Inserts a card and lets the driver see it; returns the state after the driver's event.
function smc.insert(profile)
  lab.reader(1):insert(profile)
  return smc.ioctl(smc.IOCTL_SMARTCARD_GET_STATE, "", 4)
end

-- The reader state as GET_STATE reports it (a number, smc.SCARD_ABSENT ...).
function smc.state()
  local reply = smc.ioctl(smc.IOCTL_SMARTCARD_GET_STATE, "", 4)
  if reply.rv ~= 0 then error("GET_STATE failed: " .. tostring(reply.rv_name), 2) end
  return smc.ulong_at(reply.output)
end

-- SCARD_ATTR_* tags by the name smclib.md 4 gives them (class << 16 | tag, winsmcrd.h).
smc.attr = {
  VENDOR_NAME = 0x00010100, VENDOR_IFD_TYPE = 0x00010101, VENDOR_IFD_VERSION = 0x00010102,
  VENDOR_IFD_SERIAL_NO = 0x00010103, CHANNEL_ID = 0x00020110,
  PROTOCOL_TYPES = 0x00030120, DEFAULT_CLK = 0x00030121, MAX_CLK = 0x00030122,
  DEFAULT_DATA_RATE = 0x00030123, MAX_DATA_RATE = 0x00030124, MAX_IFSD = 0x00030125,
  SYNC_PROTOCOL_TYPES = 0x00030126, POWER_MGMT_SUPPORT = 0x00040131,
  USER_TO_CARD_AUTH_DEVICE = 0x00050140, USER_AUTH_INPUT_DEVICE = 0x00050142,
  CHARACTERISTICS = 0x00060150,
  CURRENT_PROTOCOL_TYPE = 0x00080201, CURRENT_CLK = 0x00080202, CURRENT_F = 0x00080203,
  CURRENT_D = 0x00080204, CURRENT_N = 0x00080205, CURRENT_W = 0x00080206, CURRENT_IFSC = 0x00080207,
  CURRENT_IFSD = 0x00080208, CURRENT_BWT = 0x00080209, CURRENT_CWT = 0x0008020A,
  CURRENT_EBC_ENCODING = 0x0008020B, EXTENDED_BWT = 0x0008020C,
  ICC_PRESENCE = 0x00090300, ICC_INTERFACE_STATUS = 0x00090301, CURRENT_IO_STATE = 0x00090302,
  ATR_STRING = 0x00090303, ICC_TYPE_PER_ATR = 0x00090304,
  ESC_RESET = 0x0007A000, ESC_CANCEL = 0x0007A003, ESC_AUTHREQUEST = 0x0007A005, MAXINPUT = 0x0007A007,
  VENDOR_SPECIFIC_INFO = 0x0007A008,
  DEVICE_UNIT = 0x7FFF0001, DEVICE_IN_USE = 0x7FFF0002, DEVICE_FRIENDLY_NAME_A = 0x7FFF0003,
  DEVICE_SYSTEM_NAME_A = 0x7FFF0004, DEVICE_FRIENDLY_NAME_W = 0x7FFF0005, DEVICE_SYSTEM_NAME_W = 0x7FFF0006,
  SUPRESS_T1_IFS_REQUEST = 0x7FFF0007,
  PERF_NUM_TRANSMISSIONS = 0x7FFE0001, PERF_BYTES_TRANSMITTED = 0x7FFE0002, PERF_TRANSMISSION_TIME = 0x7FFE0003,
}

-- GET_ATTRIBUTE of a tag (a number or a name of smc.attr) into output_size bytes (64 by default,
-- the size of the smclib.md 4 recording).
function smc.get_attribute(tag, output_size)
  local value = type(tag) == "string" and smc.attr[tag] or tag
  if value == nil then error("no attribute " .. tostring(tag) .. " in smc.attr", 2) end
  return smc.ioctl(smc.IOCTL_SMARTCARD_GET_ATTRIBUTE, smc.ulong(value), output_size or 64)
end

-- GET_ATTRIBUTE of a ULONG tag, failing the case unless it succeeded with 4 bytes.
function smc.attribute_ulong(tag)
  local reply = smc.get_attribute(tag, 4)
  if reply.rv ~= 0 or reply.information ~= 4 then
    error("GET_ATTRIBUTE " .. tostring(tag) .. ": " .. tostring(reply.rv_name) .. ", " .. tostring(reply.information) .. " bytes", 2)
  end
  return smc.ulong_at(reply.output)
end

-- The pending tracking IRP: its completion within timeout_ms (0: is it done now?). The reply has
-- completed and, once completed, rv_name and the state; a completed IRP is gone afterwards, so
-- asking again with none pending fails the case.
function smc.wait_pending(timeout_ms)
  local reply = lab.call("WaitPending", { timeout_ms = timeout_ms or 5000 })
  if reply.error then error("WaitPending: " .. reply.error, 2) end
  return reply
end

-- Cold reset, then SET_PROTOCOL; returns the ATR hex and the selected protocol. A card already
-- SPECIFIC with a protocol of the mask gets SUCCESS from the library alone, with nothing written
-- (Information 0, issue 10 rule 24): its protocol is then CURRENT_PROTOCOL_TYPE.
function smc.power_and_select(protocols)
  local power = smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
  smc.expect(power, "STATUS_SUCCESS", "POWER cold reset")
  local set = smc.ioctl(smc.IOCTL_SMARTCARD_SET_PROTOCOL, smc.ulong(protocols or (smc.SCARD_PROTOCOL_T0 | smc.SCARD_PROTOCOL_T1)), 4)
  smc.expect(set, "STATUS_SUCCESS", "SET_PROTOCOL")
  if set.information == 0 then return power.output, smc.attribute_ulong("CURRENT_PROTOCOL_TYPE") end
  return power.output, smc.ulong_at(set.output)
end

-- Fault cases (conformance/cases/faults): one probe arms a fault, makes one PC/SC call, writes
-- down what the driver said (lab.outcome, the report's "Faults x drivers" table), clears the
-- fault and checks what any correct driver must do: no wrong data returned as success, and the
-- reader working again afterwards.
faults = {}

-- The ECHO command of the bundled cards (INS 10 answers its data) and the answer it must give.
function faults.echo(data_hex)
  local data = hex.clean(data_hex or "a1a2a3a4")
  return hex.apdu("80100000", data, 0), data .. "9000"
end

-- A session for probes: a context, the reader's name, a T=1 card connected. fields: a reader
-- model for pcsc.replug_as (nil: the one the case starts with), profile (default "t1-fs").
function faults.session(fields, profile)
  local context, name = pcsc.setup()
  if fields then name = pcsc.replug_as(context, fields) end
  local session = { context = context, name = name, profile = profile or "t1-fs" }
  pcsc.insert_and_wait(context, name, session.profile)
  session.card, session.protocol = pcsc.connect_ok(context, name)
  return session
end

-- How many firings the case has seen so far.
function faults.fired_count() return #lab.firings() end

-- A PC/SC reply in a few words: "SCARD_S_SUCCESS, right data" / "SCARD_E_NOT_TRANSACTED".
local function said(reply, response, expected)
  if reply == nil then return "no answer" end
  local text = tostring(reply.rv_name)
  if reply.rv == 0 and expected then
    text = text .. (hex.clean(response or "") == expected and ", right data" or (", WRONG DATA " .. tostring(response)))
  end
  return text
end

local function transmit_within(session, apdu, timeout_ms)
  local reply = lab.wait(lab.send("Transmit", { card = session.card, protocol = session.protocol, apdu = hex.clean(apdu) }),
    timeout_ms)
  return reply and reply.response, reply
end

-- Whether the reader works: an ECHO on the session's card; when that fails, once more after
-- SCardReconnect (reset), then after a new SCardConnect. Returns "ok", "ok after reconnect",
-- "ok after a new connection" or what failed.
function faults.recover(session)
  local apdu, expected = faults.echo("5a5a")
  local response, reply = transmit_within(session, apdu, 30000)
  if reply and reply.rv == 0 and response == expected then return "ok" end
  local first = said(reply, response, expected)
  local reconnect = lab.call("Reconnect", { card = session.card, share_mode = pcsc.SCARD_SHARE_SHARED,
    preferred_protocols = pcsc.SCARD_PROTOCOL_ANY, initialization = pcsc.SCARD_RESET_CARD }, 30000)
  if reconnect.rv == 0 then
    session.protocol = reconnect.active_protocol or session.protocol
    response, reply = transmit_within(session, apdu, 30000)
    if reply and reply.rv == 0 and response == expected then return "ok after reconnect (" .. first .. " first)" end
  end
  pcsc.disconnect(session.card, pcsc.SCARD_RESET_CARD)
  local card, protocol, connect = pcsc.connect(session.context, session.name)
  if connect.rv == 0 then
    session.card, session.protocol = card, protocol
    response, reply = transmit_within(session, apdu, 30000)
    if reply and reply.rv == 0 and response == expected then return "ok after a new connection (" .. first .. " first)" end
  end
  return "the reader did not work again (" .. first .. "; reconnect " .. tostring(reconnect.rv_name) ..
    "; connect " .. tostring(connect.rv_name) .. ")"
end

-- Probes one fault on SCardTransmit. spec: the fault (reader 1); options:
--   label       the row of the fault table (default: the kind)
--   data        the ECHO data (hex) for the command
--   must_work   the call must succeed with the right data (a late answer, a storm of time
--               extensions: the driver must wait, not give up)
--   recover     "next" (default): the next APDU on the same connection must work;
--               "reconnect": the driver may need a SCardReconnect, or a new SCardConnect, first
--               (the card was deactivated)
--   timeout_ms  how long the call may take (default 30000)
-- Returns the outcome text.
function faults.probe_transmit(session, spec, options)
  options = options or {}
  local label = options.label or spec.kind
  local apdu, expected = faults.echo(options.data)
  -- A probe before this one may have left the driver broken after its own check (a state that
  -- shows later): that is said here, and this probe starts from a working connection.
  local before = faults.recover(session)
  lab.check(before == "ok", label .. ": the reader works when the probe starts, after the probes before it (" ..
    before .. ")")
  local fired_before = faults.fired_count()
  lab.reader(1):fault(spec)
  local start = lab.now_ms()
  local response, reply = transmit_within(session, apdu, options.timeout_ms or 30000)
  local took = lab.now_ms() - start
  local fired = faults.fired_count() - fired_before
  lab.reader(1):clear_faults()
  local recovery = faults.recover(session)
  local text = string.format("SCardTransmit -> %s (%.0f ms); next APDU %s", said(reply, response, expected), took, recovery)
  if fired == 0 then text = text .. "; the fault never fired" end
  lab.outcome(label, text)
  lab.log(label .. ": " .. text)
  lab.check(fired > 0, label .. ": the fault fired")
  lab.check(reply ~= nil, label .. ": SCardTransmit answered within " .. (options.timeout_ms or 30000) .. " ms")
  if reply and reply.rv == 0 then
    lab.check(hex.clean(response or "") == expected, label .. ": no wrong data returned as success (" .. text .. ")")
  end
  if options.must_work then
    lab.check(reply ~= nil and reply.rv == 0, label .. ": the driver waits the fault out and succeeds (" .. text .. ")")
  end
  lab.check(recovery:find("WRONG DATA", 1, true) == nil,
    label .. ": no wrong data returned as success to the next APDU either (" .. text .. ")")
  -- A deactivated card may come back as a new card (the driver saw the slot change): the old
  -- handle then says SCARD_W_REMOVED_CARD and a new connection is how an application goes on.
  local allowed = recovery == "ok" or (options.recover == "reconnect" and
    (recovery:find("^ok after reconnect") ~= nil or recovery:find("^ok after a new connection") ~= nil))
  lab.check(allowed, label .. ": the reader works again afterwards (" .. text .. ")")
  return text
end

-- readerlab fuzz (issue 11 item 4): the cases it runs and writes are
--   lab.faults{...}; lab.under_faults(function() <a case's body> end); lab.check_driver_healthy()

-- Runs fn, a case's body under injected faults: an error or a failed check in it is logged as
-- what the driver did under the faults, not counted (a driver may fail calls under faults). The
-- case's time, instruction and memory limits still end the case.
function lab.under_faults(fn)
  local counted = lab._failed_check_count()
  -- On the host the resource manager lists a reader at once or never (see pcsc.replug_as): the
  -- body's waits for a listing are cut to 3 s there, so that a driver that did not start under
  -- the faults costs 3 s, not 30.
  local wait_for_reader = pcsc.wait_for_reader
  if not lab.in_guest() then
    pcsc.wait_for_reader = function(context, timeout_ms, pattern)
      return wait_for_reader(context, math.min(timeout_ms or 20000, 3000), pattern)
    end
  end
  local ok, why = pcall(fn)
  pcsc.wait_for_reader = wait_for_reader
  lab._forgive_failed_checks(counted)
  if not ok then lab.log("under the faults (not counted), the body stopped: " .. tostring(why)) end
end

-- What must hold once the faults are gone, whatever the driver did under them. Disarms every
-- reader's faults (the state they left ends with them, except a halted endpoint: the driver must
-- clear that itself), then on reader 1, each failure a failed check "driver unhealthy after the
-- faults: ...":
--  - the reader is listed (after an unplug and replug when it is not: PnP leaves a device whose
--    driver failed to start as it is, and a new device gets a new driver instance);
--  - the slot emptied is reported empty, and a t1-fs card inserted then reported present, each
--    within 5 s (a card reported present with the slot empty, or absent with a card in it; on an
--    RDF driver, a tracking IRP still pending after the change is named);
--  - SCardConnect and SELECT by AID on that fresh card answer 9000;
--  - on an RDF driver, no remove-lock reference is held with nothing in flight.
function lab.check_driver_healthy()
  -- Disarmed, not cleared: a halted endpoint stays halted until the driver clears it (USB 2.0 9.4.5).
  for index = 1, lab.reader_count() do lab._disarm_faults(index) end
  local function unhealthy(what) lab.check(false, "driver unhealthy after the faults: " .. what) end
  -- The driver's own view where the port has it (the RDF drivers: DriverHealth), else nil.
  local function driver_view()
    local ok, reply = pcall(lab.call, "DriverHealth", {}, 10000)
    if not ok or reply.rv == nil then return nil end
    return reply
  end
  local function tracking_note(view)
    if not view or not view.running then return "" end
    local note = "; the driver's state is " .. tostring(view.state)
    if view.tracking == "pending" then note = note .. " and its tracking IRP is still pending (never completed)" end
    return note
  end
  local function step(what, fn)
    local ok, why = pcall(fn)
    if not ok then unhealthy(what .. ": " .. tostring(why)) end
    return ok
  end

  local reader = lab.reader(1)
  local in_guest = lab.in_guest()
  local listing_ms = pcsc.listing_ms()
  local context, name
  -- After a disconnect or a dropped connection, pcscd in the guest removes the reader and adds
  -- it again when its hotplug thread sees the USB events, which may come a while after the
  -- faults ended; until then the old name stays listed. There the reader counts as listed once
  -- the same name has been listed for 1.5 s.
  local function listed_reader()
    if not in_guest then return pcsc.wait_for_reader(context, listing_ms) end
    local last, since
    return lab.poll(function()
      local current = pcsc.find_reader(context)
      if current ~= last then last, since = current, lab.now_ms() end
      if last and lab.now_ms() - since >= 1500 then return last end
      return nil
    end, listing_ms, 100)
  end
  -- Waits up to 5 s for the state bit. A reader re-enumerated all the same (the name is gone:
  -- SCARD_E_UNKNOWN_READER) is looked up again and waited for anew; a third re-enumeration in
  -- one check is the driver's fault (a reader that keeps coming and going).
  local function watch(bit, want_set)
    for _ = 1, 3 do
      local ok, state = pcall(pcsc.wait_state, context, name, bit, want_set, 5000)
      if ok then return state end
      if not tostring(state):find("SCARD_E_UNKNOWN_READER", 1, true) then error(state, 0) end
      name = listed_reader()
      if not name then error("the reader went away and was not listed again within " .. listing_ms .. " ms", 0) end
    end
    error("the reader was removed and added again three times in a row", 0)
  end
  if not step("SCardEstablishContext", function() context = pcsc.establish() end) then return end
  if not step("listing the reader", function()
    name = listed_reader()
    if not name then
      -- PnP leaves a driver that failed to start as it is; a device plugged in again gets a
      -- new driver instance, and the replug (a port reset) ends any halt the device had.
      reader:unplug()
      reader:replug()
      name = listed_reader()
    end
  end) then return end
  if not name then return unhealthy("the reader is not listed, even after an unplug and replug") end

  step("watching a removal", function()
    reader:remove()
    if not watch(pcsc.SCARD_STATE_EMPTY, true) then
      unhealthy("the slot is empty but the card is still reported present after 5 s" .. tracking_note(driver_view()))
    end
  end)
  local present = false
  step("watching an insertion", function()
    reader:insert("t1-fs")
    present = watch(pcsc.SCARD_STATE_PRESENT, true) ~= nil
    if not present then
      unhealthy("a t1-fs card is in the slot but reported absent after 5 s" .. tracking_note(driver_view()))
    end
  end)
  if present then
    step("a well-behaved APDU", function()
      local card, protocol, reply = pcsc.connect(context, name, pcsc.SCARD_PROTOCOL_ANY)
      if reply.rv ~= 0 then
        return unhealthy("SCardConnect on a fresh t1-fs card: " .. tostring(reply.rv_name) ..
          (reply.ntstatus and (", the driver said " .. reply.ntstatus) or ""))
      end
      local aid = "f07265616465726c616201"
      local response, transmitted = pcsc.transmit(card, protocol, "00a40400" .. string.format("%02x", hex.len(aid)) .. aid .. "00")
      if transmitted.rv ~= 0 then
        unhealthy("SELECT on a fresh t1-fs card: " .. tostring(transmitted.rv_name) ..
          (transmitted.ntstatus and (", the driver said " .. transmitted.ntstatus) or ""))
      elseif hex.sw(response) ~= "9000" then
        unhealthy("SELECT on a fresh t1-fs card answered " .. tostring(response) .. ", not 9000")
      end
      pcsc.disconnect(card)
    end)
  end
  pcall(pcsc.release, context)
  local view = driver_view()
  if view and view.remove_lock_references and view.remove_lock_references ~= view.remove_lock_idle then
    unhealthy(string.format("the remove lock holds %d references with nothing in flight (%d when idle): a reference leaked",
      view.remove_lock_references, view.remove_lock_idle))
  end
end
