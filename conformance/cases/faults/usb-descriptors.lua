-- @title: readers with malformed descriptors (a CCID class descriptor with the wrong bLength, dwMaxCCIDMessageLength below the minimum, dwMaxIFSD 0): the driver refuses the reader or works with it, never returns wrong data, and the next well-formed reader works
-- @covers: pcsc:SCardListReaders, pcsc:SCardConnect, pcsc:SCardTransmit, usb:GET_DESCRIPTOR, fault:class-descriptor-length, fault:max-message-length, fault:max-ifsd
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 5.1 (bLength 0x36, dwMaxCCIDMessageLength between dwMaxIFSD + 10 and 65544 + 10, dwMaxIFSD)
-- @timeout: 300

local context = pcsc.establish()
local libccid = lab.driver_name():find("libccid", 1, true) ~= nil
-- A reader pcscd takes is listed 2-4 s after it is plugged in; one it refuses never is.
local listing_ms = libccid and 8000 or pcsc.listing_ms()

-- Plugs the model in, then tries the card: what the driver did, in a few words.
local function try_model(label, fields)
  local old = pcsc.find_reader(context)
  lab.reader(1):configure(fields)
  if old then pcsc.wait_for_reader_gone(context, old, listing_ms) end
  local name = pcsc.wait_for_reader(context, listing_ms)
  local text
  if not name then
    text = "reader not listed (refused)"
  else
    -- A driver may list the reader and drop it again: that is an answer too, not a broken case.
    local ok, problem = pcall(function()
      lab.reader(1):insert("t1-fs")
      local state = pcsc.wait_state(context, name, pcsc.SCARD_STATE_PRESENT, true, 5000)
      local card, protocol, connect = pcsc.connect(context, name)
      text = "listed; card " .. (state and "reported" or "NOT reported") .. "; SCardConnect -> " .. tostring(connect.rv_name)
      if connect.rv == 0 then
        local apdu, expected = faults.echo()
        local response, reply = pcsc.transmit(card, protocol, apdu)
        local right = reply.rv ~= 0 or response == expected
        text = text .. "; SCardTransmit -> " .. tostring(reply.rv_name) ..
          (reply.rv == 0 and (right and ", right data" or ", WRONG DATA") or "")
        lab.check(right, label .. ": no wrong data returned as success (" .. text .. ")")
        pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
      end
    end)
    if not ok then
      text = "listed, then " .. tostring(problem):gsub("^.-:%d+: ", "") .. (pcsc.find_reader(context) and "" or " (the reader is gone)")
    end
  end
  lab.outcome(label, text)
  lab.log(label .. ": " .. text)
end

-- configure{} changes the model in force, so each model puts back what the one before it broke:
-- one malformed field at a time.
local well_formed = lab.reader(1):info()
try_model("usb descriptor bLength 0x20 (CCID class descriptor)", { class_descriptor_length = 0x20 })
try_model("usb dwMaxCCIDMessageLength 20", { class_descriptor_length = 0x36, max_message_length = 20 })
try_model("usb dwMaxIFSD 0 (TPDU level)", { class_descriptor_length = 0x36,
  max_message_length = well_formed.max_message_length, exchange = "tpdu", max_ifsd = 0 })

-- A well-formed reader after them works.
local name = pcsc.replug_as(context, { exchange = "short-apdu", class_descriptor_length = 0x36, max_message_length = 271,
  max_ifsd = 254 })
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name)
local apdu, expected = faults.echo()
lab.check_eq((pcsc.transmit(card, protocol, apdu)), expected, "ECHO on the well-formed reader after the malformed ones")
pcsc.disconnect(card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(context)
