// Extended APDUs to a T=0 card through XfrBlock: an extended-APDU reader sends Nc above 255 in
// ENVELOPE commands of class bClassEnvelope (CCID 5.1, 6.1.10) and fetches the answer with GET
// RESPONSE; short-APDU and TPDU readers do not map them.
#include "cards/lua/lua_card.h"
#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

namespace readerlab::ccid {
namespace {

using namespace test;

std::unique_ptr<Reader> powered_reader(ExchangeLevel level, std::string_view card_name,
                                       std::uint8_t class_envelope = 0xFF) {
  ReaderConfig config;
  config.set_exchange_level(level);
  config.class_envelope = class_envelope;
  auto reader = std::make_unique<Reader>(std::move(config));
  reader->insert(cards::make_builtin_card(card_name));
  const auto atr = reader->handle_message(command(Command::icc_power_on, 0));
  REQUIRE(status_of(atr) == kActiveOk);
  REQUIRE(reader->protocol() == 0);
  return reader;
}

Bytes pattern(std::size_t n) {
  Bytes data(n);
  for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::uint8_t>(i * 11 + 1);
  return data;
}

// CLA INS P1 P2, extended Lc, the data, and Le 0000 (65536) when asked.
Bytes extended_apdu(std::string_view header, const Bytes& data, bool with_le) {
  Bytes apdu = hex(header);
  apdu.push_back(0x00);
  apdu.push_back(static_cast<std::uint8_t>(data.size() >> 8));
  apdu.push_back(static_cast<std::uint8_t>(data.size() & 0xFF));
  apdu.insert(apdu.end(), data.begin(), data.end());
  if (with_le) {
    apdu.push_back(0x00);
    apdu.push_back(0x00);
  }
  return apdu;
}

Bytes with_ok(Bytes data) {
  data.push_back(0x90);
  data.push_back(0x00);
  return data;
}

// The response APDU of one XfrBlock that must succeed.
Bytes exchange(Reader& reader, std::uint8_t seq, const Bytes& apdu) {
  const Bytes answer = reader.handle_message(command(Command::xfr_block, seq, apdu));
  REQUIRE(type_of(answer) == 0x80);  // RDR_to_PC_DataBlock
  REQUIRE(status_of(answer) == kActiveOk);
  return data_of(answer);
}

// A Lua T=0 card that takes ENVELOPE and arms a misbehaviour for the next exchange on CLA 80:
// F0 falls mute, F3 sends a bad procedure byte (the bundled hostile card's commands).
constexpr const char* kHostileEnvelopeCard = R"(
name = "hostile-envelope"
atr = { protocols = {0}, historical = "80 73 00 00 40" }
t0_envelope = true
function on_apdu(apdu)
  if apdu.cla ~= 0x80 then return nil end
  if apdu.ins == 0xF0 then card.mute(1) return 0x9000 end
  if apdu.ins == 0xF3 then card.bad_procedure_byte(apdu.p1) return 0x9000 end
  return nil
end
)";

std::unique_ptr<Reader> reader_with_hostile_envelope_card() {
  ReaderConfig config;
  config.set_exchange_level(ExchangeLevel::extended_apdu);
  config.class_envelope = 0x00;
  auto reader = std::make_unique<Reader>(std::move(config));
  auto loaded = cards::load_lua_card_text(kHostileEnvelopeCard, "tests/hostile-envelope.lua");
  INFO("load error: ", (loaded ? std::string() : loaded.error().message()));
  REQUIRE(loaded);
  reader->insert(std::move(loaded).value());
  REQUIRE(status_of(reader->handle_message(command(Command::icc_power_on, 0))) == kActiveOk);
  REQUIRE(reader->protocol() == 0);
  return reader;
}

}  // namespace

