// Reader profiles (scenarios/reader_profiles.h): the bundled files load into the reader models
// their dumps describe, and a broken profile file is refused with its file, line and field.
#include "scenarios/reader_profiles.h"

#include "base/bytes.h"

#include <doctest/doctest.h>

#include <set>

using readerlab::Bytes;
using readerlab::scenarios::find_reader_profile;
using readerlab::scenarios::parse_reader_profile;
using readerlab::scenarios::ReaderProfile;
namespace ccid = readerlab::ccid;

namespace {

ReaderProfile bundled(std::string_view name) {
  auto profile = find_reader_profile(name);
  REQUIRE_MESSAGE(profile.has_value(), (profile ? std::string() : profile.error().message()));
  return *profile;
}

ReaderProfile parsed(const std::string& text) {
  auto profile = parse_reader_profile(text, "test.lua");
  REQUIRE_MESSAGE(profile.has_value(), (profile ? std::string() : profile.error().message()));
  return *profile;
}

std::string refusal(const std::string& text) {
  const auto profile = parse_reader_profile(text, "bad.lua");
  INFO(text);
  REQUIRE_FALSE(profile.has_value());
  return profile.error().message();
}

}  // namespace

TEST_CASE("reader profiles: every bundled file loads, named as its file") {
  const auto failures = readerlab::scenarios::check_bundled_reader_profiles();
  for (const auto& failure : failures) CHECK_MESSAGE(false, failure.message());
  const auto profiles = readerlab::scenarios::bundled_reader_profiles();
  CHECK(profiles.size() == readerlab::scenarios::bundled_reader_names().size());
  std::set<std::string> names;
  for (const auto& profile : profiles) {
    CHECK(profile.file.stem() == profile.name);
    CHECK_FALSE(profile.title.empty());
    names.insert(profile.name);
  }
  CHECK(names.count("readerlab") == 1);
  CHECK(names.count("gempc-pinpad") == 1);
}

TEST_CASE(
    "reader profiles: the representative handful covers every exchange level and PIN pads with and without a display") {
  const auto names = readerlab::scenarios::representative_reader_names();
  CHECK(names.size() >= 4);
  CHECK(names.size() <= 6);  // the main command and CI run each: a handful, not the matrix
  std::set<ccid::ExchangeLevel> levels;
  bool pin_pad = false;
  bool display = false;
  for (const auto& name : names) {
    const auto profile = bundled(name);
    CHECK(profile.representative);
    CHECK_FALSE(profile.malformed);
    levels.insert(profile.config.exchange_level());
    pin_pad = pin_pad || profile.config.pin_support != 0;
    display = display || (profile.config.pin_support != 0 && profile.config.lcd_layout != 0);
  }
  CHECK(levels.size() == 3);
  CHECK(pin_pad);
  CHECK(display);
  CHECK_FALSE(parsed("return { title = \"x\" }").representative);
  CHECK(parsed("return { title = \"x\", representative = true }").representative);
}

TEST_CASE("reader profiles: readerlab is the reader serve offers without --reader") {
  const auto profile = bundled("readerlab");
  CHECK(profile.config == ccid::ReaderConfig{});
  CHECK_FALSE(profile.real);
  CHECK_FALSE(profile.libccid_listed);
}

TEST_CASE("reader profiles: GemPC Pinpad carries its dump's numbers into the class descriptor") {
  const auto profile = bundled("gempc-pinpad");
  CHECK(profile.real);
  CHECK(profile.source == "readers/GemPCPinpad.txt");
  const auto& c = profile.config;
  CHECK(c.vendor_id == 0x08E6);
  CHECK(c.product_id == 0x3478);
  CHECK(c.exchange_level() == ccid::ExchangeLevel::tpdu);
  CHECK(c.features == 0x00010230);
  CHECK(c.pin_support == 0x03);
  CHECK(c.pin_modify_every_message_index);  // libccid's Gemalto modify-PIN bug
  CHECK(c.ccid_version_bcd == 0x0100);
  CHECK(c.default_clock_khz == 4000);
  CHECK(c.data_rate_count == std::optional<std::uint8_t>(0));
  CHECK(c.data_rates_bps.size() == 41);
  CHECK(c.data_rates_bps.back() == 500000);
  ccid::Reader reader(c);
  const Bytes descriptor = reader.class_descriptor();
  REQUIRE(descriptor.size() == 0x36);
  CHECK(descriptor[0] == 0x36);
  CHECK(descriptor[2] == 0x00);  // bcdCCID 1.00
  CHECK(descriptor[3] == 0x01);
  CHECK(descriptor[52] == 0x03);  // bPINSupport
}

