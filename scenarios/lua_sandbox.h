// A sandboxed Lua 5.4 state for cases, scenarios and (later) card scripts: only the base,
// string, table, math and utf8 libraries, no io, os, package, require, debug or bytecode.
#pragma once

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace readerlab::scenarios {

class LuaSandbox {
 public:
  LuaSandbox();
  ~LuaSandbox();
  LuaSandbox(const LuaSandbox&) = delete;
  LuaSandbox& operator=(const LuaSandbox&) = delete;

  lua_State* state() { return L_; }

  // Loads and runs text (never bytecode) under a wall-clock budget. chunk_name is what error
  // messages start with, e.g. "conformance/cases/x.lua". Returns an empty string on success,
  // else the error with file and line and a traceback.
  std::string run(const std::string& source, const std::string& chunk_name, std::chrono::milliseconds budget);

 private:
  lua_State* L_;
};

// JSON <-> Lua conversions. Arrays become 1-based sequences; a Lua table whose keys are 1..n
// becomes a JSON array, any other table an object. to_json throws std::runtime_error for
// values JSON cannot hold (functions, userdata, deep nesting).
void push_json(lua_State* L, const nlohmann::json& value);
nlohmann::json to_json(lua_State* L, int index, int depth = 0);

}  // namespace readerlab::scenarios
