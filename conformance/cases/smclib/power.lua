-- @title: IOCTL_SMARTCARD_POWER: cold and warm reset return the ATR and a negotiable or specific state; power down; its errors
-- @covers: ioctl:IOCTL_SMARTCARD_POWER, callback:RDF_CARD_POWER, callback:RDF_CARD_POWER/NO_MEDIA, callback:RDF_CARD_POWER/BUFFER_TOO_SMALL, ioctl:POWER/INVALID_DEVICE_STATE, ioctl:POWER/INVALID_DEVICE_REQUEST
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.2 POWER; 2 RDF_CARD_POWER

smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64), "STATUS_INVALID_DEVICE_STATE",
  "POWER with no card")
smc.insert("t1-fs")
local cold = smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
smc.expect(cold, "STATUS_SUCCESS", "cold reset")
lab.check_eq(cold.output, "3b9b138131fe4580597265616465726c616230", "the ATR of the cold reset")
lab.check_eq(cold.information, 19, "Information = ATR length")
lab.check(cold.state == smc.SCARD_NEGOTIABLE or cold.state == smc.SCARD_SPECIFIC, "NEGOTIABLE or SPECIFIC after the reset")
local warm = smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_WARM_RESET), 64)
smc.expect(warm, "STATUS_SUCCESS", "warm reset")
lab.check_eq(warm.output, cold.output, "the warm reset's ATR")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 32), "STATUS_BUFFER_TOO_SMALL",
  "a reset into 32 bytes")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(7), 64), "STATUS_INVALID_DEVICE_REQUEST", "power code 7")
local down = smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_POWER_DOWN), 0)
smc.expect(down, "STATUS_SUCCESS", "power down")
lab.check(down.state <= smc.SCARD_POWERED, "state after power down is POWERED or below")
-- The card leaves between the driver's last event and the reset: the driver answers NO_MEDIA.
lab.reader(1):remove()
local gone = smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64)
lab.check(gone.rv_name == "STATUS_NO_MEDIA" or gone.rv_name == "STATUS_INVALID_DEVICE_STATE",
  "POWER after removal: NO_MEDIA or INVALID_DEVICE_STATE, got " .. tostring(gone.rv_name))
