// Answer-to-Reset: parse and build, ISO 7816-3 section 8.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace readerlab::cards {

enum class AtrError {
  none,
  empty,
  bad_ts,       // TS is neither 3B (direct) nor 3F (inverse), ISO 7816-3 8.1
  truncated,    // fewer bytes than T0/TDi announce
  too_long,     // more than 33 bytes, ISO 7816-3 8.2.1
  missing_tck,  // a protocol other than T=0 is indicated but TCK is absent
  wrong_tck,    // TCK does not make the XOR of T0..TCK zero, ISO 7816-3 8.2.5
  trailing_bytes,
  rfu_fi_di  // TA1 names an RFU Fi or Di value, ISO 7816-3 Tables 7 and 8
};

std::string to_string(AtrError error);

struct InterfaceGroup {  // the bytes TAi TBi TCi TDi of group i (i from 1)
  std::optional<std::uint8_t> ta, tb, tc, td;
};

struct Atr {
  bool inverse_convention = false;
  std::uint8_t t0 = 0;
  std::vector<InterfaceGroup> groups;
  std::vector<std::uint8_t> historical;
  std::optional<std::uint8_t> tck;

  // Derived values, with the ISO 7816-3 defaults where the ATR is silent.
  std::uint8_t fi_di() const;                  // TA1, default 0x11
  std::uint8_t extra_guard_time() const;       // TC1, default 0
  std::uint8_t waiting_integer() const;        // TC2 for T=0, default 10
  bool supports(std::uint8_t protocol) const;  // T=x indicated (T=0 when no TD1)
  std::uint8_t first_protocol() const;         // first offered protocol, T=0 by default
  bool specific_mode() const;                  // TA2 present
  std::uint8_t ifsc() const;                   // first TA for T=1 (i>2), default 32
  std::uint8_t bwi_cwi() const;                // first TB for T=1, default 0x4D
  bool uses_crc() const;                       // first TC for T=1 bit 1
};

struct AtrParseResult {
  std::optional<Atr> atr;
  AtrError error = AtrError::none;
  std::size_t offset = 0;  // byte offset where parsing failed
};

// `bytes` are the characters as the reader decoded them: TS is 3B (direct convention) or
// 3F (inverse convention) and every following byte already has its logical value. This is
// the form Card::reset returns and CCID/PC-SC report. On any error `atr` is empty and
// `offset` is the index of the offending byte (bytes.size() when bytes are missing).
AtrParseResult parse_atr(std::span<const std::uint8_t> bytes);

// Serialise back to bytes; TCK is computed when a non-T=0 protocol is indicated.
std::vector<std::uint8_t> build_atr(const Atr& atr);

// Clock rate conversion factor F of a 4-bit Fi code (ISO 7816-3 Table 7) and baud rate
// adjustment factor D of a 4-bit Di code (Table 8); 0 for an RFU code.
unsigned clock_rate_conversion_factor(std::uint8_t fi_code);
unsigned baud_rate_adjustment_factor(std::uint8_t di_code);

// A table a person can read, one line per field.
std::string describe_atr(const Atr& atr);

// The same table for raw bytes (what `readerlab atr <hex>` prints): the structure is shown
// whenever it could be read (also with a wrong or missing TCK), then the error and offset.
std::string describe_atr_bytes(std::span<const std::uint8_t> bytes);

}  // namespace readerlab::cards
