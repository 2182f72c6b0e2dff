#include "cards/t1/block.h"

#include <algorithm>
#include <array>
#include <cassert>

namespace readerlab::cards::t1 {
namespace {

// PCB bits, ISO 7816-3 11.3.2.2.
constexpr std::uint8_t kPcbNotInformation = 0x80;   // b8 = 1: R- or S-block
constexpr std::uint8_t kPcbSupervisory = 0x40;      // with b8: b7 = 1 S-block, 0 R-block
constexpr std::uint8_t kPcbSendSequence = 0x40;     // I-block N(S), b7
constexpr std::uint8_t kPcbMore = 0x20;             // I-block M, b6
constexpr std::uint8_t kPcbInformationRfu = 0x1F;   // I-block b5..b1 are RFU
constexpr std::uint8_t kPcbReceiveSequence = 0x10;  // R-block N(R), b5
constexpr std::uint8_t kPcbReceiveRfu = 0x20;       // R-block b6 is 0
constexpr std::uint8_t kPcbReceiveError = 0x0F;     // R-block b4..b1
constexpr std::uint8_t kPcbResponse = 0x20;         // S-block b6
constexpr std::uint8_t kPcbSupervisoryType = 0x1F;  // S-block b5..b1

// ISO/IEC 13239 FCS: x^16 + x^12 + x^5 + 1 processed least significant bit first, so the
// register shifts right and the polynomial appears bit-reversed (8408).
constexpr std::uint16_t kCrcPolynomialReflected = 0x8408;
constexpr std::uint16_t kCrcPreset = 0xFFFF;

constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    unsigned reg = byte;
    for (int bit = 0; bit < 8; ++bit) {
      reg = (reg & 1U) ? (reg >> 1) ^ kCrcPolynomialReflected : reg >> 1;
    }
    table[byte] = static_cast<std::uint16_t>(reg);
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

// CRC-16/ARC as Windows' smclib computes it: 8005 reflected, preset 0000, no complement.
constexpr std::uint16_t kWindowsCrcPolynomialReflected = 0xA001;

std::uint16_t crc_register(std::span<const std::uint8_t> head, std::span<const std::uint8_t> tail) {
  unsigned reg = kCrcPreset;
  for (const auto byte : head) reg = (reg >> 8) ^ kCrcTable[(reg ^ byte) & 0xFFU];
  for (const auto byte : tail) reg = (reg >> 8) ^ kCrcTable[(reg ^ byte) & 0xFFU];
  return static_cast<std::uint16_t>(~reg & 0xFFFFU);
}

bool inf_allowed(const BlockView& block) {
  switch (block.kind()) {
    case BlockKind::information: return true;
    case BlockKind::receive_ready: return block.inf.empty();  // ISO 7816-3 11.3.2.3: an R-block has LEN 0
    case BlockKind::supervisory:
      switch (block.supervisory_type()) {
        case SupervisoryType::ifs: {
          // One byte, IFS 01..FE; 00 and FF are RFU, ISO 7816-3 11.4.2.
          return block.inf.size() == 1 && block.inf[0] != 0x00 && block.inf[0] != 0xFF;
        }
        case SupervisoryType::wtx: return block.inf.size() == 1;  // one byte: the BWT multiplier, ISO 7816-3 11.4.3
        default: return block.inf.empty();
      }
  }
  return false;
}

bool pcb_valid(std::uint8_t pcb) {
  if ((pcb & kPcbNotInformation) == 0) return (pcb & kPcbInformationRfu) == 0;
  if ((pcb & kPcbSupervisory) == 0) {
    return (pcb & kPcbReceiveRfu) == 0 && (pcb & kPcbReceiveError) <= 2;
  }
  const auto type = pcb & kPcbSupervisoryType;
  const bool response = (pcb & kPcbResponse) != 0;
  return type <= 3 || (type == 4 && response);
}

}  // namespace

std::size_t edc_size(EdcKind kind) { return kind == EdcKind::lrc ? 1 : 2; }

std::uint8_t lrc(std::span<const std::uint8_t> bytes) {
  std::uint8_t value = 0;
  for (const auto byte : bytes) value ^= byte;
  return value;
}

std::uint16_t crc16(std::span<const std::uint8_t> bytes) { return crc_register(bytes, {}); }

std::uint16_t crc16_windows(std::span<const std::uint8_t> bytes) {
  unsigned reg = 0x0000;
  for (const auto byte : bytes) {
    reg ^= byte;
    for (int bit = 0; bit < 8; ++bit) reg = (reg & 1U) ? (reg >> 1) ^ kWindowsCrcPolynomialReflected : reg >> 1;
  }
  return static_cast<std::uint16_t>(reg);
}

namespace {

// The EDC bytes that follow NAD PCB LEN INF, in the order they go on the wire: the LRC; ISO/IEC
// 13239's CRC low-order byte first (ISO 7816-3 11.4.4); Windows' CRC high-order byte first.
struct Epilogue {
  std::array<std::uint8_t, 2> bytes{};
  std::size_t size = 0;
};

Epilogue epilogue_of(std::span<const std::uint8_t> covered, EdcKind edc) {
  switch (edc) {
    case EdcKind::lrc: return {{lrc(covered), 0}, 1};
    case EdcKind::crc: {
      const auto crc = crc16(covered);
      return {{static_cast<std::uint8_t>(crc & 0xFF), static_cast<std::uint8_t>(crc >> 8)}, 2};
    }
    case EdcKind::crc_windows: {
      const auto crc = crc16_windows(covered);
      return {{static_cast<std::uint8_t>(crc >> 8), static_cast<std::uint8_t>(crc & 0xFF)}, 2};
    }
  }
  return {};
}

}  // namespace

BlockKind BlockView::kind() const {
  if ((pcb & kPcbNotInformation) == 0) return BlockKind::information;
  return (pcb & kPcbSupervisory) ? BlockKind::supervisory : BlockKind::receive_ready;
}

std::uint8_t BlockView::sequence() const {
  switch (kind()) {
    case BlockKind::information: return (pcb & kPcbSendSequence) ? 1 : 0;
    case BlockKind::receive_ready: return (pcb & kPcbReceiveSequence) ? 1 : 0;
    case BlockKind::supervisory: break;
  }
  return 0;
}

bool BlockView::more() const { return kind() == BlockKind::information && (pcb & kPcbMore); }

ReceiveError BlockView::receive_error() const { return static_cast<ReceiveError>(pcb & kPcbReceiveError); }

SupervisoryType BlockView::supervisory_type() const { return static_cast<SupervisoryType>(pcb & kPcbSupervisoryType); }

bool BlockView::is_response() const { return kind() == BlockKind::supervisory && (pcb & kPcbResponse); }

std::string to_string(BlockError error) {
  switch (error) {
    case BlockError::none: return "none";
    case BlockError::too_short: return "too short";
    case BlockError::length_mismatch: return "LEN does not match the block size";
    case BlockError::len_reserved: return "LEN FF (RFU)";
    case BlockError::bad_edc: return "bad EDC";
    case BlockError::invalid_pcb: return "invalid PCB";
    case BlockError::invalid_inf: return "INF not allowed for the block type";
  }
  return "unknown";
}

BlockParseResult parse_block(std::span<const std::uint8_t> bytes, EdcKind edc) {
  const auto epilogue = edc_size(edc);
  if (bytes.size() < kPrologueSize + epilogue) return {BlockError::too_short, std::nullopt};
  const std::uint8_t len = bytes[2];
  if (len == kLenReserved) return {BlockError::len_reserved, std::nullopt};
  if (bytes.size() != kPrologueSize + len + epilogue) {
    return {BlockError::length_mismatch, std::nullopt};
  }
  const auto covered = bytes.first(kPrologueSize + len);
  const Epilogue expected = epilogue_of(covered, edc);
  if (!std::equal(expected.bytes.begin(), expected.bytes.begin() + expected.size, bytes.begin() + covered.size())) {
    return {BlockError::bad_edc, std::nullopt};
  }
  BlockView block{bytes[0], bytes[1], bytes.subspan(kPrologueSize, len)};
  if (!pcb_valid(block.pcb)) return {BlockError::invalid_pcb, std::nullopt};
  if (!inf_allowed(block)) return {BlockError::invalid_inf, std::nullopt};
  return {BlockError::none, block};
}

std::uint8_t pcb_information(std::uint8_t send_sequence, bool more) {
  return static_cast<std::uint8_t>((send_sequence & 1 ? kPcbSendSequence : 0) | (more ? kPcbMore : 0));
}

std::uint8_t pcb_receive_ready(std::uint8_t receive_sequence, ReceiveError error) {
  return static_cast<std::uint8_t>(kPcbNotInformation | (receive_sequence & 1 ? kPcbReceiveSequence : 0) |
                                   static_cast<std::uint8_t>(error));
}

std::uint8_t pcb_supervisory(SupervisoryType type, bool response) {
  return static_cast<std::uint8_t>(kPcbNotInformation | kPcbSupervisory | (response ? kPcbResponse : 0) |
                                   static_cast<std::uint8_t>(type));
}

void encode_block(Bytes& out, std::uint8_t nad, std::uint8_t pcb, std::span<const std::uint8_t> inf, EdcKind edc) {
  assert(inf.size() <= kMaxInfSize);
  out.clear();
  out.reserve(kPrologueSize + inf.size() + edc_size(edc));
  out.push_back(nad);
  out.push_back(pcb);
  out.push_back(static_cast<std::uint8_t>(inf.size()));
  out.insert(out.end(), inf.begin(), inf.end());
  const Epilogue epilogue = epilogue_of(out, edc);
  out.insert(out.end(), epilogue.bytes.begin(), epilogue.bytes.begin() + epilogue.size);
}

Bytes encode_block(std::uint8_t nad, std::uint8_t pcb, std::span<const std::uint8_t> inf, EdcKind edc) {
  Bytes out;
  encode_block(out, nad, pcb, inf, edc);
  return out;
}

Bytes make_i_block(std::uint8_t nad, std::uint8_t send_sequence, bool more, std::span<const std::uint8_t> inf,
                   EdcKind edc) {
  return encode_block(nad, pcb_information(send_sequence, more), inf, edc);
}

Bytes make_r_block(std::uint8_t nad, std::uint8_t receive_sequence, ReceiveError error, EdcKind edc) {
  return encode_block(nad, pcb_receive_ready(receive_sequence, error), {}, edc);
}

Bytes make_s_block(std::uint8_t nad, SupervisoryType type, bool response, EdcKind edc, std::uint8_t parameter) {
  const bool has_parameter = type == SupervisoryType::ifs || type == SupervisoryType::wtx;
  const std::uint8_t inf[1] = {parameter};
  return encode_block(nad, pcb_supervisory(type, response), std::span<const std::uint8_t>(inf, has_parameter ? 1 : 0),
                      edc);
}

std::uint8_t answer_nad(std::uint8_t nad) {
  return static_cast<std::uint8_t>(((nad & 0x07) << 4) | ((nad >> 4) & 0x07));
}

std::string describe(const BlockView& block) {
  // Built by appending: GCC 12 warns falsely (-Wrestrict) on chains of string operator+.
  std::string text;
  switch (block.kind()) {
    case BlockKind::information:
      text.append("I(").append(block.sequence() ? "1" : "0").append(block.more() ? ",1)" : ",0)");
      return text;
    case BlockKind::receive_ready:
      text.append("R(").append(block.sequence() ? "1" : "0");
      switch (block.receive_error()) {
        case ReceiveError::none: break;
        case ReceiveError::edc_or_parity: text.append(",EDC"); break;
        case ReceiveError::other: text.append(",other"); break;
      }
      text.append(")");
      return text;
    case BlockKind::supervisory: {
      static constexpr const char* kNames[] = {"RESYNCH", "IFS", "ABORT", "WTX", "VPP error"};
      const auto type = static_cast<unsigned>(block.supervisory_type());
      text.append("S(").append(type < 5 ? kNames[type] : "?");
      text.append(block.is_response() ? " response" : " request");
      if (!block.inf.empty()) text.append(",").append(std::to_string(block.inf[0]));
      text.append(")");
      return text;
    }
  }
  return "?";
}

std::string describe(std::span<const std::uint8_t> bytes, EdcKind edc) {
  const auto parsed = parse_block(bytes, edc);
  if (!parsed.block) return std::string("invalid(").append(to_string(parsed.error)).append(")");
  return describe(*parsed.block);
}

}  // namespace readerlab::cards::t1
