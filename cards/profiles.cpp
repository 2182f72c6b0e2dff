#include "cards/profiles.h"

#include "base/bytes.h"
#include "cards/atr/atr.h"
#include "cards/lua/lua_card.h"

#include <algorithm>
#include <sstream>

namespace readerlab::cards {
namespace {

// F0 is a proprietary, unregistered RID category, ISO 7816-5 5.2; then "readerlab" and a
// number. The three share the prefix F0 72 65 61 64 so SELECT by DF name "next occurrence"
// walks through them.
const Bytes kReaderlabAid = {0xF0, 0x72, 0x65, 0x61, 0x64, 0x65, 0x72, 0x6C, 0x61, 0x62, 0x01};
const Bytes kRecordsAid = {0xF0, 0x72, 0x65, 0x61, 0x64, 0x65, 0x72, 0x6C, 0x61, 0x62, 0x02};
const Bytes kNestedAid = {0xF0, 0x72, 0x65, 0x61, 0x64, 0x65, 0x72, 0x6C, 0x61, 0x62, 0x03};

constexpr std::uint16_t kTagCardProductionLifeCycle = 0x9F7F;  // as GET DATA P1-P2
constexpr std::uint16_t kTagHistoricalBytes = 0x5F52;          // ISO 7816-4 8.1.1

Bytes ascii(std::string_view text) { return Bytes(text.begin(), text.end()); }

// Historical bytes as the ATR carries them: everything after interface bytes, before TCK.
Bytes historical_of(const Bytes& atr, std::size_t first_historical) {
  const std::size_t count = atr[1] & 0x0F;
  return Bytes(atr.begin() + static_cast<std::ptrdiff_t>(first_historical),
               atr.begin() + static_cast<std::ptrdiff_t>(first_historical + count));
}

ElementaryFile transparent(std::uint16_t fid, Bytes contents, std::optional<std::uint8_t> sfi) {
  ElementaryFile file;
  file.fid = fid;
  file.contents = std::move(contents);
  file.sfi = sfi;
  return file;
}

ElementaryFile record_file(std::uint16_t fid, std::uint8_t sfi, FileStructure structure, std::size_t record_size,
                           std::size_t max_records, std::vector<Bytes> records) {
  ElementaryFile file;
  file.fid = fid;
  file.sfi = sfi;
  file.structure = structure;
  file.record_size = record_size;
  file.max_records = max_records;
  file.records = std::move(records);
  return file;
}

Bytes counting(std::size_t size, std::size_t multiplier = 1) {
  Bytes bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(i * multiplier);
  return bytes;
}

// The tree every readerlab file-system card carries, so a test can run the same APDUs over
// T=0 and T=1:
//   MF 3F00
//   ├─ EF 0101 transparent, 256 bytes (byte i holds i), SFI 1
//   ├─ EF 0102 transparent, 16 bytes, SFI 2, UPDATE needs the PIN
//   ├─ DF "readerlab" (AID ..01, no FID)
//   └─ DF 5000 (AID ..02, "records")
//      ├─ EF 5001 linear fixed, 4 records of 8 bytes, SFI 1
//      ├─ EF 5002 linear variable, up to 5 records of up to 32 bytes, SFI 2
//      ├─ EF 5003 cyclic, 3 records of 4 bytes, SFI 3, UPDATE/APPEND need the PIN
//      └─ DF 5100 (AID ..03, "nested")
//         └─ EF 5101 transparent, 8 bytes, SFI 1, READ needs the PIN
// PIN "1234" (reference 80, 3 tries), PUK "12345678" (reference 81, 10 tries).
CardProfile file_system_card(std::string name, std::string description, Bytes atr, std::size_t first_historical,
                             std::vector<Protocol> protocols, std::uint64_t challenge_seed) {
  CardProfile profile;
  profile.name = std::move(name);
  profile.description = std::move(description);
  profile.atr = std::move(atr);
  profile.protocols = std::move(protocols);

  CardApplication readerlab;
  readerlab.aid = kReaderlabAid;
  readerlab.label = "readerlab";
  readerlab.fci_proprietary = {0x87, 0x01, 0x01};  // application priority indicator 1 (EMV usage)
  profile.applications.push_back(readerlab);

  CardApplication nested;
  nested.aid = kNestedAid;
  nested.label = "nested";
  nested.fid = 0x5100;
  auto secret_file = transparent(0x5101, ascii("secret!!"), 1);
  secret_file.read_needs_pin = true;
  nested.files.push_back(secret_file);

  CardApplication records;
  records.aid = kRecordsAid;
  records.label = "records";
  records.fid = 0x5000;
  std::vector<Bytes> fixed_records;
  for (std::uint8_t r = 1; r <= 4; ++r) fixed_records.push_back(Bytes(8, r));
  records.files.push_back(record_file(0x5001, 1, FileStructure::linear_fixed, 8, 4, fixed_records));
  records.files.push_back(
      record_file(0x5002, 2, FileStructure::linear_variable, 32, 5, {ascii("first"), ascii("second record")}));
  auto cyclic =
      record_file(0x5003, 3, FileStructure::cyclic, 4, 3, {Bytes{0, 0, 0, 3}, Bytes{0, 0, 0, 2}, Bytes{0, 0, 0, 1}});
  cyclic.update_needs_pin = true;
  records.files.push_back(cyclic);
  records.applications.push_back(nested);
  profile.applications.push_back(records);

  profile.files.push_back(transparent(0x0101, counting(256), 1));
  auto protected_file = transparent(0x0102, Bytes(16, 0x00), 2);
  protected_file.update_needs_pin = true;
  profile.files.push_back(protected_file);

  DataObject life_cycle;
  life_cycle.tag = kTagCardProductionLifeCycle;
  life_cycle.value = ascii("readerlab " + profile.name + " serial 00000001");
  life_cycle.read_only = true;
  profile.data_objects.push_back(life_cycle);
  DataObject historical;
  historical.tag = kTagHistoricalBytes;
  historical.value = historical_of(profile.atr, first_historical);
  historical.read_only = true;
  profile.data_objects.push_back(historical);

  profile.pin = ascii("1234");
  profile.pin_tries = 3;
  profile.puk = ascii("12345678");
  profile.puk_tries = 10;
  profile.challenge_seed = challenge_seed;
  return profile;
}

std::vector<CardProfile> all_profiles() {
  std::vector<CardProfile> profiles;

  // 3B  TS direct convention
  // 9B  T0: TA1 TD1, 11 historical bytes
  // 13  TA1: Fi=372 Di=4
  // 81  TD1: TD2 follows, T=1
  // 31  TD2: TA3 TB3 follow, T=1
  // FE  TA3: IFSC 254
  // 45  TB3: BWI=4 CWI=5
  // 80 59 "readerlab"  category 80, COMPACT-TLV card issuer's data (tag 5, length 9)
  // 30  TCK
  profiles.push_back(file_system_card("t1-fs",
                                      "T=1 only; MF, DFs with AIDs (nested), transparent and record EFs, PIN and PUK",
                                      {0x3B, 0x9B, 0x13, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x59, 0x72, 0x65, 0x61, 0x64,
                                       0x65, 0x72, 0x6C, 0x61, 0x62, 0x30},
                                      7, {Protocol::t1}, 0x7431));

  // 3B  TS; 0A  T0: no interface bytes (T=0 only, so no TCK), 10 historical bytes
  // 80 58 "t0-basic"  category 80, COMPACT-TLV card issuer's data (tag 5, length 8)
  profiles.push_back(file_system_card(
      "t0-basic", "T=0 only, default parameters; t1-fs's tree; case 4 answers 61xx for GET RESPONSE",
      {0x3B, 0x0A, 0x80, 0x58, 0x74, 0x30, 0x2D, 0x62, 0x61, 0x73, 0x69, 0x63}, 2, {Protocol::t0}, 0x7430));

  // 3B  TS; 97  T0: TA1 TD1, 7 historical bytes
  // 96  TA1: Fi=512 (f max 5 MHz) Di=32: 250 kbit/s at 4 MHz, reachable only through PPS
  // 80  TD1: TD2 follows, T=0;  31  TD2: TA3 TB3 follow, T=1
  // 80  TA3: IFSC 128;  45  TB3: BWI=4 CWI=5
  // 80 55 "t0-t1"  category 80, card issuer's data;  8C  TCK
  profiles.push_back(
      file_system_card("t0-t1", "T=0 and T=1 offered (T=0 first), TA1=96 (Fi 512, Di 32) that needs PPS",
                       {0x3B, 0x97, 0x96, 0x80, 0x31, 0x80, 0x45, 0x80, 0x55, 0x74, 0x30, 0x2D, 0x74, 0x31, 0x8C}, 7,
                       {Protocol::t0, Protocol::t1}, 0x7401));

  // 3B  TS; 9A  T0: TA1 TD1, 10 historical bytes
  // 13  TA1: Fi=372 Di=4, in force at once (TA2 b5 = 0)
  // 91  TD1: TA2 and TD2 follow, T=1
  // 81  TA2: specific mode T=1, unable to change mode (b8 = 1), ISO 7816-3 8.3
  // 31  TD2: TA3 TB3, T=1;  FE  TA3: IFSC 254;  45  TB3: BWI=4 CWI=5
  // 80 58 "specific";  CB  TCK
  profiles.push_back(file_system_card("specific-ta2",
                                      "specific mode (TA2=81): T=1 at Fi 372 Di 4 at once, no PPS answered",
                                      {0x3B, 0x9A, 0x13, 0x91, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x58, 0x73, 0x70, 0x65,
                                       0x63, 0x69, 0x66, 0x69, 0x63, 0xCB},
                                      9, {Protocol::t1}, 0x7432));

  // 3F  TS inverse convention (03 on the wire); 09  T0: T=0 only, 9 historical bytes
  // 80 57 "inverse"
  profiles.push_back(file_system_card("inverse", "inverse convention (TS 3F, 03 on the wire), T=0; t1-fs's tree",
                                      {0x3F, 0x09, 0x80, 0x57, 0x69, 0x6E, 0x76, 0x65, 0x72, 0x73, 0x65}, 2,
                                      {Protocol::t0}, 0x7433));

  // 3B  TS; 8E  T0: TD1, 14 historical bytes
  // 81  TD1: TD2, T=1;  31  TD2: TA3 TB3, T=1;  FE  TA3: IFSC 254;  45  TB3: BWI=4 CWI=5
  // 80  category;  73 00 00 40  card capabilities (ISO 7816-4 8.1.1.2.7): third byte b7 =
  //     extended Lc and Le fields;  58 "extended";  69  TCK
  auto extended =
      file_system_card("extended", "T=1, extended APDUs: 64 KB EF 0104 in one READ BINARY (Le 000000), 4 KB EF 0105",
                       {0x3B, 0x8E, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x73, 0x00, 0x00, 0x40,
                        0x58, 0x65, 0x78, 0x74, 0x65, 0x6E, 0x64, 0x65, 0x64, 0x69},
                       6, {Protocol::t1}, 0x7434);
  extended.files.push_back(transparent(0x0104, counting(65536, 7), 4));
  extended.files.push_back(transparent(0x0105, counting(4096, 3), 5));
  profiles.push_back(extended);

  // 3B  TS; 0C  T0: no interface bytes (T=0 only, so no TCK), 12 historical bytes
  // 80  category;  73 00 00 40  card capabilities: extended Lc and Le fields, which T=0
  //     carries in ENVELOPE chains (ISO 7816-4:1995 A.3E.2, A.4E.2);  56 "ext-t0"
  auto extended_t0 = file_system_card(
      "extended-t0", "T=0, extended APDUs in ENVELOPE chains (INS C2) with 61xx/GET RESPONSE; extended's files",
      {0x3B, 0x0C, 0x80, 0x73, 0x00, 0x00, 0x40, 0x56, 0x65, 0x78, 0x74, 0x2D, 0x74, 0x30}, 2, {Protocol::t0}, 0x7437);
  extended_t0.files.push_back(transparent(0x0104, counting(65536, 7), 4));
  extended_t0.files.push_back(transparent(0x0105, counting(4096, 3), 5));
  extended_t0.t0_envelope = true;
  profiles.push_back(extended_t0);

  // 3B  TS; 86  T0: TD1, 6 historical bytes
  // 80  TD1: TD2, T=0;  31  TD2: TA3 TB3, T=1;  80  TA3: IFSC 128
  // 15  TB3: BWI=1 CWI=5 (BWT about 0.2 s at 4 MHz, far below its 1.5 s of work)
  // 80 54 "slow";  71  TCK
  auto slow = file_system_card("slow", "T=0/T=1, 1.5 s per command: S(WTX) x10 under T=1, 5 NULL bytes under T=0",
                               {0x3B, 0x86, 0x80, 0x31, 0x80, 0x15, 0x80, 0x54, 0x73, 0x6C, 0x6F, 0x77, 0x71}, 6,
                               {Protocol::t0, Protocol::t1}, 0x7435);
  slow.wtx_multiplier = 10;
  slow.t0_null_bytes = 5;
  slow.processing_ms = 1500;
  profiles.push_back(slow);

  CardProfile mute;
  mute.name = "mute";
  mute.description = "never answers the reset (no ATR): a dead or inverted card";
  mute.mute = true;
  profiles.push_back(mute);

  // 3B 89 81 31 FE 45 80 57 "bad-atr", then 87 where the TCK is 78 (every bit flipped).
  profiles.push_back(
      file_system_card("bad-atr", "T=1 ATR with a wrong TCK (87, should be 78); works if the reader goes on",
                       {0x3B, 0x89, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x57, 0x62, 0x61, 0x64, 0x2D, 0x61, 0x74, 0x72, 0x87},
                       6, {Protocol::t1}, 0x7436));

  return profiles;
}

}  // namespace

std::vector<ProfileInfo> builtin_profiles() {
  std::vector<ProfileInfo> infos;
  for (const auto& profile : all_profiles()) infos.push_back({profile.name, profile.description});
  for (const auto& lua : list_lua_cards())
    infos.push_back({lua.name, lua.error.empty() ? lua.description + " (Lua card)" : "broken Lua card: " + lua.error});
  return infos;
}

std::optional<CardProfile> builtin_profile(std::string_view name) {
  for (auto& profile : all_profiles()) {
    if (profile.name == name) return std::move(profile);
  }
  return std::nullopt;
}

std::unique_ptr<Card> make_builtin_card(std::string_view name, std::optional<std::uint64_t> seed) {
  auto profile = builtin_profile(name);
  if (!profile) {
    LuaCardOptions options;
    options.seed = seed;
    return make_lua_card(name, std::move(options));
  }
  const std::uint64_t challenge_seed = seed.value_or(profile->challenge_seed);
  return std::make_unique<IsoCard>(std::move(*profile), challenge_seed);
}

std::optional<Bytes> builtin_atr(std::string_view name) {
  auto profile = builtin_profile(name);
  if (!profile) {
    const auto path = find_lua_card(name);
    if (!path) return std::nullopt;
    auto loaded = load_lua_card(*path);
    if (!loaded || loaded.value()->declared_atr().empty()) return std::nullopt;
    return loaded.value()->declared_atr();
  }
  if (profile->mute) return std::nullopt;
  return profile->atr;
}

namespace {

std::string hex4(std::uint16_t value) {
  return to_hex(Bytes{static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)});
}

// Printable ASCII as "text", anything else as hex.
std::string text_or_hex(const Bytes& bytes) {
  const bool printable =
      !bytes.empty() && std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b >= 0x20 && b < 0x7F; });
  if (printable) return "\"" + std::string(bytes.begin(), bytes.end()) + "\"";
  return to_hex(bytes, " ");
}

