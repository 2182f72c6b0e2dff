// The CCID message codec: PC_to_RDR decoding with its three malformations, encoding, the
// NotifySlotChange bitmap and the answer type of every command (CCID rev 1.1 chapter 6).
#include "emulator/ccid/messages.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

#include <array>

namespace readerlab::ccid {
namespace {

using test::hex;

constexpr std::size_t kMax = 271;

struct WellFormed {
  const char* name;
  Bytes bytes;
  std::uint8_t b7, b8, b9;
  Bytes data;
};

}  // namespace

TEST_CASE("decode accepts each well-formed PC_to_RDR command") {
  // One example of every command in CCID 6.1, with its message-specific bytes.
  const std::array<WellFormed, 14> commands = {{
      {"IccPowerOn", hex("62 00000000 00 01 01 0000"), 0x01, 0, 0, {}},
      {"IccPowerOff", hex("63 00000000 00 02 000000"), 0, 0, 0, {}},
      {"GetSlotStatus", hex("65 00000000 00 03 000000"), 0, 0, 0, {}},
      {"XfrBlock", hex("6F 05000000 00 04 04 0000 00A4040000"), 0x04, 0, 0, hex("00A4040000")},
      {"GetParameters", hex("6C 00000000 00 05 000000"), 0, 0, 0, {}},
      {"ResetParameters", hex("6D 00000000 00 06 000000"), 0, 0, 0, {}},
      {"SetParameters T=1", hex("61 07000000 00 07 01 0000 1310004500FE00"), 0x01, 0, 0, hex("1310004500FE00")},
      {"Escape", hex("6B 02000000 00 08 000000 CAFE"), 0, 0, 0, hex("CAFE")},
      {"IccClock", hex("6E 00000000 00 09 01 0000"), 0x01, 0, 0, {}},
      {"T0APDU", hex("6A 00000000 00 0A 03 FF 01"), 0x03, 0xFF, 0x01, {}},
      {"Secure", hex("69 04000000 00 0B 00 0000 01020304"), 0, 0, 0, hex("01020304")},
      {"Mechanical", hex("71 00000000 00 0C 04 0000"), 0x04, 0, 0, {}},
      {"Abort", hex("72 00000000 00 0D 000000"), 0, 0, 0, {}},
      {"SetDataRateAndClockFrequency", hex("73 08000000 00 0E 000000 FC0D0000 97250000"), 0, 0, 0,
       hex("FC0D0000 97250000")},
  }};
  std::uint8_t expected_seq = 1;
  for (const auto& c : commands) {
    CAPTURE(std::string(c.name));
    const auto result = decode(c.bytes, kMax);
    REQUIRE(result.message.has_value());
    CHECK(result.error == DecodeError::none);
    CHECK(result.message->type == c.bytes[0]);
    CHECK(result.message->slot == 0);
    CHECK(result.message->seq == expected_seq);
    CHECK(result.message->specific[0] == c.b7);
    CHECK(result.message->specific[1] == c.b8);
    CHECK(result.message->specific[2] == c.b9);
    CHECK(result.message->data == c.data);
    CHECK(std::string(command_name(c.bytes[0])) != "unknown");
    ++expected_seq;
  }
}

TEST_CASE("decode rejects a message shorter than the 10-byte header and keeps what header it saw") {
  const auto empty = decode({}, kMax);
  CHECK_FALSE(empty.message.has_value());
  CHECK(empty.error == DecodeError::too_short);
  CHECK(empty.type == 0);

  const auto seven = decode(hex("65 00000000 03 2A"), kMax);
  CHECK_FALSE(seven.message.has_value());
  CHECK(seven.error == DecodeError::too_short);
  CHECK(seven.type == 0x65);
  CHECK(seven.slot == 0x03);
  CHECK(seven.seq == 0x2A);

  CHECK(decode(hex("65 00000000 00 01 00 00"), kMax).error == DecodeError::too_short);
}

TEST_CASE("decode rejects a dwLength that does not match the bytes received") {
  SUBCASE("dwLength larger than the data") {
    const auto r = decode(hex("6F 06000000 00 11 000000 00A4040000"), kMax);
    CHECK(r.error == DecodeError::length_mismatch);
    CHECK_FALSE(r.message.has_value());
    CHECK(r.seq == 0x11);
  }
  SUBCASE("dwLength smaller than the data") {
    CHECK(decode(hex("6F 04000000 00 11 000000 00A4040000"), kMax).error == DecodeError::length_mismatch);
  }
  SUBCASE("data without dwLength") {
    CHECK(decode(hex("65 00000000 00 11 000000 00"), kMax).error == DecodeError::length_mismatch);
  }
  SUBCASE("a huge dwLength does not wrap around") {
    CHECK(decode(hex("6F FFFFFFFF 00 11 000000 00"), kMax).error == DecodeError::length_mismatch);
  }
}

TEST_CASE("decode rejects a message longer than dwMaxCCIDMessageLength") {
  Message m;
  m.type = static_cast<std::uint8_t>(Command::xfr_block);
  m.seq = 0x33;
  m.data.assign(kMax - kHeaderSize, 0x00);
  CHECK(decode(encode(m), kMax).error == DecodeError::none);  // exactly the maximum is fine
  m.data.push_back(0x00);
  const auto r = decode(encode(m), kMax);
  CHECK(r.error == DecodeError::too_long);
  CHECK_FALSE(r.message.has_value());
  CHECK(r.seq == 0x33);
  CHECK(to_string(DecodeError::too_long).find("dwMaxCCIDMessageLength") != std::string::npos);
}

TEST_CASE("encode then decode gives the same message") {
  Message m;
  m.type = static_cast<std::uint8_t>(Command::xfr_block);
  m.slot = 0;
  m.seq = 0xFE;
  m.specific[0] = 0x05;
  m.specific[1] = 0x00;
  m.specific[2] = 0x00;
  m.data = hex("00 B0 00 00 00");
  const Bytes bytes = encode(m);
  CHECK(bytes == hex("6F 05000000 00 FE 05 00 00 00B0000000"));
  const auto back = decode(bytes, kMax);
  REQUIRE(back.message.has_value());
  CHECK(back.message->type == m.type);
  CHECK(back.message->slot == m.slot);
  CHECK(back.message->seq == m.seq);
  CHECK(back.message->specific[0] == m.specific[0]);
  CHECK(back.message->data == m.data);
  CHECK(encode(*back.message) == bytes);
}

TEST_CASE("RDR_to_PC builders put dwLength, slot, seq, status, error and byte 9 in place") {
  CHECK(data_block(0, 7, 0x00, 0, hex("3B 00"), 0x10) == hex("80 02000000 00 07 00 00 10 3B00"));
  CHECK(slot_status(1, 8, 0x42, 0xFE, 0x00) == hex("81 00000000 01 08 42 FE 00"));
  CHECK(parameters(0, 9, 0x00, 0, 1, hex("1310004500FE00")) == hex("82 07000000 00 09 00 00 01 1310004500FE00"));
  CHECK(escape_response(0, 10, 0x40, 0, {}) == hex("83 00000000 00 0A 40 00 00"));
  CHECK(data_rate_and_clock(0, 11, 0x00, 0, 3580, 9623) == hex("84 08000000 00 0B 00 00 00 FC0D0000 97250000"));
  CHECK(status_byte(IccStatus::absent, CommandStatus::failed) == 0x42);
  CHECK(status_byte(IccStatus::inactive, CommandStatus::time_extension) == 0x81);
}

TEST_CASE("NotifySlotChange packs two bits per slot, four slots a byte") {
  SUBCASE("one slot") {
    const bool present[] = {true}, changed[] = {true};
    CHECK(notify_slot_change(present, changed) == hex("50 03"));
    const bool gone[] = {false};
    CHECK(notify_slot_change(gone, changed) == hex("50 02"));
    CHECK(notify_slot_change(present, gone) == hex("50 01"));
  }
  SUBCASE("two slots, the second changed") {
    const bool present[] = {true, true}, changed[] = {false, true};
    CHECK(notify_slot_change(present, changed) == hex("50 0D"));
  }
  SUBCASE("three slots, the third present") {
    const bool present[] = {false, false, true}, changed[] = {false, false, false};
    CHECK(notify_slot_change(present, changed) == hex("50 10"));
  }
  SUBCASE("four slots all changed and present fill one byte") {
    const bool present[] = {true, true, true, true}, changed[] = {true, true, true, true};
    CHECK(notify_slot_change(present, changed) == hex("50 FF"));
  }
  SUBCASE("five slots need a second byte") {
    const bool present[] = {true, false, false, false, true}, changed[] = {false, false, false, false, true};
    CHECK(notify_slot_change(present, changed) == hex("50 01 03"));
  }
}

TEST_CASE("response_type_for names the answer of every command (CCID 6.1)") {
  struct Pair {
    Command command;
    Response response;
  };
  const Pair pairs[] = {
      {Command::icc_power_on, Response::data_block},
      {Command::icc_power_off, Response::slot_status},
      {Command::get_slot_status, Response::slot_status},
      {Command::xfr_block, Response::data_block},
      {Command::get_parameters, Response::parameters},
      {Command::reset_parameters, Response::parameters},
      {Command::set_parameters, Response::parameters},
      {Command::escape, Response::escape},
      {Command::icc_clock, Response::slot_status},
      {Command::t0_apdu, Response::slot_status},
      {Command::secure, Response::data_block},
      {Command::mechanical, Response::slot_status},
      {Command::abort, Response::slot_status},
      {Command::set_data_rate_and_clock_frequency, Response::data_rate_and_clock_frequency},
  };
  for (const auto& p : pairs) {
    CAPTURE(std::string(command_name(static_cast<std::uint8_t>(p.command))));
    CHECK(response_type_for(static_cast<std::uint8_t>(p.command)) == static_cast<std::uint8_t>(p.response));
  }
  // Anything else is answered with a slot status (CCID 6.2.6 CMD_NOT_SUPPORTED).
  CHECK(response_type_for(0x00) == 0x81);
  CHECK(response_type_for(0x64) == 0x81);
  CHECK(response_type_for(0xFF) == 0x81);
  CHECK(std::string(command_name(0x64)) == "unknown");
}

}  // namespace readerlab::ccid
