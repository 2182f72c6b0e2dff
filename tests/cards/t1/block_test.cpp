#include <doctest/doctest.h>

#include <random>
#include <string>

#include "cards/t1/block.h"
#include "t1_support.h"

using namespace readerlab::cards::t1;
using readerlab::cards::t1::test::hex;

namespace {

// A second, bit-by-bit reading of ISO/IEC 13239's FCS to check the table-driven crc16:
// shift each data bit in least significant first, divide by x^16 + x^12 + x^5 + 1, preset
// FFFF, ones' complement at the end.
std::uint16_t crc_bit_by_bit(std::span<const std::uint8_t> bytes) {
  std::uint16_t reg = 0xFFFF;
  for (const auto byte : bytes) {
    for (int bit = 0; bit < 8; ++bit) {
      const bool feedback = ((reg ^ (byte >> bit)) & 1) != 0;
      reg = static_cast<std::uint16_t>(reg >> 1);
      if (feedback) reg ^= 0x8408;  // the polynomial's coefficients x^0..x^15, bit-reversed
    }
  }
  return static_cast<std::uint16_t>(~reg);
}

BlockView parse_ok(const Bytes& bytes, EdcKind edc = EdcKind::lrc) {
  const auto result = parse_block(bytes, edc);
  INFO("error: ", to_string(result.error));
  REQUIRE(result.error == BlockError::none);
  REQUIRE(result.block.has_value());
  return *result.block;
}

}  // namespace

TEST_CASE("LRC: the exclusive-or of prologue and INF, checked on blocks worked by hand") {
  // S(IFS request) announcing IFSD 254: 00 ^ C1 ^ 01 ^ FE = 3E, the first block most
  // readers send after the ATR.
  CHECK(lrc(hex("00 C1 01 FE")) == 0x3E);
  CHECK(make_s_block(0, SupervisoryType::ifs, false, EdcKind::lrc, 254) == hex("00 C1 01 FE 3E"));
  // I(0,0) with GET CHALLENGE 00 84 00 00 08: 00 ^ 00 ^ 05 ^ 00 ^ 84 ^ 00 ^ 00 ^ 08 = 89.
  CHECK(make_i_block(0, 0, false, hex("00 84 00 00 08"), EdcKind::lrc) == hex("00 00 05 00 84 00 00 08 89"));
  // R(1) error free: only the PCB 90 is not zero.
  CHECK(make_r_block(0, 1, ReceiveError::none, EdcKind::lrc) == hex("00 90 00 90"));
  // R(0) with the EDC error bit: PCB 81.
  CHECK(make_r_block(0, 0, ReceiveError::edc_or_parity, EdcKind::lrc) == hex("00 81 00 81"));
  // S(WTX response) with multiplier 2 and S(RESYNCH response).
  CHECK(make_s_block(0, SupervisoryType::wtx, true, EdcKind::lrc, 2) == hex("00 E3 01 02 E0"));
  CHECK(make_s_block(0, SupervisoryType::resynch, true, EdcKind::lrc) == hex("00 E0 00 E0"));
}

TEST_CASE("CRC: the ISO/IEC 13239 frame check sequence named by ISO 7816-3 11.4.4") {
  // The catalogued check value of this CRC (CRC-16/X-25) over the ASCII digits 1 to 9.
  const std::string digits = "123456789";
  const Bytes ascii(digits.begin(), digits.end());
  CHECK(crc16(ascii) == 0x906E);
  CHECK(crc16({}) == 0x0000);  // preset FFFF complemented

  // Sent low-order byte first: the S(IFS request) block ends with the two CRC bytes.
  const auto block = make_s_block(0, SupervisoryType::ifs, false, EdcKind::crc, 254);
  REQUIRE(block.size() == 6);
  const auto value = crc16(hex("00 C1 01 FE"));
  CHECK(block[4] == (value & 0xFF));
  CHECK(block[5] == (value >> 8));

  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    Bytes data(random() % 300);
    for (auto& byte : data) byte = static_cast<std::uint8_t>(random());
    CHECK(crc16(data) == crc_bit_by_bit(data));
    // A receiver running the CRC over data and FCS finds the fixed remainder F0B8 of
    // ISO/IEC 13239 (complemented here: 0F47) whatever the data.
    auto framed = data;
    const auto fcs = crc16(data);
    framed.push_back(static_cast<std::uint8_t>(fcs & 0xFF));
    framed.push_back(static_cast<std::uint8_t>(fcs >> 8));
    CHECK(crc16(framed) == static_cast<std::uint16_t>(~0xF0B8 & 0xFFFF));
  }
}

