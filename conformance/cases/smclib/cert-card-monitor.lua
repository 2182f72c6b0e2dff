-- @title: reader certification part A, card monitor: IS_PRESENT succeeds at once with a card, IS_ABSENT at once without; then 20 insert/remove cycles (instead of ifdtest's 15 s), each completing a pending IS_PRESENT and IS_ABSENT
-- @covers: cert:card monitor, ioctl:IOCTL_SMARTCARD_IS_PRESENT, ioctl:IOCTL_SMARTCARD_IS_ABSENT, callback:RDF_CARD_TRACKING
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 6 A (ifdtest card monitor), 1.2 IS_PRESENT, IS_ABSENT

local CYCLES = 20  -- a bounded count in place of ifdtest's 15 s of repetition

lab.reader(1):insert("ibm-test")
local present = smc.ioctl(smc.IOCTL_SMARTCARD_IS_PRESENT, "", 0)
lab.check(not present.pending, "IS_PRESENT with a card is not left pending")
smc.expect(present, "STATUS_SUCCESS", "IS_PRESENT with a card")
lab.check(present.state >= smc.SCARD_PRESENT, "state with a card, got " .. tostring(present.state))
lab.reader(1):remove()
local absent = smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0)
lab.check(not absent.pending, "IS_ABSENT with no card is not left pending")
smc.expect(absent, "STATUS_SUCCESS", "IS_ABSENT with no card")
lab.check_eq(absent.state, smc.SCARD_ABSENT, "state with no card")

-- Each event must complete the IRP waiting for it, and only that one.
local failures = 0
local function check(ok, what, cycle)
  if not ok then
    failures = failures + 1
    if failures <= 3 then lab.log(string.format("cycle %d: %s", cycle, what)) end
  end
end
for cycle = 1, CYCLES do
  local wait_in = smc.ioctl(smc.IOCTL_SMARTCARD_IS_PRESENT, "", 0)
  check(wait_in.pending, "IS_PRESENT with no card was not left pending (" .. tostring(wait_in.rv_name) .. ")", cycle)
  if wait_in.pending then
    check(not smc.wait_pending(0).completed, "IS_PRESENT completed before the insertion", cycle)
  end
  lab.reader(1):insert("ibm-test")
  if wait_in.pending then
    local done = smc.wait_pending(5000)
    check(done.completed and done.rv_name == "STATUS_SUCCESS", "the insertion completed IS_PRESENT with " .. tostring(done.rv_name), cycle)
  end
  check(smc.state() >= smc.SCARD_PRESENT, "no card in the state after the insertion", cycle)

  local wait_out = smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0)
  check(wait_out.pending, "IS_ABSENT with a card was not left pending (" .. tostring(wait_out.rv_name) .. ")", cycle)
  if wait_out.pending then
    check(not smc.wait_pending(0).completed, "IS_ABSENT completed before the removal", cycle)
  end
  lab.reader(1):remove()
  if wait_out.pending then
    local done = smc.wait_pending(5000)
    check(done.completed and done.rv_name == "STATUS_SUCCESS", "the removal completed IS_ABSENT with " .. tostring(done.rv_name), cycle)
  end
  check(smc.state() == smc.SCARD_ABSENT, "state after the removal is not ABSENT", cycle)
end
lab.check_eq(failures, 0, "card monitor failures in " .. CYCLES .. " insert/remove cycles")