std::string structure_name(FileStructure structure) {
  switch (structure) {
    case FileStructure::transparent: return "transparent";
    case FileStructure::linear_fixed: return "linear fixed";
    case FileStructure::linear_variable: return "linear variable";
    case FileStructure::cyclic: return "cyclic";
  }
  return "?";
}

std::string describe_ef(const ElementaryFile& file) {
  std::string text = "EF " + hex4(file.fid) + " " + structure_name(file.structure);
  if (file.structure == FileStructure::transparent) {
    text += ", " + std::to_string(file.contents.size()) + " bytes";
  } else {
    const std::size_t capacity = file.max_records == 0 ? file.records.size() : file.max_records;
    text += ", " + std::to_string(file.records.size()) + " of " + std::to_string(capacity) + " records of " +
            (file.structure == FileStructure::linear_variable ? "up to " : "") + std::to_string(file.record_size) +
            " bytes";
  }
  if (file.sfi) text += ", SFI " + std::to_string(*file.sfi);
  if (file.read_needs_pin) text += ", READ needs the PIN";
  if (file.update_needs_pin)
    text += file.structure == FileStructure::transparent ? ", UPDATE needs the PIN" : ", UPDATE/APPEND need the PIN";
  return text;
}

std::string describe_df(const CardApplication& df) {
  std::string text = "DF " + (df.fid ? hex4(*df.fid) : std::string("(no FID)"));
  if (!df.label.empty()) text += " \"" + df.label + "\"";
  if (!df.aid.empty()) text += ", AID " + to_hex(df.aid);
  return text;
}

