-- Covadis Auriga (short APDU, three slots, two busy at once).
-- The numbers are the descriptor of libccid's readers/Covadis_Auriga.txt.
return {
  title = "Covadis Auriga (short APDU, three slots, two busy at once)",
  representative = true,  -- multi-slot, with busy slots
  source = "readers/Covadis_Auriga.txt",
  quirks = "No special case for 0982:0040 in libccid 1.5.2: the common multi-slot path, one pcscd reader per slot sharing one USB device; bMaxCCIDBusySlots 2 is reported to pcscd as the slots' simultaneous access.",
  vid = 0x0982,
  pid = 0x0040,
  bcd_device = 0x0213,
  manufacturer = "COVADIS",
  product = "Auriga",
  ccid_version = 0x1001,
  slots = 3,
  voltages = { "5.0V", "3.0V", "1.8V" },
  protocols = { "T=0", "T=1" },
  default_clock_khz = 2000,
  max_clock_khz = 2000,
  clock_count = 0,
  data_rate = 5376,
  max_data_rate = 21504,
  data_rate_count = 0,
  max_ifsd = 254,
  features = { "auto-parameters-from-atr", "auto-clock", "auto-baud-rate", "auto-parameter-negotiation", "auto-ifsd", "short-apdu" },
  max_message_length = 271,
  class_get_response = 0x00,
  class_envelope = 0x00,
  max_busy_slots = 2,
}