TEST_CASE("reader profiles: an unknown name is an error listing the known ones") {
  const auto profile = find_reader_profile("no-such-reader");
  REQUIRE_FALSE(profile.has_value());
  CHECK(profile.error().message().find("no-such-reader") != std::string::npos);
  CHECK(profile.error().message().find("readerlab") != std::string::npos);
  CHECK(profile.error().message().find("gempc-pinpad") != std::string::npos);
}

TEST_CASE("reader profiles: names or numbers for the bit sets, and the LCD") {
  const auto profile = parsed(R"(return {
  title = "t",
  features = { "auto-voltage", "extended-apdu" },
  max_message_length = 65554,
  pin_support = 3,
  lcd = { lines = 2, chars = 16 },
  voltages = { "3.0V" },
  mechanical = { "eject", "lock" },
  slots = 4,
  max_busy_slots = 2,
})");
  CHECK(profile.config.features == (ccid::feature::auto_voltage | ccid::feature::extended_apdu_level));
  CHECK(profile.config.pin_support == 3);
  CHECK(profile.config.lcd_layout == 0x0210);
  CHECK(profile.config.voltage_support == 0x02);
  CHECK(profile.config.mechanical == 0x0A);
  CHECK(profile.config.slot_count == 4);
  CHECK(profile.config.max_busy_slots == 2);
  CHECK_FALSE(profile.real);
  CHECK_FALSE(profile.escape_source.has_value());
}

TEST_CASE("reader profiles: a malformed reader model loads only when it says so") {
  const std::string body = "  title = \"broken\",\n  max_message_length = 40,\n  class_descriptor_length = 0x20,\n}\n";
  CHECK(refusal("return {\n" + body) ==
        "bad.lua:3: max_message_length: 40 is below the 64 bytes short-apdu level needs "
        "(CCID 5.1); a reader model that breaks this says malformed = true");
  const auto profile = parsed("return {\n  malformed = true,\n" + body);
  CHECK(profile.malformed);
  CHECK(profile.config.max_message_length == 40);
  CHECK(profile.config.class_descriptor_length == std::optional<std::uint8_t>(0x20));
}

TEST_CASE("reader profiles: each broken profile is refused with file, line and field") {
  struct Bad {
    std::string text;
    std::string where;  // the start of the message: "file:line: field"
    std::string what;   // a part of the reason
  };
  const std::vector<Bad> cases = {
      {"return {\n  title = \"x\",\n  colour = \"red\",\n}", "bad.lua:3: colour", "unknown field"},
      {"return {\n  title = \"x\",\n  vid = \"08E6\",\n}", "bad.lua:3: vid", "a number expected, got string"},
      {"return {\n  title = \"x\",\n  slots = 0,\n}", "bad.lua:3: slots", "out of range 1..8"},
      {"return {\n  title = \"x\",\n  slots = 9,\n}", "bad.lua:3: slots", "out of range 1..8"},
      {"return {\n  title = \"x\",\n  features = { \"auto-voltage\" },\n}", "bad.lua:3: features", "no exchange level"},
      {"return {\n  title = \"x\",\n  features = { \"tpdu\", \"short-apdu\" },\n}", "bad.lua:3: features",
       "several exchange levels"},
      {"return {\n  title = \"x\",\n  features = 0x00070000,\n}", "bad.lua:3: features", "several exchange levels"},
      {"return {\n  title = \"x\",\n  features = { \"extended-apdu\" },\n  max_message_length = 200,\n}",
       "bad.lua:4: max_message_length", "below the 271 bytes"},
      {"return {\n  title = \"x\",\n  class_descriptor_length = 0x35,\n}", "bad.lua:3: class_descriptor_length",
       "not 0x36"},
      {"return {\n  title = \"x\",\n  features = { \"short-apdu\", \"turbo\" },\n}", "bad.lua:3: features[2]",
       "unknown name \"turbo\""},
      {"return {\n  title = \"x\",\n  pin_support = { \"verify\", \"guess\" },\n}", "bad.lua:3: pin_support[2]",
       "unknown name"},
      {"return {\n  title = \"x\",\n  lcd = { lines = 2 },\n}", "bad.lua:3: lcd", "both lines and chars"},
      {"return {\n  title = \"x\",\n  lcd = { lines = 2, chars = 300 },\n}", "bad.lua:3: lcd.chars", "out of range"},
      {"return {\n  title = \"x\",\n  data_rates = { 9600, -1 },\n}", "bad.lua:3: data_rates[2]", "out of range"},
      {"return {\n  title = \"x\",\n  slots = 2,\n  max_busy_slots = 3,\n}", "bad.lua:4: max_busy_slots",
       "3 busy slots for 2 slot(s)"},
      {"return {\n  title = \"x\",\n  max_ifsd = 0,\n}", "bad.lua:3: max_ifsd", "at least 1"},
      {"return {\n  title = \"x\",\n  pin_support = { \"verify\" },\n  pin_modify_every_message_index = true,\n}",
       "bad.lua:4: pin_modify_every_message_index", "without PIN modification"},
      {"return {\n  title = \"x\",\n  pin_max_extra_digit_reversed = true,\n}",
       "bad.lua:3: pin_max_extra_digit_reversed", "without a PIN pad"},
      {"return {\n  title = \"x\",\n  escape = \"not a function\",\n}", "bad.lua:3: escape", "a function"},
      {"return {\n  title = \"x\",\n  malformed = 1,\n}", "bad.lua:3: malformed", "true or false"},
      {"return {\n  title = \"x\",\n  representative = \"yes\",\n}", "bad.lua:3: representative", "true or false"},
      {"return {\n  vid = 1,\n}", "bad.lua:", "title: missing"},
      {"return 42", "bad.lua", "returns a table, this one returns number"},
      {"return {\n  title = \"x\",\n  slots = 1.5,\n}", "bad.lua:3: slots", "not an integer"},
      {"return {\n  title = \"x\",\n  product = string.rep(\"A\", 200),\n}", "bad.lua:3: product", "longer than 126"},
      {"return {\n  title = \"x\",\n  [1] = 2,\n}", "bad.lua", "a field name is a string"},
  };
  for (const auto& bad : cases) {
    const std::string message = refusal(bad.text);
    INFO(message);
    CHECK(message.rfind(bad.where, 0) == 0);
    CHECK(message.find(bad.what) != std::string::npos);
  }
}

