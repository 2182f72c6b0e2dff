#include "scenarios/reader_profiles.h"

#include "cards/lua/sandbox.h"
#include "emulator/ccid/messages.h"

#include <lua.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

namespace readerlab::scenarios {
namespace {

constexpr std::size_t kMaxProfileFileBytes = 256 * 1024;
constexpr std::uint8_t kMaxSlots = 8;                  // bMaxSlotIndex 0..7 (CCID 5.1)
constexpr std::uint8_t kClassDescriptorLength = 0x36;  // CCID 5.1 bLength
constexpr std::size_t kMaxUsbStringChars = 126;        // USB 2.0 9.6.7: bLength 254 of UTF-16LE
constexpr std::size_t kMaxListEntries = 255;           // bNumClockSupported / bNumDataRatesSupported are bytes
constexpr std::size_t kMaxTextBytes = 4096;
constexpr std::uint32_t kMaxMessageLength = 65544 + 10;    // CCID 5.1: extended APDU level's maximum
constexpr std::uint32_t kExtendedLevelMinimum = 261 + 10;  // CCID 5.1: a short APDU and the header

constexpr std::array<FlagName, 14> kFeatureNames{{
    {"auto-parameters-from-atr", 0x00000002},  // CCID 5.1 dwFeatures
    {"auto-activation", 0x00000004},
    {"auto-voltage", 0x00000008},
    {"auto-clock", 0x00000010},
    {"auto-baud-rate", 0x00000020},
    {"auto-parameter-negotiation", 0x00000040},
    {"auto-pps", 0x00000080},
    {"clock-stop", 0x00000100},
    {"nad-other-than-zero", 0x00000200},
    {"auto-ifsd", 0x00000400},
    {"tpdu", 0x00010000},
    {"short-apdu", 0x00020000},
    {"extended-apdu", 0x00040000},
    {"usb-wake-up", 0x00100000},
}};
constexpr std::array<FlagName, 3> kVoltageNames{{{"5.0V", 0x01}, {"3.0V", 0x02}, {"1.8V", 0x04}}};  // CCID 5.1
constexpr std::array<FlagName, 2> kProtocolNames{{{"T=0", 0x01}, {"T=1", 0x02}}};                   // CCID 5.1
constexpr std::array<FlagName, 4> kMechanicalNames{
    {{"accept", 0x01}, {"eject", 0x02}, {"capture", 0x04}, {"lock", 0x08}}};        // CCID 5.1
constexpr std::array<FlagName, 2> kPinNames{{{"verify", 0x01}, {"modify", 0x02}}};  // CCID 5.1
constexpr std::uint8_t kPinSupportModification = 0x02;                              // CCID 5.1 bPINSupport

const std::array<std::string_view, 41> kKnownFields{"title",
                                                    "source",
                                                    "quirks",
                                                    "notes",
                                                    "libccid_listed",
                                                    "malformed",
                                                    "representative",
                                                    "vid",
                                                    "pid",
                                                    "bcd_device",
                                                    "manufacturer",
                                                    "product",
                                                    "serial",
                                                    "ccid_version",
                                                    "slots",
                                                    "voltages",
                                                    "protocols",
                                                    "default_clock_khz",
                                                    "max_clock_khz",
                                                    "clocks_khz",
                                                    "clock_count",
                                                    "data_rates",
                                                    "data_rate_count",
                                                    "data_rate",
                                                    "max_data_rate",
                                                    "max_ifsd",
                                                    "synch_protocols",
                                                    "mechanical",
                                                    "features",
                                                    "max_message_length",
                                                    "class_get_response",
                                                    "class_envelope",
                                                    "lcd",
                                                    "pin_support",
                                                    "pin_modify_every_message_index",
                                                    "pin_max_extra_digit_reversed",
                                                    "pin_only_without_messages",
                                                    "max_busy_slots",
                                                    "bulk_max_packet",
                                                    "interrupt_interval_ms",
                                                    "class_descriptor_length"};

// Thrown from plain C++ frames while reading (no Lua frame between), caught in parse.
struct FieldError {
  Error error;
};

bool identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Lua keeps no line for a table field: the first line assigning `key =` (outside a comment)
// is where it is written.
int line_of(std::string_view source, std::string_view key) {
  int line_number = 1;
  std::size_t start = 0;
  while (start <= source.size()) {
    std::size_t end = source.find('\n', start);
    if (end == std::string_view::npos) end = source.size();
    std::string_view line = source.substr(start, end - start);
    if (const auto comment = line.find("--"); comment != std::string_view::npos) line = line.substr(0, comment);
    for (std::size_t at = line.find(key); at != std::string_view::npos; at = line.find(key, at + 1)) {
      if (at > 0 && identifier_char(line[at - 1])) continue;
      std::size_t after = at + key.size();
      if (after < line.size() && identifier_char(line[after])) continue;
      while (after < line.size() && (line[after] == ' ' || line[after] == '\t')) ++after;
      if (after < line.size() && line[after] == '=' && (after + 1 >= line.size() || line[after + 1] != '='))
        return line_number;
    }
    start = end + 1;
    ++line_number;
  }
  return 0;
}

std::string display_path(const std::filesystem::path& file) {
  const auto root = std::filesystem::path(READERLAB_SOURCE_DIR);
  const auto relative = file.lexically_relative(root);
  if (!relative.empty() && *relative.begin() != "..") return relative.generic_string();
  return file.generic_string();
}

// Reads the returned table with raw accesses only: no script code runs, nothing raises.
class TableReader {
 public:
  TableReader(lua_State* L, std::string chunk, std::string_view source)
      : L_(L), chunk_(std::move(chunk)), source_(source) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    const int line = line_of(source_, field.substr(0, field.find_first_of(".[")));
    throw FieldError{Error{chunk_ + (line > 0 ? ":" + std::to_string(line) : "") + ": " + field, what}};
  }

