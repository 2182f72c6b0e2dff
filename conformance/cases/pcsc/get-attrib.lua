-- @title: SCardGetAttrib answers SCARD_ATTR_ATR_STRING and SCARD_ATTR_VENDOR_NAME with the right values
-- @covers: pcsc:SCardGetAttrib, attr:SCARD_ATTR_ATR_STRING, attr:SCARD_ATTR_VENDOR_NAME
-- @drivers: libccid, reference-rdf, windows
-- @spec: PC/SC part 3 (attributes); libccid SCARDGETATTRIB

local context, name = pcsc.setup()
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)

local atr, atr_reply = pcsc.get_attrib(card, pcsc.SCARD_ATTR_ATR_STRING)
pcsc.ok(atr_reply, "SCardGetAttrib(SCARD_ATTR_ATR_STRING)")
lab.check_eq(atr, "3b9b138131fe4580597265616465726c616230", "SCARD_ATTR_ATR_STRING")

local vendor, vendor_reply = pcsc.get_attrib(card, pcsc.SCARD_ATTR_VENDOR_NAME)
pcsc.ok(vendor_reply, "SCardGetAttrib(SCARD_ATTR_VENDOR_NAME)")
-- libccid answers the USB manufacturer string, with or without a terminating NUL.
local text = hex.to_string(vendor):gsub("%z$", "")
lab.check_eq(text, lab.reader(1):info().manufacturer, "SCARD_ATTR_VENDOR_NAME")
pcsc.disconnect(card)
pcsc.release(context)
