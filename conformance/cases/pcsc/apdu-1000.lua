-- @title: 1000 APDUs in a row all answer correctly; prints APDUs per second
-- @covers: pcsc:SCardTransmit, ccid:PC_to_RDR_XfrBlock
-- @drivers: libccid, reference-rdf, windows
-- @spec: ISO 7816-4 5.1
-- @timeout: 180

local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)

-- Each APDU is a different ECHO, checked byte for byte, over the host-to-guest path.
local count, wrong = 1000, 0
local start = lab.now_ms()
for i = 1, count do
  local data = string.format("%08x", i) .. string.format("%02x", i % 256):rep(i % 32)
  local response = pcsc.transmit(card, protocol, "80100000" .. string.format("%02x", hex.len(data)) .. data .. "00")
  if response ~= data .. "9000" then
    wrong = wrong + 1
    if wrong == 1 then lab.log("APDU " .. i .. " answered " .. tostring(response)) end
  end
end
local seconds = (lab.now_ms() - start) / 1000
lab.check_eq(wrong, 0, "APDUs with a wrong answer")
lab.metric("APDUs per second (round trip from the case)", count / seconds, "APDU/s")

-- The same repeated next to the driver (the guest agent, or the host's resource manager): the
-- driver path without the case's round trip.
local repeat_reply = lab.call("TransmitRepeat", { card = card, protocol = protocol,
  apdu = "8010000004cafebabe00", expect = "cafebabe9000", count = count }, 120000)
pcsc.ok(repeat_reply, "TransmitRepeat")
lab.check_eq(repeat_reply.count_ok, count, "repeated APDUs answered correctly")
if repeat_reply.elapsed_us and repeat_reply.elapsed_us > 0 then
  lab.metric("APDUs per second (repeated next to the driver)", count / (repeat_reply.elapsed_us / 1e6), "APDU/s")
end
pcsc.disconnect(card)
pcsc.release(context)
