#include "cards/lua/sandbox.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <lua.hpp>
#include <string_view>

namespace readerlab::cards::lua {
namespace {

// The count hook runs every this many VM instructions: fine enough for the budget and the
// deadline, rare enough to cost nothing measurable.
constexpr int kHookInterval = 1000;

// Work charges saturate here, far above any budget, so sums never overflow.
constexpr std::uint64_t kMaxCharge = std::uint64_t{1} << 62;

// Addresses used as registry keys.
const char kLinesKey = 0;

void* allocate(void* account_pointer, void* block, std::size_t old_size, std::size_t new_size) {
  auto& account = *static_cast<Sandbox::MemoryAccount*>(account_pointer);
  // Without a block, old_size tells the kind of object, not a size (Lua manual 4.6).
  const std::size_t old_bytes = block ? old_size : 0;
  if (new_size == 0) {
    std::free(block);
    account.used -= old_bytes;
    return nullptr;
  }
  if (account.enforced && new_size > old_bytes && account.used - old_bytes + new_size > account.limit) {
    account.refused = true;
    return nullptr;  // Lua collects garbage, tries once more, then raises a memory error
  }
  void* resized = std::realloc(block, new_size);
  if (resized) {
    account.used = account.used - old_bytes + new_size;
    account.peak = std::max(account.peak, account.used);
  }
  return resized;
}

[[noreturn]] void raise_limit(lua_State* L) {
  // The message is replaced by the sandbox's own (failure_message): the limit is what counts.
  lua_pushliteral(L, "script limit reached");
  lua_error(L);
  std::abort();  // lua_error does not return
}

void hook(lua_State* L, lua_Debug* activation) {
  Sandbox& sandbox = Sandbox::of(L);
  if (activation->event == LUA_HOOKLINE) {
    sandbox.on_hook_line(L, activation);
    return;
  }
  if (!sandbox.within_limits(kHookInterval)) raise_limit(L);
}

std::uint64_t saturated(double work) {
  if (!(work > 0)) return 0;
  return work >= static_cast<double>(kMaxCharge) ? kMaxCharge : static_cast<std::uint64_t>(work);
}

// pcall and xpcall that let the limits through: a script must not keep running by catching
// them (Sandbox::fatal_error_caught).
int protected_call(lua_State* L) {
  luaL_checkany(L, 1);
  const int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  if (Sandbox::of(L).fatal_error_caught(status)) return lua_error(L);
  if (status != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  luaL_checkstack(L, 1, "too many results");
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  return lua_gettop(L);
}

// The handler runs after the failed call has unwound, as an ordinary call, rather than as
// Lua's message handler: Lua runs message handlers with hooks off, so a handler that loops
// would escape the budget and the deadline.
int protected_call_with_handler(lua_State* L) {
  const int count = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_checkstack(L, 2, "too many arguments");
  lua_pushvalue(L, 2);
  lua_remove(L, 2);
  lua_insert(L, 1);  // handler, function, arguments...
  int status = lua_pcall(L, count - 2, LUA_MULTRET, 0);
  if (Sandbox::of(L).fatal_error_caught(status)) return lua_error(L);
  if (status == LUA_OK) {
    lua_pushboolean(L, 1);
    lua_replace(L, 1);  // over the handler
    return lua_gettop(L);
  }
  // handler, error object: the handler's answer replaces the error object.
  status = lua_pcall(L, 1, 1, 0);
  if (Sandbox::of(L).fatal_error_caught(status)) return lua_error(L);
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

// Finalizers would run script code at moments no call budgets (inside the collector, while
// the host reads results, when the state is closed).
int set_metatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "__gc finalizers are not available to a script");
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

// __newindex of the global table: remembers where each global was first assigned, so an
// error about a card field names its line.
int record_global(lua_State* L) {
  lua_Debug caller;
  if (lua_type(L, 2) == LUA_TSTRING && lua_getstack(L, 1, &caller) && lua_getinfo(L, "l", &caller) &&
      caller.currentline > 0) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kLinesKey);
    lua_pushvalue(L, 2);
    lua_pushinteger(L, caller.currentline);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

// Lua's pattern matching runs in C, outside the instruction count, and backtracks: each
// repetition (*, +, -, ?), balance (%b) or back-reference (%1..%9) may try every position
// left in the subject, and each step may scan a character class as long as the pattern. So
// matching from one position takes at most about (n+1)^k * (m+1) steps for k of those over n
// subject bytes and an m-byte pattern, and find, match, gmatch and gsub may start from every
// position: (n+1)^(k+1) * (m+1). Patterns whose bound passes kPatternStepLimit are refused as
// a script error, so a script cannot hang the emulator in them.
constexpr double kPatternStepLimit = 1e8;

int backtracking_points(std::string_view pattern) {
  int points = 0;
  std::size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '%' && i + 1 < pattern.size()) {
      const char escaped = pattern[i + 1];
      if (escaped == 'b') {
        ++points;
        i += 4;  // %bxy
        continue;
      }
      if (escaped >= '1' && escaped <= '9') ++points;
      i += 2;
    } else if (c == '[') {
      // A set: the quantifier characters in it are plain characters.
      std::size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == '^') ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;  // a leading ']' is a member
      while (j < pattern.size() && pattern[j] != ']') j += pattern[j] == '%' ? 2 : 1;
      i = j + 1;
    } else {
      if (c == '*' || c == '+' || c == '-' || c == '?') ++points;
      ++i;
    }
  }
  return points;
}

