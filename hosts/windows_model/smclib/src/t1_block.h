// The smclib model's own T=1 block codec (ISO 7816-3 11.3): what SmartcardT1Request writes and
// SmartcardT1Reply checks. It shares no code with the card side (cards/t1/block.h) on purpose:
// the host model computes what Windows' smclib computes, and a bug on either side must show up
// as a disagreement between the two instead of agreeing with itself.
//
// A block: prologue NAD PCB LEN (11.3.1), LEN bytes of INF (0..254), epilogue EDC of one byte
// (LRC) or two (CRC), chosen by the card's first TC for T=1 (11.4.4). PCB coding (11.3.2.2):
//   I-block  0 N(S) M 0 0000          R-block  1 0 0 N(R) eeee         S-block  1 1 r ttttt
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace readerlab::smclib::t1_block {

inline constexpr std::size_t kPrologueLength = 3;  // NAD PCB LEN, ISO 7816-3 11.3.1
inline constexpr std::size_t kMaxInfLength = 254;  // LEN 00..FE, ISO 7816-3 11.3.2.3

// Error detection code, ISO 7816-3 11.4.4.
enum class Edc : std::uint8_t { lrc, crc };
std::size_t edc_length(Edc edc);

// LRC: exclusive-or of prologue and INF, ISO 7816-3 11.4.4.
std::uint8_t lrc(std::span<const std::uint8_t> covered);
// CRC as Windows 11's smclib computes it (issue 10 rule 17), not the ISO/IEC 13239 frame check
// sequence that ISO 7816-3 11.4.4 names: CRC-16 with the polynomial 0x8005 taken reflected
// (0xA001), register preset 0, no final exclusive-or; write_block sends it high byte first.
// A card computing the ISO CRC therefore fails against the model, as it does against Windows.
std::uint16_t crc(std::span<const std::uint8_t> covered);

// Writes NAD PCB LEN INF EDC at `out`; the caller has checked that out holds
// kPrologueLength + inf.size() + edc_length(edc) bytes and inf.size() <= kMaxInfLength.
// Returns the number of bytes written.
std::size_t write_block(std::uint8_t* out, std::uint8_t nad, std::uint8_t pcb, std::span<const std::uint8_t> inf,
                        Edc edc);

enum class BlockKind : std::uint8_t { information, receive_ready, supervisory };
BlockKind kind_of(std::uint8_t pcb);

// What the receiver makes of a block: usable, an EDC error (R-block error 1, "EDC or parity
// error") or any other fault of the frame or its coding (R-block error 2, "other error"),
// ISO 7816-3 11.3.2.2 and 11.6.3.
enum class Verdict : std::uint8_t { usable, edc_error, other_error };

struct ReceivedBlock {
  Verdict verdict = Verdict::other_error;
  std::uint8_t nad = 0;
  std::uint8_t pcb = 0;
  std::span<const std::uint8_t> inf;  // into the bytes given to check_block
  // The byte after LEN: the first INF byte, or the first EDC byte when LEN is 0. Windows takes
  // the parameter of the card's S(IFS request) and S(WTX request) from here (rule 19).
  std::uint8_t first_inf_byte = 0;
};

// Checks the frame first (size, LEN, EDC), then the PCB and the INF its kind allows, so a PCB
// damaged on the line shows up as an EDC error as a receiver sees it. The card's S(IFS
// request) and S(WTX request) may have any LEN (Windows does not check it, rule 19); the IFS
// they announce (first_inf_byte) must still be 01..FE.
ReceivedBlock check_block(std::span<const std::uint8_t> bytes, Edc edc);

}  // namespace readerlab::smclib::t1_block
