#include "cards/lua/sandbox.h"

#include <cmath>
#include <string_view>

#include <cctype>
#include <cstdlib>
#include <lua.hpp>

namespace readerlab::cards::lua {
namespace {

// The count hook runs every this many VM instructions: fine enough for the budget, rare
// enough to cost nothing measurable.
constexpr int kHookInterval = 1000;

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
  if (resized) account.used = account.used - old_bytes + new_size;
  return resized;
}

void hook(lua_State* L, lua_Debug* activation) {
  Sandbox& sandbox = Sandbox::of(L);
  if (activation->event == LUA_HOOKLINE) {
    sandbox.on_hook_line(activation->currentline);
    return;
  }
  if (!sandbox.count_instructions()) {
    lua_pushliteral(L, "instruction budget spent");
    lua_error(L);
  }
}

// pcall and xpcall that let the budget and the memory cap through: a script must not keep
// running by catching them (Sandbox::fatal_error_caught).
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

int protected_call_with_handler(lua_State* L) {
  const int count = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 1);  // the function, to go above the handler
  lua_copy(L, 2, 1);    // the handler at 1
  lua_replace(L, 2);    // the function at 2, its arguments after it
  const int status = lua_pcall(L, count - 2, LUA_MULTRET, 1);
  if (Sandbox::of(L).fatal_error_caught(status)) return lua_error(L);
  if (status != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_replace(L, 1);  // over the handler
  return lua_gettop(L);
}

// Finalizers would run script code at moments no call budgets (inside the collector, while
// the host reads results, when the card is destroyed).
int set_metatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "__gc finalizers are not available to a card");
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

// Lua's pattern matching runs in C, outside the instruction count, and backtracks: a pattern
// with k repetitions over n bytes may take about n^(k+2) steps (every start position, every
// split). Patterns whose bound passes kPatternStepLimit are refused as a script error, so a
// card cannot hang the emulator in string.find, match, gmatch or gsub.
constexpr double kPatternStepLimit = 1e8;

