-- readerlab's own reader: what `readerlab serve` offers without --reader. Its IDs are pid.codes'
-- test IDs, registered in the guest's libccid Info.plist by the guest builder.
return {
  title = "readerlab virtual reader (short APDU, one slot)",
  representative = true,  -- the default reader: short APDU
  notes = "Not a real model: pid.codes test IDs 1209:0001, which the guest builder registers in libccid's Info.plist.",
  libccid_listed = false,
  vid = 0x1209,
  pid = 0x0001,
  bcd_device = 0x0100,
  manufacturer = "readerlab",
  product = "Virtual CCID Reader",
  serial = "RL0001",
  ccid_version = 0x0110,
  slots = 1,
  voltages = { "5.0V", "3.0V", "1.8V" },
  protocols = { "T=0", "T=1" },
  default_clock_khz = 3580,
  max_clock_khz = 3580,
  max_ifsd = 254,
  features = { "auto-parameters-from-atr", "auto-voltage", "auto-clock", "auto-baud-rate",
               "auto-parameter-negotiation", "short-apdu" },
  max_message_length = 271,
  class_get_response = 0xFF,
  class_envelope = 0xFF,
  max_busy_slots = 1,
}