  const char* type_name(int index = -1) const { return lua_typename(L_, lua_type(L_, index)); }

  std::string text(const std::string& field, std::size_t max_length) const {
    if (lua_type(L_, -1) != LUA_TSTRING) fail(field, std::string("a string expected, got ") + type_name());
    std::size_t length = 0;
    const char* chars = lua_tolstring(L_, -1, &length);
    if (length > max_length) fail(field, "longer than " + std::to_string(max_length) + " bytes");
    return std::string(chars, length);
  }

  bool boolean(const std::string& field) const {
    if (lua_type(L_, -1) != LUA_TBOOLEAN) fail(field, std::string("true or false expected, got ") + type_name());
    return lua_toboolean(L_, -1) != 0;
  }

  std::int64_t integer(const std::string& field, std::int64_t min, std::int64_t max, int index = -1) const {
    if (lua_type(L_, index) != LUA_TNUMBER) fail(field, std::string("a number expected, got ") + type_name(index));
    int exact = 0;
    const lua_Integer value = lua_tointegerx(L_, index, &exact);
    if (!exact) fail(field, "not an integer");
    if (value < min || value > max)
      fail(field, std::to_string(value) + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
    return value;
  }
  template <class T>
  T number(const std::string& field, std::int64_t min = 0, std::int64_t max = std::numeric_limits<T>::max()) const {
    return static_cast<T>(integer(field, min, max));
  }

  // A sequence table's values, each read by `read` with the value on top; anything else refused.
  template <class Read>
  void sequence(const std::string& field, std::size_t max_entries, Read read) const {
    if (lua_type(L_, -1) != LUA_TTABLE) fail(field, std::string("a list expected, got ") + type_name());
    const auto length = static_cast<std::size_t>(lua_rawlen(L_, -1));
    if (length > max_entries) fail(field, "more than " + std::to_string(max_entries) + " entries");
    std::size_t keys = 0;
    lua_pushnil(L_);
    while (lua_next(L_, -2) != 0) {
      lua_pop(L_, 1);
      if (++keys > length) fail(field, "a list expected (keys 1..n only)");
    }
    for (std::size_t i = 1; i <= length; ++i) {
      lua_rawgeti(L_, -1, static_cast<lua_Integer>(i));
      read(field + "[" + std::to_string(i) + "]");
      lua_pop(L_, 1);
    }
  }

  // A bit set: a number, or a list of the names' strings.
  template <std::size_t N>
  std::uint32_t flags(const std::string& field, const std::array<FlagName, N>& names, std::uint32_t max) const {
    if (lua_type(L_, -1) == LUA_TNUMBER) return static_cast<std::uint32_t>(integer(field, 0, max));
    if (lua_type(L_, -1) != LUA_TTABLE)
      fail(field, std::string("a number or a list of names expected, got ") + type_name());
    std::uint32_t bits = 0;
    sequence(field, 64, [&](const std::string& entry) {
      const std::string name = text(entry, 64);
      const auto known = std::find_if(names.begin(), names.end(), [&](const FlagName& f) { return f.name == name; });
      if (known == names.end()) {
        std::string list;
        for (const auto& f : names) list += (list.empty() ? "" : ", ") + std::string(f.name);
        fail(entry, "unknown name \"" + name + "\" (known: " + list + ")");
      }
      bits |= known->bit;
    });
    return bits;
  }

  std::vector<std::uint32_t> numbers(const std::string& field) const {
    std::vector<std::uint32_t> values;
    sequence(field, kMaxListEntries, [&](const std::string& entry) {
      values.push_back(static_cast<std::uint32_t>(integer(entry, 1, 0xFFFFFFFF)));
    });
    return values;
  }

  std::uint16_t lcd(const std::string& field) const {
    if (lua_type(L_, -1) == LUA_TNUMBER) return number<std::uint16_t>(field);
    if (lua_type(L_, -1) != LUA_TTABLE)
      fail(field, std::string("{lines = n, chars = n} or a number expected, got ") + type_name());
    std::int64_t lines = -1, chars = -1;
    lua_pushnil(L_);
    while (lua_next(L_, -2) != 0) {
      const std::string key = lua_type(L_, -2) == LUA_TSTRING ? lua_tostring(L_, -2) : "";
      if (key == "lines")
        lines = integer(field + ".lines", 0, 0xFF);
      else if (key == "chars")
        chars = integer(field + ".chars", 0, 0xFF);
      else
        fail(field, "unknown field (an LCD has lines and chars)");
      lua_pop(L_, 1);
    }
    if (lines < 0 || chars < 0) fail(field, "both lines and chars are needed");
    return static_cast<std::uint16_t>(lines << 8 | chars);  // CCID 5.1 wLcdLayout: lines, characters per line
  }

 private:
  lua_State* L_;
  std::string chunk_;
  std::string_view source_;
};

std::uint32_t level_bits(std::uint32_t features) { return features & ccid::feature::exchange_level_mask; }

void read_field(const TableReader& in, const std::string& key, ReaderProfile& profile, bool& has_title) {
  auto& c = profile.config;
  if (key == "title") {
    profile.title = in.text(key, 200);
    has_title = true;
  } else if (key == "source") {
    profile.source = in.text(key, kMaxTextBytes);
  } else if (key == "quirks") {
    profile.quirks = in.text(key, kMaxTextBytes);
  } else if (key == "notes") {
    profile.notes = in.text(key, kMaxTextBytes);
  } else if (key == "libccid_listed") {
    profile.libccid_listed = in.boolean(key);
  } else if (key == "malformed") {
    profile.malformed = in.boolean(key);
  } else if (key == "representative") {
    profile.representative = in.boolean(key);
  } else if (key == "vid") {
    c.vendor_id = in.number<std::uint16_t>(key);
  } else if (key == "pid") {
    c.product_id = in.number<std::uint16_t>(key);
  } else if (key == "bcd_device") {
    c.device_version_bcd = in.number<std::uint16_t>(key);
  } else if (key == "manufacturer") {
    c.manufacturer = in.text(key, kMaxUsbStringChars);
  } else if (key == "product") {
    c.product = in.text(key, kMaxUsbStringChars);
  } else if (key == "serial") {
    c.serial_number = in.text(key, kMaxUsbStringChars);
  } else if (key == "ccid_version") {
    c.ccid_version_bcd = in.number<std::uint16_t>(key);
  } else if (key == "slots") {
    c.slot_count = in.number<std::uint8_t>(key, 1, kMaxSlots);
  } else if (key == "voltages") {
    c.voltage_support = static_cast<std::uint8_t>(in.flags(key, kVoltageNames, 0xFF));
  } else if (key == "protocols") {
    c.protocols = in.flags(key, kProtocolNames, 0xFFFFFFFF);
  } else if (key == "default_clock_khz") {
    c.default_clock_khz = in.number<std::uint32_t>(key, 1);
  } else if (key == "max_clock_khz") {
    c.maximum_clock_khz = in.number<std::uint32_t>(key, 1);
  } else if (key == "clocks_khz") {
    c.clock_frequencies_khz = in.numbers(key);
  } else if (key == "clock_count") {
    c.clock_count = in.number<std::uint8_t>(key);
  } else if (key == "data_rates") {
    c.data_rates_bps = in.numbers(key);
  } else if (key == "data_rate_count") {
    c.data_rate_count = in.number<std::uint8_t>(key);
  } else if (key == "data_rate") {
    c.data_rate_bps = in.number<std::uint32_t>(key, 1);
  } else if (key == "max_data_rate") {
    c.max_data_rate_bps = in.number<std::uint32_t>(key, 1);
  } else if (key == "max_ifsd") {
    // Above ISO 7816-3's 254 too: real readers announce 1024 or 3062 (the YubiKey 4).
    c.max_ifsd = in.number<std::uint32_t>(key);
  } else if (key == "synch_protocols") {
    c.synch_protocols = in.number<std::uint32_t>(key);
  } else if (key == "mechanical") {
    c.mechanical = in.flags(key, kMechanicalNames, 0xFFFFFFFF);
  } else if (key == "features") {
    c.features = in.flags(key, kFeatureNames, 0xFFFFFFFF);
  } else if (key == "max_message_length") {
    c.max_message_length =
        in.number<std::uint32_t>(key, static_cast<std::int64_t>(ccid::kHeaderSize), kMaxMessageLength);
  } else if (key == "class_get_response") {
    c.class_get_response = in.number<std::uint8_t>(key);
  } else if (key == "class_envelope") {
    c.class_envelope = in.number<std::uint8_t>(key);
  } else if (key == "lcd") {
    c.lcd_layout = in.lcd(key);
  } else if (key == "pin_support") {
    c.pin_support = static_cast<std::uint8_t>(in.flags(key, kPinNames, 0xFF));
  } else if (key == "pin_modify_every_message_index") {
    c.pin_modify_every_message_index = in.boolean(key);
  } else if (key == "pin_max_extra_digit_reversed") {
    c.pin_max_extra_digit_reversed = in.boolean(key);
  } else if (key == "pin_only_without_messages") {
    c.pin_only_without_messages = in.boolean(key);
  } else if (key == "max_busy_slots") {
    c.max_busy_slots = in.number<std::uint8_t>(key);
  } else if (key == "bulk_max_packet") {
    c.bulk_max_packet = in.number<std::uint16_t>(key, 8, 512);  // USB 2.0 5.8.3: 8..64 full speed, 512 high
  } else if (key == "interrupt_interval_ms") {
    c.interrupt_interval_ms = in.number<std::uint8_t>(key, 1, 255);  // USB 2.0 9.6.6 bInterval
  } else if (key == "class_descriptor_length") {
    c.class_descriptor_length = in.number<std::uint8_t>(key);
  }
}

// The checks between fields, once all are read.
void check_consistency(const TableReader& in, const ReaderProfile& profile, bool has_title, bool has_features) {
  const auto& c = profile.config;
  if (!has_title) in.fail("title", "missing (what `readerlab readers` shows)");
  const std::uint32_t level = level_bits(c.features);
  const std::string features_field = has_features ? "features" : "title";
  if (level == 0)
    in.fail(features_field,
            "no exchange level (tpdu, short-apdu or extended-apdu): character level is not modelled (CCID 5.1)");
  if (level != ccid::feature::tpdu_level && level != ccid::feature::short_apdu_level &&
      level != ccid::feature::extended_apdu_level)
    in.fail(features_field, "several exchange levels at once (" + describe_features(level) +
                                "): CCID 5.1 allows one of tpdu, short-apdu, extended-apdu");
  if (c.pin_modify_every_message_index && !(c.pin_support & kPinSupportModification))
    in.fail("pin_modify_every_message_index",
            "set on a reader without PIN modification (pin_support has no \"modify\")");
  for (const auto& [field, set] :
       {std::pair<const char*, bool>{"pin_max_extra_digit_reversed", c.pin_max_extra_digit_reversed},
        {"pin_only_without_messages", c.pin_only_without_messages}})
    if (set && c.pin_support == 0) in.fail(field, "set on a reader without a PIN pad (no pin_support)");
  if (profile.malformed) return;
  // CCID 5.1 bMaxCCIDBusySlots: how many of the slots may work at once.
  if (c.max_busy_slots < 1 || c.max_busy_slots > c.slot_count)
    in.fail("max_busy_slots", std::to_string(c.max_busy_slots) + " busy slots for " + std::to_string(c.slot_count) +
                                  " slot(s) (CCID 5.1: 1..bMaxSlotIndex + 1); a reader model that breaks this says "
                                  "malformed = true");
  // CCID 5.1 dwMaxCCIDMessageLength: at extended APDU level at least a short APDU's 261 bytes
  // and the header, else at least the bulk-OUT endpoint's wMaxPacketSize.
  const std::uint32_t minimum = level == ccid::feature::extended_apdu_level ? kExtendedLevelMinimum : c.bulk_max_packet;
  if (c.max_message_length < minimum)
    in.fail("max_message_length", std::to_string(c.max_message_length) + " is below the " + std::to_string(minimum) +
                                      " bytes " + ccid::to_string(c.exchange_level()) +
                                      " level needs (CCID 5.1); a reader model that breaks this says malformed = true");
  if (c.class_descriptor_length && *c.class_descriptor_length != kClassDescriptorLength)
    in.fail("class_descriptor_length", std::to_string(*c.class_descriptor_length) +
                                           " is not 0x36 = 54 (CCID 5.1); a reader model that breaks this says "
                                           "malformed = true");
  if (c.max_ifsd == 0)
    in.fail("max_ifsd", "0 (CCID 5.1 asks for at least 1); a reader model that breaks this says malformed = true");
}

Expected<std::string> read_text_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return error(display_path(file), "cannot read: " + ec.message());
  if (size > kMaxProfileFileBytes)
    return error(display_path(file), "larger than " + std::to_string(kMaxProfileFileBytes) + " bytes");
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return error(display_path(file), "cannot read");
  return text.str();
}

// Runs a profile's text in a fresh sandbox; on success the returned value is on top.
Expected<std::unique_ptr<cards::lua::Sandbox>> run_profile(const std::string& text, const std::string& chunk) {
  auto sandbox = cards::lua::Sandbox::create(cards::lua::SandboxLimits{}, chunk);
  if (!sandbox) return sandbox.error();
  if (auto ran = (*sandbox)->run_chunk(text, {}, 1); !ran) return ran.error();
  return std::move(*sandbox);
}

}  // namespace

