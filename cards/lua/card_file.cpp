#include "cards/lua/card_file.h"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <lua.hpp>
#include <set>

#include "base/bytes.h"
#include "cards/atr/atr.h"

namespace readerlab::cards::lua {
namespace {

const char kKindsKey = 0;  // registry: table built by ef{} or df{} -> "ef" or "df"

constexpr std::size_t kMaxNameLength = 64;
constexpr std::size_t kMaxAtrBytes = 33;         // ISO 7816-3 8.2.1
constexpr std::size_t kMaxHistoricalBytes = 15;  // ISO 7816-3 8.2.2 (T0 b4-b1)
constexpr std::size_t kMaxDfNameBytes = 16;      // ISO 7816-4 8.2.1.2
constexpr std::size_t kMaxTransparentBytes = 1u << 20;
constexpr std::size_t kMaxRecordBytes = 255;  // short record length, ISO 7816-4 7.3.1
constexpr std::size_t kMaxRecords = 254;      // record numbers 01..FE, ISO 7816-4 7.3.1
constexpr std::size_t kMaxEntries = 4096;     // files in one DF, data objects
constexpr int kMaxDfDepth = 8;
constexpr std::size_t kMaxSecretBytes = 16;
constexpr lua_Integer kMaxTries = 15;                      // 63Cx shows at most 15, ISO 7816-4 5.1.3
constexpr lua_Integer kMaxSfi = 30;                        // SFI 1..30, ISO 7816-4 5.3.1.3
constexpr std::uint16_t kMasterFileFid = 0x3F00;           // ISO 7816-4 5.3.1.1
constexpr std::uint16_t kCurrentDfFid = 0x3FFF;            // reserved for paths, ISO 7816-4 5.3.1.1
constexpr std::uint16_t kRfuFid = 0xFFFF;                  // ISO 7816-4 5.3.1.1
constexpr lua_Integer kMaxIfsc = 254;                      // 00 and FF are RFU, ISO 7816-3 11.4.2
constexpr lua_Integer kMaxBwi = 9;                         // A..F are RFU, ISO 7816-3 11.4.3
constexpr std::uint8_t kDefaultBwi = 4, kDefaultCwi = 13;  // ISO 7816-3 11.4.3

int make_entry(lua_State* L, const char* kind) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  Sandbox::remember_line(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kKindsKey);
  lua_pushvalue(L, 1);
  lua_pushstring(L, kind);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return 1;
}
int make_ef(lua_State* L) { return make_entry(L, "ef"); }
int make_df(lua_State* L) { return make_entry(L, "df"); }

// Thrown by the Reader from plain C++ frames (no Lua frame in between) and caught at once in
// read_card_file, which hands it on as an Error: the first wrong value ends the reading.
struct FieldError {
  Error error;
};

// Where a value sits: its path from the globals ("files[2].records[1]") and the nearest
// line known for it. Lua keeps no line for a table field, so the line of `key =` is looked
// up in the source between the lines of the enclosing global or ef{}/df{} call and the end
// of the global's assignment (`exact`: the enclosing table's own first line is known).
struct Field {
  std::string path;
  int line = 0;
  int end_line = 0;
  bool exact = false;
};

// The source split in lines, to find where a field is assigned.
class SourceLines {
 public:
  explicit SourceLines(std::string_view source) {
    std::size_t start = 0;
    while (start <= source.size()) {
      const std::size_t end = source.find('\n', start);
      lines_.push_back(source.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
  }

  // The first line in first..last (1-based, both included) assigning `key`, or 0.
  int find_assignment(std::string_view key, int first, int last) const {
    if (first <= 0) return 0;
    for (int line = first; line <= last && line <= static_cast<int>(lines_.size()); ++line) {
      if (assigns(lines_[static_cast<std::size_t>(line - 1)], key)) return line;
    }
    return 0;
  }
  // The last line in first..last assigning `key` (a global's start, seen from its end), or 0.
  int find_assignment_backwards(std::string_view key, int first, int last) const {
    for (int line = std::min(last, static_cast<int>(lines_.size())); line >= std::max(first, 1); --line) {
      if (assigns(lines_[static_cast<std::size_t>(line - 1)], key)) return line;
    }
    return 0;
  }

 private:
  static bool identifier_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  // `key =` (not `==`) or `function key` with `key` a whole word.
  static bool assigns(std::string_view line, std::string_view key) {
    for (std::size_t at = line.find(key); at != std::string_view::npos; at = line.find(key, at + 1)) {
      if (at > 0 && identifier_char(line[at - 1])) continue;
      std::size_t after = at + key.size();
      if (after < line.size() && identifier_char(line[after])) continue;
      if (line.substr(0, at).find("function") != std::string_view::npos) return true;
      while (after < line.size() && (line[after] == ' ' || line[after] == '\t')) ++after;
      if (after < line.size() && line[after] == '=' && (after + 1 >= line.size() || line[after + 1] != '=')) {
        return true;
      }
    }
    return false;
  }

  std::vector<std::string_view> lines_;
};

// Reads with raw accesses only, so no script code runs and nothing raises a Lua error;
// a wrong value throws FieldError (plain C++, no Lua frame in between).
class Reader {
 public:
  Reader(Sandbox& sandbox, std::string_view source) : sandbox_(sandbox), L_(sandbox.state()), source_(source) {}

  [[noreturn]] void fail(const Field& field, const std::string& problem) const {
    std::string where = sandbox_.chunk_name();
    if (field.line > 0) where += ":" + std::to_string(field.line);
    throw FieldError{Error{where + ": field '" + field.path + "'", problem}};
  }

  // Lua records the line where the assignment ends; it starts at `name =` above it.
  Field global(const char* name) const {
    const int end_line = sandbox_.global_line(name);
    const int start_line = source_.find_assignment_backwards(name, 1, end_line);
    return {name, start_line > 0 ? start_line : end_line, end_line, true};
  }
  Field member(const Field& parent, const char* key) const {
    const int line = parent.exact ? source_.find_assignment(key, parent.line, parent.end_line) : 0;
    return {parent.path + "." + key, line > 0 ? line : parent.line, parent.end_line, line > 0};
  }
  // An element of a list: the line of its ef{}/df{} call when it has one.
  Field element(const Field& list, std::size_t position, int index) const {
    const int own_line = lua_type(L_, index) == LUA_TTABLE ? sandbox_.table_line(index) : 0;
    return {list.path + "[" + std::to_string(position) + "]", own_line > 0 ? own_line : list.line,
            std::max(list.end_line, own_line), own_line > 0};
  }

  // Pushes table[key] without metamethods; returns its type.
  int push(int table, const char* key) {
    lua_pushstring(L_, key);
    return lua_rawget(L_, table);
  }

  // Calls read(field) with the value of table[key] on top when it is not nil.
  template <class Read>
  auto optional(int table, const char* key, const Field& field, Read read)
      -> std::optional<std::invoke_result_t<Read, const Field&>> {
    if (push(table, key) == LUA_TNIL) {
      lua_pop(L_, 1);
      return std::nullopt;
    }
    auto value = read(field);
    lua_pop(L_, 1);
    return value;
  }
  template <class Read>
  auto member_value(int table, const char* key, const Field& parent, Read read) {
    return optional(table, key, member(parent, key), read);
  }

  std::string text(const Field& field, std::size_t max_length = 1u << 16) {
    if (lua_type(L_, -1) != LUA_TSTRING) fail(field, std::string("a string expected, got ") + type_name());
    std::size_t length = 0;
    const char* chars = lua_tolstring(L_, -1, &length);
    if (length > max_length) fail(field, "longer than " + std::to_string(max_length) + " bytes");
    return std::string(chars, length);
  }
  Bytes text_bytes(const Field& field, std::size_t max_length) {
    const std::string value = text(field, max_length);
    return Bytes(value.begin(), value.end());
  }

  lua_Integer integer(const Field& field, lua_Integer min, lua_Integer max) {
    if (lua_type(L_, -1) != LUA_TNUMBER) fail(field, std::string("a number expected, got ") + type_name());
    int exact = 0;
    const lua_Integer value = lua_tointegerx(L_, -1, &exact);
    if (!exact) fail(field, "not an integer");
    if (value < min || value > max) {
      fail(field, std::to_string(value) + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
    }
    return value;
  }
  std::uint8_t byte(const Field& field) { return static_cast<std::uint8_t>(integer(field, 0, 0xFF)); }
  std::uint16_t fid(const Field& field) {
    const auto value = static_cast<std::uint16_t>(integer(field, 0, 0xFFFF));
    if (value == kMasterFileFid || value == kCurrentDfFid || value == kRfuFid) {
      fail(field, "FID " + hex_word(value) + " is reserved (ISO 7816-4 5.3.1.1)");
    }
    return value;
  }

  bool boolean(const Field& field) {
    if (lua_type(L_, -1) != LUA_TBOOLEAN) fail(field, std::string("true or false expected, got ") + type_name());
    return lua_toboolean(L_, -1) != 0;
  }

  Bytes hex(const Field& field, std::size_t min_bytes, std::size_t max_bytes) {
    if (lua_type(L_, -1) != LUA_TSTRING) fail(field, std::string("hex text expected, got ") + type_name());
    std::size_t length = 0;
    const char* chars = lua_tolstring(L_, -1, &length);
    auto bytes = readerlab::parse_hex(std::string_view(chars, length));
    if (!bytes) fail(field, "not hex (pairs of digits 0-9 A-F, spaces allowed)");
    if (bytes->size() < min_bytes || bytes->size() > max_bytes) {
      fail(field, std::to_string(bytes->size()) + " bytes, expected " + std::to_string(min_bytes) + ".." +
                      std::to_string(max_bytes));
    }
    return std::move(*bytes);
  }

  // The value on top must be a table whose keys are all among `known`.
  int table(const Field& field, std::initializer_list<const char*> known) {
    if (lua_type(L_, -1) != LUA_TTABLE) fail(field, std::string("a table expected, got ") + type_name());
    const int index = lua_gettop(L_);
    if (!lua_checkstack(L_, 4)) fail(field, "nested too deeply");
    lua_pushnil(L_);
    while (lua_next(L_, index) != 0) {
      lua_pop(L_, 1);
      if (lua_type(L_, -1) != LUA_TSTRING) {
        fail(field, std::string("unexpected ") + lua_typename(L_, lua_type(L_, -1)) + " key (fields have names)");
      }
      const std::string_view key = lua_tostring(L_, -1);
      if (std::none_of(known.begin(), known.end(), [&](const char* name) { return key == name; })) {
        fail(field, "unknown field '" + std::string(key) + "'");
      }
    }
    return index;
  }

  // The value on top must be a list; read(element_field, index) for each element.
  template <class Read>
  void list(const Field& field, std::size_t max_count, Read read) {
    if (lua_type(L_, -1) != LUA_TTABLE) fail(field, std::string("a list expected, got ") + type_name());
    const int index = lua_gettop(L_);
    const auto count = static_cast<std::size_t>(lua_rawlen(L_, index));
    if (count > max_count) fail(field, "more than " + std::to_string(max_count) + " entries");
    if (!lua_checkstack(L_, 4)) fail(field, "nested too deeply");
    for (std::size_t i = 1; i <= count; ++i) {
      lua_rawgeti(L_, index, static_cast<lua_Integer>(i));
      const Field element_field = element(field, i, -1);
      if (lua_isnil(L_, -1)) fail(element_field, "a hole in the list");
      read(element_field, lua_gettop(L_));
      lua_pop(L_, 1);
    }
  }

  std::optional<std::string> kind_of(int index) {
    lua_rawgetp(L_, LUA_REGISTRYINDEX, &kKindsKey);
    lua_pushvalue(L_, index);
    lua_rawget(L_, -2);
    std::optional<std::string> kind;
    if (lua_type(L_, -1) == LUA_TSTRING) kind = lua_tostring(L_, -1);
    lua_pop(L_, 2);
    return kind;
  }

  const char* type_name() const { return lua_typename(L_, lua_type(L_, -1)); }
  lua_State* state() const { return L_; }

 private:
  Sandbox& sandbox_;
  lua_State* L_;
  SourceLines source_;
};

// --- the file tree -----------------------------------------------------------------------

struct Tree {
  std::vector<ElementaryFile> files;
  std::vector<CardApplication> dfs;
};

FileStructure structure_of(Reader& reader, const Field& field) {
  const std::string name = reader.text(field, 32);
  if (name == "transparent") return FileStructure::transparent;
  if (name == "linear_fixed") return FileStructure::linear_fixed;
  if (name == "linear_variable") return FileStructure::linear_variable;
  if (name == "cyclic") return FileStructure::cyclic;
  reader.fail(field, "'" + name + "' is not transparent, linear_fixed, linear_variable or cyclic");
}

// The fields of a transparent EF, read (and checked) whatever the EF's structure.
struct TransparentFields {
  std::optional<Bytes> contents, text;
  std::optional<std::size_t> size;
  std::optional<std::uint8_t> fill;
};

TransparentFields read_transparent_fields(Reader& reader, const Field& field, int index) {
  TransparentFields fields;
  fields.contents = reader.member_value(index, "contents", field,
                                        [&](const Field& f) { return reader.hex(f, 0, kMaxTransparentBytes); });
  fields.text = reader.member_value(index, "text", field,
                                    [&](const Field& f) { return reader.text_bytes(f, kMaxTransparentBytes); });
  fields.size = reader.member_value(index, "size", field, [&](const Field& f) {
    return static_cast<std::size_t>(reader.integer(f, 0, static_cast<lua_Integer>(kMaxTransparentBytes)));
  });
  fields.fill = reader.member_value(index, "fill", field, [&](const Field& f) { return reader.byte(f); });
  return fields;
}

void read_transparent(Reader& reader, const Field& field, int index, const TransparentFields& fields,
                      ElementaryFile& ef) {
  for (const char* key : {"records", "record_size", "max_records"}) {
    if (reader.push(index, key) != LUA_TNIL) reader.fail(reader.member(field, key), "only for record EFs");
    lua_pop(reader.state(), 1);
  }
  if (fields.contents && fields.text)
    reader.fail(reader.member(field, "text"), "give contents (hex) or text, not both");
  ef.contents = fields.contents ? *fields.contents : fields.text ? *fields.text : Bytes{};
  if (fields.size) {
    if (ef.contents.size() > *fields.size) {
      reader.fail(reader.member(field, "size"),
                  "smaller than the " + std::to_string(ef.contents.size()) + " bytes of contents");
    }
    ef.contents.resize(*fields.size, fields.fill.value_or(0));
  }
}

void read_records(Reader& reader, const Field& field, int index, ElementaryFile& ef) {
  for (const char* key : {"contents", "text", "size", "fill"}) {
    if (reader.push(index, key) != LUA_TNIL) reader.fail(reader.member(field, key), "only for transparent EFs");
    lua_pop(reader.state(), 1);
  }
  const Field records_field = reader.member(field, "records");
  if (reader.push(index, "records") != LUA_TNIL) {
    reader.list(records_field, kMaxRecords, [&](const Field& f, int) {
      ef.records.push_back(reader.hex(f, ef.structure == FileStructure::linear_variable ? 0 : 1, kMaxRecordBytes));
    });
  }
  lua_pop(reader.state(), 1);
  const auto record_size = reader.member_value(index, "record_size", field, [&](const Field& f) {
    return static_cast<std::size_t>(reader.integer(f, 1, static_cast<lua_Integer>(kMaxRecordBytes)));
  });
  const bool fixed_size = ef.structure != FileStructure::linear_variable;
  if (record_size) {
    ef.record_size = *record_size;
  } else if (fixed_size && !ef.records.empty()) {
    ef.record_size = ef.records.front().size();
  } else if (fixed_size) {
    reader.fail(reader.member(field, "record_size"), "missing (a fixed or cyclic EF without records needs it)");
  } else {
    ef.record_size = kMaxRecordBytes;
  }
  for (std::size_t i = 0; i < ef.records.size(); ++i) {
    const auto length = ef.records[i].size();
    if (fixed_size ? length != ef.record_size : length > ef.record_size) {
      reader.fail({records_field.path + "[" + std::to_string(i + 1) + "]", records_field.line},
                  std::to_string(length) + " bytes, the record size is " + std::to_string(ef.record_size));
    }
  }
  const auto max_records = reader.member_value(index, "max_records", field, [&](const Field& f) {
    return static_cast<std::size_t>(reader.integer(f, 1, static_cast<lua_Integer>(kMaxRecords)));
  });
  if (max_records && *max_records < ef.records.size()) {
    reader.fail(reader.member(field, "max_records"),
                "fewer than the " + std::to_string(ef.records.size()) + " records given");
  }
  ef.max_records = max_records.value_or(ef.records.size());
}

ElementaryFile read_ef(Reader& reader, const Field& field, int index) {
  reader.table(field, {"fid", "sfi", "structure", "contents", "text", "size", "fill", "records", "record_size",
                       "max_records", "read_needs_pin", "update_needs_pin"});
  ElementaryFile ef;
  auto fid = reader.member_value(index, "fid", field, [&](const Field& f) { return reader.fid(f); });
  if (!fid) reader.fail(reader.member(field, "fid"), "missing (every EF has a FID)");
  ef.fid = *fid;
  ef.sfi = reader.member_value(
      index, "sfi", field, [&](const Field& f) { return static_cast<std::uint8_t>(reader.integer(f, 1, kMaxSfi)); });
  ef.structure = reader.member_value(index, "structure", field, [&](const Field& f) { return structure_of(reader, f); })
                     .value_or(FileStructure::transparent);
  ef.read_needs_pin =
      reader.member_value(index, "read_needs_pin", field, [&](const Field& f) { return reader.boolean(f); })
          .value_or(false);
  ef.update_needs_pin =
      reader.member_value(index, "update_needs_pin", field, [&](const Field& f) { return reader.boolean(f); })
          .value_or(false);
  const TransparentFields fields = read_transparent_fields(reader, field, index);
  if (ef.structure == FileStructure::transparent) {
    read_transparent(reader, field, index, fields, ef);
  } else {
    read_records(reader, field, index, ef);
  }
  return ef;
}

void read_tree(Reader& reader, const Field& field, int depth, Tree& tree);

CardApplication read_df(Reader& reader, const Field& field, int index, int depth) {
  reader.table(field, {"aid", "fid", "label", "fci_proprietary", "files"});
  if (depth >= kMaxDfDepth) reader.fail(field, "DFs nested deeper than " + std::to_string(kMaxDfDepth) + " levels");
  CardApplication df;
  df.aid = reader.member_value(index, "aid", field, [&](const Field& f) { return reader.hex(f, 1, kMaxDfNameBytes); })
               .value_or(Bytes{});
  df.fid = reader.member_value(index, "fid", field, [&](const Field& f) { return reader.fid(f); });
  if (df.aid.empty() && !df.fid) reader.fail(field, "a DF needs an aid, a fid or both");
  df.label = reader.member_value(index, "label", field, [&](const Field& f) { return reader.text(f, 64); })
                 .value_or(std::string{});
  df.fci_proprietary =
      reader.member_value(index, "fci_proprietary", field, [&](const Field& f) { return reader.hex(f, 0, 200); })
          .value_or(Bytes{});
  const Field files_field = reader.member(field, "files");
  if (reader.push(index, "files") != LUA_TNIL) {
    Tree tree;
    read_tree(reader, files_field, depth + 1, tree);
    df.files = std::move(tree.files);
    df.applications = std::move(tree.dfs);
  }
  lua_pop(reader.state(), 1);
  return df;
}

// The list on top of the stack: EFs and DFs of one DF, FIDs and SFIs unique in it.
void read_tree(Reader& reader, const Field& field, int depth, Tree& tree) {
  std::set<std::uint16_t> fids;
  std::set<std::uint8_t> sfis;
  reader.list(field, kMaxEntries, [&](const Field& entry, int index) {
    if (lua_type(reader.state(), index) != LUA_TTABLE) {
      reader.fail(entry, std::string("ef{...} or df{...} expected, got ") + reader.type_name());
    }
    auto kind = reader.kind_of(index);
    if (!kind) {  // a plain table: a DF when it has DF-only fields
      const bool df_like = reader.push(index, "files") != LUA_TNIL || reader.push(index, "aid") != LUA_TNIL;
      lua_settop(reader.state(), index);
      kind = df_like ? "df" : "ef";
    }
    std::optional<std::uint16_t> fid;
    if (*kind == "df") {
      tree.dfs.push_back(read_df(reader, entry, index, depth));
      fid = tree.dfs.back().fid;
    } else {
      tree.files.push_back(read_ef(reader, entry, index));
      fid = tree.files.back().fid;
      if (const auto sfi = tree.files.back().sfi; sfi && !sfis.insert(*sfi).second) {
        reader.fail(reader.member(entry, "sfi"), "SFI " + std::to_string(*sfi) + " is already used in this DF");
      }
    }
    if (fid && !fids.insert(*fid).second) {
      reader.fail(reader.member(entry, "fid"), hex_word(*fid) + " is already used in this DF");
    }
  });
}

// --- ATR, PIN, data objects ----------------------------------------------------------------

std::vector<Protocol> read_protocols(Reader& reader, const Field& field) {
  std::vector<Protocol> protocols;
  reader.list(field, 2, [&](const Field& f, int) {
    const auto protocol = static_cast<Protocol>(reader.integer(f, 0, 1));
    if (std::find(protocols.begin(), protocols.end(), protocol) != protocols.end()) reader.fail(f, "listed twice");
    protocols.push_back(protocol);
  });
  if (protocols.empty()) reader.fail(field, "empty (list 0 for T=0, 1 for T=1, the first is the default)");
  return protocols;
}

struct AtrFromFields {
  Bytes bytes;
  std::vector<Protocol> protocols;
};

// The interface bytes a card file may give by name.
struct InterfaceFields {
  std::optional<std::uint8_t> ta1, tc1, ta2, tc2;
  std::optional<std::uint8_t> ifsc, bwi, cwi;  // the T=1 bytes
  std::optional<bool> crc;
  bool t1_bytes() const { return ifsc || bwi || cwi || crc; }
};

InterfaceFields read_interface_fields(Reader& reader, const Field& field, int index) {
  InterfaceFields bytes;
  const auto byte_of = [&](const char* key) {
    return reader.member_value(index, key, field, [&](const Field& f) { return reader.byte(f); });
  };
  const auto in_range = [&](const char* key, lua_Integer min, lua_Integer max) {
    return reader.member_value(index, key, field,
                               [&](const Field& f) { return static_cast<std::uint8_t>(reader.integer(f, min, max)); });
  };
  bytes.ta1 = byte_of("ta1");
  bytes.tc1 = byte_of("tc1");
  bytes.ta2 = byte_of("ta2");
  bytes.tc2 = in_range("tc2", 1, 255);
  bytes.ifsc = in_range("ifsc", 1, kMaxIfsc);
  bytes.bwi = in_range("bwi", 0, kMaxBwi);
  bytes.cwi = in_range("cwi", 0, 15);
  bytes.crc = reader.member_value(index, "crc", field, [&](const Field& f) { return reader.boolean(f); });
  return bytes;
}

// The protocols the TDs name in turn: TD1 the first offered protocol, then T=1 to introduce
// the T=1 bytes, then the other protocol offered (ISO 7816-3 8.2.3).
std::vector<std::uint8_t> td_protocols(const std::vector<Protocol>& protocols, const InterfaceFields& bytes) {
  const bool offers_t1 = std::find(protocols.begin(), protocols.end(), Protocol::t1) != protocols.end();
  const bool offers_t0 = std::find(protocols.begin(), protocols.end(), Protocol::t0) != protocols.end();
  std::vector<std::uint8_t> tds{static_cast<std::uint8_t>(protocols.front())};
  if (protocols.front() == Protocol::t1) {
    if (bytes.t1_bytes()) tds.push_back(1);
    if (offers_t0) tds.push_back(0);
  } else if (offers_t1) {
    tds.push_back(1);
  }
  const bool group2 = bytes.ta2 || bytes.tc2 || tds.size() > 1;
  if (!group2 && tds.front() == 0) tds.clear();  // T=0 alone needs no TD1
  return tds;
}

void place_interface_bytes(Atr& atr, const InterfaceFields& bytes, const std::vector<std::uint8_t>& tds) {
  atr.groups.resize(tds.size() + 1);
  for (std::size_t i = 0; i < tds.size(); ++i) atr.groups[i].td = tds[i];
  atr.groups[0].ta = bytes.ta1;
  atr.groups[0].tc = bytes.tc1;
  if (bytes.ta2 || bytes.tc2) {
    atr.groups[1].ta = bytes.ta2;
    atr.groups[1].tc = bytes.tc2;
  }
  if (bytes.t1_bytes()) {
    auto& t1_group = atr.groups[2];  // follows TD2 = T=1 in both layouts of td_protocols
    t1_group.ta = bytes.ifsc;
    if (bytes.bwi || bytes.cwi)
      t1_group.tb = static_cast<std::uint8_t>(bytes.bwi.value_or(kDefaultBwi) << 4 | bytes.cwi.value_or(kDefaultCwi));
    if (bytes.crc) t1_group.tc = static_cast<std::uint8_t>(*bytes.crc ? 1 : 0);
  }
}

// The interface bytes follow ISO 7816-3 8.2.3: TD1 names the first offered protocol, a TD
// naming T=1 at i >= 2 introduces the T=1 bytes TA (IFSC), TB (BWI, CWI), TC (EDC).
AtrFromFields read_atr_fields(Reader& reader, const Field& field, int index,
                              const std::optional<std::vector<Protocol>>& global_protocols) {
  reader.table(field,
               {"convention", "protocols", "ta1", "tc1", "ta2", "tc2", "ifsc", "bwi", "cwi", "crc", "historical"});
  Atr atr;
  const auto convention =
      reader.member_value(index, "convention", field, [&](const Field& f) { return reader.text(f, 16); });
  if (convention && *convention != "direct" && *convention != "inverse") {
    reader.fail(reader.member(field, "convention"), "'" + *convention + "' is not direct or inverse");
  }
  atr.inverse_convention = convention == "inverse";
  auto protocols =
      reader.member_value(index, "protocols", field, [&](const Field& f) { return read_protocols(reader, f); });
  if (!protocols) protocols = global_protocols.value_or(std::vector<Protocol>{Protocol::t0});
  const InterfaceFields bytes = read_interface_fields(reader, field, index);
  atr.historical = reader
                       .member_value(index, "historical", field,
                                     [&](const Field& f) { return reader.hex(f, 0, kMaxHistoricalBytes); })
                       .value_or(Bytes{});

  const bool offers_t1 = std::find(protocols->begin(), protocols->end(), Protocol::t1) != protocols->end();
  if (bytes.t1_bytes() && !offers_t1)
    reader.fail(reader.member(field, "ifsc"), "T=1 parameters, but T=1 is not offered");
  place_interface_bytes(atr, bytes, td_protocols(*protocols, bytes));
  AtrFromFields result{build_atr(atr), *protocols};
  const auto check = parse_atr(result.bytes);
  if (check.error != AtrError::none) reader.fail(field, "the ATR built is invalid: " + to_string(check.error));
  return result;
}

struct Secret {
  Bytes value;
  std::optional<std::uint8_t> reference;
  std::optional<std::uint8_t> tries;
};

Secret read_secret(Reader& reader, const Field& field) {
  Secret secret;
  if (lua_type(reader.state(), -1) == LUA_TSTRING) {
    secret.value = reader.text_bytes(field, kMaxSecretBytes);
  } else {
    const int index = reader.table(field, {"value", "hex", "reference", "tries"});
    const auto text = reader.member_value(index, "value", field,
                                          [&](const Field& f) { return reader.text_bytes(f, kMaxSecretBytes); });
    const auto hex =
        reader.member_value(index, "hex", field, [&](const Field& f) { return reader.hex(f, 1, kMaxSecretBytes); });
    if (text && hex) reader.fail(reader.member(field, "hex"), "give value (text) or hex, not both");
    if (!text && !hex) reader.fail(reader.member(field, "value"), "missing (the secret as text, or hex = ...)");
    secret.value = text ? *text : *hex;
    secret.reference = reader.member_value(index, "reference", field, [&](const Field& f) { return reader.byte(f); });
    secret.tries = reader.member_value(index, "tries", field, [&](const Field& f) {
      return static_cast<std::uint8_t>(reader.integer(f, 1, kMaxTries));
    });
  }
  if (secret.value.empty()) reader.fail(field, "empty");
  return secret;
}

DataObject read_data_object(Reader& reader, const Field& field, int index) {
  reader.table(field, {"tag", "value", "text", "read_only", "put_needs_pin"});
  DataObject object;
  const auto tag = reader.member_value(
      index, "tag", field, [&](const Field& f) { return static_cast<std::uint16_t>(reader.integer(f, 0, 0xFFFF)); });
  if (!tag) reader.fail(reader.member(field, "tag"), "missing (GET DATA P1-P2)");
  object.tag = *tag;
  const auto value =
      reader.member_value(index, "value", field, [&](const Field& f) { return reader.hex(f, 0, 65535); });
  const auto text =
      reader.member_value(index, "text", field, [&](const Field& f) { return reader.text_bytes(f, 65535); });
  if (value && text) reader.fail(reader.member(field, "text"), "give value (hex) or text, not both");
  object.value = value ? *value : text.value_or(Bytes{});
  object.read_only =
      reader.member_value(index, "read_only", field, [&](const Field& f) { return reader.boolean(f); }).value_or(false);
  object.put_needs_pin =
      reader.member_value(index, "put_needs_pin", field, [&](const Field& f) { return reader.boolean(f); })
          .value_or(false);
  return object;
}

// The globals table on the stack, read one global at a time with raw accesses.
class Globals {
 public:
  Globals(Reader& reader, int index) : reader_(reader), index_(index) {}

  // read(field) with the global's value on top, when it is not nil.
  template <class Read>
  auto operator()(const char* name, Read read) const {
    return reader_.optional(index_, name, reader_.global(name), read);
  }
  // Pushes the global (the caller pops it); true when it is not nil.
  bool push(const char* name) const { return reader_.push(index_, name) != LUA_TNIL; }

 private:
  Reader& reader_;
  int index_;
};

void read_identity(Reader& reader, const Globals& global, std::string_view default_name, CardFile& file) {
  CardProfile& profile = file.profile;
  profile.name = global("name", [&](const Field& f) {
                   auto name = reader.text(f, kMaxNameLength);
                   if (name.empty()) reader.fail(f, "empty");
                   return name;
                 }).value_or(std::string(default_name));
  profile.description = global("description", [&](const Field& f) { return reader.text(f, 1024); }).value_or("");
  file.mute = global("mute", [&](const Field& f) { return reader.boolean(f); }).value_or(false);
}

// The ATR (hex text or a table of fields) and the protocols: given, built with the ATR, or
// read from the ATR.
void read_atr_and_protocols(Reader& reader, const Globals& global, CardFile& file) {
  lua_State* L = reader.state();
  CardProfile& profile = file.profile;
  const auto protocols = global("protocols", [&](const Field& f) { return read_protocols(reader, f); });
  std::optional<std::vector<Protocol>> atr_protocols;
  const auto atr = global("atr", [&](const Field& f) {
    if (lua_type(L, -1) == LUA_TSTRING) return reader.hex(f, 2, kMaxAtrBytes);
    auto built = read_atr_fields(reader, f, lua_gettop(L), protocols);
    atr_protocols = built.protocols;
    return built.bytes;
  });
  if (!atr && !file.mute) {
    reader.fail(reader.global("atr"), "missing (hex text, a table of fields, or mute = true for a card without one)");
  }
  profile.atr = atr.value_or(Bytes{});
  if (protocols) {
    profile.protocols = *protocols;
  } else if (atr_protocols) {
    profile.protocols = *atr_protocols;
  } else if (const auto parsed = parse_atr(profile.atr); parsed.atr) {
    profile.protocols.push_back(static_cast<Protocol>(parsed.atr->first_protocol() == 1 ? 1 : 0));
    const Protocol other = profile.protocols.front() == Protocol::t0 ? Protocol::t1 : Protocol::t0;
    if (parsed.atr->supports(static_cast<std::uint8_t>(other))) profile.protocols.push_back(other);
  } else if (atr) {
    reader.fail(reader.global("protocols"),
                "missing, and the ATR does not parse (" + to_string(parsed.error) + "), so it cannot tell them");
  } else {
    profile.protocols = {Protocol::t0};
  }
}

// The file tree and the data objects of GET DATA.
void read_contents(Reader& reader, const Globals& global, CardProfile& profile) {
  lua_State* L = reader.state();
  if (global.push("files")) {
    Tree tree;
    read_tree(reader, reader.global("files"), 0, tree);
    profile.files = std::move(tree.files);
    profile.applications = std::move(tree.dfs);
  }
  lua_pop(L, 1);
  if (global.push("data_objects")) {
    reader.list(reader.global("data_objects"), kMaxEntries,
                [&](const Field& f, int index) { profile.data_objects.push_back(read_data_object(reader, f, index)); });
  }
  lua_pop(L, 1);
}

void read_secrets(Reader& reader, const Globals& global, CardProfile& profile) {
  if (auto pin = global("pin", [&](const Field& f) { return read_secret(reader, f); })) {
    profile.pin = std::move(pin->value);
    profile.pin_reference = pin->reference.value_or(profile.pin_reference);
    profile.pin_tries = pin->tries.value_or(profile.pin_tries);
  }
  if (auto puk = global("puk", [&](const Field& f) { return read_secret(reader, f); })) {
    profile.puk = std::move(puk->value);
    profile.puk_reference = puk->reference.value_or(profile.puk_reference);
    profile.puk_tries = puk->tries.value_or(profile.puk_tries);
    if (!profile.pin.empty() && profile.puk_reference == profile.pin_reference) {
      reader.fail(reader.global("puk"), "the same reference as the PIN");
    }
  }
}

PpsReaction read_pps_reaction(Reader& reader, const std::string& name) {
  if (name == "accept") return PpsReaction::accept;
  if (name == "decline") return PpsReaction::decline;
  if (name == "silent") return PpsReaction::silent;
  reader.fail(reader.global("pps"), "'" + name + "' is not accept, decline or silent");
}

// How the card behaves on the line and in time: channels, PPS, T=0 NULLs, T=1 WTX, delays.
void read_behaviour(Reader& reader, const Globals& global, CardProfile& profile) {
  profile.implicit_ef = global("implicit_ef", [&](const Field& f) { return reader.fid(f); });
  profile.logical_channels = static_cast<std::uint8_t>(
      global("logical_channels", [&](const Field& f) { return reader.integer(f, 1, 4); }).value_or(4));
  if (const auto pps = global("pps", [&](const Field& f) { return reader.text(f, 16); })) {
    profile.pps_reaction = read_pps_reaction(reader, *pps);
  }
  profile.t0_null_bytes = static_cast<unsigned>(
      global("t0_null_bytes", [&](const Field& f) { return reader.integer(f, 0, 1000); }).value_or(0));
  profile.t0_envelope = global("t0_envelope", [&](const Field& f) { return reader.boolean(f); }).value_or(false);
  profile.wtx_multiplier = static_cast<unsigned>(
      global("wtx_multiplier", [&](const Field& f) { return reader.integer(f, 0, 255); }).value_or(0));
  profile.processing_ms = static_cast<unsigned>(
      global("processing_ms", [&](const Field& f) { return reader.integer(f, 0, 600'000); }).value_or(0));
  if (const auto crc = global("t1_crc", [&](const Field& f) { return reader.text(f, 16); })) {
    if (*crc != "iso" && *crc != "windows")
      reader.fail(reader.global("t1_crc"), "'" + *crc + "' is not iso or windows");
    profile.t1_crc_windows = *crc == "windows";
  }
}

void check_handlers(Reader& reader, const Globals& global) {
  for (const char* handler : {"on_reset", "on_apdu"}) {
    global(handler, [&](const Field& f) {
      if (lua_type(reader.state(), -1) != LUA_TFUNCTION)
        reader.fail(f, std::string("a function expected, got ") + reader.type_name());
      return true;
    });
  }
}

CardFile read_globals(Reader& reader, std::string_view default_name) {
  lua_State* L = reader.state();
  lua_pushglobaltable(L);
  const Globals global(reader, lua_gettop(L));

  CardFile file;
  CardProfile& profile = file.profile;
  read_identity(reader, global, default_name, file);
  read_atr_and_protocols(reader, global, file);
  read_contents(reader, global, profile);
  read_secrets(reader, global, profile);
  profile.challenge_seed = static_cast<std::uint64_t>(global("challenge_seed", [&](const Field& f) {
                                                        return reader.integer(f, 0, LUA_MAXINTEGER);
                                                      }).value_or(static_cast<lua_Integer>(profile.challenge_seed)));
  read_behaviour(reader, global, profile);
  check_handlers(reader, global);
  return file;
}

}  // namespace

int open_card_file_functions(lua_State* L) {
  lua_newtable(L);
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kKindsKey);
  lua_pushcfunction(L, make_ef);
  lua_setglobal(L, "ef");
  lua_pushcfunction(L, make_df);
  lua_setglobal(L, "df");
  return 0;
}

Expected<CardFile> read_card_file(Sandbox& sandbox, std::string_view source, std::string_view default_name) {
  lua_State* L = sandbox.state();
  const int top = lua_gettop(L);
  Sandbox::HostAccess access(sandbox);
  Reader reader(sandbox, source);
  try {
    CardFile file = read_globals(reader, default_name);
    lua_settop(L, top);
    return file;
  } catch (const FieldError& wrong) {
    lua_settop(L, top);
    return wrong.error;
  }
}

}  // namespace readerlab::cards::lua
