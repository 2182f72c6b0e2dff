-- A small custom applet on a T=1 card: a wallet with a balance in a DF of its own.
-- The proprietary commands (CLA 80) are answered here; everything else (SELECT, READ BINARY,
-- VERIFY, READ RECORD, ...) falls through to the built-in ISO 7816-4 behaviour.
--
--   80 50 00 00 04        GET BALANCE  -> balance (4 bytes, big endian) 9000
--   80 52 00 00 04 <n>    CREDIT n     -> 9000 (6A84 beyond FFFFFFFF)
--   80 54 00 00 04 <n>    DEBIT n      -> 9000 after VERIFY of the PIN (else 6982),
--                                         6985 when the balance is short
-- Each needs the wallet selected (SELECT by its AID or FID 5200 on the basic channel),
-- else 6985; a wrong length is 6700. CREDIT and DEBIT append a record (operation 01 or 02,
-- then the amount) to the cyclic log EF 5201 (SFI 1), which READ RECORD shows.

name = "applet"
description = "T=1 wallet applet (CLA 80 GET BALANCE 50, CREDIT 52, DEBIT 54 after VERIFY); ISO 7816-4 for the rest"

atr = {
  protocols = {1},
  ta1 = 0x13,                               -- Fi 372, Di 4
  ifsc = 254, bwi = 4, cwi = 5,
  historical = "80 56 61 70 70 6C 65 74",   -- category 80, card issuer's data "applet"
}

local WALLET_AID = "F0 72 65 61 64 65 72 6C 61 62 20"
local WALLET_FID = 0x5200

files = {
  ef{ fid = 0x0101, sfi = 1, text = "readerlab applet card" },
  df{ aid = WALLET_AID, fid = WALLET_FID, label = "wallet", files = {
    ef{ fid = 0x5201, sfi = 1, structure = "cyclic", record_size = 5, max_records = 4 },
  } },
}
pin = { value = "1234", tries = 3 }

local balance = 100
local wallet_selected = false

local SW_OK, SW_WRONG_LENGTH = 0x9000, 0x6700
local SW_SECURITY, SW_CONDITIONS, SW_NO_SPACE = 0x6982, 0x6985, 0x6A84

local function log_operation(operation, amount)
  -- APPEND RECORD (ISO 7816-4 7.3.7) to SFI 1 of the current DF, through the built-in card.
  card.iso(string.pack(">BBBBBB I4", 0x00, 0xE2, 0x00, 1 << 3, 5, operation, amount))
end

local function amount_of(apdu)
  if apdu.case ~= 3 or #apdu.data ~= 4 then return nil end
  return string.unpack(">I4", apdu.data)
end

local handlers = {
  [0x50] = function(apdu)
    if apdu.case ~= 2 then return SW_WRONG_LENGTH end
    return string.pack(">I4", balance), SW_OK
  end,
  [0x52] = function(apdu)
    local amount = amount_of(apdu)
    if not amount then return SW_WRONG_LENGTH end
    if balance + amount > 0xFFFFFFFF then return SW_NO_SPACE end
    balance = balance + amount
    log_operation(1, amount)
    return SW_OK
  end,
  [0x54] = function(apdu)
    local amount = amount_of(apdu)
    if not amount then return SW_WRONG_LENGTH end
    if not card.pin_verified() then return SW_SECURITY end
    if amount > balance then return SW_CONDITIONS end
    balance = balance - amount
    log_operation(2, amount)
    return SW_OK
  end,
}

function on_reset(kind)
  wallet_selected = false
end

function on_apdu(apdu)
  if apdu.cla == 0x00 and apdu.ins == 0xA4 then
    -- SELECT is the built-in card's; watch it to know whether the wallet is current.
    local response = card.iso(apdu.bytes)
    local sw1 = response:byte(-2)
    if sw1 == 0x90 or sw1 == 0x61 then
      wallet_selected = (apdu.p1 == 0x04 and apdu.data == hex.decode(WALLET_AID))
                     or (apdu.p1 == 0x00 and apdu.data == string.pack(">I2", WALLET_FID))
    end
    return hex.encode(response)
  end
  local handler = apdu.cla == 0x80 and handlers[apdu.ins]
  if not handler then return nil end
  if not wallet_selected then return SW_CONDITIONS end
  return handler(apdu)
end