TEST_CASE("an extended APDU with 300 and 3000 data bytes reaches a T=0 card whole and its answer comes back whole") {
  // ECHO is CLA 80: the reader sends its ENVELOPEs in the fixed class 00.
  auto reader = powered_reader(ExchangeLevel::extended_apdu, "extended-t0", 0x00);
  std::uint8_t seq = 1;
  for (std::size_t size : {std::size_t{300}, std::size_t{3000}}) {
    CAPTURE(size);
    const Bytes data = pattern(size);
    CHECK(exchange(*reader, seq++, extended_apdu("80 10 00 00", data, true)) == with_ok(data));
  }
  // A case 3E with 3000 bytes, written to the card's 64 KB EF, and read back in short APDUs.
  const Bytes data = pattern(3000);
  CHECK(to_hex(exchange(*reader, seq++, extended_apdu("00 D6 84 00", data, false))) == "90 00");
  CHECK(exchange(*reader, seq++, hex("00 B0 00 00 00")) == with_ok(Bytes(data.begin(), data.begin() + 256)));
  CHECK(exchange(*reader, seq++, hex("00 B0 0B B0 08")) == with_ok(Bytes(data.end() - 8, data.end())));
}

TEST_CASE("bClassEnvelope: FF echoes the APDU's class, a fixed class goes on every ENVELOPE, T0APDU changes it") {
  const Bytes data = pattern(300);
  const Bytes update = extended_apdu("00 D6 84 00", data, false);  // interindustry class 00
  const Bytes echo = extended_apdu("80 10 00 00", data, true);     // proprietary class 80
  auto reader = powered_reader(ExchangeLevel::extended_apdu, "extended-t0");
  // FF: UPDATE BINARY's class 00 goes on its ENVELOPEs and the card takes them ...
  CHECK(to_hex(exchange(*reader, 1, update)) == "90 00");
  // ... and ECHO's class 80 too: 80 C2 is no command of this card (INS not supported).
  CHECK(to_hex(exchange(*reader, 2, echo)) == "6D 00");
  // The host sets bClassEnvelope 00 for the slot (CCID 6.1.10, bmChanges bit 1): ECHO passes.
  auto answer = reader->handle_message(command(Command::t0_apdu, 3, {}, 0, 0x02, 0x00, 0x00));
  REQUIRE(status_of(answer) == kActiveOk);
  CHECK(exchange(*reader, 4, echo) == with_ok(data));
  // A fixed class 80: now UPDATE BINARY's ENVELOPEs are refused.
  reader->handle_message(command(Command::t0_apdu, 5, {}, 0, 0x02, 0x00, 0x80));
  CHECK(to_hex(exchange(*reader, 6, update)) == "6D 00");

  auto fixed = powered_reader(ExchangeLevel::extended_apdu, "extended-t0", 0x80);
  CHECK(to_hex(exchange(*fixed, 1, update)) == "6D 00");
}

TEST_CASE("a T=0 card without ENVELOPE answers 6D00, which the reader passes to the host; the session goes on") {
  auto reader = powered_reader(ExchangeLevel::extended_apdu, "t0-basic", 0x00);
  CHECK(to_hex(exchange(*reader, 1, extended_apdu("80 10 00 00", pattern(300), true))) == "6D 00");
  CHECK(exchange(*reader, 2, hex("80 10 00 00 03 01 02 03 00")) == hex("01 02 03 90 00"));
}

TEST_CASE("hostile extended APDUs to a T=0 card: an Lc that disagrees gives bError abData, then all goes on") {
  auto reader = powered_reader(ExchangeLevel::extended_apdu, "extended-t0", 0x00);
  Bytes apdu = extended_apdu("80 10 00 00", pattern(300), true);
  apdu.erase(apdu.begin() + 7, apdu.begin() + 57);  // Lc 300, 250 bytes follow
  const Bytes answer = reader->handle_message(command(Command::xfr_block, 1, apdu));
  CHECK(status_of(answer) == kActiveFailed);
  CHECK(error_of(answer) == error::offset_data);  // CCID 6.2.6: the field at fault is in abData
  CHECK(data_of(answer).empty());
  const Bytes data = pattern(1000);
  CHECK(exchange(*reader, 2, extended_apdu("80 10 00 00", data, true)) == with_ok(data));
}

