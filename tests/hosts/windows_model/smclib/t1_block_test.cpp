// The smclib model's own T=1 block codec (hosts/windows_model/smclib/src/t1_block.h), checked
// against blocks written out by hand from ISO 7816-3 11.3 and against Windows 11's CRC (issue
// 10 rule 17: CRC-16/ARC and its check value), not against the card side's codec.
#include "hosts/windows_model/smclib/src/t1_block.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace t1 = readerlab::smclib::t1_block;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes written(std::uint8_t nad, std::uint8_t pcb, Bytes inf, t1::Edc edc) {
  Bytes out(t1::kPrologueLength + inf.size() + t1::edc_length(edc), 0xEE);
  const auto size = t1::write_block(out.data(), nad, pcb, inf, edc);
  CHECK_EQ(size, out.size());
  return out;
}

t1::Verdict verdict(const Bytes& block, t1::Edc edc = t1::Edc::lrc) { return t1::check_block(block, edc).verdict; }

}  // namespace

TEST_CASE("smclib T=1 codec: an I-block with LRC is NAD PCB LEN INF and the XOR of them all") {
  // N(S)=1, M=0: PCB 40; LRC = 00 ^ 40 ^ 02 ^ 90 ^ 00 = D2.
  CHECK_EQ(written(0x00, 0x40, {0x90, 0x00}, t1::Edc::lrc), Bytes{0x00, 0x40, 0x02, 0x90, 0x00, 0xD2});
  CHECK_EQ(t1::lrc(std::array<std::uint8_t, 0>{}), 0x00);
}

