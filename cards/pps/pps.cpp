#include "cards/pps/pps.h"

namespace readerlab::cards {
namespace {

constexpr std::uint8_t kPpss = 0xFF;              // ISO 7816-3 9.2
constexpr std::uint8_t kPps0Pps1Present = 0x10;   // PPS0 b5, ISO 7816-3 9.2
constexpr std::uint8_t kPps0Pps2Present = 0x20;   // PPS0 b6
constexpr std::uint8_t kPps0Pps3Present = 0x40;   // PPS0 b7
constexpr std::uint8_t kPps0Reserved = 0x80;      // PPS0 b8
constexpr std::uint8_t kPps0ProtocolMask = 0x0F;  // PPS0 b4-b1
constexpr std::uint8_t kDefaultFiDi = 0x11;       // Fd=372 Dd=1, ISO 7816-3 8.3
constexpr std::size_t kFdValue = 372;             // ISO 7816-3 8.3
constexpr std::size_t kDdValue = 1;               // ISO 7816-3 8.3

// Whether the card may work at `requested` Fi/Di: F from Fd to Fi and D from Dd to Di of
// the card's TA1, ISO 7816-3 9.2 (PPS1).
bool within_card_range(std::uint8_t requested, std::uint8_t card_fi_di) {
  const unsigned f = clock_rate_conversion_factor(static_cast<std::uint8_t>(requested >> 4));
  const unsigned d = baud_rate_adjustment_factor(static_cast<std::uint8_t>(requested & 0x0F));
  const unsigned card_f = clock_rate_conversion_factor(static_cast<std::uint8_t>(card_fi_di >> 4));
  const unsigned card_d = baud_rate_adjustment_factor(static_cast<std::uint8_t>(card_fi_di & 0x0F));
  if (f == 0 || d == 0 || card_f == 0 || card_d == 0) return false;  // RFU codes
  return f >= kFdValue && f <= card_f && d >= kDdValue && d <= card_d;
}

}  // namespace

std::string to_string(PpsError error) {
  switch (error) {
    case PpsError::none: return "no error";
    case PpsError::bad_ppss: return "PPSS is not FF";
    case PpsError::reserved_bit: return "PPS0 bit 8 (reserved) is set";
    case PpsError::truncated: return "fewer bytes than PPS0 announces";
    case PpsError::wrong_pck: return "PCK does not make the XOR of all bytes 00";
    case PpsError::trailing_bytes: return "bytes after PCK";
  }
  return "unknown PPS error";
}

PpsParseResult parse_pps(std::span<const std::uint8_t> bytes) {
  PpsParseResult result;
  auto fail = [&result](PpsError error, std::size_t offset) {
    result.error = error;
    result.offset = offset;
    return result;
  };
  if (bytes.empty()) return fail(PpsError::truncated, 0);
  if (bytes[0] != kPpss) return fail(PpsError::bad_ppss, 0);
  if (bytes.size() < 2) return fail(PpsError::truncated, bytes.size());
  const std::uint8_t pps0 = bytes[1];
  if (pps0 & kPps0Reserved) return fail(PpsError::reserved_bit, 1);
  Pps pps;
  pps.protocol = pps0 & kPps0ProtocolMask;
  std::size_t index = 2;
  for (auto [flag, field] : {std::pair{kPps0Pps1Present, &pps.pps1}, std::pair{kPps0Pps2Present, &pps.pps2},
                             std::pair{kPps0Pps3Present, &pps.pps3}}) {
    if (!(pps0 & flag)) continue;
    if (index >= bytes.size()) return fail(PpsError::truncated, bytes.size());
    *field = bytes[index++];
  }
  if (index >= bytes.size()) return fail(PpsError::truncated, bytes.size());  // no PCK
  std::uint8_t check = 0;
  for (std::size_t i = 0; i <= index; ++i) check ^= bytes[i];
  if (check != 0) return fail(PpsError::wrong_pck, index);
  if (index + 1 != bytes.size()) return fail(PpsError::trailing_bytes, index + 1);
  result.pps = pps;
  return result;
}

Bytes build_pps(const Pps& pps) {
  std::uint8_t pps0 = pps.protocol & kPps0ProtocolMask;
  if (pps.pps1) pps0 |= kPps0Pps1Present;
  if (pps.pps2) pps0 |= kPps0Pps2Present;
  if (pps.pps3) pps0 |= kPps0Pps3Present;
  Bytes bytes = {kPpss, pps0};
  for (const auto& field : {pps.pps1, pps.pps2, pps.pps3}) {
    if (field) bytes.push_back(*field);
  }
  std::uint8_t pck = 0;
  for (auto byte : bytes) pck ^= byte;
  bytes.push_back(pck);
  return bytes;
}

PpsCardAnswer answer_pps_request(const Atr& atr, PpsReaction reaction, std::span<const std::uint8_t> request) {
  if (reaction == PpsReaction::silent) return {};
  const auto parsed = parse_pps(request);
  if (!parsed.pps) return {};  // an erroneous request gets no answer, ISO 7816-3 9.3
  if (atr.specific_mode()) return {};
  if (!atr.supports(parsed.pps->protocol)) return {};

  Pps answer;
  answer.protocol = parsed.pps->protocol;
  NegotiatedParameters agreed{answer.protocol, kDefaultFiDi};
  if (parsed.pps->pps1 && reaction == PpsReaction::accept && within_card_range(*parsed.pps->pps1, atr.fi_di())) {
    answer.pps1 = parsed.pps->pps1;
    agreed.fi_di = *parsed.pps->pps1;
  }
  return {build_pps(answer), agreed};
}

std::optional<NegotiatedParameters> pps_outcome(const Pps& request, std::span<const std::uint8_t> response) {
  const auto parsed = parse_pps(response);
  if (!parsed.pps) return std::nullopt;
  const Pps& answer = *parsed.pps;
  if (answer.protocol != request.protocol) return std::nullopt;
  // Each optional byte is either echoed or absent, ISO 7816-3 9.3.
  if (answer.pps1 && answer.pps1 != request.pps1) return std::nullopt;
  if (answer.pps2 && answer.pps2 != request.pps2) return std::nullopt;
  if (answer.pps3 && answer.pps3 != request.pps3) return std::nullopt;
  return NegotiatedParameters{answer.protocol, answer.pps1.value_or(kDefaultFiDi)};
}

}  // namespace readerlab::cards
