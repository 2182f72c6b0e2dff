-- @title: SCardControl's vendor escape (FEATURE_CCID_ESC_COMMAND) reaches the reader's Escape handler: its answer comes back, a command it refuses fails, and the card still answers after it
-- @covers: pcsc:SCardControl, ccid:PC_to_RDR_Escape
-- @drivers: libccid, reference-rdf
-- @spec: PC/SC v2 part 10 2.3 (GET_FEATURE_REQUEST, FEATURE_CCID_ESC_COMMAND); CCID 6.1.8, 6.2.4 (RDR_to_PC_Escape), 6.2.6 (bError CMD_NOT_SUPPORTED)

-- The SCM SPR532 profile's Escape handler accepts 80 02 00 (its answer is empty) and refuses
-- every other command (the reader answers CMD_NOT_SUPPORTED). libccid passes SCardControl's
-- IOCTL_SMARTCARD_VENDOR_IFD_EXCHANGE to the reader as PC_to_RDR_Escape only when its
-- Info.plist has DRIVER_OPTION_CCID_EXCHANGE_AUTHORIZED, which readerlab's guest sets; it then
-- also offers the IOCTL as FEATURE_CCID_ESC_COMMAND.
local context = pcsc.setup()
local name = pcsc.replug_as(context, { profile = "spr532" })
pcsc.insert_and_wait(context, name, "t1-fs")
local card, protocol = pcsc.connect_ok(context, name, pcsc.SCARD_PROTOCOL_ANY)

-- CM_IOCTL_GET_FEATURE_REQUEST, pcsc-lite's SCARD_CTL_CODE(3400): TLVs of tag, length 4 and the
-- control code big-endian; FEATURE_CCID_ESC_COMMAND is tag 0x13 (PC/SC v2 part 10 2.3).
local features = hex.clean(pcsc.ok(lab.call("Control", { card = card, code = 0x42000D48, data = "" }),
  "GET_FEATURE_REQUEST").response or "")
local escape_code
for i = 1, #features - 11, 12 do
  if tonumber(features:sub(i, i + 1), 16) == 0x13 then escape_code = tonumber(features:sub(i + 4, i + 11), 16) end
end
lab.check(escape_code ~= nil, "the driver offers FEATURE_CCID_ESC_COMMAND (features " .. features .. "; libccid " ..
  "offers it only with DRIVER_OPTION_CCID_EXCHANGE_AUTHORIZED in its Info.plist, as readerlab guest build sets it)")
if lab.driver_name():find("libccid", 1, true) then
  -- IOCTL_SMARTCARD_VENDOR_IFD_EXCHANGE is SCARD_CTL_CODE(1): 0x42000001 in pcsc-lite.
  lab.check_eq(escape_code, 0x42000001, "libccid's escape IOCTL is IOCTL_SMARTCARD_VENDOR_IFD_EXCHANGE")
end

if escape_code then
  -- A command the handler answers: success, and the handler's answer (empty) as the response.
  local accepted = lab.call("Control", { card = card, code = escape_code, data = "800200" })
  lab.check_eq(accepted.rv_name, "SCARD_S_SUCCESS", "Escape 80 02 00, which the reader accepts")
  lab.check_eq(hex.clean(accepted.response or ""), "", "the reader's answer to 80 02 00 (empty) comes back")

  -- A command the handler refuses: RDR_to_PC_Escape with bStatus failed and bError
  -- CMD_NOT_SUPPORTED. libccid's CmdEscape turns any failed bStatus into IFD_COMMUNICATION_ERROR,
  -- which pcscd returns as SCARD_E_NOT_TRANSACTED; the reference RDF driver answers
  -- CMD_NOT_SUPPORTED with STATUS_NOT_SUPPORTED, SCARD_E_UNSUPPORTED_FEATURE.
  local refused = lab.call("Control", { card = card, code = escape_code, data = "a0b1c2d3" })
  lab.check(refused.rv ~= 0, "Escape A0 B1 C2 D3, which the reader does not support, fails (" ..
    tostring(refused.rv_name) .. ")")
  local refusal = lab.driver_name():find("libccid", 1, true) and "SCARD_E_NOT_TRANSACTED" or
    "SCARD_E_UNSUPPORTED_FEATURE"
  lab.check_eq(refused.rv_name, refusal, "the driver's code for a refused Escape")
  lab.check_eq(hex.clean(refused.response or ""), "", "no bytes come back with the refusal")
end

-- The session goes on: the card answers a SELECT after the refused Escape.
local aid = "f07265616465726c616201"
local response = pcsc.ok(select(2, pcsc.transmit(card, protocol, hex.apdu("00a40400", aid, 0))),
  "SELECT after the escapes").response
lab.check_eq(hex.sw(response), "9000", "SELECT by AID after the refused Escape")
pcsc.disconnect(card)
pcsc.release(context)
