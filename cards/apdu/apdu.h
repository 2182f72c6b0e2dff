// Command and response APDUs, ISO 7816-4 section 5.1: the codec shared by the card, the T=0
// transport and the readers, with the status words the cards answer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "cards/card.h"

namespace readerlab::cards {

// A command APDU split per ISO 7816-4 5.1 (Table 1 cases). Also useful to a transport that
// needs the case of an APDU (T=0 maps cases 2 and 4 to GET RESPONSE exchanges).
struct CommandApdu {
  std::uint8_t cla = 0, ins = 0, p1 = 0, p2 = 0;
  Bytes data;                     // Nc bytes; empty when there is no Lc field
  std::optional<std::size_t> ne;  // absent without Le; short 00 = 256, extended 0000 = 65536
  bool extended = false;          // Lc/Le used the extended (3-byte / 2-byte) encoding
  int apdu_case() const { return data.empty() ? (ne ? 2 : 1) : (ne ? 4 : 3); }
};

// nullopt when the bytes are no valid APDU: fewer than 4 bytes, Lc not matching the body,
// extended Lc of 0, or a body of 2 bytes starting with 00. The card answers those with 6700.
std::optional<CommandApdu> parse_command_apdu(std::span<const std::uint8_t> bytes);

// The bytes of `apdu`: the short encoding when Nc <= 255 and Ne <= 256 unless `extended`
// asks otherwise, else the extended one. Nc above 65535 or Ne above 65536 are clamped.
Bytes build_command_apdu(const CommandApdu& apdu);

constexpr std::size_t kShortMaxNc = 255;       // ISO 7816-4 5.1
constexpr std::size_t kShortMaxNe = 256;       // short Le=00, ISO 7816-4 5.1
constexpr std::size_t kExtendedMaxNc = 65535;  // ISO 7816-4 5.1
constexpr std::size_t kExtendedMaxNe = 65536;  // extended Le=0000, ISO 7816-4 5.1

// Status words, ISO 7816-4 5.1.3 (Tables 5 and 6).
namespace sw {
constexpr std::uint16_t ok = 0x9000;
constexpr std::uint16_t bytes_remaining = 0x6100;      // 61xx: xx bytes still available
constexpr std::uint16_t end_reached_early = 0x6282;    // end of file/record before Ne bytes
constexpr std::uint16_t verification_failed = 0x63C0;  // 63Cx: x further tries allowed
constexpr std::uint16_t wrong_length = 0x6700;
constexpr std::uint16_t logical_channel_unsupported = 0x6881;
constexpr std::uint16_t secure_messaging_unsupported = 0x6882;
constexpr std::uint16_t chaining_unsupported = 0x6884;
constexpr std::uint16_t incompatible_file_structure = 0x6981;
constexpr std::uint16_t security_not_satisfied = 0x6982;
constexpr std::uint16_t authentication_blocked = 0x6983;
constexpr std::uint16_t conditions_not_satisfied = 0x6985;
constexpr std::uint16_t no_current_ef = 0x6986;
constexpr std::uint16_t wrong_data = 0x6A80;
constexpr std::uint16_t function_unsupported = 0x6A81;
constexpr std::uint16_t file_not_found = 0x6A82;
constexpr std::uint16_t record_not_found = 0x6A83;
constexpr std::uint16_t not_enough_memory = 0x6A84;
constexpr std::uint16_t incorrect_p1_p2 = 0x6A86;
constexpr std::uint16_t referenced_data_not_found = 0x6A88;
constexpr std::uint16_t offset_outside_ef = 0x6B00;
constexpr std::uint16_t exact_length = 0x6C00;  // 6Cxx: wrong Le, xx bytes available
constexpr std::uint16_t ins_not_supported = 0x6D00;
constexpr std::uint16_t cla_not_supported = 0x6E00;
}  // namespace sw

// SW1 SW2 alone, and data followed by SW1 SW2.
Bytes status_only(std::uint16_t status_word);
Bytes with_status(Bytes data, std::uint16_t status_word);
// The last two bytes of a response as one number; 0 when there are fewer than two.
std::uint16_t status_of(std::span<const std::uint8_t> response);

}  // namespace readerlab::cards
