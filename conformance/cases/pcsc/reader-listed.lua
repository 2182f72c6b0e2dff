-- @title: pcscd lists the virtual reader under a name built from its USB descriptor strings
-- @covers: pcsc:SCardEstablishContext, pcsc:SCardListReaders, usb:string descriptors, ccid:class descriptor
-- @drivers: libccid
-- @spec: PC/SC part 5 SCardListReaders; USB 2.0 9.6.7; CCID 5.1

local context = pcsc.establish()
local name = pcsc.wait_for_reader(context, 30000)
lab.check(name ~= nil, "no reader was listed")
if name then
  local info = lab.reader(1):info()
  lab.log("reader name: " .. name)
  -- pcscd names a reader after its driver's Info.plist entry for the VID:PID (ifdFriendlyName).
  -- The guest builder registers readerlab's own IDs under the descriptor's strings; a real
  -- reader's profile gets Debian libccid's name for that model, which the case cannot know.
  if info.vendor_id == 0x1209 and info.product_id == 0x0001 then
    lab.check(name:find(info.manufacturer, 1, true) == 1, "the name starts with the manufacturer string")
    lab.check(name:find(info.product, 1, true) ~= nil, "the name holds the product string")
  end
  lab.check(name:find("(" .. info.serial .. ")", 1, true) ~= nil, "the name holds the serial number in parentheses")
  lab.check(name:match(" %x%x %x%x$") ~= nil, "the name ends with pcscd's two index numbers")
end
pcsc.release(context)