TEST_CASE("CRC: a card set to Windows' CRC (t1_crc = \"windows\") writes and reads CRC-16/ARC, high byte first") {
  const std::string digits = "123456789";
  CHECK(crc16_windows(Bytes(digits.begin(), digits.end())) == 0xBB3D);  // the catalogue's check value
  // The S(IFS request) of issue 10 rule 17: 00 C1 01 FE gets EC D1 from Windows.
  CHECK(make_s_block(0, SupervisoryType::ifs, false, EdcKind::crc_windows, 254) == hex("00 C1 01 FE EC D1"));
  CHECK(parse_ok(hex("00 E1 01 FE 26 D0"), EdcKind::crc_windows).pcb == 0xE1);
  // Each CRC is an EDC error to a card expecting the other.
  CHECK(parse_block(hex("00 C1 01 FE EC D1"), EdcKind::crc).error == BlockError::bad_edc);
  CHECK(parse_block(make_s_block(0, SupervisoryType::ifs, false, EdcKind::crc, 254), EdcKind::crc_windows).error ==
        BlockError::bad_edc);
  CHECK(edc_size(EdcKind::crc_windows) == 2);
}

TEST_CASE("PCB coding of I-, R- and S-blocks, ISO 7816-3 11.3.2.2") {
  CHECK(pcb_information(0, false) == 0x00);
  CHECK(pcb_information(1, false) == 0x40);
  CHECK(pcb_information(0, true) == 0x20);
  CHECK(pcb_information(1, true) == 0x60);
  CHECK(pcb_receive_ready(0, ReceiveError::none) == 0x80);
  CHECK(pcb_receive_ready(1, ReceiveError::none) == 0x90);
  CHECK(pcb_receive_ready(1, ReceiveError::other) == 0x92);
  CHECK(pcb_supervisory(SupervisoryType::resynch, false) == 0xC0);
  CHECK(pcb_supervisory(SupervisoryType::ifs, true) == 0xE1);
  CHECK(pcb_supervisory(SupervisoryType::abort, false) == 0xC2);
  CHECK(pcb_supervisory(SupervisoryType::wtx, true) == 0xE3);

  // BlockView points into the parsed bytes: keep them alive.
  const auto i_bytes = make_i_block(0x21, 1, true, hex("01 02 03"), EdcKind::lrc);
  const auto i_block = parse_ok(i_bytes);
  CHECK(i_block.kind() == BlockKind::information);
  CHECK(i_block.nad == 0x21);
  CHECK(i_block.sequence() == 1);
  CHECK(i_block.more());
  CHECK(Bytes(i_block.inf.begin(), i_block.inf.end()) == hex("01 02 03"));
  CHECK(describe(i_block) == "I(1,1)");

  const auto r_bytes = make_r_block(0, 1, ReceiveError::other, EdcKind::crc);
  const auto r_block = parse_ok(r_bytes, EdcKind::crc);
  CHECK(r_block.kind() == BlockKind::receive_ready);
  CHECK(r_block.sequence() == 1);
  CHECK(r_block.receive_error() == ReceiveError::other);
  CHECK(describe(r_block) == "R(1,other)");

  const auto s_bytes = make_s_block(0, SupervisoryType::wtx, false, EdcKind::lrc, 9);
  const auto s_block = parse_ok(s_bytes);
  CHECK(s_block.kind() == BlockKind::supervisory);
  CHECK(s_block.supervisory_type() == SupervisoryType::wtx);
  CHECK_FALSE(s_block.is_response());
  CHECK(s_block.parameter() == 9);
  CHECK(describe(s_block) == "S(WTX request,9)");
  CHECK(describe(hex("00 E4 00 E4"), EdcKind::lrc) == "S(VPP error response)");
}