void write_tree(std::ostream& out, const std::vector<ElementaryFile>& files,
                const std::vector<CardApplication>& applications, const std::string& indent) {
  const std::size_t count = files.size() + applications.size();
  std::size_t at = 0;
  for (const auto& file : files) {
    ++at;
    out << indent << (at == count ? "`- " : "|- ") << describe_ef(file) << "\n";
  }
  for (const auto& df : applications) {
    ++at;
    const bool last = at == count;
    out << indent << (last ? "`- " : "|- ") << describe_df(df) << "\n";
    write_tree(out, df.files, df.applications, indent + (last ? "   " : "|  "));
  }
}

std::string secret_line(const char* what, const Bytes& value, std::uint8_t reference, std::uint8_t tries_left,
                        std::uint8_t tries_new) {
  std::string line = std::string(what) + " " + text_or_hex(value) + ", reference " + to_hex(Bytes{reference}) + ", " +
                     std::to_string(tries_left) + " tries left";
  if (tries_left != tries_new) line += " (" + std::to_string(tries_new) + " when new)";
  return line;
}

std::string describe_loaded(Card& card, const IsoCard& iso, const std::string& description, const std::string& origin) {
  const CardProfile& profile = iso.profile();
  std::ostringstream out;
  out << card.name() << ": " << description << "\n";
  out << "from: " << origin << "\n";
  if (const auto atr = card.reset(ResetKind::cold)) {
    out << "ATR (cold reset): " << to_hex(*atr, " ") << "\n";
    std::istringstream decoded(describe_atr_bytes(*atr));
    for (std::string line; std::getline(decoded, line);) out << "  " << line << "\n";
  } else {
    out << "ATR: none (the card stays mute at reset)\n";
  }
  card.deactivate();
  if (!profile.protocols.empty()) {
    out << "protocols the card accepts:";
    for (const auto protocol : profile.protocols) out << " T=" << static_cast<int>(protocol);
    out << "\n";
  }
  out << "files:\n  MF 3F00\n";
  write_tree(out, profile.files, profile.applications, "  ");
  if (profile.implicit_ef) out << "current EF after reset: " << hex4(*profile.implicit_ef) << "\n";
  if (!profile.data_objects.empty()) {
    out << "data objects (GET DATA):\n";
    for (const auto& object : profile.data_objects) {
      out << "  tag " << hex4(object.tag) << " " << text_or_hex(object.value);
      if (object.read_only) out << ", read-only";
      if (object.put_needs_pin) out << ", PUT DATA needs the PIN";
      out << "\n";
    }
  }
  if (profile.pin.empty())
    out << "PIN: none\n";
  else
    out << secret_line("PIN", profile.pin, profile.pin_reference, iso.pin_tries_left(), profile.pin_tries) << "\n";
  if (!profile.puk.empty())
    out << secret_line("PUK", profile.puk, profile.puk_reference, iso.puk_tries_left(), profile.puk_tries) << "\n";
  out << "logical channels: " << static_cast<int>(profile.logical_channels) << "\n";
  return out.str();
}

}  // namespace

Expected<std::string> describe_card(std::string_view name) {
  if (auto profile = builtin_profile(name)) {
    const std::string description = profile->description;
    IsoCard card(std::move(*profile));
    return describe_loaded(card, card, description, "built in (cards/profiles.cpp)");
  }
  const auto path = find_lua_card(name);
  if (!path) return error(std::string(name), "unknown card (see readerlab cards)");
  auto loaded = load_lua_card(*path);
  if (!loaded) return loaded.error();
  LuaCard& card = **loaded;
  if (card.broken()) return error(card.file(), card.last_error());
  std::string text = describe_loaded(card, card.iso_card(), card.description(), "Lua card " + path->string());
  text += "its script may answer other commands and misbehave on purpose: see the file\n";
  return text;
}

}  // namespace readerlab::cards
