-- @title: on a three-slot reader, a card swapped in one slot while another slot's card runs a long command is reported: removed, then present with the new card's ATR
-- @covers: pcsc:SCardGetStatusChange, pcsc:SCardTransmit, ccid:bMaxSlotIndex, ccid:RDR_to_PC_NotifySlotChange
-- @drivers: libccid
-- @spec: CCID 5.1 (bMaxSlotIndex, bMaxCCIDBusySlots), 6.3.1 (a slot change notified while another slot is busy)
-- @timeout: 120

-- A point-of-sale terminal's reader: a slow operation (a key generation, say) runs on one slot
-- while a customer swaps the card in another. The driver may make the second slot wait for the
-- first one's command; it must not lose the second slot's changes.
local context = pcsc.establish()
local reader = lab.reader(1)
pcsc.replug_as(context, { profile = "covadis-auriga", card_timing = true })
local names = pcsc.slot_names(context, "Auriga", 3)
if not names then error("pcscd did not list three readers, one per slot: " .. table.concat((pcsc.list(context)), " | ")) end

local busy_slot, swap_slot = 1, 2
local function insert_and_wait(slot, profile)
  reader:insert(profile, slot)
  local state = pcsc.wait_state(context, names[slot], pcsc.SCARD_STATE_PRESENT, true, 5000)
  if not state then error(string.format("slot %d: card '%s' was not reported present within 5 s", slot, profile), 2) end
  return state
end
insert_and_wait(busy_slot, "slow")
local first = insert_and_wait(swap_slot, "t1-fs")
local card, protocol = pcsc.connect_ok(context, names[busy_slot], pcsc.SCARD_PROTOCOL_T1)

-- The slow card answers after 1.5 s; the other slot's card leaves at 200 ms and another one
-- goes in at 900 ms, at a person's pace, while the command still runs.
local apdu, expected = faults.echo("b0b1b2b3")
reader:remove_after(200, swap_slot)
reader:insert_after(900, "t0-basic", swap_slot)
local start = lab.now_ms()
local response, reply = pcsc.transmit(card, protocol, apdu)
lab.metric("the long command took", lab.now_ms() - start, "ms")
lab.check_eq(response, expected, "slot " .. busy_slot .. ": the long command's answer (" .. tostring(reply.rv_name) .. ")")

-- The new card must be reported, whatever the driver reported in between.
local last_seen = "nothing"
local swapped = lab.poll(function()
  local state = pcsc.wait_state(context, names[swap_slot], pcsc.SCARD_STATE_PRESENT, true, 500)
  if state and state.atr and state.atr ~= first.atr then return state end
  local empty = pcsc.wait_state(context, names[swap_slot], pcsc.SCARD_STATE_EMPTY, true, 1)
  last_seen = empty and "empty" or (state and "the first card's ATR" or "neither present nor empty")
  return nil
end, 5000, 0)
lab.check(swapped ~= nil, string.format("slot %d: the card that went in during the other slot's command is reported within 5 s%s",
  swap_slot, swapped and "" or " (the slot still reported " .. last_seen .. ")"))
if swapped then
  local second, second_protocol = pcsc.connect_ok(context, names[swap_slot], pcsc.SCARD_PROTOCOL_ANY)
  lab.check_eq(second_protocol, pcsc.SCARD_PROTOCOL_T0, "slot " .. swap_slot .. ": the new card is the T=0 one")
  lab.check_eq(hex.sw((pcsc.transmit(second, second_protocol, "0084000008"))), "9000", "slot " .. swap_slot .. ": GET CHALLENGE on the new card")
  pcsc.disconnect(second)
end
pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(context)
