-- @title: at extended APDU level, a 4 KB command and its 4 KB response pass through libccid whole
-- @covers: pcsc:SCardTransmit, ccid:extended APDU level, ccid:PC_to_RDR_XfrBlock, iso7816-4:extended Lc/Le
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.1.4 (wLevelParameter); ISO 7816-4 5.1 (extended length fields)
-- @timeout: 90

local function extended_echo(n)
  local data = {}
  for i = 0, n - 1 do data[#data + 1] = string.format("%02x", (i * 7) % 256) end
  data = table.concat(data)
  return "80100000" .. string.format("00%04x", n) .. data .. "0000", data
end

local context = pcsc.establish()
local reader = lab.reader(1)
for _, variant in ipairs({ { label = "one message", fields = { exchange = "extended-apdu" } },
                           { label = "chained in 1 KB messages",
                             fields = { exchange = "extended-apdu", max_message_length = 1034 } } }) do
  local name = pcsc.replug_as(context, variant.fields)
  do
    pcsc.insert_and_wait(context, name, "t1-fs")
    local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
    local apdu, data = extended_echo(4096)
    local response, transmit = pcsc.transmit(card, protocol, apdu)
    pcsc.ok(transmit, "SCardTransmit of a 4 KB extended APDU (" .. variant.label .. ")")
    lab.check_eq(hex.len(response), 4098, variant.label .. ": response length")
    lab.check(hex.data(response) == data, variant.label .. ": the 4 KB answer matches byte for byte")
    lab.check_eq(hex.sw(response), "9000", variant.label .. ": status word")
    pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
    reader:remove()
    pcsc.wait_state(context, name, pcsc.SCARD_STATE_EMPTY, true, 5000)
  end
end

-- The extended-APDU card: one READ BINARY of its 4 KB file with an extended Le.
local name = pcsc.replug_as(context, { exchange = "extended-apdu" })
pcsc.insert_and_wait(context, name, "extended")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(hex.sw((pcsc.transmit(card, protocol, "00a4000c020105"))), "9000", "SELECT EF 0105")
local read = pcsc.transmit(card, protocol, "00b00000001000")
lab.check_eq(hex.len(read), 4098, "4 KB READ BINARY response length")
lab.check_eq(hex.sw(read), "9000", "4 KB READ BINARY status word")
pcsc.disconnect(card)
pcsc.release(context)
