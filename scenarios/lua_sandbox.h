// Cases and scenarios run in the one sandbox every script runs in (cards/lua/sandbox.h):
// the same libraries, instruction budget, memory cap, pattern guard and per-call deadline as
// a card. LuaSandbox is that sandbox set up for a case: failure messages with a traceback, a
// case's own limits (its header may raise them, see conformance/suite.h), and a wall-clock
// budget per run (the case's @timeout) that the lab's waits are cut to.
#pragma once

#include "cards/lua/sandbox.h"

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace readerlab::scenarios {

// What a case gets unless its header says otherwise: what a card gets.
using ScriptLimits = cards::lua::SandboxLimits;

class LuaSandbox {
 public:
  // Throws std::runtime_error when the memory cap cannot even hold the libraries.
  explicit LuaSandbox(const ScriptLimits& limits = {}, std::string chunk_name = "case");
  LuaSandbox(const LuaSandbox&) = delete;
  LuaSandbox& operator=(const LuaSandbox&) = delete;

  lua_State* state() { return sandbox_->state(); }
  cards::lua::Sandbox& sandbox() { return *sandbox_; }

  // Loads and runs text (never bytecode) as the sandbox's own chunk, under a wall-clock
  // budget: chunk_name is what error messages start with, e.g. "conformance/cases/x.lua".
  // A failure's message() is the error with file and line and a traceback.
  Status run(const std::string& source, const std::string& chunk_name, std::chrono::milliseconds budget);
  // Runs a helper chunk (the prelude) in the same state under the sandbox's limits.
  Status run_helper(const std::string& source, const std::string& chunk_name);

 private:
  ScriptLimits limits_;
  std::unique_ptr<cards::lua::Sandbox> sandbox_;
};

// JSON <-> Lua conversions. Arrays become 1-based sequences; a Lua table whose keys are 1..n
// becomes a JSON array, any other table an object. Both throw std::runtime_error rather than
// raise a Lua error: for values JSON cannot hold (functions, userdata), for nesting deeper
// than kMaxJsonDepth, and when the Lua stack cannot grow. push_json pushes with the memory
// cap lifted (the host's data, not the script's), so it never raises either; its state must
// be a sandbox's (LuaSandbox::state()).
constexpr int kMaxJsonDepth = 32;
void push_json(lua_State* L, const nlohmann::json& value);
nlohmann::json to_json(lua_State* L, int index, int depth = 0);

}  // namespace readerlab::scenarios