TEST_CASE("an ENVELOPE chain cut by a mute card or a bad procedure byte: bError ICC_MUTE or 0xF4, then all goes on") {
  auto reader = reader_with_hostile_envelope_card();
  const Bytes data = pattern(300);
  const Bytes echo = extended_apdu("80 10 00 00", data, true);
  CHECK(exchange(*reader, 1, echo) == with_ok(data));  // the card takes ENVELOPE from a Lua file

  CHECK(to_hex(exchange(*reader, 2, hex("80 F0 01 00"))) == "90 00");
  Bytes answer = reader->handle_message(command(Command::xfr_block, 3, echo));
  CHECK(status_of(answer) == kActiveFailed);
  CHECK(error_of(answer) == error::icc_mute);  // CCID 6.2.6
  CHECK(exchange(*reader, 4, echo) == with_ok(data));

  CHECK(to_hex(exchange(*reader, 5, hex("80 F3 42 00"))) == "90 00");
  answer = reader->handle_message(command(Command::xfr_block, 6, echo));
  CHECK(status_of(answer) == kActiveFailed);
  CHECK(error_of(answer) == error::procedure_byte_conflict);  // CCID 6.2.6
  CHECK(exchange(*reader, 7, echo) == with_ok(data));
}

TEST_CASE(
    "a short-APDU reader refuses an APDU with Nc above 255 by dwLength; a TPDU reader leaves ENVELOPE to the host") {
  const Bytes data = pattern(300);
  auto short_reader = powered_reader(ExchangeLevel::short_apdu, "extended-t0", 0x00);
  const Bytes refused =
      short_reader->handle_message(command(Command::xfr_block, 1, extended_apdu("00 D6 84 00", data, false)));
  CHECK(status_of(refused) == kActiveFailed);
  CHECK(error_of(refused) == error::offset_length);  // more than 261 bytes: not a short APDU (CCID 6.2.6)
  const Bytes read = exchange(*short_reader, 2, hex("00 B0 84 00 02"));  // the session goes on
  CHECK(read.size() == 4);
  CHECK(to_hex(Bytes(read.end() - 2, read.end())) == "90 00");

  // TPDU level: a TPDU longer than 5 + 255 bytes cannot go on the line ...
  auto tpdu_reader = powered_reader(ExchangeLevel::tpdu, "extended-t0");
  const Bytes too_long =
      tpdu_reader->handle_message(command(Command::xfr_block, 1, extended_apdu("00 D6 84 00", data, false)));
  CHECK(status_of(too_long) == kActiveFailed);
  CHECK(error_of(too_long) == error::offset_length);
  // ... and a host that runs ENVELOPE itself, one TPDU per XfrBlock, reaches the card whole.
  const Bytes update = extended_apdu("00 D6 84 00", data, false);
  std::uint8_t seq = 2;
  for (std::size_t sent = 0; sent < update.size(); sent += 255) {
    const std::size_t piece = std::min<std::size_t>(255, update.size() - sent);
    Bytes tpdu = {0x00, 0xC2, 0x00, 0x00, static_cast<std::uint8_t>(piece)};
    tpdu.insert(tpdu.end(), update.begin() + static_cast<std::ptrdiff_t>(sent),
                update.begin() + static_cast<std::ptrdiff_t>(sent + piece));
    CHECK(to_hex(exchange(*tpdu_reader, seq++, tpdu)) == "90 00");
  }
  CHECK(to_hex(exchange(*tpdu_reader, seq++, hex("00 C2 00 00 00"))) == "90 00");
  CHECK(exchange(*tpdu_reader, seq++, hex("00 B0 01 00 2C")) == with_ok(Bytes(data.begin() + 256, data.end())));
}

}  // namespace readerlab::ccid
