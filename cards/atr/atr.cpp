// Answer-to-Reset parser, builder and pretty printer, ISO 7816-3 section 8.
//
// Input convention: parse_atr receives the characters as the reader decoded them. TS is
// therefore 3B for a direct-convention card and 3F for an inverse-convention card, and
// every byte after TS is already converted to its logical value (a reader that saw the
// inverse-convention pattern on the line decodes the rest with inverted, MSB-first bits).
// This is what a CCID reader reports in RDR_to_PC_DataBlock and what PC/SC returns, so the
// same bytes travel unchanged from the card model up to the driver under test.
#include "cards/atr/atr.h"

#include <algorithm>
#include <array>
#include <sstream>

#include "base/bytes.h"

namespace readerlab::cards {
namespace {

constexpr std::uint8_t kDirectConventionTs = 0x3B;   // ISO 7816-3 8.1
constexpr std::uint8_t kInverseConventionTs = 0x3F;  // ISO 7816-3 8.1 (value after decoding)
constexpr std::size_t kMaxAtrLength = 33;            // TS + at most 32 characters, ISO 7816-3 8.2.1
constexpr std::size_t kMaxHistoricalBytes = 15;      // K is a 4-bit count, ISO 7816-3 8.2.2

constexpr std::uint8_t kPresenceTa = 0x10;  // bit 5 of T0 / TDi: TA(i+1) present, ISO 7816-3 8.2.3
constexpr std::uint8_t kPresenceTb = 0x20;  // bit 6: TB(i+1) present, ISO 7816-3 8.2.3
constexpr std::uint8_t kPresenceTc = 0x40;  // bit 7: TC(i+1) present, ISO 7816-3 8.2.3
constexpr std::uint8_t kPresenceTd = 0x80;  // bit 8: TD(i+1) present, ISO 7816-3 8.2.3

constexpr std::uint8_t kGlobalProtocol = 15;  // T=15 qualifies global bytes, ISO 7816-3 8.2.3

constexpr std::uint8_t kDefaultFiDi = 0x11;          // Fd=372, Dd=1, ISO 7816-3 8.3
constexpr std::uint8_t kDefaultWaitingInteger = 10;  // WI default, ISO 7816-3 10.2
constexpr std::uint8_t kDefaultIfsc = 32;            // IFSC default, ISO 7816-3 11.4.2
constexpr std::uint8_t kDefaultBwiCwi = 0x4D;        // BWI=4, CWI=13, ISO 7816-3 11.4.3
constexpr std::uint8_t kEdcCrcBit = 0x01;            // first TC for T=1 bit 1, ISO 7816-3 11.4.4

// Clock rate conversion factor Fi and maximum frequency, ISO 7816-3 Table 7 (0 = RFU).
constexpr std::array<unsigned, 16> kFiTable = {372, 372, 558, 744,  1116, 1488, 1860, 0,
                                               0,   512, 768, 1024, 1536, 2048, 0,    0};
constexpr std::array<const char*, 16> kFmaxMhzTable = {"4", "5", "6",   "8",  "12", "16", "20", "",
                                                       "",  "5", "7.5", "10", "15", "20", "",   ""};
// Baud rate adjustment factor Di, ISO 7816-3 Table 8 (0 = RFU).
constexpr std::array<unsigned, 16> kDiTable = {0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0};

std::uint8_t protocol_of(std::uint8_t td) { return static_cast<std::uint8_t>(td & 0x0F); }

bool fi_di_is_rfu(std::uint8_t ta1) { return kFiTable[ta1 >> 4] == 0 || kDiTable[ta1 & 0x0F] == 0; }

std::uint8_t presence_bits(const InterfaceGroup& group) {
  std::uint8_t bits = 0;
  if (group.ta) bits |= kPresenceTa;
  if (group.tb) bits |= kPresenceTb;
  if (group.tc) bits |= kPresenceTc;
  if (group.td) bits |= kPresenceTd;
  return bits;
}

// TCK is present when anything but T=0 is indicated in some TDi, ISO 7816-3 8.2.5.
bool tck_required(const std::vector<InterfaceGroup>& groups) {
  for (const auto& group : groups) {
    if (group.td && protocol_of(*group.td) != 0) return true;
  }
  return false;
}

// Bytes of group i (index from 0 = group 1) are specific to the protocol named by TD(i-1);
// groups 1 and 2 are global, so this only has meaning for index >= 2.
std::optional<std::uint8_t> protocol_of_group(const std::vector<InterfaceGroup>& groups, std::size_t index) {
  if (index == 0 || index > groups.size() || !groups[index - 1].td) return std::nullopt;
  return protocol_of(*groups[index - 1].td);
}

// The first group (i > 2) whose bytes are specific to `protocol`, ISO 7816-3 8.2.3.
const InterfaceGroup* first_specific_group(const std::vector<InterfaceGroup>& groups, std::uint8_t protocol) {
  for (std::size_t index = 2; index < groups.size(); ++index) {
    if (protocol_of_group(groups, index) == protocol) return &groups[index];
  }
  return nullptr;
}

// Shared by parse_atr and describe_atr_bytes; the latter wants the structure even when only
// the check byte is wrong, so a person can see what the card sent.
struct ParseOutcome {
  AtrParseResult result;
  std::optional<Atr> structure;  // filled whenever every byte up to TCK was well formed
};

// The characters after TS, one at a time. Length is checked before availability: a structure
// that cannot fit in 33 bytes is the more useful diagnosis than "truncated" when both apply at
// the same offset.
class AtrCursor {
 public:
  explicit AtrCursor(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  AtrError next(std::uint8_t& value) {
    if (position_ >= kMaxAtrLength) return AtrError::too_long;
    if (position_ >= bytes_.size()) return AtrError::truncated;
    value = bytes_[position_++];
    return AtrError::none;
  }
  std::size_t position() const { return position_; }
  std::span<const std::uint8_t> bytes() const { return bytes_; }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t position_ = 1;  // after TS
};

// Where reading stopped and why; `error` none when it did not.
struct AtrStop {
  AtrError error = AtrError::none;
  std::size_t offset = 0;
};

// One group TAi TBi TCi TDi as `indicator` (T0 or the previous TD) announces it, ISO 7816-3 8.2.3.
AtrStop read_group(AtrCursor& cursor, std::uint8_t indicator, std::size_t group_number, InterfaceGroup& group) {
  std::uint8_t value = 0;
  if (indicator & kPresenceTa) {
    const std::size_t offset = cursor.position();
    if (auto error = cursor.next(value); error != AtrError::none) return {error, cursor.position()};
    if (group_number == 1 && fi_di_is_rfu(value)) return {AtrError::rfu_fi_di, offset};
    group.ta = value;
  }
  if (indicator & kPresenceTb) {
    if (auto error = cursor.next(value); error != AtrError::none) return {error, cursor.position()};
    group.tb = value;
  }
  if (indicator & kPresenceTc) {
    if (auto error = cursor.next(value); error != AtrError::none) return {error, cursor.position()};
    group.tc = value;
  }
  if (indicator & kPresenceTd) {
    if (auto error = cursor.next(value); error != AtrError::none) return {error, cursor.position()};
    group.td = value;
  }
  return {};
}

// T0, the interface groups and the historical bytes.
AtrStop read_body(AtrCursor& cursor, Atr& atr) {
  std::uint8_t indicator = 0;
  if (auto error = cursor.next(indicator); error != AtrError::none) return {error, cursor.position()};
  atr.t0 = indicator;
  // Each indicator (T0, then TDi) announces the next group by its high nibble.
  bool more_groups = true;
  while (more_groups) {
    InterfaceGroup group;
    if (auto stop = read_group(cursor, indicator, atr.groups.size() + 1, group); stop.error != AtrError::none) {
      return stop;
    }
    more_groups = group.td.has_value();
    if (group.td) indicator = *group.td;
    // T0 or a TDi announcing no further bytes leaves an empty group: it is not kept, so
    // `groups` lists exactly the groups that carry bytes.
    if (group.ta || group.tb || group.tc || group.td) atr.groups.push_back(group);
  }
  const std::size_t historical_count = atr.t0 & 0x0F;
  for (std::size_t i = 0; i < historical_count; ++i) {
    std::uint8_t value = 0;
    if (auto error = cursor.next(value); error != AtrError::none) return {error, cursor.position()};
    atr.historical.push_back(value);
  }
  return {};
}

// TCK when a protocol other than T=0 is indicated (ISO 7816-3 8.2.5); `outcome.structure` is
// set once everything before TCK was read.
AtrStop read_tck(AtrCursor& cursor, Atr& atr, ParseOutcome& outcome) {
  if (!tck_required(atr.groups)) {
    outcome.structure = atr;
    return {};
  }
  if (cursor.position() >= kMaxAtrLength) return {AtrError::too_long, cursor.position()};
  if (cursor.position() >= cursor.bytes().size()) {
    outcome.structure = atr;
    return {AtrError::missing_tck, cursor.position()};
  }
  const std::size_t tck_offset = cursor.position();
  std::uint8_t tck = 0;
  (void)cursor.next(tck);
  atr.tck = tck;
  outcome.structure = atr;
  std::uint8_t check = 0;
  for (std::size_t i = 1; i < cursor.position(); ++i) check ^= cursor.bytes()[i];  // T0..TCK, ISO 7816-3 8.2.5
  if (check != 0) return {AtrError::wrong_tck, tck_offset};
  return {};
}

ParseOutcome parse_structure(std::span<const std::uint8_t> bytes) {
  ParseOutcome outcome;
  auto fail = [&](AtrStop stop) {
    outcome.result.error = stop.error;
    outcome.result.offset = stop.offset;
    return outcome;
  };
  if (bytes.empty()) return fail({AtrError::empty, 0});
  if (bytes[0] != kDirectConventionTs && bytes[0] != kInverseConventionTs) return fail({AtrError::bad_ts, 0});

  Atr atr;
  atr.inverse_convention = bytes[0] == kInverseConventionTs;
  AtrCursor cursor(bytes);
  if (auto stop = read_body(cursor, atr); stop.error != AtrError::none) return fail(stop);
  if (auto stop = read_tck(cursor, atr, outcome); stop.error != AtrError::none) return fail(stop);
  if (cursor.position() < bytes.size()) return fail({AtrError::trailing_bytes, cursor.position()});

  outcome.result.atr = std::move(atr);
  return outcome;
}

std::string describe_fi_di(std::uint8_t ta1) {
  const unsigned fi = kFiTable[ta1 >> 4];
  const unsigned di = kDiTable[ta1 & 0x0F];
  std::string text = "Fi=" + (fi ? std::to_string(fi) : std::string("RFU"));
  if (fi) text += std::string(" (f max ") + kFmaxMhzTable[ta1 >> 4] + " MHz)";
  text += ", Di=" + (di ? std::to_string(di) : std::string("RFU"));
  if (fi && di) {
    // One ETU lasts Fi/Di clock cycles, ISO 7816-3 7.1; show it when it is an integer.
    if (fi % di == 0) {
      text += ", " + std::to_string(fi / di) + " cycles/ETU";
    } else {
      text += ", " + std::to_string(fi) + "/" + std::to_string(di) + " cycles/ETU";
    }
  }
  return text;
}

std::string describe_indicator(std::uint8_t indicator, std::size_t next_group) {
  std::string present;
  const char* names[] = {"TA", "TB", "TC", "TD"};
  for (int bit = 0; bit < 4; ++bit) {
    if (indicator & (0x10 << bit)) {
      if (!present.empty()) present += ' ';
      present += names[bit] + std::to_string(next_group);
    }
  }
  return present.empty() ? "none" : present;
}

std::string describe_specific_mode(std::uint8_t ta2) {
  // ISO 7816-3 8.3: bit 8 capability to change mode, bit 5 implicit parameters, b4-b1 = T.
  std::string text = "specific mode, T=" + std::to_string(protocol_of(ta2));
  text += (ta2 & 0x80) ? ", unable to change to negotiable mode" : ", able to change to negotiable mode";
  text += (ta2 & 0x10) ? ", implicit Fi/Di" : ", Fi/Di as in TA1";
  return text;
}

std::string describe_clock_stop_class(std::uint8_t ta) {
  // ISO 7816-3 8.3: b8-b7 clock stop indicator X, b6-b1 class indicator Y.
  static const char* clock_stop[] = {"clock stop not supported", "clock stop in state L", "clock stop in state H",
                                     "clock stop, no preference"};
  std::string text = clock_stop[ta >> 6];
  text += ", classes:";
  if (ta & 0x01) text += " A (5 V)";
  if (ta & 0x02) text += " B (3 V)";
  if (ta & 0x04) text += " C (1.8 V)";
  if ((ta & 0x07) == 0) text += " none indicated";
  return text;
}

std::string describe_specific_byte(char kind, std::uint8_t value, std::uint8_t protocol, bool first_for_protocol) {
  if (protocol == 1 && first_for_protocol) {
    switch (kind) {
      case 'A':
        if (value == 0x00 || value == 0xFF) return "T=1 IFSC " + std::to_string(value) + " (RFU)";
        return "T=1 IFSC " + std::to_string(value) + " bytes";
      case 'B': return "T=1 BWI=" + std::to_string(value >> 4) + " CWI=" + std::to_string(value & 0x0F);
      case 'C': return std::string("T=1 error detection: ") + ((value & kEdcCrcBit) ? "CRC" : "LRC");
      default: break;
    }
  }
  if (protocol == kGlobalProtocol && first_for_protocol) {
    if (kind == 'A') return "T=15 " + describe_clock_stop_class(value);
    if (kind == 'B') return "T=15 SPU (standard or proprietary use of C6)";
  }
  return "specific to T=" + std::to_string(protocol);
}

std::string printable(std::span<const std::uint8_t> bytes) {
  std::string text;
  for (auto byte : bytes) text += (byte >= 0x20 && byte < 0x7F) ? static_cast<char>(byte) : '.';
  return text;
}

std::string describe_historical_category(const std::vector<std::uint8_t>& historical) {
  if (historical.empty()) return {};
  // Category indicator byte, ISO 7816-4 8.1.1.
  switch (historical[0]) {
    case 0x00: return "category 00: COMPACT-TLV objects, status indicator in the last 3 bytes";
    case 0x10: return "category 10: DIR data reference";
    case 0x80: return "category 80: COMPACT-TLV objects";
    default: return (historical[0] >= 0x81 && historical[0] <= 0x8F) ? "category RFU" : "proprietary format";
  }
}

}  // namespace

unsigned clock_rate_conversion_factor(std::uint8_t fi_code) { return kFiTable[fi_code & 0x0F]; }
unsigned baud_rate_adjustment_factor(std::uint8_t di_code) { return kDiTable[di_code & 0x0F]; }

std::string to_string(AtrError error) {
  switch (error) {
    case AtrError::none: return "no error";
    case AtrError::empty: return "empty ATR";
    case AtrError::bad_ts: return "TS is neither 3B (direct) nor 3F (inverse convention)";
    case AtrError::truncated: return "ATR truncated: fewer bytes than T0/TDi announce";
    case AtrError::too_long: return "ATR longer than 33 bytes";
    case AtrError::missing_tck: return "TCK missing although a protocol other than T=0 is indicated";
    case AtrError::wrong_tck: return "TCK wrong: XOR of T0..TCK is not zero";
    case AtrError::trailing_bytes: return "trailing bytes after the end of the ATR";
    case AtrError::rfu_fi_di: return "TA1 names a reserved (RFU) Fi or Di value";
  }
  return "unknown ATR error";
}

std::uint8_t Atr::fi_di() const { return (!groups.empty() && groups[0].ta) ? *groups[0].ta : kDefaultFiDi; }

std::uint8_t Atr::extra_guard_time() const { return (!groups.empty() && groups[0].tc) ? *groups[0].tc : 0; }

std::uint8_t Atr::waiting_integer() const {
  return (groups.size() >= 2 && groups[1].tc) ? *groups[1].tc : kDefaultWaitingInteger;
}

bool Atr::supports(std::uint8_t protocol) const {
  bool any_td = false;
  for (const auto& group : groups) {
    if (!group.td) continue;
    any_td = true;
    if (protocol_of(*group.td) == protocol) return true;
  }
  return !any_td && protocol == 0;  // no TD1 means T=0 only, ISO 7816-3 8.2.3
}

std::uint8_t Atr::first_protocol() const {
  for (const auto& group : groups) {
    if (group.td && protocol_of(*group.td) != kGlobalProtocol) return protocol_of(*group.td);
  }
  return 0;
}

bool Atr::specific_mode() const { return groups.size() >= 2 && groups[1].ta.has_value(); }

std::uint8_t Atr::ifsc() const {
  const auto* group = first_specific_group(groups, 1);
  return (group && group->ta) ? *group->ta : kDefaultIfsc;
}

std::uint8_t Atr::bwi_cwi() const {
  const auto* group = first_specific_group(groups, 1);
  return (group && group->tb) ? *group->tb : kDefaultBwiCwi;
}

bool Atr::uses_crc() const {
  const auto* group = first_specific_group(groups, 1);
  return group && group->tc && (*group->tc & kEdcCrcBit) != 0;
}

AtrParseResult parse_atr(std::span<const std::uint8_t> bytes) { return parse_structure(bytes).result; }

std::vector<std::uint8_t> build_atr(const Atr& atr) {
  std::vector<std::uint8_t> bytes;
  bytes.push_back(atr.inverse_convention ? kInverseConventionTs : kDirectConventionTs);

  // The presence nibbles of T0 and TDi are recomputed from the bytes actually present, so an
  // Atr edited field by field still serialises consistently. A group only follows a TD.
  const std::size_t historical_count = std::min(atr.historical.size(), kMaxHistoricalBytes);
  std::vector<InterfaceGroup> groups;
  for (const auto& group : atr.groups) {
    groups.push_back(group);
    if (!group.td) break;
  }
  // A trailing TD announcing nothing more is kept: it names a protocol.
  const std::uint8_t first_presence = groups.empty() ? 0 : presence_bits(groups[0]);
  bytes.push_back(static_cast<std::uint8_t>(first_presence | historical_count));
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const auto& group = groups[i];
    if (group.ta) bytes.push_back(*group.ta);
    if (group.tb) bytes.push_back(*group.tb);
    if (group.tc) bytes.push_back(*group.tc);
    if (group.td) {
      const std::uint8_t next_presence = (i + 1 < groups.size()) ? presence_bits(groups[i + 1]) : 0;
      bytes.push_back(static_cast<std::uint8_t>(next_presence | protocol_of(*group.td)));
    }
  }
  bytes.insert(bytes.end(), atr.historical.begin(),
               atr.historical.begin() + static_cast<std::ptrdiff_t>(historical_count));
  if (tck_required(groups)) {
    std::uint8_t check = 0;
    for (std::size_t i = 1; i < bytes.size(); ++i) check ^= bytes[i];  // ISO 7816-3 8.2.5
    bytes.push_back(check);
  }
  return bytes;
}

namespace {

// The table describe_atr prints: a field name, its byte (blank for a summary line), a meaning.
class AtrTable {
 public:
  void line(const std::string& field, std::optional<std::uint8_t> value, const std::string& meaning) {
    std::string label = field;
    label.resize(6, ' ');
    out_ << label << (value ? hex_byte(*value) : std::string("  ")) << "  " << meaning << '\n';
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

// Where group `index` (0 = group 1) sits: groups 1 and 2 are global, later ones are specific
// to the protocol their TD names (ISO 7816-3 8.2.3).
struct GroupPlace {
  std::size_t index = 0;
  std::optional<std::uint8_t> protocol;
  bool first_for_protocol = false;
};

std::string describe_ta(const GroupPlace& place, std::uint8_t ta) {
  if (place.index == 0) return describe_fi_di(ta);
  if (place.index == 1) return describe_specific_mode(ta);
  return describe_specific_byte('A', ta, *place.protocol, place.first_for_protocol);
}

std::string describe_tb(const GroupPlace& place, std::uint8_t tb) {
  if (place.index <= 1) return "deprecated programming voltage byte, ignored (ISO 7816-3 8.3)";
  return describe_specific_byte('B', tb, *place.protocol, place.first_for_protocol);
}

std::string describe_tc(const GroupPlace& place, std::uint8_t tc) {
  if (place.index == 0) {
    return "extra guard time N=" + std::to_string(tc) +
           (tc == 0xFF ? " (minimum guard time: 12 ETU for T=0, 11 ETU for T=1)" : " ETU");
  }
  if (place.index == 1) return "WI=" + std::to_string(tc) + " (T=0 work waiting time)";
  return describe_specific_byte('C', tc, *place.protocol, place.first_for_protocol);
}

std::string describe_td(const GroupPlace& place, std::uint8_t td) {
  std::string meaning = "T=" + std::to_string(protocol_of(td)) + "; Y" + std::to_string(place.index + 2) + ": " +
                        describe_indicator(td, place.index + 2);
  if (place.index == 0 && protocol_of(td) == kGlobalProtocol) meaning += " (T=15 is invalid in TD1)";
  return meaning;
}

void describe_group(AtrTable& table, const std::vector<InterfaceGroup>& groups, std::size_t index) {
  const auto& group = groups[index];
  const std::string number = std::to_string(index + 1);
  GroupPlace place{index, protocol_of_group(groups, index), false};
  place.first_for_protocol = place.protocol && first_specific_group(groups, *place.protocol) == &group;
  if (group.ta) table.line("TA" + number, group.ta, describe_ta(place, *group.ta));
  if (group.tb) table.line("TB" + number, group.tb, describe_tb(place, *group.tb));
  if (group.tc) table.line("TC" + number, group.tc, describe_tc(place, *group.tc));
  if (group.td) table.line("TD" + number, group.td, describe_td(place, *group.td));
}

std::string describe_protocols(const Atr& atr) {
  std::string protocols;
  for (std::uint8_t protocol = 0; protocol < kGlobalProtocol; ++protocol) {
    if (atr.supports(protocol)) protocols += (protocols.empty() ? "T=" : ", T=") + std::to_string(protocol);
  }
  return (protocols.empty() ? std::string("none") : protocols) +
         (atr.specific_mode() ? " (specific mode)" : " (negotiable mode)");
}

std::string describe_historical(const std::vector<std::uint8_t>& historical) {
  if (historical.empty()) return "none";
  return to_hex(historical, " ") + "  \"" + printable(historical) + "\"  " + describe_historical_category(historical);
}

std::string describe_tck(const Atr& atr) {
  const bool required = tck_required(atr.groups);
  if (!atr.tck) {
    return required ? "missing (required: a protocol other than T=0 is indicated)" : "absent (only T=0 indicated)";
  }
  if (!required) return "present although only T=0 is indicated (should be absent)";
  // Recompute over the bytes as they serialise, excluding the stored TCK.
  Atr without_tck = atr;
  without_tck.tck.reset();
  const auto bytes = build_atr(without_tck);  // ends with the correct TCK when required
  if (*atr.tck == bytes.back()) return "ok";
  return "wrong (expected " + hex_byte(bytes.back()) + ")";
}

}  // namespace

std::string describe_atr(const Atr& atr) {
  AtrTable table;
  table.line("TS", atr.inverse_convention ? kInverseConventionTs : kDirectConventionTs,
             atr.inverse_convention ? "inverse convention" : "direct convention");
  table.line("T0", atr.t0,
             "Y1: " + describe_indicator(atr.t0, 1) + "; K=" + std::to_string(atr.t0 & 0x0F) + " historical bytes");
  for (std::size_t index = 0; index < atr.groups.size(); ++index) describe_group(table, atr.groups, index);
  table.line("Proto", std::nullopt, describe_protocols(atr));
  table.line("Hist", std::nullopt, describe_historical(atr.historical));
  table.line("TCK", atr.tck, describe_tck(atr));
  return table.text();
}

std::string describe_atr_bytes(std::span<const std::uint8_t> bytes) {
  auto outcome = parse_structure(bytes);
  std::string text = "ATR   " + to_hex(bytes, " ") + '\n';
  if (outcome.structure) text += describe_atr(*outcome.structure);
  if (outcome.result.error != AtrError::none) {
    text += "error at offset " + std::to_string(outcome.result.offset) + ": " + to_string(outcome.result.error) + '\n';
  }
  return text;
}

}  // namespace readerlab::cards
