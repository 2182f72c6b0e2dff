// The T=1 block codec, ISO 7816-3 11.3: a block is a prologue (NAD, PCB, LEN), an
// information field of LEN bytes (0..254) and an epilogue holding the error detection code
// (LRC, 1 byte, or CRC, 2 bytes; ISO 7816-3 11.4.4 — the card's first TC for T=1 chooses).
//
// Three kinds of block share the frame (PCB coding, ISO 7816-3 11.3.2.2):
//   I-block  0 N(S) M 00000        carries application data; M = more data follows (chaining)
//   R-block  1 0 0 N(R) eeee       acknowledges a chained I-block or asks for a retransmission;
//                                  eeee = 0000 error free, 0001 EDC/parity error, 0010 other
//   S-block  1 1 r ttttt           supervisory; r = 1 for a response; ttttt = 00000 RESYNCH,
//                                  00001 IFS, 00010 ABORT, 00011 WTX, 00100 VPP error (response)
//
// The parser checks the frame (length, LEN, EDC) before the PCB, so a corrupted PCB shows up
// as an EDC error, the way a receiver sees it on the wire.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace readerlab::cards::t1 {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t kPrologueSize = 3;     // NAD PCB LEN, ISO 7816-3 11.3.1
inline constexpr std::size_t kMaxInfSize = 254;     // LEN 00..FE, ISO 7816-3 11.3.2.3
inline constexpr std::uint8_t kLenReserved = 0xFF;  // LEN FF is RFU, ISO 7816-3 11.3.2.3
inline constexpr std::uint8_t kDefaultIfs = 32;     // IFSC/IFSD before negotiation, ISO 7816-3 11.4.2

// Error detection code, ISO 7816-3 11.4.4. `crc_windows` is no ISO code: the CRC Windows'
// smclib computes instead of crc16 (see crc16_windows), for a card set to answer Windows the way
// Windows expects (a Lua card's `t1_crc = "windows"`); its ATR announces CRC like any other.
enum class EdcKind : std::uint8_t { lrc, crc, crc_windows };

std::size_t edc_size(EdcKind kind);

// Longitudinal redundancy check: the exclusive-or of every byte of prologue and INF.
std::uint8_t lrc(std::span<const std::uint8_t> bytes);

// The CRC of ISO 7816-3 11.4.4, which refers to ISO/IEC 13239: generator polynomial
// x^16 + x^12 + x^5 + 1, register preset to FFFF, bits taken least significant first (the
// order of the serial line), the transmitted value is the ones' complement of the register,
// low-order byte first. This is the frame check sequence also known as CRC-16/X-25; its
// check value over the ASCII digits "123456789" is 906E.
std::uint16_t crc16(std::span<const std::uint8_t> bytes);

// The CRC Windows 11's smclib.sys puts on T=1 blocks when the ATR announces CRC (measured; not
// ISO 7816-3): polynomial x^16 + x^15 + x^2 + 1 (8005) processed least significant bit first
// (A001), register preset 0000, no complement, sent high-order byte first. It is the
// catalogue's CRC-16/ARC, check value BB3D over "123456789".
std::uint16_t crc16_windows(std::span<const std::uint8_t> bytes);

enum class BlockKind : std::uint8_t { information, receive_ready, supervisory };

// R-block error bits b4..b1, ISO 7816-3 11.3.2.2.
enum class ReceiveError : std::uint8_t { none = 0, edc_or_parity = 1, other = 2 };

// S-block type bits b5..b1, ISO 7816-3 11.3.2.2.
enum class SupervisoryType : std::uint8_t {
  resynch = 0,
  ifs = 1,
  abort = 2,
  wtx = 3,
  vpp_error = 4  // response only, from a card; kept so the block parses (VPP is obsolete)
};

// A parsed block; `inf` points into the buffer given to parse_block.
struct BlockView {
  std::uint8_t nad = 0;
  std::uint8_t pcb = 0;
  std::span<const std::uint8_t> inf;

  BlockKind kind() const;
  // I-block: N(S), b7. R-block: N(R), b5.
  std::uint8_t sequence() const;
  // I-block: the more-data bit M, b6.
  bool more() const;
  ReceiveError receive_error() const;
  SupervisoryType supervisory_type() const;
  bool is_response() const;  // S-block b6
  // S(IFS) and S(WTX) carry one byte: the IFS or the waiting time multiplier.
  std::uint8_t parameter() const { return inf.empty() ? 0 : inf[0]; }
};

enum class BlockError : std::uint8_t {
  none,
  too_short,        // fewer bytes than prologue and epilogue
  length_mismatch,  // the byte count is not 3 + LEN + EDC size
  len_reserved,     // LEN = FF
  bad_edc,          // LRC or CRC does not match
  invalid_pcb,      // an RFU coding of PCB
  invalid_inf       // INF not allowed for this block type (R-block with INF, S(IFS) 00 or FF, ...)
};

std::string to_string(BlockError error);

struct BlockParseResult {
  BlockError error = BlockError::none;
  std::optional<BlockView> block;  // set exactly when error is none
};

BlockParseResult parse_block(std::span<const std::uint8_t> bytes, EdcKind edc);

// PCB builders.
std::uint8_t pcb_information(std::uint8_t send_sequence, bool more);
std::uint8_t pcb_receive_ready(std::uint8_t receive_sequence, ReceiveError error);
std::uint8_t pcb_supervisory(SupervisoryType type, bool response);

// Appends NAD PCB LEN INF EDC to `out` (cleared first). INF must hold at most 254 bytes.
void encode_block(Bytes& out, std::uint8_t nad, std::uint8_t pcb, std::span<const std::uint8_t> inf, EdcKind edc);
Bytes encode_block(std::uint8_t nad, std::uint8_t pcb, std::span<const std::uint8_t> inf, EdcKind edc);

Bytes make_i_block(std::uint8_t nad, std::uint8_t send_sequence, bool more, std::span<const std::uint8_t> inf,
                   EdcKind edc);
Bytes make_r_block(std::uint8_t nad, std::uint8_t receive_sequence, ReceiveError error, EdcKind edc);
// S(RESYNCH), S(ABORT), S(VPP error) carry no INF; S(IFS) and S(WTX) carry `parameter`.
Bytes make_s_block(std::uint8_t nad, SupervisoryType type, bool response, EdcKind edc, std::uint8_t parameter = 0);

// The NAD of an answer: source and destination addresses swapped, ISO 7816-3 11.3.2.1
// (SAD in b3..b1, DAD in b7..b5; b8 and b4 are 0).
std::uint8_t answer_nad(std::uint8_t nad);

// A short notation for logs and tests, as in ISO 7816-3 Annex A: "I(0,1)", "R(1)",
// "R(0,EDC)", "R(1,other)", "S(IFS request,254)", "S(RESYNCH response)".
std::string describe(const BlockView& block);
// Describes raw bytes: the parse error name when the bytes are no valid block.
std::string describe(std::span<const std::uint8_t> bytes, EdcKind edc);

}  // namespace readerlab::cards::t1