int guarded_pattern_function(lua_State* L) {
  std::size_t subject_length = 0, pattern_length = 0;
  luaL_checklstring(L, 1, &subject_length);
  const char* pattern = luaL_checklstring(L, 2, &pattern_length);
  const bool plain_find = lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4);
  const int points = plain_find ? 0 : backtracking_points({pattern, pattern_length});
  const double subject_positions = static_cast<double>(subject_length) + 1.0;
  const double steps = std::pow(subject_positions, points + 1) * (static_cast<double>(pattern_length) + 1.0);
  if (steps > kPatternStepLimit) {
    return luaL_error(L, "pattern of %d bytes with %d repetitions over %d bytes is too costly for a script",
                      static_cast<int>(std::min<std::size_t>(pattern_length, INT32_MAX)), points,
                      static_cast<int>(std::min<std::size_t>(subject_length, INT32_MAX)));
  }
  Sandbox::charge(L, Sandbox::byte_cost(subject_length + pattern_length));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  for (int i = 1; i <= lua_gettop(L); ++i)
    if (lua_type(L, i) == LUA_TSTRING) Sandbox::charge(L, Sandbox::byte_cost(lua_rawlen(L, i)));
  return lua_gettop(L);
}

// How a library function's work is measured before it runs (what it returns is charged
// after, by its bytes).
enum class Work : int {
  string_bytes,   // the bytes of its string arguments (scanning, copying, formatting)
  repetition,     // string.rep(s, n, sep): the bytes it builds
  element_range,  // table.move(a, f, e, t): e - f + 1 elements
  table_length,   // table.insert, table.remove: up to #t elements shift
  sorting,        // table.sort: #t * log2(#t) comparisons
  concat_slice,   // table.concat(t, sep, i, j): elements i..j
  unpack_slice,   // table.unpack(t, i, j): elements i..j
};

double table_length(lua_State* L, int index) {
  return lua_type(L, index) == LUA_TTABLE ? static_cast<double>(luaL_len(L, index)) : 0.0;
}

double slice_length(lua_State* L, int table, int first) {
  const double i = static_cast<double>(luaL_optinteger(L, first, 1));
  const double j =
      lua_isnoneornil(L, first + 1) ? table_length(L, table) : static_cast<double>(luaL_checkinteger(L, first + 1));
  return j - i + 1.0;
}

