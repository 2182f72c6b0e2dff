-- @title: EJECT, SWALLOW and CONFISCATE on a reader without mechanics; PC/SC part 10 GET_FEATURE_REQUEST; obsolete and unknown codes
-- @covers: ioctl:IOCTL_SMARTCARD_EJECT, ioctl:IOCTL_SMARTCARD_SWALLOW, ioctl:IOCTL_SMARTCARD_CONFISCATE, callback:RDF_CARD_EJECT, callback:RDF_READER_SWALLOW, callback:RDF_CARD_CONFISCATE, ioctl:IOCTL_SMARTCARD_GET_FEATURE_REQUEST, callback:RDF_IOCTL_VENDOR, ioctl:IOCTL_SMARTCARD_READ, ioctl:IOCTL_SMARTCARD_WRITE, ioctl:IOCTL_SMARTCARD_GET_LAST_ERROR, ioctl:IOCTL_SMARTCARD_GET_PERF_CNTR
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1.1 (vendor range, missing callbacks), 1.2 EJECT/SWALLOW/CONFISCATE; PC/SC part 10

for _, code in ipairs({ smc.IOCTL_SMARTCARD_EJECT, smc.IOCTL_SMARTCARD_SWALLOW, smc.IOCTL_SMARTCARD_CONFISCATE }) do
  local reply = smc.ioctl(code, "", 0)
  lab.check(reply.rv_name == "STATUS_NOT_SUPPORTED" or reply.rv_name == "STATUS_SUCCESS",
    string.format("IOCTL 0x%06X on a reader without mechanics: %s", code, tostring(reply.rv_name)))
end
local features = smc.ioctl(smc.IOCTL_SMARTCARD_GET_FEATURE_REQUEST, "", 64)
smc.expect(features, "STATUS_SUCCESS", "GET_FEATURE_REQUEST")
lab.log("features TLV: " .. features.output)
lab.check(#features.output % 12 == 0, "the answer is a list of 6-byte TLVs (tag, 4, control code)")
smc.expect(smc.ioctl(smc.IOCTL_SMARTCARD_GET_FEATURE_REQUEST, "", 2), "STATUS_BUFFER_TOO_SMALL", "GET_FEATURE_REQUEST into 2 bytes")
for _, code in ipairs({ smc.IOCTL_SMARTCARD_GET_LAST_ERROR, smc.IOCTL_SMARTCARD_GET_PERF_CNTR }) do
  smc.expect(smc.ioctl(code, "", 4), "STATUS_INVALID_DEVICE_REQUEST", string.format("IOCTL 0x%06X", code))
end
for _, code in ipairs({ smc.IOCTL_SMARTCARD_READ, smc.IOCTL_SMARTCARD_WRITE, 0x310FFC }) do
  local reply = smc.ioctl(code, "", 4)
  lab.check(reply.rv ~= 0, string.format("obsolete or unknown IOCTL 0x%06X fails (%s)", code, tostring(reply.rv_name)))
end
