-- @title: a card whose TA1 (Fi 512, Di 32) needs PPS is negotiated by the reader at APDU level and by libccid at TPDU level
-- @covers: pcsc:SCardConnect, ccid:PPS, ccid:PC_to_RDR_SetParameters, iso7816-3:PPS
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-3 9 (PPS), 8.3 (TA1); CCID 5.1 dwFeatures 0x40, 6.1.7
-- @timeout: 120

local context = pcsc.establish()
for _, level in ipairs({ "short-apdu", "tpdu" }) do
  local name = pcsc.replug_as(context, { exchange = level })
  pcsc.insert_and_wait(context, name, "t0-t1")
  local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
  local info = lab.reader(1):info()
  lab.log(level .. ": protocol " .. tostring(protocol) .. ", Fi/Di " .. string.format("%02X", info.fi_di) ..
    ", PPS exchanges " .. info.pps_exchanges)
  -- TA1 96 is Fi 512, Di 32: f * 32 / 512 bps (ISO 7816-3 7.1). A reader that cannot clock that
  -- (dwMaxDataRate, CCID 5.1) keeps Fi and takes a smaller Di that it can, or stays at Fd and Dd
  -- (11) when the party that negotiates finds none in the reader's list.
  local d_of = { [1] = 1, [2] = 2, [3] = 4, [4] = 8, [5] = 16, [6] = 32, [7] = 64, [8] = 12, [9] = 20 }
  local function rate(fi_di) return info.default_clock_khz * 1000 * (d_of[fi_di & 0x0F] or 0) // 512 end
  if rate(0x96) <= info.max_data_rate then
    lab.check(info.pps_exchanges >= 1, level .. ": a PPS exchange took place")
    lab.check_eq(string.format("%02X", info.fi_di), "96", level .. ": Fi/Di in force after PPS")
  else
    lab.log(string.format("%s: the reader's dwMaxDataRate %d is below the card's %d bps", level, info.max_data_rate, rate(0x96)))
    lab.check(info.fi_di == 0x11 or (info.fi_di >> 4 == 9 and rate(info.fi_di) > 0 and rate(info.fi_di) < rate(0x96) and
      rate(info.fi_di) <= info.max_data_rate),
      string.format("%s: Fi/Di in force (%02X): Fi 512 with a smaller Di the reader can clock, or Fd and Dd", level, info.fi_di))
  end
  local response = pcsc.transmit(card, protocol, "00b0810008")
  lab.check_eq(response, "00010203040506079000", level .. ": READ BINARY at the negotiated rate")
  pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
  lab.reader(1):remove()
  pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
end
pcsc.release(context)