TEST_CASE("an INF of 254 bytes round-trips with LRC and CRC") {
  Bytes inf(kMaxInfSize);
  for (std::size_t i = 0; i < inf.size(); ++i) inf[i] = static_cast<std::uint8_t>(i * 7);
  for (const auto edc : {EdcKind::lrc, EdcKind::crc}) {
    const auto bytes = make_i_block(0, 0, false, inf, edc);
    CHECK(bytes.size() == 3 + 254 + edc_size(edc));
    const auto block = parse_ok(bytes, edc);
    CHECK(Bytes(block.inf.begin(), block.inf.end()) == inf);
  }
}

TEST_CASE("the parser names each malformed block distinctly") {
  const auto check = [](const Bytes& bytes, BlockError expected, EdcKind edc = EdcKind::lrc) {
    const auto result = parse_block(bytes, edc);
    INFO("got: ", to_string(result.error));
    CHECK(result.error == expected);
    CHECK_FALSE(result.block.has_value());
  };
  check({}, BlockError::too_short);
  check(hex("00 00 00"), BlockError::too_short);  // no epilogue
  check(hex("00 00 00 00"), BlockError::too_short, EdcKind::crc);
  check(hex("00 00 02 01 03"), BlockError::length_mismatch);  // LEN 2, one INF byte
  check(hex("00 00 00 00 00"), BlockError::length_mismatch);  // one byte too many
  check(hex("00 00 FF 00"), BlockError::len_reserved);        // ISO 7816-3 11.3.2.3
  check(hex("00 00 01 55 55"), BlockError::bad_edc);          // LRC should be 54
  auto crc_block = make_i_block(0, 0, false, hex("01 02"), EdcKind::crc);
  crc_block[5] ^= 0x01;
  check(crc_block, BlockError::bad_edc, EdcKind::crc);
  // PCBs with RFU bits: I-block b5..b1, R-block b6 or error code 3, S-block type 5 and a
  // VPP error request.
  check(encode_block(0, 0x01, {}, EdcKind::lrc), BlockError::invalid_pcb);
  check(encode_block(0, 0xA0, {}, EdcKind::lrc), BlockError::invalid_pcb);
  check(encode_block(0, 0x83, {}, EdcKind::lrc), BlockError::invalid_pcb);
  check(encode_block(0, 0xC5, {}, EdcKind::lrc), BlockError::invalid_pcb);
  check(encode_block(0, 0xC4, {}, EdcKind::lrc), BlockError::invalid_pcb);
  // INF not allowed: R-block with data, S(IFS) with IFS 00 or FF or no byte, S(WTX) empty,
  // S(ABORT) with data.
  check(encode_block(0, 0x80, hex("00"), EdcKind::lrc), BlockError::invalid_inf);
  check(encode_block(0, 0xC1, hex("00"), EdcKind::lrc), BlockError::invalid_inf);
  check(encode_block(0, 0xC1, hex("FF"), EdcKind::lrc), BlockError::invalid_inf);
  check(encode_block(0, 0xE1, {}, EdcKind::lrc), BlockError::invalid_inf);
  check(encode_block(0, 0xC3, {}, EdcKind::lrc), BlockError::invalid_inf);
  check(encode_block(0, 0xC2, hex("01"), EdcKind::lrc), BlockError::invalid_inf);
}

TEST_CASE("the parser reads only the bytes it is given") {
  // A block cut at every length: never a read past the end (ASan watches), always an error.
  const auto full = make_i_block(0, 1, false, hex("00 A4 04 00 07 A0 00 00 00 03 10 10"), EdcKind::crc);
  for (std::size_t size = 0; size < full.size(); ++size) {
    const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
    CHECK_FALSE(parse_block(cut, EdcKind::crc).block.has_value());
  }
  CHECK(parse_block(full, EdcKind::crc).block.has_value());
}

TEST_CASE("answers swap the source and destination node addresses, ISO 7816-3 11.3.2.1") {
  CHECK(answer_nad(0x00) == 0x00);
  CHECK(answer_nad(0x12) == 0x21);
  CHECK(answer_nad(0x07) == 0x70);
  CHECK(answer_nad(0x88) == 0x00);  // b8 and b4 (VPP control) are not echoed
}
