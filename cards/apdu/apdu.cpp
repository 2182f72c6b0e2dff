#include "cards/apdu/apdu.h"

#include <algorithm>

namespace readerlab::cards {
namespace {
constexpr std::size_t kHeaderLength = 4;  // CLA INS P1 P2, ISO 7816-4 5.1
}  // namespace

std::optional<CommandApdu> parse_command_apdu(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderLength) return std::nullopt;
  CommandApdu apdu;
  apdu.cla = bytes[0];
  apdu.ins = bytes[1];
  apdu.p1 = bytes[2];
  apdu.p2 = bytes[3];
  const auto body = bytes.subspan(kHeaderLength);
  if (body.empty()) return apdu;  // case 1

  if (body.size() == 1) {  // case 2S: Le only
    apdu.ne = body[0] ? std::size_t{body[0]} : kShortMaxNe;
    return apdu;
  }
  if (body[0] != 0) {  // short Lc
    const std::size_t lc = body[0];
    if (body.size() != 1 + lc && body.size() != 2 + lc) return std::nullopt;
    apdu.data.assign(body.begin() + 1, body.begin() + 1 + static_cast<std::ptrdiff_t>(lc));
    if (body.size() == 2 + lc) {  // case 4S
      const std::uint8_t le = body.back();
      apdu.ne = le ? std::size_t{le} : kShortMaxNe;
    }
    return apdu;
  }

  // A first body byte of 00 with more bytes after it opens an extended field.
  if (body.size() < 3) return std::nullopt;
  apdu.extended = true;
  const std::size_t first_field = (std::size_t{body[1]} << 8) | body[2];
  if (body.size() == 3) {  // case 2E
    apdu.ne = first_field ? first_field : kExtendedMaxNe;
    return apdu;
  }
  const std::size_t lc = first_field;
  if (lc == 0) return std::nullopt;
  if (body.size() != 3 + lc && body.size() != 5 + lc) return std::nullopt;
  apdu.data.assign(body.begin() + 3, body.begin() + 3 + static_cast<std::ptrdiff_t>(lc));
  if (body.size() == 5 + lc) {  // case 4E
    const std::size_t le = (std::size_t{body[body.size() - 2]} << 8) | body.back();
    apdu.ne = le ? le : kExtendedMaxNe;
  }
  return apdu;
}

Bytes build_command_apdu(const CommandApdu& apdu) {
  Bytes bytes = {apdu.cla, apdu.ins, apdu.p1, apdu.p2};
  const std::size_t nc = std::min(apdu.data.size(), kExtendedMaxNc);
  const std::size_t ne = apdu.ne ? std::clamp<std::size_t>(*apdu.ne, 1, kExtendedMaxNe) : 0;
  const bool extended = apdu.extended || nc > kShortMaxNc || ne > kShortMaxNe;
  auto push16 = [&bytes](std::size_t value) {
    bytes.push_back(static_cast<std::uint8_t>((value >> 8) & 0xFF));
    bytes.push_back(static_cast<std::uint8_t>(value & 0xFF));
  };
  if (nc > 0) {
    if (extended) {
      bytes.push_back(0x00);
      push16(nc);
    } else {
      bytes.push_back(static_cast<std::uint8_t>(nc));
    }
    bytes.insert(bytes.end(), apdu.data.begin(), apdu.data.begin() + static_cast<std::ptrdiff_t>(nc));
  }
  if (apdu.ne) {
    if (extended) {
      if (nc == 0) bytes.push_back(0x00);  // case 2E: Le has its own leading 00
      push16(ne == kExtendedMaxNe ? 0 : ne);
    } else {
      bytes.push_back(static_cast<std::uint8_t>(ne == kShortMaxNe ? 0 : ne));
    }
  }
  return bytes;
}

Bytes status_only(std::uint16_t status_word) {
  return {static_cast<std::uint8_t>(status_word >> 8), static_cast<std::uint8_t>(status_word & 0xFF)};
}

Bytes with_status(Bytes data, std::uint16_t status_word) {
  data.push_back(static_cast<std::uint8_t>(status_word >> 8));
  data.push_back(static_cast<std::uint8_t>(status_word & 0xFF));
  return data;
}

std::uint16_t status_of(std::span<const std::uint8_t> response) {
  if (response.size() < 2) return 0;
  return static_cast<std::uint16_t>((response[response.size() - 2] << 8) | response.back());
}

}  // namespace readerlab::cards
