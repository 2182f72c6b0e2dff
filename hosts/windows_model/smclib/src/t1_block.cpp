#include "t1_block.h"

#include <cstring>

namespace readerlab::smclib::t1_block {
namespace {

constexpr std::uint8_t kLenRfu = 0xFF;  // LEN FF is RFU, ISO 7816-3 11.3.2.3

// PCB fields, ISO 7816-3 11.3.2.2.
constexpr std::uint8_t kBlockClassMask = 0xC0;  // b8 b7: 0x I-block, 10 R-block, 11 S-block
constexpr std::uint8_t kRBlockClass = 0x80;
constexpr std::uint8_t kSBlockClass = 0xC0;
constexpr std::uint8_t kIBlockRfuBits = 0x1F;    // I-block b5..b1 are 0
constexpr std::uint8_t kRBlockB6 = 0x20;         // R-block b6 is 0
constexpr std::uint8_t kRBlockErrorBits = 0x0F;  // R-block b4..b1: 0, 1 (EDC/parity) or 2 (other)
constexpr std::uint8_t kSBlockResponseBit = 0x20;
constexpr std::uint8_t kSBlockTypeBits = 0x1F;  // 0 RESYNCH, 1 IFS, 2 ABORT, 3 WTX, 4 VPP error
constexpr std::uint8_t kSBlockIfs = 1;
constexpr std::uint8_t kSBlockWtx = 3;
constexpr std::uint8_t kSBlockVppError = 4;  // a response only

// Windows 11 smclib's CRC (issue 10 rule 17): polynomial 0x8005 reflected, register preset 0.
constexpr std::uint16_t kWindowsCrcPolynomialReflected = 0xA001;
constexpr std::uint16_t kWindowsCrcPreset = 0x0000;
constexpr std::uint8_t kSBlockRequestIfs = 0xC1;  // S(IFS request), ISO 7816-3 11.3.2.2
constexpr std::uint8_t kSBlockRequestWtx = 0xC3;  // S(WTX request)

bool pcb_coding_valid(std::uint8_t pcb) {
  switch (pcb & kBlockClassMask) {
    case kRBlockClass: return (pcb & kRBlockB6) == 0 && (pcb & kRBlockErrorBits) <= 2;
    case kSBlockClass: {
      const std::uint8_t type = pcb & kSBlockTypeBits;
      return type < kSBlockVppError || (type == kSBlockVppError && (pcb & kSBlockResponseBit) != 0);
    }
    default:  // I-block
      return (pcb & kIBlockRfuBits) == 0;
  }
}

bool ifs_valid(std::uint8_t ifs) { return ifs != 0x00 && ifs != 0xFF; }  // 00 and FF are RFU, ISO 7816-3 11.4.2

// The INF each kind of block may carry, ISO 7816-3 11.3.2.3 and 11.4.2-11.4.3, except that the
// card's S(IFS request) and S(WTX request) are taken whatever their LEN (rule 19).
bool inf_allowed(std::uint8_t pcb, std::span<const std::uint8_t> inf, std::uint8_t first_inf_byte) {
  switch (kind_of(pcb)) {
    case BlockKind::information: return true;
    case BlockKind::receive_ready: return inf.empty();
    case BlockKind::supervisory: break;
  }
  if (pcb == kSBlockRequestIfs) return ifs_valid(first_inf_byte);
  if (pcb == kSBlockRequestWtx) return true;
  switch (pcb & kSBlockTypeBits) {
    case kSBlockIfs:  // one byte, IFS 01..FE (00 and FF are RFU), ISO 7816-3 11.4.2
      return inf.size() == 1 && ifs_valid(inf[0]);
    case kSBlockWtx:  // one byte, the BWT multiplier, ISO 7816-3 11.4.3
      return inf.size() == 1;
    default: return inf.empty();
  }
}

bool edc_matches(std::span<const std::uint8_t> covered, const std::uint8_t* epilogue, Edc edc) {
  if (edc == Edc::lrc) return epilogue[0] == lrc(covered);
  const std::uint16_t expected = crc(covered);  // high byte first
  return epilogue[0] == static_cast<std::uint8_t>(expected >> 8) && epilogue[1] == static_cast<std::uint8_t>(expected);
}

}  // namespace

std::size_t edc_length(Edc edc) { return edc == Edc::crc ? 2 : 1; }

std::uint8_t lrc(std::span<const std::uint8_t> covered) {
  std::uint8_t sum = 0;
  for (std::size_t i = 0; i < covered.size(); ++i) sum = static_cast<std::uint8_t>(sum ^ covered[i]);
  return sum;
}

std::uint16_t crc(std::span<const std::uint8_t> covered) {
  std::uint16_t shift_register = kWindowsCrcPreset;
  for (const std::uint8_t byte : covered) {
    shift_register = static_cast<std::uint16_t>(shift_register ^ byte);
    for (int bit = 0; bit < 8; ++bit) {
      const bool carry = (shift_register & 1U) != 0;
      shift_register = static_cast<std::uint16_t>(shift_register >> 1);
      if (carry) shift_register = static_cast<std::uint16_t>(shift_register ^ kWindowsCrcPolynomialReflected);
    }
  }
  return shift_register;  // no final exclusive-or
}

std::size_t write_block(std::uint8_t* out, std::uint8_t nad, std::uint8_t pcb, std::span<const std::uint8_t> inf,
                        Edc edc) {
  out[0] = nad;
  out[1] = pcb;
  out[2] = static_cast<std::uint8_t>(inf.size());
  if (!inf.empty()) std::memcpy(out + kPrologueLength, inf.data(), inf.size());
  const std::size_t covered = kPrologueLength + inf.size();
  if (edc == Edc::crc) {
    const std::uint16_t value = crc({out, covered});
    out[covered] = static_cast<std::uint8_t>(value >> 8);  // high-order byte first, as Windows sends it
    out[covered + 1] = static_cast<std::uint8_t>(value);
  } else {
    out[covered] = lrc({out, covered});
  }
  return covered + edc_length(edc);
}

BlockKind kind_of(std::uint8_t pcb) {
  switch (pcb & kBlockClassMask) {
    case kRBlockClass: return BlockKind::receive_ready;
    case kSBlockClass: return BlockKind::supervisory;
    default: return BlockKind::information;
  }
}

ReceivedBlock check_block(std::span<const std::uint8_t> bytes, Edc edc) {
  ReceivedBlock block;
  const std::size_t epilogue = edc_length(edc);
  if (bytes.size() < kPrologueLength + epilogue) return block;
  const std::size_t len = bytes[2];
  if (len == kLenRfu || bytes.size() != kPrologueLength + len + epilogue) return block;
  if (!edc_matches(bytes.first(kPrologueLength + len), bytes.data() + kPrologueLength + len, edc)) {
    block.verdict = Verdict::edc_error;
    return block;
  }
  block.nad = bytes[0];
  block.pcb = bytes[1];
  block.inf = bytes.subspan(kPrologueLength, len);
  block.first_inf_byte = bytes[kPrologueLength];  // present: the epilogue follows LEN at least
  if (pcb_coding_valid(block.pcb) && inf_allowed(block.pcb, block.inf, block.first_inf_byte)) {
    block.verdict = Verdict::usable;
  }
  return block;
}

}  // namespace readerlab::smclib::t1_block
