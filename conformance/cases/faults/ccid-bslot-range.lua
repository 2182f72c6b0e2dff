-- @title: a multi-slot reader answers with a bSlot it does not have (above bMaxSlotIndex): the driver drops the answer, fails that command cleanly and goes on working, every slot included
-- @covers: pcsc:SCardTransmit, ccid:bMaxSlotIndex, ccid:RDR_to_PC_DataBlock, fault:wrong-slot
-- @drivers: libccid
-- @spec: CCID 5.1 (bMaxSlotIndex), 6.2 (bSlot of an RDR_to_PC message identifies the slot the command was sent to)
-- @timeout: 180

-- A hostile or broken reader: the answer's bSlot names no slot of the three (bMaxSlotIndex 2).
-- A driver that files answers by bSlot must check it against the slot count first.
local context = pcsc.establish()
local reader = lab.reader(1)
pcsc.replug_as(context, { profile = "covadis-auriga" })
local names = pcsc.slot_names(context, "Auriga", 3)
if not names then error("pcscd did not list three readers, one per slot: " .. table.concat((pcsc.list(context)), " | ")) end
-- The setup is not what is tested: a card whose insertion libccid missed (pcsc/multi-slot-busy)
-- is taken out and put in again, as a person would.
local function insert_reported(slot)
  for _ = 1, 3 do
    reader:insert("t1-fs", slot)
    local state = pcsc.wait_state(context, names[slot], pcsc.SCARD_STATE_PRESENT, true, 5000)
    local card, protocol, reply = pcsc.connect(context, names[slot], pcsc.SCARD_PROTOCOL_T1)
    if state and reply.rv == 0 then return card, protocol end
    lab.log(string.format("slot %d: the card was not taken (%s); out and in again", slot, tostring(reply.rv_name)))
    reader:remove(slot)
    pcsc.wait_state(context, names[slot], pcsc.SCARD_STATE_EMPTY, true, 5000)
  end
  error(string.format("slot %d: no card was taken in three insertions", slot))
end
local session = { context = context, name = names[1] }
session.card, session.protocol = insert_reported(1)
local other, other_protocol = insert_reported(2)

for _, bad_slot in ipairs({ 3, 127, 255 }) do
  faults.probe_transmit(session, { kind = "wrong-slot", command = "XfrBlock", slot = bad_slot },
    { label = "ccid wrong-slot (bSlot " .. bad_slot .. ")", recover = "reconnect" })
end

-- The other slot never saw any of it.
local apdu, expected = faults.echo("0badf00d")
lab.check_eq((pcsc.transmit(other, other_protocol, apdu)), expected, "slot 2 works after the answers that named no slot")
pcsc.disconnect(other, pcsc.SCARD_UNPOWER_CARD)
pcsc.disconnect(session.card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(context)
