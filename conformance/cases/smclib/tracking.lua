-- @title: card tracking: IS_PRESENT pends until an insertion, a second one is DEVICE_BUSY, IS_ABSENT is cancelled by a close
-- @covers: ioctl:IOCTL_SMARTCARD_IS_PRESENT, ioctl:IOCTL_SMARTCARD_IS_ABSENT, callback:RDF_CARD_TRACKING, callback:RDF_CARD_TRACKING/CANCELLED, ioctl:tracking/DEVICE_BUSY
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.2 IS_PRESENT, IS_ABSENT, both tracking IOCTLs

local pending = smc.ioctl(smc.IOCTL_SMARTCARD_IS_PRESENT, "", 0)
lab.check(pending.pending, "IS_PRESENT with no card is left pending")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0), "STATUS_DEVICE_BUSY", "a second tracking IOCTL")
lab.reader(1):insert("t1-fs")
local done = lab.call("WaitPending", { timeout_ms = 5000 })
lab.check(done.completed, "the insertion completed IS_PRESENT")
smc.expect(done, "STATUS_SUCCESS", "IS_PRESENT's completion")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_IS_PRESENT, "", 0), "STATUS_SUCCESS", "IS_PRESENT with a card")
local absent = smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0)
lab.check(absent.pending, "IS_ABSENT with a card is left pending")
local cancelled = lab.call("CancelPending", {})
smc.expect(cancelled, "STATUS_CANCELLED", "IS_ABSENT cancelled by a close")
local absent2 = smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0)
lab.check(absent2.pending, "IS_ABSENT pending again")
lab.reader(1):remove()
local removed = lab.call("WaitPending", { timeout_ms = 5000 })
smc.expect(removed, "STATUS_SUCCESS", "IS_ABSENT completed by the removal")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_IS_ABSENT, "", 0), "STATUS_SUCCESS", "IS_ABSENT with no card")
