// A wrong card file is refused with a message naming the file, the line and the field.
#include <doctest/doctest.h>

#include "support.h"

using namespace readerlab::cards;
using namespace readerlab::cards::test_lua;

namespace {

struct FieldCase {
  const char* text;
  const char* message;  // the whole message, or its beginning when it ends with "..."
};

void check_message(const std::string& actual, std::string_view expected) {
  INFO("actual: ", actual);
  if (expected.size() > 3 && expected.substr(expected.size() - 3) == "...") {
    CHECK(actual.rfind(expected.substr(0, expected.size() - 3), 0) == 0);
  } else {
    CHECK(actual == expected);
  }
}

const FieldCase kFieldCases[] = {
    {"name = 'x'\natr = '3B ZZ'\n", "cards/test.lua:2: field 'atr': not hex (pairs of digits 0-9 A-F, spaces allowed)"},
    {"atr = '3B 8'\n", "cards/test.lua:1: field 'atr': not hex..."},
    {"atr = '3B'\n", "cards/test.lua:1: field 'atr': 1 bytes, expected 2..33"},
    {"atr = 42\n", "cards/test.lua:1: field 'atr': a table expected, got number"},
    {"-- a comment\natr = {\n  protocols = {0},\n  ifsc = 32,\n}\n",
     "cards/test.lua:4: field 'atr.ifsc': T=1 parameters, but T=1 is not offered"},
    {"atr = {\n  protocols = {2},\n}\n", "cards/test.lua:2: field 'atr.protocols[1]': 2 is out of range 0..1"},
    {"atr = {\n  protocols = {1, 1},\n}\n", "cards/test.lua:2: field 'atr.protocols[2]': listed twice"},
    {"atr = {\n  protocols = {},\n}\n", "cards/test.lua:2: field 'atr.protocols': empty..."},
    {"atr = {\n  protocols = {1},\n  ifsc = 255,\n}\n",
     "cards/test.lua:3: field 'atr.ifsc': 255 is out of range 1..254"},
    {"atr = {\n  protocols = {1},\n  bwi = 10,\n}\n", "cards/test.lua:3: field 'atr.bwi': 10 is out of range 0..9"},
    {"atr = {\n  convention = 'sideways',\n}\n",
     "cards/test.lua:2: field 'atr.convention': 'sideways' is not direct or inverse"},
    {"atr = {\n  ta1 = 0x10,\n}\n", "cards/test.lua:1: field 'atr': the ATR built is invalid: ..."},
    {"atr = {\n  historical = '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F',\n}\n",
     "cards/test.lua:2: field 'atr.historical': 16 bytes, expected 0..15"},
    {"atr = {\n  tb1 = 0,\n}\n", "cards/test.lua:1: field 'atr': unknown field 'tb1'"},
    {"name = ''\natr = '3B 00'\n", "cards/test.lua:1: field 'name': empty"},
    {"name = {}\natr = '3B 00'\n", "cards/test.lua:1: field 'name': a string expected, got table"},
    {"name = 'x'\n", "cards/test.lua: field 'atr': missing..."},
    {"atr = '3B 80 01 00'\n", "cards/test.lua: field 'protocols': missing, and the ATR does not parse..."},
    {"atr = '3B 00'\nprotocols = {0, 'T=1'}\n",
     "cards/test.lua:2: field 'protocols[2]': a number expected, got string"},
    {"atr = '3B 00'\nmute = 1\n", "cards/test.lua:2: field 'mute': true or false expected, got number"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 0x0101 },\n  ef{ fid = 'x' },\n}\n",
     "cards/test.lua:4: field 'files[2].fid': a number expected, got string"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 0x0101 },\n  ef{ fid = 0x0101 },\n}\n",
     "cards/test.lua:4: field 'files[2].fid': 0101 is already used in this DF"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1, sfi = 3 },\n  ef{ fid = 2, sfi = 3 },\n}\n",
     "cards/test.lua:4: field 'files[2].sfi': SFI 3 is already used in this DF"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 0x0101, sfi = 31 },\n}\n",
     "cards/test.lua:3: field 'files[1].sfi': 31 is out of range 1..30"},
    {"atr = '3B 00'\nfiles = {\n  df{ aid = 'A0 00 00 00 01', files = {\n    ef{ fid = 0x3F00 },\n  } "
     "},\n}\n",
     "cards/test.lua:4: field 'files[1].files[1].fid': FID 3F00 is reserved (ISO 7816-4 5.3.1.1)"},
    {"atr = '3B 00'\nfiles = {\n  df{ label = 'nameless' },\n}\n",
     "cards/test.lua:3: field 'files[1]': a DF needs an aid, a fid or both"},
    {"atr = '3B 00'\nfiles = {\n  df{ aid = '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10' },\n}\n",
     "cards/test.lua:3: field 'files[1].aid': 17 bytes, expected 1..16"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1,\n      contnets = '00' },\n}\n",
     "cards/test.lua:3: field 'files[1]': unknown field 'contnets'"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1,\n      contents = 'XY' },\n}\n",
     "cards/test.lua:4: field 'files[1].contents': not hex..."},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1, contents = '00 01', size = 1 },\n}\n",
     "cards/test.lua:3: field 'files[1].size': smaller than the 2 bytes of contents"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1, structure = 'tree' },\n}\n",
     "cards/test.lua:3: field 'files[1].structure': 'tree' is not transparent, linear_fixed, linear_variable "
     "or cyclic"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1, structure = 'linear_fixed',\n      records = {'0102', '03'} "
     "},\n}\n",
     "cards/test.lua:4: field 'files[1].records[2]': 1 bytes, the record size is 2"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1, structure = 'cyclic' },\n}\n",
     "cards/test.lua:3: field 'files[1].record_size': missing..."},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1, records = {'00'} },\n}\n",
     "cards/test.lua:3: field 'files[1].records': only for record EFs"},
    {"atr = '3B 00'\nfiles = {\n  ef{ sfi = 1 },\n}\n", "cards/test.lua:3: field 'files[1].fid': missing..."},
    {"atr = '3B 00'\nfiles = {\n  'EF 0101',\n}\n",
     "cards/test.lua:2: field 'files[1]': ef{...} or df{...} expected, got string"},
    {"atr = '3B 00'\nfiles = {\n  ef{ fid = 1 },\n  nil,\n  ef{ fid = 2 },\n}\n",
     "cards/test.lua:2: field 'files[2]': a hole in the list"},
    {"atr = '3B 00'\npin = '12345678901234567'\n", "cards/test.lua:2: field 'pin': longer than 16 bytes"},
    {"atr = '3B 00'\npin = { value = '1234', tries = 0 }\n",
     "cards/test.lua:2: field 'pin.tries': 0 is out of range 1..15"},
    {"atr = '3B 00'\npin = {\n  tries = 3,\n}\n", "cards/test.lua:2: field 'pin.value': missing..."},
    {"atr = '3B 00'\npin = '1234'\npuk = { value = '5678', reference = 0x80 }\n",
     "cards/test.lua:3: field 'puk': the same reference as the PIN"},
    {"atr = '3B 00'\ndata_objects = {\n  { tag = 0x10000, value = '00' },\n}\n",
     "cards/test.lua:2: field 'data_objects[1].tag': 65536 is out of range 0..65535"},  // plain tables: the
                                                                                        // list's line
    {"atr = '3B 00'\npps = 'maybe'\n", "cards/test.lua:2: field 'pps': 'maybe' is not accept, decline or silent"},
    {"atr = '3B 00'\nwtx_multiplier = 2.5\n", "cards/test.lua:2: field 'wtx_multiplier': not an integer"},
    {"atr = '3B 00'\nt1_crc = 'ccitt'\n", "cards/test.lua:2: field 't1_crc': 'ccitt' is not iso or windows"},
    {"atr = '3B 00'\nlogical_channels = 5\n", "cards/test.lua:2: field 'logical_channels': 5 is out of range 1..4"},
    {"atr = '3B 00'\nimplicit_ef = 0xFFFF\n", "cards/test.lua:2: field 'implicit_ef': FID FFFF is reserved..."},
    {"atr = '3B 00'\non_apdu = 'not a function'\n",
     "cards/test.lua:2: field 'on_apdu': a function expected, got string"},
};

}  // namespace

