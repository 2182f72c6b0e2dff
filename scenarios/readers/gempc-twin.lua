-- Gemplus GemPC Twin (TPDU, the common Gemalto USB reader).
-- The numbers are the descriptor of libccid's readers/GemPCTwin.txt.
return {
  title = "Gemplus GemPC Twin (TPDU, the common Gemalto USB reader)",
  representative = true,  -- TPDU, the most common reader, with libccid's Gemalto paths
  source = "readers/GemPCTwin.txt",
  quirks = "08E6:3437 is GEMPCTWIN in libccid: with the driver option DRIVER_OPTION_GEMPC_TWIN_KEY_APDU it sends Escape 1F 02 after open and, when that succeeds, drives the reader at short APDU level though it announces TPDU; built with ENABLE_ZLP, firmware 2.00 gets the zero-length-packet fixup; as a Gemalto vendor ID (08E6) libccid asks GET_FIRMWARE_FEATURES (Escape 6A) at open and, when the answer has the expected size, takes the PIN pad's validation conditions from it.",
  vid = 0x08E6,
  pid = 0x3437,
  bcd_device = 0x0100,
  manufacturer = "Gemplus",
  product = "USB SmartCard Reader",
  ccid_version = 0x0100,
  slots = 1,
  voltages = { "5.0V", "3.0V", "1.8V" },
  protocols = { "T=0", "T=1" },
  default_clock_khz = 4000,
  max_clock_khz = 4000,
  clock_count = 0,
  clocks_khz = { 4000 },
  data_rate = 10752,
  max_data_rate = 344086,
  data_rate_count = 0,
  data_rates = {
    10753, 14337, 15625, 17204, 20833, 21505, 23438, 25806, 28674, 31250, 32258, 34409,
    39063, 41667, 43011, 46875, 52083, 53763, 57348, 62500, 64516, 68817, 71685, 78125,
    83333, 86022, 93750, 104167, 107527, 114695, 125000, 129032, 143369, 156250, 166667,
    172043, 215054, 229391, 250000, 344086
  },
  max_ifsd = 254,
  features = { "auto-clock", "auto-baud-rate", "nad-other-than-zero", "tpdu" },
  max_message_length = 271,
  class_get_response = 0x00,
  class_envelope = 0x00,
  max_busy_slots = 1,
}
