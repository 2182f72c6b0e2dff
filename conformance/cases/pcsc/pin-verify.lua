-- @title: PIN-pad readers verify the PIN typed on their keypad (FEATURE_VERIFY_PIN_DIRECT): right, wrong, timeout, cancel
-- @covers: pcsc:SCardControl, ccid:PC_to_RDR_Secure
-- @drivers: libccid
-- @spec: PC/SC v2 part 10 2.3 (GET_FEATURE_REQUEST), 2.5.2 (PIN_VERIFY_STRUCTURE); CCID 6.1.11, 6.2.6
-- @timeout: 300

-- readerlab's own reader given a PIN pad and a 2x16 display (short APDU), and real PIN-pad
-- readers of scenarios/readers: an extended-APDU one, the GemPC Pinpad (libccid loads its
-- display strings by Escape, which the profile's handler takes, else it gives the reader up;
-- it also asks GET_FIRMWARE_FEATURES, refused, and adjusts the structure to the model's
-- quirks), and a TPDU one (libccid sends the T=1 prologue in bTeoPrologue and gets the card's
-- whole block back).
local models = {
  { label = "readerlab + PIN pad", fields = { pin_support = 3, lcd = 0x0210 } },
  { label = "kobil-emv-cap", fields = { profile = "kobil-emv-cap" } },
  { label = "gempc-pinpad", fields = { profile = "gempc-pinpad" } },
  { label = "spr532", fields = { profile = "spr532" } },
}

-- PIN_VERIFY_STRUCTURE: bTimerOut, bTimerOut2, bmFormatString 82 (bytes, position 0, left, ASCII),
-- bmPINBlockString 00 (the data follows the PIN), bmPINLengthFormat 00, wPINMaxExtraDigit 0408
-- (4 to 8 digits), bEntryValidationCondition 02 (OK key), bNumberMessage 01, wLangId 0409,
-- bMsgIndex 00, bTeoPrologue 000000, ulDataLength 5, and VERIFY of PIN 80 with Lc 0.
local structure = "1e00" .. "82" .. "00" .. "00" .. "0804" .. "02" .. "01" .. "0904" .. "00" .. "000000" ..
  "05000000" .. "0020008000"

local context = pcsc.setup()
local reader = lab.reader(1)
for _, model in ipairs(models) do
  local name = pcsc.replug_as(context, model.fields)
  pcsc.insert_and_wait(context, name, "t1-fs")
  local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)
  local what = model.label .. ": "

  -- CM_IOCTL_GET_FEATURE_REQUEST: SCARD_CTL_CODE(3400) as pcsc-lite defines it. TLVs: tag,
  -- length 4, the control code big-endian (PC/SC v2 part 10 2.3).
  local features = pcsc.ok(lab.call("Control", { card = card, code = 0x42000D48, data = "" }),
    what .. "GET_FEATURE_REQUEST")
  local verify_code
  local tlv = hex.clean(features.response or "")
  for i = 1, #tlv - 11, 12 do
    if tonumber(tlv:sub(i, i + 1), 16) == 0x06 then verify_code = tonumber(tlv:sub(i + 4, i + 11), 16) end
  end
  lab.check(verify_code ~= nil, what .. "the reader offers FEATURE_VERIFY_PIN_DIRECT (features " .. tlv .. ")")

  local function verify(step)
    local reply = lab.call("Control", { card = card, code = verify_code, data = structure })
    lab.check(reply.rv == 0, what .. step .. ": SCardControl succeeded (" .. tostring(reply.rv_name) .. ")")
    return hex.clean(reply.response or "")
  end
  if verify_code then
    reader:keypad{ digits = "1234" }
    lab.check_eq(verify("right PIN"), "9000", what .. "the right PIN typed on the keypad: the card's 90 00")
    reader:keypad{ digits = "4321" }
    lab.check_eq(verify("wrong PIN"), "63c2", what .. "a wrong PIN: the card's 63 C2 (two tries left)")
    reader:keypad{ digits = "1234" }
    lab.check_eq(verify("right PIN again"), "9000", what .. "the right PIN again: 90 00")
    -- libccid turns PIN_TIMEOUT (F0) and PIN_CANCELLED (EF) into 64 00 and 64 01 (CCID_Receive).
    reader:keypad{ digits = "12", timeout = true }
    lab.check_eq(verify("timeout"), "6400", what .. "nobody finishes the entry: PIN_TIMEOUT as 64 00")
    reader:keypad{ digits = "1", cancel = true }
    lab.check_eq(verify("cancel"), "6401", what .. "the Cancel key: PIN_CANCELLED as 64 01")
    -- The timeout and the cancel never reached the card: its PIN is still verified, and the
    -- protocol with it still in step (a TPDU reader's T=1 sequence numbers).
    lab.check_eq(hex.sw((pcsc.transmit(card, protocol, "00200080"))), "9000",
      what .. "VERIFY without data: the PIN is still verified")
  end
  pcsc.disconnect(card)
end
pcsc.release(context)