std::uint64_t work_before(lua_State* L, Work work) {
  switch (work) {
    case Work::string_bytes: {
      std::size_t bytes = 0;
      for (int i = 1; i <= lua_gettop(L); ++i)
        if (lua_type(L, i) == LUA_TSTRING) bytes += lua_rawlen(L, i);
      return Sandbox::byte_cost(bytes);
    }
    case Work::repetition: {
      std::size_t length = 0, separator = 0;
      luaL_checklstring(L, 1, &length);
      const double count = static_cast<double>(luaL_checkinteger(L, 2));
      luaL_optlstring(L, 3, "", &separator);
      // Beyond the memory cap the allocation fails at once: charge no more than that.
      const double bytes = std::min(count * static_cast<double>(length + separator),
                                    static_cast<double>(Sandbox::of(L).limits().memory_bytes));
      return Sandbox::byte_cost(static_cast<std::size_t>(std::max(bytes, 0.0)));
    }
    case Work::element_range: {
      const double first = static_cast<double>(luaL_checkinteger(L, 2));
      const double last = static_cast<double>(luaL_checkinteger(L, 3));
      return saturated(last - first + 1.0);
    }
    case Work::table_length: return saturated(table_length(L, 1));
    case Work::sorting: {
      const double n = table_length(L, 1);
      return saturated(n * std::log2(std::max(n, 2.0)));
    }
    case Work::concat_slice: return saturated(slice_length(L, 1, 3));
    case Work::unpack_slice: return saturated(slice_length(L, 1, 2));
  }
  return 0;
}

int charged_function(lua_State* L) {
  const auto work = static_cast<Work>(lua_tointeger(L, lua_upvalueindex(2)));
  Sandbox::charge(L, work_before(L, work));
  luaL_checkstack(L, 1, "too many arguments");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  std::size_t produced = 0;
  for (int i = 1; i <= lua_gettop(L); ++i)
    if (lua_type(L, i) == LUA_TSTRING) produced += lua_rawlen(L, i);
  Sandbox::charge(L, Sandbox::byte_cost(produced));
  return lua_gettop(L);
}

// Replaces library.name (on the table on top of the stack) by a charged wrapper.
void charge_function(lua_State* L, const char* name, Work work) {
  lua_getfield(L, -1, name);
  lua_pushinteger(L, static_cast<lua_Integer>(work));
  lua_pushcclosure(L, charged_function, 2);
  lua_setfield(L, -2, name);
}

void bound_library_functions(lua_State* L) {
  lua_getglobal(L, LUA_STRLIBNAME);
  for (const char* name : {"find", "match", "gmatch", "gsub"}) {
    lua_getfield(L, -1, name);
    lua_pushboolean(L, std::string_view(name) == "find");  // find may be asked for plain text
    lua_pushcclosure(L, guarded_pattern_function, 2);
    lua_setfield(L, -2, name);
  }
  for (const char* name : {"upper", "lower", "reverse", "sub", "byte", "format", "pack", "unpack", "char"})
    charge_function(L, name, Work::string_bytes);
  charge_function(L, "rep", Work::repetition);
  lua_pop(L, 1);

  lua_getglobal(L, LUA_TABLIBNAME);
  charge_function(L, "move", Work::element_range);
  charge_function(L, "insert", Work::table_length);
  charge_function(L, "remove", Work::table_length);
  charge_function(L, "sort", Work::sorting);
  charge_function(L, "concat", Work::concat_slice);
  charge_function(L, "unpack", Work::unpack_slice);
  lua_pop(L, 1);

  lua_getglobal(L, LUA_UTF8LIBNAME);
  for (const char* name : {"len", "codepoint", "offset", "char"}) charge_function(L, name, Work::string_bytes);
  lua_pop(L, 1);
}

