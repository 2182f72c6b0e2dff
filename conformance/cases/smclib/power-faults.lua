-- @title: RDF_CARD_POWER errors from hostile cards: IO_TIMEOUT from a mute card, UNRECOGNIZED_MEDIA from a bad ATR
-- @covers: callback:RDF_CARD_POWER/IO_TIMEOUT, callback:RDF_CARD_POWER/UNRECOGNIZED_MEDIA
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.2 POWER, 5 ATR parsing

smc.insert("mute")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64), "STATUS_IO_TIMEOUT", "reset of a mute card")
lab.reader(1):remove()
smc.insert("bad-atr")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_POWER, smc.ulong(smc.SCARD_COLD_RESET), 64), "STATUS_UNRECOGNIZED_MEDIA",
  "reset of a card with a wrong TCK")
