#include "scenarios/lua_sandbox.h"

#include <cmath>
#include <stdexcept>

namespace readerlab::scenarios {
namespace {

constexpr int kHookInstructionCount = 100000;
constexpr int kMaxTableDepth = 32;

struct Budget {
  std::chrono::steady_clock::time_point deadline;
};

const char kBudgetKey = 0;  // address used as a registry key

void budget_hook(lua_State* L, lua_Debug*) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kBudgetKey);
  auto* budget = static_cast<Budget*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (budget && std::chrono::steady_clock::now() > budget->deadline) luaL_error(L, "time budget exceeded");
}

int traceback(lua_State* L) {
  const char* message = lua_tostring(L, 1);
  luaL_traceback(L, L, message ? message : "(error object is not a string)", 1);
  return 1;
}

}  // namespace

LuaSandbox::LuaSandbox() : L_(luaL_newstate()) {
  if (!L_) throw std::runtime_error("cannot create a Lua state");
  static const luaL_Reg libraries[] = {{LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
                                       {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                       {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_COLIBNAME, luaopen_coroutine}};
  for (const auto& lib : libraries) {
    luaL_requiref(L_, lib.name, lib.func, 1);
    lua_pop(L_, 1);
  }
  // Functions of the base library that reach files or load code.
  for (const char* name : {"dofile", "loadfile", "load", "require", "collectgarbage"}) {
    lua_pushnil(L_);
    lua_setglobal(L_, name);
  }
}

LuaSandbox::~LuaSandbox() { lua_close(L_); }

std::string LuaSandbox::run(const std::string& source, const std::string& chunk_name, std::chrono::milliseconds budget) {
  Budget limit{std::chrono::steady_clock::now() + budget};
  lua_pushlightuserdata(L_, &limit);
  lua_rawsetp(L_, LUA_REGISTRYINDEX, &kBudgetKey);
  lua_sethook(L_, budget_hook, LUA_MASKCOUNT, kHookInstructionCount);

  std::string error;
  lua_pushcfunction(L_, traceback);
  const int handler = lua_gettop(L_);
  const std::string name = "@" + chunk_name;
  if (luaL_loadbufferx(L_, source.data(), source.size(), name.c_str(), "t") != LUA_OK) {
    error = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "cannot load chunk";
    lua_pop(L_, 1);
  } else if (lua_pcall(L_, 0, 0, handler) != LUA_OK) {
    error = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "error object is not a string";
    lua_pop(L_, 1);
  }
  lua_pop(L_, 1);  // the handler
  lua_sethook(L_, nullptr, 0, 0);
  lua_pushnil(L_);
  lua_rawsetp(L_, LUA_REGISTRYINDEX, &kBudgetKey);
  return error;
}

void push_json(lua_State* L, const nlohmann::json& value) {
  luaL_checkstack(L, 4, "json too deep");
  switch (value.type()) {
    case nlohmann::json::value_t::null: lua_pushnil(L); break;
    case nlohmann::json::value_t::boolean: lua_pushboolean(L, value.get<bool>()); break;
    case nlohmann::json::value_t::number_integer: lua_pushinteger(L, value.get<lua_Integer>()); break;
    case nlohmann::json::value_t::number_unsigned:
      lua_pushinteger(L, static_cast<lua_Integer>(value.get<std::uint64_t>()));
      break;
    case nlohmann::json::value_t::number_float: lua_pushnumber(L, value.get<double>()); break;
    case nlohmann::json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      lua_pushlstring(L, text.data(), text.size());
      break;
    }
    case nlohmann::json::value_t::array: {
      lua_createtable(L, static_cast<int>(value.size()), 0);
      lua_Integer i = 1;
      for (const auto& item : value) {
        push_json(L, item);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(value.size()));
      for (const auto& [key, item] : value.items()) {
        push_json(L, item);
        lua_setfield(L, -2, key.c_str());
      }
      break;
    }
    default: lua_pushnil(L); break;
  }
}

nlohmann::json to_json(lua_State* L, int index, int depth) {
  index = lua_absindex(L, index);
  switch (lua_type(L, index)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return lua_toboolean(L, index) != 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) return static_cast<std::int64_t>(lua_tointeger(L, index));
      return lua_tonumber(L, index);
    case LUA_TSTRING: {
      std::size_t length = 0;
      const char* text = lua_tolstring(L, index, &length);
      return std::string(text, length);
    }
    case LUA_TTABLE: {
      if (depth > kMaxTableDepth) throw std::runtime_error("table nested deeper than 32 levels");
      const lua_Integer length = static_cast<lua_Integer>(lua_rawlen(L, index));
      std::size_t keys = 0;
      lua_pushnil(L);
      while (lua_next(L, index)) {
        ++keys;
        lua_pop(L, 1);
      }
      if (length > 0 && static_cast<std::size_t>(length) == keys) {
        auto array = nlohmann::json::array();
        for (lua_Integer i = 1; i <= length; ++i) {
          lua_rawgeti(L, index, i);
          array.push_back(to_json(L, -1, depth + 1));
          lua_pop(L, 1);
        }
        return array;
      }
      auto object = nlohmann::json::object();
      lua_pushnil(L);
      while (lua_next(L, index)) {
        std::string key;
        if (lua_type(L, -2) == LUA_TSTRING) key = lua_tostring(L, -2);
        else if (lua_isinteger(L, -2)) key = std::to_string(lua_tointeger(L, -2));
        else throw std::runtime_error("table keys must be strings or integers");
        object[key] = to_json(L, -1, depth + 1);
        lua_pop(L, 1);
      }
      return object;
    }
    default:
      throw std::runtime_error(std::string("a ") + luaL_typename(L, index) + " cannot be turned into JSON");
  }
}

}  // namespace readerlab::scenarios
