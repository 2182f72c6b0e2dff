-- @title: a T=1 card whose blocks keep a wrong EDC makes TRANSMIT fail with DEVICE_PROTOCOL_ERROR after the library's recovery; one bad block is recovered
-- @covers: callback:RDF_TRANSMIT/DEVICE_PROTOCOL_ERROR, callback:RDF_TRANSMIT, t1:error recovery
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 5 (T=1: R-blocks, RESYNCH after 2 retries); ISO 7816-3 11.6.3

lab.reader(1):configure({ exchange = "tpdu" })
smc.insert("hostile")
local _, protocol = smc.power_and_select(smc.SCARD_PROTOCOL_T1)
lab.check_eq(protocol, smc.SCARD_PROTOCOL_T1, "T=1 selected")
local function transmit(apdu)
  return smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, apdu), 300)
end
-- One block with a wrong EDC: an R-block asks again and the APDU succeeds.
smc.expect(transmit("80f1010000"), "STATUS_SUCCESS", "arm one bad EDC")
local recovered = transmit("00a4000c023f00")
smc.expect(recovered, "STATUS_SUCCESS", "an APDU through one bad block")
lab.check_eq(hex.sw(recovered.output), "9000", "its status word")
-- Every block wrong: the library gives up.
smc.expect(transmit("80f1400000"), "STATUS_SUCCESS", "arm 64 bad EDCs")
local broken = transmit("00a4000c023f00")
lab.log("after 64 bad blocks: " .. tostring(broken.rv_name))
smc.expect(broken, "STATUS_DEVICE_PROTOCOL_ERROR", "TRANSMIT through a card that only sends bad blocks")