TEST_CASE("smclib T=1 codec: the CRC is Windows' CRC-16 (0xA001 reflected, preset 0), sent high byte first") {
  const Bytes digits{'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  CHECK_EQ(t1::crc(digits), 0xBB3D);  // the check value of CRC-16/ARC
  // S(IFS request) with IFSD FE: the example of issue 10 rule 17.
  CHECK_EQ(written(0x00, 0xC1, {0xFE}, t1::Edc::crc), Bytes{0x00, 0xC1, 0x01, 0xFE, 0xEC, 0xD1});
  CHECK_EQ(verdict({0x00, 0xC1, 0x01, 0xFE, 0xEC, 0xD1}, t1::Edc::crc), t1::Verdict::usable);
  // The same bytes low byte first are an EDC error.
  CHECK_EQ(verdict({0x00, 0xC1, 0x01, 0xFE, 0xD1, 0xEC}, t1::Edc::crc), t1::Verdict::edc_error);
  // So is the ISO/IEC 13239 CRC of the same block (ABB1, low byte first) that an ISO card sends.
  CHECK_EQ(verdict({0x00, 0xC1, 0x01, 0xFE, 0xB1, 0xAB}, t1::Edc::crc), t1::Verdict::edc_error);
  // An LRC block read as a CRC one has the wrong size: another error, not an EDC error.
  CHECK_EQ(verdict({0x00, 0x40, 0x02, 0x90, 0x00, 0xD2}, t1::Edc::crc), t1::Verdict::other_error);
}

TEST_CASE("smclib T=1 codec: a received block gives its NAD, PCB and INF") {
  const Bytes block{0x12, 0x20, 0x03, 0x01, 0x02, 0x03, 0x12 ^ 0x20 ^ 0x03 ^ 0x01 ^ 0x02 ^ 0x03};
  const auto received = t1::check_block(block, t1::Edc::lrc);
  REQUIRE_EQ(received.verdict, t1::Verdict::usable);
  CHECK_EQ(received.nad, 0x12);
  CHECK_EQ(received.pcb, 0x20);  // I-block, N(S)=0, more data
  CHECK_EQ(Bytes(received.inf.begin(), received.inf.end()), Bytes{0x01, 0x02, 0x03});
  CHECK_EQ(t1::kind_of(received.pcb), t1::BlockKind::information);
  CHECK_EQ(t1::kind_of(0x90), t1::BlockKind::receive_ready);
  CHECK_EQ(t1::kind_of(0xE3), t1::BlockKind::supervisory);
}

TEST_CASE("smclib T=1 codec: the frame is checked before the PCB, so a damaged PCB is an EDC error") {
  Bytes block{0x00, 0x00, 0x02, 0x90, 0x00, 0x92};
  REQUIRE_EQ(verdict(block), t1::Verdict::usable);
  block[1] = 0x01;  // an RFU bit of an I-block, but the LRC no longer matches either
  CHECK_EQ(verdict(block), t1::Verdict::edc_error);
  block = {0x00, 0x00, 0x02, 0x91, 0x00, 0x92};  // a bit flipped in INF
  CHECK_EQ(verdict(block), t1::Verdict::edc_error);
}

TEST_CASE("smclib T=1 codec: a cut block, a LEN that disagrees and LEN FF are other errors") {
  CHECK_EQ(verdict({}), t1::Verdict::other_error);
  CHECK_EQ(verdict({0x00, 0x90, 0x00}), t1::Verdict::other_error);                    // no epilogue
  CHECK_EQ(verdict({0x00, 0x00, 0x03, 0x90, 0x00, 0x93}), t1::Verdict::other_error);  // LEN 3, 2 bytes
  CHECK_EQ(verdict({0x00, 0x00, 0x01, 0x90, 0x00, 0x92}), t1::Verdict::other_error);  // LEN 1, 2 bytes
  Bytes rfu_len(3 + 0xFF + 1, 0x00);
  rfu_len[2] = 0xFF;
  rfu_len.back() = 0xFF;  // the LRC of 00 00 FF 00...
  CHECK_EQ(verdict(rfu_len), t1::Verdict::other_error);
}

TEST_CASE("smclib T=1 codec: PCB codings ISO 7816-3 leaves RFU are other errors") {
  const auto block = [](std::uint8_t pcb, Bytes inf = {}) { return written(0x00, pcb, std::move(inf), t1::Edc::lrc); };
  CHECK_EQ(verdict(block(0x00, {0x01})), t1::Verdict::usable);
  CHECK_EQ(verdict(block(0x01, {0x01})), t1::Verdict::other_error);  // I-block b1 set
  CHECK_EQ(verdict(block(0x92)), t1::Verdict::usable);               // R-block N(R)=1, other error
  CHECK_EQ(verdict(block(0x83)), t1::Verdict::other_error);          // R-block error code 3
  CHECK_EQ(verdict(block(0xA0)), t1::Verdict::other_error);          // R-block b6 set
  CHECK_EQ(verdict(block(0xE4)), t1::Verdict::usable);               // S(VPP error response)
  CHECK_EQ(verdict(block(0xC4)), t1::Verdict::other_error);          // no VPP error request
  CHECK_EQ(verdict(block(0xC5)), t1::Verdict::other_error);          // S-block type 5
}

TEST_CASE("smclib T=1 codec: each block kind carries only the INF it may") {
  const auto block = [](std::uint8_t pcb, Bytes inf = {}) { return written(0x00, pcb, std::move(inf), t1::Edc::lrc); };
  CHECK_EQ(verdict(block(0x80, {0x00})), t1::Verdict::other_error);  // an R-block has LEN 0
  CHECK_EQ(verdict(block(0xC1, {0x20})), t1::Verdict::usable);       // S(IFS request) IFS 32
  CHECK_EQ(verdict(block(0xC1, {0x00})), t1::Verdict::other_error);  // IFS 00 is RFU
  CHECK_EQ(verdict(block(0xE1, {0xFF})), t1::Verdict::other_error);  // IFS FF is RFU
  CHECK_EQ(verdict(block(0xE1)), t1::Verdict::other_error);          // S(IFS response) without its byte
  CHECK_EQ(verdict(block(0xC3, {0x05})), t1::Verdict::usable);       // S(WTX request) x5
  CHECK_EQ(verdict(block(0xE3, {0x05, 0x01})), t1::Verdict::other_error);
  CHECK_EQ(verdict(block(0xC0, {0x00})), t1::Verdict::other_error);  // S(RESYNCH) has no INF
  CHECK_EQ(verdict(block(0xE0)), t1::Verdict::usable);
}

TEST_CASE("smclib T=1 codec: the card's S(IFS request) and S(WTX request) are taken whatever their LEN") {
  // Windows reads the byte after LEN (issue 10 rule 19): with LEN 0 it is the EDC byte.
  const auto no_inf = t1::check_block(Bytes{0x00, 0xC1, 0x00, 0xC1}, t1::Edc::lrc);
  CHECK_EQ(no_inf.verdict, t1::Verdict::usable);
  CHECK_EQ(no_inf.first_inf_byte, 0xC1);
  const auto two = t1::check_block(written(0x00, 0xC3, {0x05, 0x01}, t1::Edc::lrc), t1::Edc::lrc);
  CHECK_EQ(two.verdict, t1::Verdict::usable);
  CHECK_EQ(two.first_inf_byte, 0x05);
  // The IFS itself must still be 01..FE: LEN 0 with an LRC of 00 (NAD C1) announces IFS 00.
  CHECK_EQ(verdict({0xC1, 0xC1, 0x00, 0x00}), t1::Verdict::other_error);
}