std::span<const FlagName> feature_names() { return kFeatureNames; }

std::string describe_features(std::uint32_t features) {
  std::string out;
  std::uint32_t named = 0;
  for (const auto& f : kFeatureNames) {
    if (features & f.bit) {
      out += (out.empty() ? "" : " ") + std::string(f.name);
      named |= f.bit;
    }
  }
  if (const std::uint32_t rest = features & ~named) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08X", rest);
    out += (out.empty() ? "" : " ") + std::string(hex);
  }
  return out;
}

std::filesystem::path bundled_reader_directory() {
  return std::filesystem::path(READERLAB_SOURCE_DIR) / "scenarios/readers";
}

Expected<ReaderProfile> parse_reader_profile(const std::string& text, const std::filesystem::path& file) {
  const std::string chunk = display_path(file);
  auto ran = run_profile(text, chunk);
  if (!ran) return ran.error();
  auto& sandbox = **ran;
  lua_State* L = sandbox.state();
  cards::lua::Sandbox::HostAccess uncapped(sandbox);
  ReaderProfile profile;
  profile.name = file.stem().string();
  profile.file = file;
  TableReader in(L, chunk, text);
  try {
    if (lua_type(L, -1) != LUA_TTABLE)
      throw FieldError{Error{chunk, std::string("a reader profile returns a table, this one returns ") +
                                        lua_typename(L, lua_type(L, -1))}};
    // The keys in the order they are written, so that the first error is the first in the file.
    std::vector<std::pair<int, std::string>> keys;
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      lua_pop(L, 1);
      if (lua_type(L, -1) != LUA_TSTRING)
        throw FieldError{
            Error{chunk, std::string("a field name is a string, not a ") + lua_typename(L, lua_type(L, -1))}};
      std::size_t length = 0;
      const char* chars = lua_tolstring(L, -1, &length);
      std::string key(chars, std::min<std::size_t>(length, 64));
      keys.emplace_back(line_of(text, key), key);
    }
    std::sort(keys.begin(), keys.end());
    bool has_title = false, has_features = false;
    for (const auto& [line, key] : keys) {
      if (key == "escape") {
        lua_pushliteral(L, "escape");
        if (lua_rawget(L, -2) != LUA_TFUNCTION)
          in.fail(key, std::string("a function(command_hex) expected, got ") + in.type_name());
        lua_pop(L, 1);
        profile.escape_source = text;
        continue;
      }
      if (std::find(kKnownFields.begin(), kKnownFields.end(), key) == kKnownFields.end())
        in.fail(key, "unknown field (see scenarios/reader_profiles.h for the fields a profile has)");
      lua_pushlstring(L, key.data(), key.size());
      lua_rawget(L, -2);
      read_field(in, key, profile, has_title);
      has_features = has_features || key == "features";
      lua_pop(L, 1);
    }
    profile.real = !profile.source.empty();
    check_consistency(in, profile, has_title, has_features);
  } catch (const FieldError& failure) {
    return failure.error;
  }
  lua_settop(L, 0);
  return profile;
}

