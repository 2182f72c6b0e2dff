-- @title: unplugging the reader removes it from SCardListReaders; replugging brings it back working
-- @covers: pcsc:SCardListReaders, usbredir:device_disconnect, usbredir:device_connect
-- @drivers: libccid, reference-rdf, windows
-- @spec: PC/SC part 5 SCardListReaders; usbredir protocol (device_connect, device_disconnect)
-- @timeout: 90

local context = pcsc.setup()
local reader = lab.reader(1)
-- A multi-slot reader is one name per slot: every one of them must go.
local names = pcsc.list(context)
reader:unplug()
local start = lab.now_ms()
local gone = true
for _, name in ipairs(names) do
  gone = pcsc.wait_for_reader_gone(context, name, math.max(0, 20000 - (lab.now_ms() - start))) and gone
end
lab.check(gone, "the reader left SCardListReaders within 20 s (" .. #names .. " name(s))")
lab.metric("unplug noticed after", lab.now_ms() - start, "ms")

reader:replug()
local back, took_back = pcsc.wait_for_reader(context, 30000)
lab.check(back ~= nil, "the reader came back within 30 s")
lab.metric("replug noticed after", took_back, "ms")
if back then
  reader:insert("t1-fs")
  lab.check(pcsc.wait_state(context, back, pcsc.SCARD_STATE_PRESENT, true, 5000) ~= nil, "card seen after replug")
  local card, protocol, reply = pcsc.connect(context, back, pcsc.SCARD_PROTOCOL_ANY)
  pcsc.ok(reply, "SCardConnect after replug")
  lab.check_eq(hex.sw((pcsc.transmit(card, protocol, "0084000008"))), "9000", "GET CHALLENGE after replug")
  pcsc.disconnect(card)
end
pcsc.release(context)
