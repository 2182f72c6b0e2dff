#include "scenarios/lua_sandbox.h"

#include <stdexcept>

namespace readerlab::scenarios {
LuaSandbox::LuaSandbox(const ScriptLimits& limits, std::string chunk_name) : limits_(limits) {
  auto created = cards::lua::Sandbox::create(limits, std::move(chunk_name));
  if (!created) throw std::runtime_error(created.error().message());
  sandbox_ = std::move(created).value();
  sandbox_->set_tracebacks(true);
}

Status LuaSandbox::run(const std::string& source, const std::string& chunk_name, std::chrono::milliseconds budget) {
  ScriptLimits limits = limits_;
  limits.time_per_call = budget;
  sandbox_->set_limits(limits);
  sandbox_->set_chunk_name(chunk_name);
  return sandbox_->run_chunk(source);
}

Status LuaSandbox::run_helper(const std::string& source, const std::string& chunk_name) {
  return sandbox_->run_chunk(source, chunk_name);
}

namespace {

void reserve_stack(lua_State* L, int slots) {
  if (!lua_checkstack(L, slots)) throw std::runtime_error("JSON value nested too deeply for the Lua stack");
}

void push_json_value(lua_State* L, const nlohmann::json& value, int depth) {
  if (depth > kMaxJsonDepth) throw std::runtime_error("JSON value nested deeper than 32 levels");
  reserve_stack(L, 3);
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
      lua_createtable(L, static_cast<int>(std::min<std::size_t>(value.size(), INT32_MAX)), 0);
      lua_Integer i = 1;
      for (const auto& item : value) {
        push_json_value(L, item, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(std::min<std::size_t>(value.size(), INT32_MAX)));
      for (const auto& [key, item] : value.items()) {
        lua_pushlstring(L, key.data(), key.size());
        push_json_value(L, item, depth + 1);
        lua_rawset(L, -3);
      }
      break;
    }
    default: lua_pushnil(L); break;
  }
}

}  // namespace

void push_json(lua_State* L, const nlohmann::json& value) {
  // Under the cap an allocation could fail, and Lua would raise through these C++ frames.
  cards::lua::Sandbox::HostAccess uncapped(cards::lua::Sandbox::of(L));
  const int top = lua_gettop(L);
  try {
    push_json_value(L, value, 0);
  } catch (...) {
    lua_settop(L, top);
    throw;
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
      if (depth >= kMaxJsonDepth) throw std::runtime_error("table nested deeper than 32 levels");
      // Each level holds a key and a value on the stack while it converts the value.
      reserve_stack(L, 3);
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
      const int top = lua_gettop(L);
      lua_pushnil(L);
      while (lua_next(L, index)) {
        std::string key;
        if (lua_type(L, -2) == LUA_TSTRING) {
          std::size_t length_of_key = 0;
          const char* text = lua_tolstring(L, -2, &length_of_key);
          key.assign(text, length_of_key);
        } else if (lua_isinteger(L, -2)) {
          key = std::to_string(lua_tointeger(L, -2));
        } else {
          lua_settop(L, top);
          throw std::runtime_error("table keys must be strings or integers");
        }
        try {
          object[key] = to_json(L, -1, depth + 1);
        } catch (...) {
          lua_settop(L, top);
          throw;
        }
        lua_pop(L, 1);
      }
      return object;
    }
    default: throw std::runtime_error(std::string("a ") + luaL_typename(L, index) + " cannot be turned into JSON");
  }
}

}  // namespace readerlab::scenarios