int open_sandbox(lua_State* L) {
  static const luaL_Reg libraries[] = {{LUA_GNAME, luaopen_base},
                                       {LUA_STRLIBNAME, luaopen_string},
                                       {LUA_TABLIBNAME, luaopen_table},
                                       {LUA_MATHLIBNAME, luaopen_math},
                                       {LUA_UTF8LIBNAME, luaopen_utf8}};
  for (const auto& library : libraries) {
    luaL_requiref(L, library.name, library.func, 1);
    lua_pop(L, 1);
  }
  // Loading code (text or bytecode), files, the collector's controls, and output that would
  // bypass the host's log (the host gives print back).
  for (const char* name : {"dofile", "loadfile", "load", "require", "collectgarbage", "print", "warn"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");  // makes bytecode
  lua_pop(L, 1);
  bound_library_functions(L);

  lua_pushcfunction(L, protected_call);
  lua_setglobal(L, "pcall");
  lua_pushcfunction(L, protected_call_with_handler);
  lua_setglobal(L, "xpcall");
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, set_metatable, 1);
  lua_setglobal(L, "setmetatable");

  lua_newtable(L);  // lines: global name or table -> line
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");  // a table's entry goes when the table does
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kLinesKey);

  lua_pushglobaltable(L);
  lua_newtable(L);
  lua_pushcfunction(L, record_global);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");  // the script may neither read nor replace it
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
  return 0;
}

int add_traceback(lua_State* L) {
  const char* message = lua_tostring(L, 1);
  luaL_traceback(L, L, message ? message : "(error object is not a string)", 1);
  return 1;
}

// Lua's own messages start with "chunk:line:"; messages from error(x, 0) or from C code
// called outside any Lua function do not.
bool has_location(std::string_view message) {
  const std::size_t end_of_line = message.find('\n');
  const std::string_view first_line = message.substr(0, end_of_line);
  for (std::size_t colon = first_line.find(':'); colon != std::string_view::npos;
       colon = first_line.find(':', colon + 1)) {
    std::size_t digits_end = colon + 1;
    while (digits_end < first_line.size() && std::isdigit(static_cast<unsigned char>(first_line[digits_end]))) {
      ++digits_end;
    }
    if (digits_end > colon + 1 && digits_end < first_line.size() && first_line[digits_end] == ':') return true;
  }
  return false;
}

// "chunk:line: what happened" as an Error: where is the chunk and line, what the rest (with a
// traceback when there is one), so that message() gives the same text back.
Error located_error(const std::string& message) {
  const std::size_t split = message.substr(0, message.find('\n')).find(": ");
  if (split == std::string::npos) return Error{"", message};
  return Error{message.substr(0, split), message.substr(split + 2)};
}

std::string describe_duration(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
}

}  // namespace

Sandbox::Sandbox(const SandboxLimits& limits, std::string chunk_name)
    : limits_(limits), chunk_name_(std::move(chunk_name)), chunk_source_("@" + chunk_name_) {
  memory_.limit = limits.memory_bytes;
}

Expected<std::unique_ptr<Sandbox>> Sandbox::create(const SandboxLimits& limits, std::string chunk_name) {
  std::unique_ptr<Sandbox> sandbox(new Sandbox(limits, std::move(chunk_name)));
  sandbox->L_ = lua_newstate(allocate, &sandbox->memory_);
  if (!sandbox->L_) {
    return error(sandbox->chunk_name_,
                 "the memory cap of " + std::to_string(limits.memory_bytes) + " bytes cannot hold a Lua state");
  }
  *static_cast<Sandbox**>(lua_getextraspace(sandbox->L_)) = sandbox.get();
  lua_sethook(sandbox->L_, hook, LUA_MASKCOUNT | LUA_MASKLINE, kHookInterval);
  if (auto opened = sandbox->open_libraries(); !opened) return opened.error();
  return sandbox;
}

void Sandbox::set_chunk_name(std::string chunk_name) {
  chunk_name_ = std::move(chunk_name);
  chunk_source_ = "@" + chunk_name_;
}

void Sandbox::set_limits(const SandboxLimits& limits) {
  limits_ = limits;
  memory_.limit = limits.memory_bytes;
}

Sandbox::~Sandbox() {
  if (L_) lua_close(L_);
}

Sandbox& Sandbox::of(lua_State* L) { return **static_cast<Sandbox**>(lua_getextraspace(L)); }

void* Sandbox::host_of(lua_State* L) { return of(L).host_; }

Status Sandbox::open_libraries() {
  lua_pushcfunction(L_, open_sandbox);
  return call(0, 0);
}