TEST_CASE("field errors name the file, the line and the field") {
  for (const auto& field_case : kFieldCases) {
    CAPTURE(field_case.text);
    check_message(load_error(field_case.text), field_case.message);
  }
}

TEST_CASE("a field set in a function called by the chunk names the line of the assignment") {
  const char* text =
      "local function describe()\n"
      "  atr = 'not hex'\n"
      "end\n"
      "describe()\n";
  CHECK(load_error(text) == "cards/test.lua:2: field 'atr': not hex (pairs of digits 0-9 A-F, spaces allowed)");
}

TEST_CASE("syntax errors name the file and the line") {
  const std::string error = load_error("name = 'x'\natr = '3B 00'\nfunction on_apdu(apdu)\n  return 0x9000\n");
  INFO(error);
  CHECK(error == "cards/test.lua:5: 'end' expected (to close 'function' at line 3) near <eof>");
  CHECK(load_error("x = = 1").rfind("cards/test.lua:1: ", 0) == 0);
}

TEST_CASE("a script nested too deeply to compile is named with its file and line") {
  // Lua's parser reports this one without a position of its own.
  const std::string deep = "atr = '3B 00'\nx = " + std::string(300, '{') + std::string(300, '}') + "\n";
  const std::string error = load_error(deep);
  INFO(error);
  CHECK(error.rfind("cards/test.lua:2: ", 0) == 0);
  CHECK(error.find("stack overflow") != std::string::npos);
}

TEST_CASE("a runtime error while the card file runs names the file and the line") {
  CHECK(load_error("atr = '3B 00'\nlocal t = nil\nlocal x = t.field\n") ==
        "cards/test.lua:3: attempt to index a nil value (local 't')");
  CHECK(load_error("error('no such card', 0)\n") == "cards/test.lua:1: no such card");
  CHECK(load_error("atr = '3B 00'\nerror({})\n") == "cards/test.lua:2: error object is a table");
}

