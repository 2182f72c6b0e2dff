// Reader profiles: one Lua file per reader model (scenarios/readers/<name>.lua) returning a table
// with the model's USB identity, every CCID 5.1 class-descriptor field, and what a user needs to
// know about it (title, where its numbers come from, what libccid does specially for it), plus an
// optional Escape handler. A profile file is hostile input: it runs in the scripts' sandbox
// (scenarios/lua_sandbox.h) and every field is checked; the first wrong one is the Error,
// "file:line: field: what is wrong".
//
// The fields (all optional but `title`; a missing one keeps readerlab's own reader's value, see
// ccid::ReaderConfig):
//   title = "..."                      what `readerlab readers` shows
//   source = "readers/X.txt"           the libccid descriptor dump the numbers come from (a real reader)
//   quirks = "..."                     what libccid does specially for this VID:PID, as a fact
//   notes = "..."                      anything else (e.g. not in Debian libccid 1.5.2's Info.plist)
//   libccid_listed = true|false        whether Debian's libccid 1.5.2 lists the VID:PID (default true)
//   malformed = true                   allows the descriptor errors of issue 11 (see below)
//   representative = true              one of the handful the main command and CI run
//                                      (readerlab run --reader representative)
//   vid, pid, bcd_device               idVendor, idProduct, bcdDevice
//   manufacturer, product, serial      the string descriptors
//   ccid_version                       bcdCCID (0x0110 is 1.10)
//   slots                              bMaxSlotIndex + 1: 1..8
//   voltages = {"5.0V","3.0V","1.8V"}  bVoltageSupport (or a number)
//   protocols = {"T=0","T=1"}          dwProtocols (or a number)
//   default_clock_khz, max_clock_khz   dwDefaultClock, dwMaximumClock
//   clocks_khz = {...}, clock_count    GET_CLOCK_FREQUENCIES' list, bNumClockSupported
//   data_rates = {...}, data_rate_count, data_rate, max_data_rate
//                                      GET_DATA_RATES' list, bNumDataRatesSupported, dwDataRate, dwMaxDataRate
//   max_ifsd, synch_protocols          dwMaxIFSD, dwSynchProtocols
//   mechanical = {"accept","eject","capture","lock"}   dwMechanical (or a number)
//   features = {"auto-voltage", ..., "short-apdu"}      dwFeatures (or a number): see kFeatureNames
//   max_message_length                 dwMaxCCIDMessageLength
//   class_get_response, class_envelope bClassGetResponse, bClassEnvelope
//   lcd = {lines = 2, chars = 16}      wLcdLayout (or a number)
//   pin_support = {"verify","modify"}  bPINSupport (or a number)
//   pin_modify_every_message_index = true
//                                      the pad's firmware reads bMsgIndex1..3 at PIN modification
//                                      whatever bNumberMessage says (a quirk libccid works around)
//   pin_max_extra_digit_reversed = true   the pad reads wPINMaxExtraDigit's bytes swapped
//   pin_only_without_messages = true      the pad refuses a bNumberMessage other than 00
//   max_busy_slots                     bMaxCCIDBusySlots
//   bulk_max_packet                    wMaxPacketSize of the bulk endpoints
//   interrupt_interval_ms              bInterval of the interrupt endpoint
//   class_descriptor_length            bLength of the class descriptor (0x36; else malformed)
//   escape = function(command_hex) return answer_hex_or_nil end
//                                      PC_to_RDR_Escape's abData in, RDR_to_PC_Escape's out
//                                      (nil: the reader answers "command not supported")
//
// Refused at load: an unknown field, a wrong type, a value out of its field's range, slots 0 or
// above 8, dwFeatures with no exchange level bit or several (TPDU, short APDU, extended APDU);
// and unless `malformed = true`: a dwMaxCCIDMessageLength below what the level needs (CCID 5.1:
// at extended APDU level 261 + 10 bytes, at the others the bulk-OUT wMaxPacketSize), a class
// descriptor length other than 0x36, a dwMaxIFSD of 0, a bMaxCCIDBusySlots of 0 or above the
// slot count. Real readers' descriptors break these too: such a profile says malformed = true.
#pragma once

#include "base/bytes.h"
#include "base/error.h"
#include "emulator/ccid/reader.h"

#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace readerlab::scenarios {

struct ReaderProfile {
  std::string name;  // the file's name without ".lua"
  std::string title;
  std::filesystem::path file;
  ccid::ReaderConfig config;
  bool real = false;       // a real reader model: its numbers come from `source`
  bool malformed = false;  // carries descriptor errors on purpose (issue 11)
  std::string source;      // the libccid readers/ dump it came from
  std::string quirks;      // what libccid does specially for this VID:PID
  std::string notes;
  bool libccid_listed = true;   // Debian libccid 1.5.2's Info.plist lists this VID:PID
  bool representative = false;  // in `readerlab run --reader representative` (./run.sh, CI)
  // The profile file's text when it defines `escape`: make_escape_handler runs it again in a
  // sandbox of its own and calls the function.
  std::optional<std::string> escape_source;
};

// The bundled profiles: READERLAB_SOURCE_DIR "/scenarios/readers".
std::filesystem::path bundled_reader_directory();

// Loads one profile file; its name is the file's stem.
Expected<ReaderProfile> load_reader_profile(const std::filesystem::path& file);
// Loads a profile from text, as if read from `file` (tests, and load_reader_profile).
Expected<ReaderProfile> parse_reader_profile(const std::string& text, const std::filesystem::path& file);

// A bundled profile by name; an unknown name is an Error listing the known ones.
Expected<ReaderProfile> find_reader_profile(std::string_view name);
// Every bundled profile that loads, sorted by name (a broken file is left out: see
// check_bundled_reader_profiles).
std::vector<ReaderProfile> bundled_reader_profiles();
// The names of the bundled profile files, sorted, whether they load or not.
std::vector<std::string> bundled_reader_names();
// The bundled profiles marked `representative = true`, sorted: the handful that stands for the
// whole matrix where a run must stay fast.
std::vector<std::string> representative_reader_names();
// Every bundled file's load error (empty when all load).
std::vector<Error> check_bundled_reader_profiles();

// PC_to_RDR_Escape's handler for a profile with `escape`: the function runs in a sandbox of its
// own (the profile file's limits), given the command's bytes as upper-case hex, and answers a
// hex string (the RDR_to_PC_Escape data) or nil (not supported). A failing or malformed answer
// is "not supported" too, and its error goes to `on_error` when given. Empty when the profile
// has no handler.
using EscapeHandler = ccid::EscapeHandler;
EscapeHandler make_escape_handler(const ReaderProfile& profile,
                                  std::function<void(const std::string&)> on_error = nullptr);

// dwFeatures bit names as profiles write them (CCID 5.1 table 5.1-1).
struct FlagName {
  std::string_view name;
  std::uint32_t bit;
};
std::span<const FlagName> feature_names();
// "auto-voltage auto-clock ... short-apdu", and any unnamed bits as hex.
std::string describe_features(std::uint32_t features);

}  // namespace readerlab::scenarios
