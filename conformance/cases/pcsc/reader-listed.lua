-- @title: pcscd lists the virtual reader under a name built from its USB descriptor strings
-- @covers: pcsc:SCardEstablishContext, pcsc:SCardListReaders, usb:string descriptors, ccid:class descriptor
-- @drivers: libccid
-- @spec: PC/SC part 5 SCardListReaders; USB 2.0 9.6.7; CCID 5.1

local context = pcsc.establish()
local name = pcsc.wait_for_reader(context, 30000)
lab.check(name ~= nil, "no reader with 'readerlab' in its name was listed")
if name then
  local info = lab.reader(1):info()
  lab.log("reader name: " .. name)
  lab.check(name:find(info.manufacturer, 1, true) == 1, "the name starts with the manufacturer string")
  lab.check(name:find(info.product, 1, true) ~= nil, "the name holds the product string")
  lab.check(name:find("(" .. info.serial .. ")", 1, true) ~= nil, "the name holds the serial number in parentheses")
  lab.check(name:match(" %x%x %x%x$") ~= nil, "the name ends with pcscd's two index numbers")
end
pcsc.release(context)