Expected<ReaderProfile> load_reader_profile(const std::filesystem::path& file) {
  auto text = read_text_file(file);
  if (!text) return text.error();
  return parse_reader_profile(*text, file);
}

std::vector<std::string> bundled_reader_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(bundled_reader_directory(), ec))
    if (entry.path().extension() == ".lua") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> representative_reader_names() {
  std::vector<std::string> names;
  for (const auto& profile : bundled_reader_profiles())
    if (profile.representative) names.push_back(profile.name);
  return names;
}

Expected<ReaderProfile> find_reader_profile(std::string_view name) {
  const auto names = bundled_reader_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    return error("reader profile \"" + std::string(name) + "\"", "unknown (known: " + known + ")");
  }
  return load_reader_profile(bundled_reader_directory() / (std::string(name) + ".lua"));
}

std::vector<ReaderProfile> bundled_reader_profiles() {
  std::vector<ReaderProfile> profiles;
  for (const auto& name : bundled_reader_names())
    if (auto profile = find_reader_profile(name)) profiles.push_back(std::move(*profile));
  return profiles;
}

std::vector<Error> check_bundled_reader_profiles() {
  std::vector<Error> failures;
  for (const auto& name : bundled_reader_names())
    if (auto profile = find_reader_profile(name); !profile) failures.push_back(profile.error());
  return failures;
}