void Sandbox::on_hook_line(lua_State* L, lua_Debug* activation) {
  if (lua_getinfo(L, "S", activation) && activation->source && chunk_source_ == activation->source)
    current_line_ = activation->currentline;
}

bool Sandbox::within_limits(std::uint64_t more_instructions) {
  if (fatal_ != Fatal::none) return false;
  instructions_ = std::min(instructions_ + std::min(more_instructions, kMaxCharge), kMaxCharge);
  if (instructions_ > limits_.instructions_per_call) {
    fatal_ = Fatal::instruction_budget;
    return false;
  }
  if (std::chrono::steady_clock::now() >= deadline_) {
    fatal_ = Fatal::time_limit;
    return false;
  }
  return true;
}

void Sandbox::charge(lua_State* L, std::uint64_t instructions) {
  if (!of(L).within_limits(instructions)) raise_limit(L);
}

std::chrono::milliseconds Sandbox::time_left(lua_State* L) {
  // Rounded up: a wait cut to this ends at the deadline or after it, never just before.
  const auto left = of(L).deadline_ - std::chrono::steady_clock::now();
  return std::max(std::chrono::ceil<std::chrono::milliseconds>(left), std::chrono::milliseconds(0));
}

void Sandbox::push_printed(lua_State* L, int first) {
  const int last = lua_gettop(L);
  std::size_t total = 0;
  for (int i = first; i <= last; ++i) {
    std::size_t length = 0;
    luaL_tolstring(L, i, &length);
    lua_replace(L, i);
    total += length + (i > first ? 1 : 0);
  }
  charge(L, byte_cost(std::min(total, kMaxPrintedBytes)));
  luaL_Buffer buffer;
  luaL_buffinit(L, &buffer);
  std::size_t room = kMaxPrintedBytes;
  for (int i = first; i <= last && room > 0; ++i) {
    if (i > first) {
      luaL_addchar(&buffer, '\t');
      --room;
    }
    std::size_t length = 0;
    const char* text = lua_tolstring(L, i, &length);
    const std::size_t kept = std::min(length, room);
    luaL_addlstring(&buffer, text, kept);
    room -= kept;
  }
  if (total > kMaxPrintedBytes) {
    char cut[64];
    std::snprintf(cut, sizeof cut, "... (%zu more bytes)", total - kMaxPrintedBytes);
    luaL_addstring(&buffer, cut);
  }
  luaL_pushresult(&buffer);
}

bool Sandbox::fatal_error_caught(int status) {
  if (fatal_ == Fatal::none && memory_.refused && (status == LUA_ERRMEM || status == LUA_ERRERR)) {
    fatal_ = Fatal::memory_cap;
  }
  return fatal_ != Fatal::none;
}

std::string Sandbox::location() const {
  return current_line_ > 0 ? chunk_name_ + ":" + std::to_string(current_line_) : chunk_name_;
}

std::string Sandbox::failure_message(int status) {
  fatal_error_caught(status);
  std::string traceback;
  if (tracebacks_ && lua_type(L_, -1) == LUA_TSTRING) {
    const std::string_view message = lua_tostring(L_, -1);
    if (const auto at = message.find("\nstack traceback:"); at != std::string_view::npos)
      traceback = message.substr(at);
  }
  switch (fatal_) {
    case Fatal::instruction_budget:
      return location() + ": the instruction budget of " + std::to_string(limits_.instructions_per_call) +
             " per call is spent (an endless loop?)" + traceback;
    case Fatal::time_limit:
      return location() + ": the time budget of " + describe_duration(limits_.time_per_call) + " is spent" + traceback;
    case Fatal::memory_cap:
      return location() + ": the memory cap of " + std::to_string(limits_.memory_bytes) + " bytes is reached";
    case Fatal::none: break;
  }
  if (lua_type(L_, -1) == LUA_TSTRING) {
    std::string message = lua_tostring(L_, -1);
    return has_location(message) ? message : location() + ": " + message;
  }
  return location() + ": error object is a " + lua_typename(L_, lua_type(L_, -1));
}

