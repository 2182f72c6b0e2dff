-- @title: a card swapped for another while present is reported removed, then inserted with the new card's ATR
-- @covers: pcsc:SCardGetStatusChange, pcsc:SCardTransmit, ccid:RDR_to_PC_NotifySlotChange
-- @drivers: libccid, reference-rdf, windows
-- @spec: PC/SC part 5 SCardGetStatusChange; CCID 6.3.1

local context, name = pcsc.setup()
local reader = lab.reader(1)
local first_atr = "3b9b138131fe4580597265616465726c616230"
local state = pcsc.insert_and_wait(context, name, "t1-fs")
lab.check_eq(state.atr, first_atr, "the first card's ATR")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(hex.sw((pcsc.transmit(card, protocol, "0084000008"))), "9000", "GET CHALLENGE on the first card")

-- Another card goes in while the first one is there: out with the old, in with the new.
reader:insert("t0-basic")
local swapped, took
local start = lab.now_ms()
local current = state.event_state & ~pcsc.SCARD_STATE_CHANGED
while lab.now_ms() - start < 10000 do
  local reply = lab.call("GetStatusChange", { context = context, timeout_ms = 1000,
    readers = { { name = name, current_state = current } } }, 11000)
  local seen = reply.readers and reply.readers[1]
  if seen and seen.event_state then
    current = seen.event_state & ~pcsc.SCARD_STATE_CHANGED
    if (seen.event_state & pcsc.SCARD_STATE_PRESENT) ~= 0 and seen.atr and seen.atr ~= first_atr then
      swapped, took = seen, lab.now_ms() - start
      break
    end
  end
end
lab.check(swapped ~= nil, "the new card is reported within 10 s, with an ATR other than the first card's")
if swapped then
  lab.metric("swap reported after", took, "ms")
  lab.check(#swapped.atr > 0 and swapped.atr:sub(1, 2) == "3b", "the new card's ATR: " .. tostring(swapped.atr))
end

-- The driver saw the removal: the first card's handle is dead.
local _, after = pcsc.transmit(card, protocol, "0084000008")
lab.check(after.rv_name == "SCARD_W_REMOVED_CARD" or after.rv_name == "SCARD_E_NO_SMARTCARD",
  "transmit on the first card's handle fails (removed card), not " .. tostring(after.rv_name))
pcsc.disconnect(card)
local second, second_protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
lab.check_eq(second_protocol, pcsc.SCARD_PROTOCOL_T0, "the new card is the T=0 one")
lab.check_eq(hex.sw((pcsc.transmit(second, second_protocol, "0084000008"))), "9000", "GET CHALLENGE on the new card")
pcsc.disconnect(second)
pcsc.release(context)