namespace {

// A profile's escape function kept alive in its own sandbox.
struct EscapeRunner {
  std::unique_ptr<cards::lua::Sandbox> sandbox;
  int function_ref = LUA_NOREF;
  std::function<void(const std::string&)> on_error;

  void report(const std::string& what) const {
    if (on_error) on_error(what);
  }

  std::optional<Bytes> run(std::span<const std::uint8_t> command) {
    lua_State* L = sandbox->state();
    {
      cards::lua::Sandbox::HostAccess uncapped(*sandbox);
      lua_rawgeti(L, LUA_REGISTRYINDEX, function_ref);
      const std::string hex = to_hex(command);
      lua_pushlstring(L, hex.data(), hex.size());
    }
    if (auto called = sandbox->call(1, 1); !called) {
      report(called.error().message());
      return std::nullopt;
    }
    std::optional<Bytes> answer;
    if (lua_type(L, -1) == LUA_TSTRING) {
      std::size_t length = 0;
      const char* chars = lua_tolstring(L, -1, &length);
      auto bytes = read_hex(std::string_view(chars, length));
      if (bytes)
        answer = std::move(*bytes);
      else
        report(sandbox->chunk_name() + ": escape: the answer is not hex: " + bytes.error().message());
    } else if (lua_type(L, -1) != LUA_TNIL) {
      report(sandbox->chunk_name() + ": escape: a hex string or nil expected, got " + lua_typename(L, lua_type(L, -1)));
    }
    lua_settop(L, 0);
    return answer;
  }
};

}  // namespace

EscapeHandler make_escape_handler(const ReaderProfile& profile, std::function<void(const std::string&)> on_error) {
  if (!profile.escape_source) return {};
  const std::string chunk = display_path(profile.file);
  auto ran = run_profile(*profile.escape_source, chunk);
  if (!ran) {
    if (on_error) on_error(ran.error().message());
    return {};
  }
  auto runner = std::make_shared<EscapeRunner>();
  runner->sandbox = std::move(*ran);
  runner->on_error = std::move(on_error);
  lua_State* L = runner->sandbox->state();
  {
    cards::lua::Sandbox::HostAccess uncapped(*runner->sandbox);
    lua_pushliteral(L, "escape");
    if (lua_type(L, -2) != LUA_TTABLE || lua_rawget(L, -2) != LUA_TFUNCTION) {
      lua_settop(L, 0);
      return {};
    }
    runner->function_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
  }
  return [runner](std::span<const std::uint8_t> command) { return runner->run(command); };
}

}  // namespace readerlab::scenarios