Status Sandbox::call(int arguments, int results) {
  instructions_ = 0;
  current_line_ = 0;
  fatal_ = Fatal::none;
  memory_.refused = false;
  deadline_ = std::chrono::steady_clock::now() + limits_.time_per_call;
  const int base = lua_gettop(L_) - arguments - 1;
  int handler = 0;
  if (tracebacks_) {
    lua_pushcfunction(L_, add_traceback);
    lua_insert(L_, base + 1);
    handler = base + 1;
  }
  const int status = lua_pcall(L_, arguments, results, handler);
  if (status == LUA_OK) {
    if (handler) lua_remove(L_, handler);
    return {};
  }
  Error failure = located_error(failure_message(status));
  lua_settop(L_, base);
  return failure;
}

namespace {

// Hands the source to the compiler a line at a time, so that an error the compiler raises
// without a position (Lua 5.4's parser says only "C stack overflow" for nesting too deep) can
// still be given the line it was reading.
struct LineByLine {
  std::string_view text;
  std::size_t offset = 0;
  int lines_given = 0;

  static const char* next(lua_State*, void* self, std::size_t* size) {
    auto& reader = *static_cast<LineByLine*>(self);
    if (reader.offset >= reader.text.size()) {
      *size = 0;
      return nullptr;
    }
    const std::size_t end = reader.text.find('\n', reader.offset);
    const std::size_t stop = end == std::string_view::npos ? reader.text.size() : end + 1;
    const char* line = reader.text.data() + reader.offset;
    *size = stop - reader.offset;
    reader.offset = stop;
    ++reader.lines_given;
    return line;
  }
};

}  // namespace

Status Sandbox::run_chunk(std::string_view text, std::string_view chunk_name, int results) {
  const std::string name = chunk_name.empty() ? chunk_name_ : std::string(chunk_name);
  // Every precompiled chunk starts with LUA_SIGNATURE ("\x1bLua"); text never does.
  if (!text.empty() && text.front() == LUA_SIGNATURE[0]) {
    return error(name, "bytecode is refused (a script is Lua source text)");
  }
  memory_.refused = false;
  const std::string source_name = "@" + name;
  LineByLine reader{text};
  const int status = lua_load(L_, &LineByLine::next, &reader, source_name.c_str(), "t");
  if (status != LUA_OK) {
    std::string message =
        status == LUA_ERRMEM && memory_.refused
            ? name + ": the memory cap of " + std::to_string(limits_.memory_bytes) + " bytes is reached while compiling"
        : lua_type(L_, -1) == LUA_TSTRING ? std::string(lua_tostring(L_, -1))
                                          : name + ": cannot compile";
    lua_pop(L_, 1);
    if (message.rfind(name + ":", 0) != 0) message = name + ":" + std::to_string(reader.lines_given) + ": " + message;
    return located_error(message);
  }
  return call(0, results);
}

int Sandbox::global_line(std::string_view name) {
  HostAccess access(*this);
  lua_rawgetp(L_, LUA_REGISTRYINDEX, &kLinesKey);
  lua_pushlstring(L_, name.data(), name.size());
  lua_rawget(L_, -2);
  const auto line = static_cast<int>(lua_tointeger(L_, -1));
  lua_pop(L_, 2);
  return line;
}

int Sandbox::table_line(int index) {
  index = lua_absindex(L_, index);
  lua_rawgetp(L_, LUA_REGISTRYINDEX, &kLinesKey);
  lua_pushvalue(L_, index);
  lua_rawget(L_, -2);
  const auto line = static_cast<int>(lua_tointeger(L_, -1));
  lua_pop(L_, 2);
  return line;
}

void Sandbox::remember_line(lua_State* L, int index) {
  index = lua_absindex(L, index);
  lua_Debug caller;
  if (!lua_getstack(L, 1, &caller) || !lua_getinfo(L, "l", &caller) || caller.currentline <= 0) return;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kLinesKey);
  lua_pushvalue(L, index);
  lua_pushinteger(L, caller.currentline);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

}  // namespace readerlab::cards::lua
