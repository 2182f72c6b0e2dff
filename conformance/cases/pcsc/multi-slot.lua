-- @title: a three-slot reader (Covadis Auriga profile) is one PC/SC reader per slot, each slot's card on its own
-- @covers: pcsc:SCardListReaders, pcsc:SCardGetStatusChange, pcsc:SCardConnect, pcsc:SCardTransmit, ccid:bMaxSlotIndex, ccid:RDR_to_PC_NotifySlotChange
-- @drivers: libccid
-- @spec: CCID 5.1 (bMaxSlotIndex, bMaxCCIDBusySlots), 6.3.1 (two bits a slot)
-- @timeout: 120

local readerlab_aid = "f07265616465726c616201"
local select_aid = "00a40400" .. string.format("%02x", hex.len(readerlab_aid)) .. readerlab_aid .. "00"

local context = pcsc.establish()
local reader = lab.reader(1)
local first = pcsc.replug_as(context, { profile = "covadis-auriga" })
lab.log("first slot listed as " .. first)
lab.check_eq(#reader:info().slots, 3, "the profile's slot count")

-- libccid gives each slot a reader of its own: the same name with the slot number at the end.
local names = pcsc.slot_names(context, "Auriga", 3)
lab.check(names ~= nil, "pcscd lists three readers, one per slot")
if not names then
  lab.log("listed: " .. table.concat((pcsc.list(context)), " | "))
  pcsc.release(context)
  return
end
for slot, name in ipairs(names) do lab.log("slot " .. slot .. ": " .. name) end

-- A different card in slots 1 and 2, slot 3 empty: each reader sees its own slot.
reader:insert("t1-fs", 1)
reader:insert("t0-basic", 2)
local atr = {}
for slot = 1, 2 do
  local state = pcsc.wait_state(context, names[slot], pcsc.SCARD_STATE_PRESENT, true, 10000)
  lab.check(state ~= nil, "slot " .. slot .. ": the card is reported present")
  atr[slot] = state and state.atr
end
lab.check(atr[1] ~= nil and atr[1] ~= atr[2], "slots 1 and 2 report their own cards' ATRs")
lab.check(pcsc.wait_state(context, names[3], pcsc.SCARD_STATE_EMPTY, true, 5000) ~= nil, "slot 3 stays empty")

local cards = {}
for slot = 1, 2 do
  local card, protocol = pcsc.connect_ok(context, names[slot], pcsc.SCARD_PROTOCOL_ANY)
  cards[slot] = { card = card, protocol = protocol }
  local response = pcsc.transmit(card, protocol, select_aid)
  lab.check_eq(hex.sw(response or ""), "9000", "slot " .. slot .. ": SELECT by AID")
end
lab.check_eq(cards[1].protocol, pcsc.SCARD_PROTOCOL_T1, "slot 1: the T=1 card")
lab.check_eq(cards[2].protocol, pcsc.SCARD_PROTOCOL_T0, "slot 2: the T=0 card")

-- The card of slot 1 leaves: slot 2's card goes on answering.
reader:remove(1)
lab.check(pcsc.wait_state(context, names[1], pcsc.SCARD_STATE_EMPTY, true, 10000) ~= nil,
  "slot 1: the removal is reported")
local after = pcsc.transmit(cards[2].card, cards[2].protocol, select_aid)
lab.check_eq(hex.sw(after or ""), "9000", "slot 2: SELECT after slot 1's card left")
local slot2 = pcsc.wait_state(context, names[2], pcsc.SCARD_STATE_PRESENT, true, 1000)
lab.check(slot2 ~= nil, "slot 2: still present")
pcsc.disconnect(cards[2].card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(context)
