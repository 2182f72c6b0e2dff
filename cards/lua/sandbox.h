// The one Lua state every script runs in: card files, conformance cases and scenarios.
//
// What a script sees: base (without the functions that load code, reach files or drive the
// collector, and without print, which the host gives back writing to its own log), string
// (without dump), table, math and utf8. No io, os, package, require, debug or coroutine;
// source text only, never bytecode; setmetatable refuses __gc.
//
// What bounds it, for every call into the script (a card handler, a case's body):
//  - an instruction budget: VM instructions, plus the work of the C functions that can do
//    unbounded work in one instruction (string building and scanning, table.move/concat/
//    insert/remove/sort/unpack, printing), charged by the bytes or elements they handle;
//  - a wall-clock deadline, checked with the budget and by the host's waits;
//  - pattern matching refused when its backtracking could take too long (it runs in C);
// and for the whole state one memory cap. pcall and xpcall cannot catch any of these: the
// call fails, with the script's file and line, and the host decides what that means (a card
// goes mute, a case fails).
//
// Lua raises errors with longjmp, which skips C++ destructors. So every call into Lua that
// can raise goes through `call` (a lua_pcall boundary), the C functions a script calls keep
// no C++ objects with destructors in their own frames, and the host reads results with the
// raw API functions that never raise (with the cap lifted, see HostAccess).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

struct lua_State;
struct lua_Debug;

namespace readerlab::cards::lua {

struct SandboxLimits {
  std::size_t memory_bytes = 8u * 1024u * 1024u;     // for the whole state
  std::uint64_t instructions_per_call = 10'000'000;  // for one call into the script
  std::chrono::milliseconds time_per_call{2000};     // wall clock of one call, waits included
};

class Sandbox {
 public:
  // An Error when even an empty state does not fit in the memory cap. `chunk_name` is where
  // failures are ("cards/profiles/applet.lua").
  static Expected<std::unique_ptr<Sandbox>> create(const SandboxLimits& limits, std::string chunk_name);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  lua_State* state() const { return L_; }
  const std::string& chunk_name() const { return chunk_name_; }
  // For a state that runs one script after its helpers (a case after the prelude): the
  // script's name, and the limits its calls get from now on.
  void set_chunk_name(std::string chunk_name);
  void set_limits(const SandboxLimits& limits);

  // The object the script's host functions work on (the card, the lab), reachable from lua_State.
  void set_host(void* host) { host_ = host; }
  static void* host_of(lua_State* L);

  // Failure messages end with a Lua traceback (cases want one; a card's log does not).
  void set_tracebacks(bool on) { tracebacks_ = on; }

  // Compiles `text` (source only: bytecode is refused) and runs it as one call. On failure
  // the Error's where is the chunk and line ("cards/x.lua:12"). `chunk_name` names a helper
  // chunk (a prelude) run in the same state; by default the chunk is the sandbox's own.
  // `results` values the chunk returns are left on the stack on success (a file that returns
  // a table: reader profiles); the caller pops them.
  Status run_chunk(std::string_view text, std::string_view chunk_name = {}, int results = 0);

  // Calls the function under its `arguments` on top of the stack in protected mode, with a
  // fresh instruction budget and deadline. On success `results` values are left on the stack
  // (the caller pops them); on failure nothing is left and the Error says where ("chunk:line")
  // and what happened (with a traceback when tracebacks are on).
  Status call(int arguments, int results);

  // The line of the sandbox's own chunk last executed (0 before any), for messages about
  // its results; lines of helper chunks do not count.
  int current_line() const { return current_line_; }
  // Where a global was first assigned, or a table given to remember_line was built; 0 when
  // unknown. The value (or key, for globals) is the stack value at `index`.
  int global_line(std::string_view name);
  int table_line(int index);
  // Remembers the line of the Lua code that called the running C function, for the table
  // at `index` (the table constructors of the card file use it).
  static void remember_line(lua_State* L, int index);

  std::size_t memory_in_use() const { return memory_.used; }
  std::size_t peak_memory() const { return memory_.peak; }
  std::uint64_t instructions_used() const { return instructions_; }
  const SandboxLimits& limits() const { return limits_; }

  // For the host's C functions that wait (sleep, a driver's reply): how long the running call
  // may still take; a wait longer than this is cut to it.
  static std::chrono::milliseconds time_left(lua_State* L);
  // Adds `instructions` of work to the running call's budget; raises (in the calling C
  // function, which must hold no C++ objects) once the budget or the deadline is passed.
  static void charge(lua_State* L, std::uint64_t instructions);
  // What C functions charge for handling `bytes` bytes: copying or scanning a byte costs far
  // less than a VM instruction.
  static std::uint64_t byte_cost(std::size_t bytes) { return bytes / kBytesPerInstruction + 1; }
  static constexpr std::size_t kBytesPerInstruction = 16;

  // print and its relatives: the arguments from `first` on as tostring shows them, separated
  // by tabs, left on the stack as one string of at most kMaxPrintedBytes (a longer one is cut,
  // saying by how much). Charges its work; may raise.
  static void push_printed(lua_State* L, int first);
  static constexpr std::size_t kMaxPrintedBytes = 16 * 1024;

  // While alive, the host may push keys and read values without the cap refusing memory:
  // a refusal would raise a Lua error in C++ frames, where nothing may raise.
  class HostAccess {
   public:
    explicit HostAccess(Sandbox& sandbox) : sandbox_(sandbox), was_enforced_(sandbox.memory_.enforced) {
      sandbox_.memory_.enforced = false;
    }
    ~HostAccess() { sandbox_.memory_.enforced = was_enforced_; }
    HostAccess(const HostAccess&) = delete;
    HostAccess& operator=(const HostAccess&) = delete;

   private:
    Sandbox& sandbox_;
    bool was_enforced_;
  };

  // The memory account behind the state's allocator; public for the allocator function.
  struct MemoryAccount {
    std::size_t used = 0;
    std::size_t peak = 0;
    std::size_t limit = 0;
    bool enforced = true;
    bool refused = false;  // the cap refused an allocation since the last call began
  };
  // Why the running call cannot go on whatever the script does (pcall cannot catch it).
  enum class Fatal { none, instruction_budget, time_limit, memory_cap };

  // For the sandbox's own C functions (the hook, pcall and xpcall).
  static Sandbox& of(lua_State* L);
  void on_hook_line(lua_State* L, lua_Debug* activation);
  bool within_limits(std::uint64_t more_instructions);  // false once the budget or the time is spent
  // After a protected call inside the script: true when the error must go on unwinding.
  bool fatal_error_caught(int status);

 private:
  Sandbox(const SandboxLimits& limits, std::string chunk_name);
  Status open_libraries();
  std::string failure_message(int status);
  std::string location() const;

  SandboxLimits limits_;
  std::string chunk_name_;
  std::string chunk_source_;  // "@" + chunk_name_: how Lua names the chunk's functions
  MemoryAccount memory_;
  lua_State* L_ = nullptr;
  void* host_ = nullptr;
  bool tracebacks_ = false;
  std::uint64_t instructions_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
  int current_line_ = 0;
  Fatal fatal_ = Fatal::none;
};

}  // namespace readerlab::cards::lua
