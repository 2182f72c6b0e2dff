-- @title: the vendor range reaches RDF_IOCTL_VENDOR; codes below it and unhandled ones are refused
-- @covers: ioctl:vendor range, callback:RDF_IOCTL_VENDOR
-- @drivers: reference-rdf, windows
-- @spec: smclib.md 1 (vendor range 2048-4095), 1.1 (missing callback: INVALID_DEVICE_REQUEST for vendor codes)

-- SCARD_CTL_CODE(3500): the reference driver's CCID escape; readerlab's reader has no escape commands.
local escape = smc.ioctl(0x310000 | (3500 << 2), "00", 64)
lab.log("escape: " .. tostring(escape.rv_name))
lab.check(escape.rv_name == "STATUS_NOT_SUPPORTED" or escape.rv_name == "STATUS_INVALID_DEVICE_REQUEST",
  "the escape to a reader without escape commands fails as documented (" .. tostring(escape.rv_name) .. ")")
local unhandled = smc.ioctl(0x310000 | (2048 << 2), "", 4)
lab.log("SCARD_CTL_CODE(2048): " .. tostring(unhandled.rv_name))
lab.check(unhandled.rv ~= 0, "a vendor code the driver does not handle fails")
local below = smc.ioctl(0x310000 | (100 << 2), "", 4)
lab.check(below.rv ~= 0, "an unknown code below the vendor range fails (" .. tostring(below.rv_name) .. ")")
