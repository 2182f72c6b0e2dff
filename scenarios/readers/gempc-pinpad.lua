-- Gemplus GemPC Pinpad: a TPDU reader with a PIN pad and no display. Numbers from libccid's
-- readers/GemPCPinpad.txt.
return {
  title = "Gemplus GemPC Pinpad (TPDU, PIN pad without display)",
  representative = true,  -- a TPDU PIN pad
  source = "readers/GemPCPinpad.txt",
  quirks = "08E6:3478 is GEMPCPINPAD in libccid: at open it loads ten localized PIN-pad prompts with an Escape (B2 A0 00 4D 4C and 16-byte strings) and fails the open when that Escape fails; it forces bNumberMessage 01 and bEntryValidationCondition 02 (validation key) in PIN verify and modify blocks; firmware 1.00 gets PIN sizes 4..8 and validation condition 02 in its FEATURE_GET_TLV_PROPERTIES; as a Gemalto vendor ID (08E6) it also asks GET_FIRMWARE_FEATURES (Escape 6A) at open, and with no bNumberMessageFix in the answer it takes the pad for one with the Gemalto modify-PIN bug: a PIN modify block carries all three bMsgIndex, with the real bNumberMessage.",
  vid = 0x08E6,
  pid = 0x3478,
  bcd_device = 0x0100,
  manufacturer = "Gemplus",
  product = "USB GemPCPinpad SmartCard Reader",
  ccid_version = 0x0100,
  slots = 1,
  voltages = { "5.0V", "3.0V", "1.8V" },
  protocols = { "T=0", "T=1" },
  default_clock_khz = 4000,
  max_clock_khz = 4000,
  clock_count = 0,
  clocks_khz = { 4000 },
  data_rate = 10752,
  max_data_rate = 500000,
  data_rate_count = 0,
  data_rates = {
    10753, 14337, 15625, 17204, 20833, 21505, 23438, 25806, 28674, 31250, 32258, 34409,
    39063, 41667, 43011, 46875, 52083, 53763, 57348, 62500, 64516, 68817, 71685, 78125,
    83333, 86022, 93750, 104167, 107527, 114695, 125000, 129032, 143369, 156250, 166667,
    172043, 215054, 229391, 250000, 344086, 500000
  },
  max_ifsd = 254,
  features = { "auto-clock", "auto-baud-rate", "nad-other-than-zero", "tpdu" },
  max_message_length = 271,
  class_get_response = 0x00,
  class_envelope = 0x00,
  pin_support = { "verify", "modify" },
  pin_modify_every_message_index = true,
  max_busy_slots = 1,
  -- The reader accepts the prompt strings libccid loads at open (an empty answer is success);
  -- any other vendor command is not supported.
  escape = function(command)
    if command:sub(1, 10) == "B2A0004D4C" then return "" end
    return nil
  end,
}
