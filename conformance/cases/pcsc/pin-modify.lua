-- @title: a PIN-pad reader changes the PIN typed on its keypad (FEATURE_MODIFY_PIN_DIRECT), and a mistyped confirmation is cancelled
-- @covers: pcsc:SCardControl, ccid:PC_to_RDR_Secure
-- @drivers: libccid
-- @spec: PC/SC v2 part 10 2.3, 2.5.3 (PIN_MODIFY_STRUCTURE); CCID 6.1.11, 6.2.6

local context = pcsc.setup()
local name = pcsc.replug_as(context, { pin_support = 3, lcd = 0x0210 })
local reader = lab.reader(1)
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)

local features = pcsc.ok(lab.call("Control", { card = card, code = 0x42000D48, data = "" }), "GET_FEATURE_REQUEST")
local codes = {}
local tlv = hex.clean(features.response or "")
for i = 1, #tlv - 11, 12 do
  codes[tonumber(tlv:sub(i, i + 1), 16)] = tonumber(tlv:sub(i + 4, i + 11), 16)
end
local modify_code = codes[0x07]  -- FEATURE_MODIFY_PIN_DIRECT
lab.check(modify_code ~= nil, "the reader offers FEATURE_MODIFY_PIN_DIRECT (features " .. tlv .. ")")

-- PIN_MODIFY_STRUCTURE: bTimerOut, bTimerOut2, bmFormatString 82, bmPINBlockString 00,
-- bmPINLengthFormat 00, bInsertionOffsetOld 00, bInsertionOffsetNew 04 (the cards take the
-- current PIN then the new one, 4 ASCII digits each), wPINMaxExtraDigit 0404, bConfirmPIN 03
-- (current PIN asked, new PIN confirmed), bEntryValidationCondition 02, bNumberMessage 03,
-- wLangId 0409, bMsgIndex1-3 00 01 02, bTeoPrologue, ulDataLength 5, CHANGE REFERENCE DATA.
local structure = "1e00" .. "82" .. "00" .. "00" .. "00" .. "04" .. "0404" .. "03" .. "02" .. "03" .. "0904" ..
  "000102" .. "000000" .. "05000000" .. "0024008000"
local function modify(what)
  local reply = lab.call("Control", { card = card, code = modify_code, data = structure })
  lab.check(reply.rv == 0, what .. ": SCardControl succeeded (" .. tostring(reply.rv_name) .. ")")
  return hex.clean(reply.response or "")
end

if modify_code then
  reader:keypad{ digits = "1234", new_digits = "5678", confirm_digits = "5679" }
  lab.check_eq(modify("mistyped confirmation"), "6401", "the two new PINs differ: the pad cancels (64 01)")
  lab.check_eq(hex.sw((pcsc.transmit(card, protocol, "00200080" .. "04" .. hex.from_string("1234")))), "9000",
    "the PIN is still 1234")
  reader:keypad{ digits = "1234", new_digits = "5678" }
  lab.check_eq(modify("change"), "9000", "1234 changed to 5678 on the keypad: the card's 90 00")
  lab.check_eq(hex.sw((pcsc.transmit(card, protocol, "00200080" .. "04" .. hex.from_string("5678")))), "9000",
    "VERIFY 5678 after the change")
  reader:keypad{ digits = "0000", new_digits = "1111" }
  lab.check_eq(modify("wrong current PIN"), "63c2", "a wrong current PIN: the card's 63 C2")
end
pcsc.disconnect(card)
pcsc.release(context)