TEST_CASE("a missing or oversized card file is named in the error") {
  auto loaded = load_lua_card("/nonexistent/dir/card.lua");
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message().rfind("/nonexistent/dir/card.lua: cannot read the card file", 0) == 0);
}

TEST_CASE("a card without a name is named after its file") {
  auto loaded = load_lua_card_text("atr = '3B 00'", "some/dir/my-card.lua");
  REQUIRE(loaded);
  CHECK(loaded.value()->name() == "my-card");
}

TEST_CASE("a declared card: ATR, protocols, files, PIN, data objects reach the built-in card") {
  const char* text = R"(
name = "declared"
atr = { convention = "inverse", protocols = {0, 1}, tc1 = 2, ifsc = 128, crc = true, historical = "01 02" }
files = {
  ef{ fid = 0x0101, sfi = 1, text = "hi", size = 4, fill = 0xEE, update_needs_pin = true },
  ef{ fid = 0x0102, structure = "linear_variable", records = {"01", "0203"}, max_records = 3 },
  { fid = 0x0103, contents = "AA" },
  { aid = "A0 00 00 00 01", files = { { fid = 0x1001, contents = "BB" } } },
}
pin = { hex = "31 32 33 34", reference = 0x81, tries = 5 }
data_objects = { { tag = 0x5F52, text = "data", read_only = true } }
challenge_seed = 7
pps = "decline"
t0_null_bytes = 2
wtx_multiplier = 3
processing_ms = 10
t1_crc = "windows"
)";
  auto card = load_ok(text);
  const auto& profile = card->iso_card().profile();
  CHECK(profile.name == "declared");
  CHECK(profile.protocols == std::vector<Protocol>{Protocol::t0, Protocol::t1});
  CHECK(to_hex(profile.atr) == to_hex(card->declared_atr()));
  // 3F: inverse; T0 C2: TC1, TD1 and 2 historical; TC1 02; TD1 80: TD2, T=0; TD2 51: TA3 TC3,
  // T=1; TA3 80 (IFSC 128); TC3 01 (CRC); historical 01 02; TCK 93.
  CHECK(to_hex(profile.atr) == "3FC20280518001010293");
  CHECK(card->iso_card().file_contents(0x0101) == Bytes{'h', 'i', 0xEE, 0xEE});
  CHECK(card->iso_card().file_records(0x0102) == std::vector<Bytes>{{0x01}, {0x02, 0x03}});
  CHECK(card->iso_card().file_contents(0x0103) == Bytes{0xAA});
  CHECK(card->iso_card().file_contents(0x1001) == Bytes{0xBB});
  CHECK(profile.pin_reference == 0x81);
  CHECK(card->iso_card().pin_tries_left() == 5);
  CHECK(profile.pps_reaction == PpsReaction::decline);
  const auto behaviour = card->protocol_behaviour();
  CHECK(behaviour.t0_null_bytes == 2);
  CHECK(behaviour.t1_wtx_multiplier == 3);
  CHECK(behaviour.processing_time == std::chrono::milliseconds(10));
  CHECK(behaviour.t1_crc_windows);

  REQUIRE(card->reset(ResetKind::cold));
  CHECK(exchange(*card, "00 CA 5F 52 04") == "646174619000");
  CHECK(exchange(*card, "00 20 00 81 04 31 32 33 34") == "9000");
}

TEST_CASE("a mute card answers no ATR unless on_reset gives one") {
  auto mute = load_ok("mute = true");
  CHECK_FALSE(mute->reset(ResetKind::cold));
  CHECK(mute->transmit_apdu(hex("00 A4 00 00")).status == CardStatus::mute);
  CHECK_FALSE(mute->broken());

  auto waking = load_ok(
      "mute = true\nprotocols = {0}\nfunction on_reset(kind)\n  if kind == 'warm' then return '3B 00' "
      "end\nend\n");
  CHECK_FALSE(waking->reset(ResetKind::cold));
  const auto atr = waking->reset(ResetKind::warm);
  REQUIRE(atr);
  CHECK(to_hex(*atr) == "3B00");
  CHECK(exchange(*waking, "00 C0 00 00 00") == "6985");  // GET RESPONSE with nothing pending
}

TEST_CASE("a card's load error keeps where (file, line, field) apart from what is wrong there") {
  auto wrong_field = load_lua_card_text("name = 'x'\natr = '3B ZZ'\n", kChunk);
  REQUIRE_FALSE(wrong_field);
  CHECK(wrong_field.error().where == "cards/test.lua:2: field 'atr'");
  CHECK(wrong_field.error().what == "not hex (pairs of digits 0-9 A-F, spaces allowed)");

  auto raising = load_lua_card_text("name = 'x'\nerror('the card file gives up')\n", kChunk);
  REQUIRE_FALSE(raising);
  CHECK(raising.error().where == "cards/test.lua:2");
  CHECK(raising.error().what == "the card file gives up");

  auto missing = load_lua_card("/nonexistent/dir/card.lua");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().where == "/nonexistent/dir/card.lua");
}
