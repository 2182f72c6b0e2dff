-- SCM Microsystems SPR532 (TPDU PIN pad, dwMaxCCIDMessageLength 270).
-- The numbers are the descriptor of libccid's readers/SPR532.txt.
return {
  title = "SCM Microsystems SPR532 (TPDU PIN pad, dwMaxCCIDMessageLength 270)",
  source = "readers/SPR532.txt",
  quirks = "04E6:E003 is SPR532 in libccid: in PIN modify it clears bMsgIndex1..3 and sends all three with bNumberMessage 00 (no display, and the firmware reads every index); before a case-1 VERIFY whose PIN block carries no length (bmPINBlockString 0) it sends Escape 80 02 00 (append the PIN unpadded) and fails the verify when that Escape fails.",
  vid = 0x04E6,
  pid = 0xE003,
  bcd_device = 0x0510,
  manufacturer = "SCM Microsystems Inc.",
  product = "SPRx32 USB Smart Card Reader",
  ccid_version = 0x0100,
  slots = 1,
  voltages = { "5.0V" },
  protocols = { "T=0", "T=1" },
  default_clock_khz = 4000,
  max_clock_khz = 8000,
  clock_count = 0,
  data_rate = 10753,
  max_data_rate = 344105,
  data_rate_count = 0,
  max_ifsd = 254,
  features = { "auto-parameters-from-atr", "auto-voltage", "auto-clock", "auto-baud-rate", "auto-pps", "tpdu" },
  max_message_length = 270,
  class_get_response = 0xFF,
  class_envelope = 0xFF,
  pin_support = { "verify", "modify" },
  pin_modify_every_message_index = true,
  max_busy_slots = 1,
  -- The vendor command libccid sends before a case-1 PIN verification: accepted, nothing else.
  escape = function(command)
    if command == "800200" then return "" end
    return nil
  end,
}
