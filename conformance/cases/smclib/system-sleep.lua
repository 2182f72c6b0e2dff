-- @title: system sleep and resume: the card is powered down at D3; a card removed or swapped while asleep is reported after D0
-- @covers: irp:IRP_MN_SET_POWER/D3, irp:IRP_MN_SET_POWER/D0, ioctl:IOCTL_SMARTCARD_IS_ABSENT, ioctl:IOCTL_SMARTCARD_IS_PRESENT, callback:RDF_CARD_TRACKING
-- @drivers: reference-rdf
-- @spec: Windows reader certification (sleep and hibernation with a card in, removed, swapped); smclib.md 1.2 IS_ABSENT, IS_PRESENT

local function power_call(call, how)
  local reply = lab.call(call, { how = how })
  if reply.error then error(call .. ": " .. reply.error, 2) end
  return reply
end

-- 1. Sleep with a powered card, nothing touched: the card comes back unpowered and must be
--    powered again; a pending IS_ABSENT completes, since the driver cannot know the card stayed.
smc.insert("t1-fs")
smc.power_and_select()
lab.check(smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0).pending, "IS_ABSENT pending before the sleep")
smc.expect(power_call("SystemSleep", "sleep"), "STATUS_SUCCESS", "D3 for a sleep")
lab.check(not lab.reader(1):info().powered, "the card is powered down while the system sleeps")
smc.expect(power_call("SystemResume"), "STATUS_SUCCESS", "D0 after the sleep")
local after_sleep = smc.wait_pending(2000)
lab.check(after_sleep.completed, "IS_ABSENT completed after the resume (the card may have been swapped)")
lab.check_eq(smc.state(), smc.SCARD_SWALLOWED, "state after the resume, card still in: present, unpowered")
local atr = smc.power_and_select()
lab.check(#atr > 0, "the card powers up again after the resume")

-- 2. Removed while hibernating: reported absent after D0, IS_PRESENT pends again.
lab.check(smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0).pending, "IS_ABSENT pending before the hibernation")
smc.expect(power_call("SystemSleep", "hibernate"), "STATUS_SUCCESS", "D3 for a hibernation")
lab.reader(1):remove()
smc.expect(power_call("SystemResume"), "STATUS_SUCCESS", "D0 after the hibernation")
lab.check(smc.wait_pending(2000).completed, "IS_ABSENT completed: the card left while the system slept")
lab.check_eq(smc.state(), smc.SCARD_ABSENT, "state after the resume, card removed")
lab.check(smc.ioctl(smc.IOCTL_SMARTCARD_IS_PRESENT, "", 0).pending, "IS_PRESENT pends with the slot empty")
lab.call("CancelPending", {})

-- 3. Swapped while asleep: the other card is the one the driver powers after D0.
smc.insert("t1-fs")
smc.power_and_select()
lab.check(smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0).pending, "IS_ABSENT pending before the swap")
smc.expect(power_call("SystemSleep", "sleep"), "STATUS_SUCCESS", "D3 before the swap")
lab.reader(1):remove()
lab.reader(1):insert("t0-basic")
smc.expect(power_call("SystemResume"), "STATUS_SUCCESS", "D0 after the swap")
lab.check(smc.wait_pending(2000).completed, "IS_ABSENT completed: a swap while asleep is a removal")
local new_atr, protocol = smc.power_and_select()
lab.check_eq(hex.clean(new_atr):upper():sub(1, 8), "3B0A8058", "the ATR of t0-basic, the card now in the slot")
lab.check_eq(protocol, smc.SCARD_PROTOCOL_T0, "the swapped-in t0-basic card speaks T=0")

-- 4. Calls while asleep do not reach the driver.
smc.expect(power_call("SystemSleep", "sleep"), "STATUS_SUCCESS", "D3 again")
local refused = lab.call("Ioctl", { code = smc.IOCTL_SMARTCARD_GET_STATE, input = "", output_size = 4 })
lab.check(refused.error ~= nil, "an IOCTL while the system sleeps is refused")
smc.expect(power_call("SystemResume"), "STATUS_SUCCESS", "D0 again")