int guarded_pattern_function(lua_State* L) {
  std::size_t subject_length = 0, pattern_length = 0;
  luaL_checklstring(L, 1, &subject_length);
  const char* pattern = luaL_checklstring(L, 2, &pattern_length);
  const bool plain_find = lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4);
  if (!plain_find) {
    int repetitions = 0;
    for (std::size_t i = 0; i < pattern_length; ++i) {
      const char c = pattern[i];
      if (c == '%') {
        if (i + 1 < pattern_length && pattern[i + 1] == 'b') ++repetitions;
        ++i;
      } else if (c == '*' || c == '+' || c == '-' || c == '?') {
        ++repetitions;
      }
    }
    const double steps = std::pow(static_cast<double>(subject_length) + 1.0, repetitions + 2);
    if (steps > kPatternStepLimit)
      return luaL_error(L, "pattern with %d repetitions over %d bytes is too costly for a card script", repetitions,
                        static_cast<int>(subject_length));
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

void guard_pattern_functions(lua_State* L) {
  lua_getglobal(L, LUA_STRLIBNAME);
  for (const char* name : {"find", "match", "gmatch", "gsub"}) {
    lua_getfield(L, -1, name);
    lua_pushboolean(L, std::string_view(name) == "find");  // find may be asked for plain text
    lua_pushcclosure(L, guarded_pattern_function, 2);
    lua_setfield(L, -2, name);
  }
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
  // bypass the card's log.
  for (const char* name : {"dofile", "loadfile", "load", "require", "collectgarbage", "print", "warn"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");  // makes bytecode
  lua_pop(L, 1);
  guard_pattern_functions(L);

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

// Lua's own messages start with "chunk:line:"; messages from error(x, 0) or from C code
// called outside any Lua function do not.
bool has_location(std::string_view message) {
  const std::size_t end_of_line = message.find('\n');
  const std::string_view first_line = message.substr(0, end_of_line);
  for (std::size_t colon = first_line.find(':'); colon != std::string_view::npos;
       colon = first_line.find(':', colon + 1)) {
    std::size_t digits_end = colon + 1;
    while (digits_end < first_line.size() &&
           std::isdigit(static_cast<unsigned char>(first_line[digits_end]))) {
      ++digits_end;
    }
    if (digits_end > colon + 1 && digits_end < first_line.size() && first_line[digits_end] == ':')
      return true;
  }
  return false;
}

}  // namespace

Sandbox::Sandbox(const SandboxLimits& limits, std::string chunk_name)
    : limits_(limits), chunk_name_(std::move(chunk_name)) {
  memory_.limit = limits.memory_bytes;
}

std::unique_ptr<Sandbox> Sandbox::create(const SandboxLimits& limits, std::string chunk_name,
                                         std::string& error) {
  std::unique_ptr<Sandbox> sandbox(new Sandbox(limits, std::move(chunk_name)));
  sandbox->L_ = lua_newstate(allocate, &sandbox->memory_);
  if (!sandbox->L_) {
    error = sandbox->chunk_name_ + ": the memory cap of " + std::to_string(limits.memory_bytes) +
            " bytes cannot hold a Lua state";
    return nullptr;
  }
  *static_cast<Sandbox**>(lua_getextraspace(sandbox->L_)) = sandbox.get();
  lua_sethook(sandbox->L_, hook, LUA_MASKCOUNT | LUA_MASKLINE, kHookInterval);
  error = sandbox->open_libraries();
  if (!error.empty()) return nullptr;
  return sandbox;
}

Sandbox::~Sandbox() {
  if (L_) lua_close(L_);
}

Sandbox& Sandbox::of(lua_State* L) {
  return **static_cast<Sandbox**>(lua_getextraspace(L));
}

void* Sandbox::host_of(lua_State* L) {
  return of(L).host_;
}

std::string Sandbox::open_libraries() {
  lua_pushcfunction(L_, open_sandbox);
  return call(0, 0);
}

bool Sandbox::count_instructions() {
  instructions_ += kHookInterval;
  if (instructions_ <= limits_.instructions_per_call) return true;
  fatal_ = Fatal::instruction_budget;
  return false;
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
  switch (fatal_) {
    case Fatal::instruction_budget:
      return location() + ": the instruction budget of " + std::to_string(limits_.instructions_per_call) +
             " per call is spent (an endless loop?)";
    case Fatal::memory_cap:
      return location() + ": the memory cap of " + std::to_string(limits_.memory_bytes) + " bytes is reached";
    case Fatal::none:
      break;
  }
  if (lua_type(L_, -1) == LUA_TSTRING) {
    std::string message = lua_tostring(L_, -1);
    return has_location(message) ? message : location() + ": " + message;
  }
  return location() + ": error object is a " + lua_typename(L_, lua_type(L_, -1));
}

std::string Sandbox::call(int arguments, int results) {
  instructions_ = 0;
  current_line_ = 0;
  fatal_ = Fatal::none;
  memory_.refused = false;
  const int base = lua_gettop(L_) - arguments - 1;
  const int status = lua_pcall(L_, arguments, results, 0);
  if (status == LUA_OK) return {};
  std::string message = failure_message(status);
  lua_settop(L_, base);
  return message;
}

std::string Sandbox::run_chunk(std::string_view text) {
  // Every precompiled chunk starts with LUA_SIGNATURE ("\x1bLua"); text never does.
  if (!text.empty() && text.front() == LUA_SIGNATURE[0]) {
    return chunk_name_ + ": bytecode is refused (a card is Lua source text)";
  }
  memory_.refused = false;
  const std::string source_name = "@" + chunk_name_;
  const int status = luaL_loadbufferx(L_, text.data(), text.size(), source_name.c_str(), "t");
  if (status != LUA_OK) {
    std::string message = status == LUA_ERRMEM && memory_.refused
                              ? chunk_name_ + ": the memory cap of " + std::to_string(limits_.memory_bytes) +
                                    " bytes is reached while compiling"
                          : lua_type(L_, -1) == LUA_TSTRING ? std::string(lua_tostring(L_, -1))
                                                            : chunk_name_ + ": cannot compile";
    lua_pop(L_, 1);
    return message;
  }
  return call(0, 0);
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
