#include "scenarios/lua_sandbox.h"

#include <doctest/doctest.h>

#include "cards/lua/lua_card.h"

using readerlab::scenarios::LuaSandbox;
using namespace std::chrono_literals;

namespace {

// A run's failure as the user reads it, or "" when the chunk ran.
std::string run(readerlab::scenarios::LuaSandbox& sandbox, const std::string& source, const std::string& chunk_name,
                std::chrono::milliseconds budget) {
  const auto ran = sandbox.run(source, chunk_name, budget);
  return ran ? std::string() : ran.error().message();
}

}  // namespace

TEST_CASE("a syntax error names the chunk and the line") {
  LuaSandbox sandbox;
  const auto error = run(sandbox, "local x = 1\nlocal y = = 2\n", "cases/broken.lua", 1s);
  CHECK(error.find("cases/broken.lua:2:") != std::string::npos);
}

TEST_CASE("a runtime error names the line and carries a traceback") {
  LuaSandbox sandbox;
  const auto error = run(sandbox, "local t = nil\n\nreturn t.field\n", "cases/nil.lua", 1s);
  CHECK(error.find("cases/nil.lua:3:") != std::string::npos);
  CHECK(error.find("stack traceback") != std::string::npos);
}

TEST_CASE("the sandbox has no io, os, package, require, load, dofile, debug or coroutine") {
  LuaSandbox sandbox;
  for (const char* name :
       {"io", "os", "package", "require", "load", "loadfile", "dofile", "debug", "coroutine", "collectgarbage"}) {
    CAPTURE(name);
    const auto error = run(sandbox, std::string("assert(") + name + " == nil, 'present')", "probe.lua", 1s);
    CHECK(error.empty());
  }
}

TEST_CASE("precompiled bytecode is refused") {
  LuaSandbox sandbox;
  const std::string bytecode("\x1bLua\x54\x00", 6);
  const auto error = run(sandbox, bytecode, "binary.lua", 1s);
  CHECK(error.find("binary") != std::string::npos);
  CHECK(error.find("bytecode is refused") != std::string::npos);
}

TEST_CASE("an endless loop stops at the time budget") {
  // The clock, not the instruction count, must be what stops the loop, however fast it runs.
  readerlab::scenarios::ScriptLimits limits;
  limits.instructions_per_call = std::uint64_t{1} << 60;
  LuaSandbox sandbox(limits);
  const auto error = run(sandbox, "while true do end", "loop.lua", 200ms);
  CHECK(error.find("loop.lua:1: the time budget of 200 ms is spent") == 0);
  // The state is still usable afterwards.
  CHECK(run(sandbox, "local a = 1 + 1", "after.lua", 1s).empty());
}

TEST_CASE("a case starts with the limits a card has: the same memory cap and instruction budget") {
  const readerlab::cards::LuaCardOptions card;
  LuaSandbox sandbox;
  CHECK(sandbox.sandbox().limits().memory_bytes == card.memory_limit);
  CHECK(sandbox.sandbox().limits().instructions_per_call == card.instruction_budget);
  // With the clock far away, the instruction budget is what stops an endless loop.
  const auto error = run(sandbox, "local n = 0\nwhile true do n = n + 1 end", "cases/spin.lua", 10min);
  CHECK(error.find("cases/spin.lua:2: the instruction budget of 10000000 per call is spent") == 0);
  // The memory cap holds for the whole state, and the state stays usable after it.
  const auto big = run(sandbox, "local s = string.rep('x', 16 * 1024 * 1024)", "cases/big.lua", 10s);
  CHECK(big.find("cases/big.lua:1: the memory cap of 8388608 bytes is reached") == 0);
  CHECK(run(sandbox, "local a = 1 + 1", "after.lua", 1s).empty());
}

TEST_CASE("a case's pattern that could backtrack for ages fails the case; cheap patterns run") {
  LuaSandbox sandbox;
  const auto costly = run(sandbox, "local subject = string.rep('a', 200)\nreturn string.find(subject, 'a-a-a-a-b')",
                          "cases/patterns.lua", 10s);
  CHECK(costly.find("cases/patterns.lua:2:") == 0);
  CHECK(costly.find("too costly") != std::string::npos);
  CHECK(run(sandbox,
            "assert(string.match('abc123', '%a+(%d+)') == '123')\n"
            "assert(string.find('readerlab case', 'case', 1, true) == 11)",
            "cases/cheap.lua", 10s)
            .empty());
}

TEST_CASE("JSON and Lua tables convert both ways") {
  LuaSandbox sandbox;
  lua_State* L = sandbox.state();
  const nlohmann::json value = {{"rv", 0}, {"readers", {"a", "b"}}, {"nested", {{"x", 1.5}, {"ok", true}}}};
  readerlab::scenarios::push_json(L, value);
  CHECK(readerlab::scenarios::to_json(L, -1) == value);
  lua_pop(L, 1);
}

TEST_CASE("a function cannot become JSON") {
  LuaSandbox sandbox;
  lua_State* L = sandbox.state();
  lua_pushcfunction(L, [](lua_State*) { return 0; });
  CHECK_THROWS_AS(readerlab::scenarios::to_json(L, -1), std::runtime_error);
  lua_pop(L, 1);
}