TEST_CASE("reader profiles: a hostile profile file runs in the sandbox and fails cleanly") {
  CHECK(refusal("while true do end").find("bad.lua") == 0);
  CHECK(refusal("local t = {} for i = 1, 1e9 do t[i] = i end return t").find("bad.lua") == 0);
  CHECK(refusal("return io.open('/etc/passwd')").find("bad.lua:1") == 0);
  CHECK(refusal("return {title = ").find("bad.lua") == 0);
  CHECK(refusal("\x1bLua").find("bytecode") != std::string::npos);
  // A metatable cannot make the loader run code: fields are read raw.
  CHECK(refusal("return setmetatable({}, {__index = function() while true do end end})").find("title: missing") !=
        std::string::npos);
}

TEST_CASE("reader profiles: the escape handler answers in hex, nil is not supported") {
  auto handler = readerlab::scenarios::make_escape_handler(bundled("gempc-pinpad"));
  REQUIRE(handler);
  const Bytes prompts = {0xB2, 0xA0, 0x00, 0x4D, 0x4C, 'E', 'n', 't', 'e', 'r'};
  CHECK(handler(prompts) == std::optional<Bytes>(Bytes{}));
  CHECK(handler(Bytes{0x6A}) == std::nullopt);

  auto echo = parsed("return { title = \"e\", escape = function(c) return c .. \"9000\" end }");
  auto echo_handler = readerlab::scenarios::make_escape_handler(echo);
  REQUIRE(echo_handler);
  CHECK(echo_handler(Bytes{0x01, 0x02}) == std::optional<Bytes>(Bytes{0x01, 0x02, 0x90, 0x00}));
  CHECK_FALSE(readerlab::scenarios::make_escape_handler(bundled("readerlab")));
}

TEST_CASE("reader profiles: a failing escape handler is 'not supported' with its error reported") {
  std::vector<std::string> errors;
  auto profile = parsed(
      "return { title = \"e\", escape = function(c)\n"
      "  if c == \"01\" then while true do end end\n"
      "  if c == \"02\" then return \"xyz\" end\n"
      "  if c == \"03\" then return {} end\n"
      "  error(\"boom\")\n"
      "end }");
  auto handler = readerlab::scenarios::make_escape_handler(profile, [&](const std::string& e) { errors.push_back(e); });
  REQUIRE(handler);
  CHECK(handler(Bytes{0x01}) == std::nullopt);
  CHECK(handler(Bytes{0x02}) == std::nullopt);
  CHECK(handler(Bytes{0x03}) == std::nullopt);
  CHECK(handler(Bytes{0x04}) == std::nullopt);
  REQUIRE(errors.size() == 4);
  CHECK(errors[1].find("not hex") != std::string::npos);
  CHECK(errors[2].find("got table") != std::string::npos);
  CHECK(errors[3].find("boom") != std::string::npos);
  // Still usable after its failures.
  CHECK(handler(Bytes{0x04}) == std::nullopt);
}
