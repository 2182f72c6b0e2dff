// The Lua state a card script runs in: base (without the functions that load code, reach
// files or drive the collector), string (without dump), table, math and utf8 only; an
// instruction budget for every call into the script and a memory cap for the whole state.
//
// Lua raises errors with longjmp, which skips C++ destructors. So every call into Lua that
// can raise goes through `call` (a lua_pcall boundary), the C functions a script calls keep
// no C++ objects with destructors in their own frames, and the host reads results with the
// raw API functions that never raise (with the cap lifted, see HostAccess).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct lua_State;

namespace readerlab::cards::lua {

struct SandboxLimits {
  std::size_t memory_bytes = 8u * 1024u * 1024u;     // for the whole state of one card
  std::uint64_t instructions_per_call = 10'000'000;  // for one call into the script
};

class Sandbox {
 public:
  // Nullptr when even an empty state does not fit in the memory cap; `error` says so.
  static std::unique_ptr<Sandbox> create(const SandboxLimits& limits, std::string chunk_name,
                                         std::string& error);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  lua_State* state() const { return L_; }
  const std::string& chunk_name() const { return chunk_name_; }

  // The object the script's host functions work on (the card), reachable from lua_State.
  void set_host(void* host) { host_ = host; }
  static void* host_of(lua_State* L);

  // Compiles `text` (source only: bytecode is refused) and runs it. Empty on success, else
  // a message naming the chunk and line.
  std::string run_chunk(std::string_view text);

  // Calls the function under its `arguments` on top of the stack in protected mode, with a
  // fresh instruction budget. On success `results` values are left on the stack (the caller
  // pops them) and the answer is empty; on failure nothing is left and the answer is the
  // message, "chunk:line: what happened".
  std::string call(int arguments, int results);

  // The line last executed by the script (0 before any), for messages about its results.
  int current_line() const { return current_line_; }
  // Where a global was first assigned, or a table given to remember_line was built; 0 when
  // unknown. The value (or key, for globals) is the stack value at `index`.
  int global_line(std::string_view name);
  int table_line(int index);
  // Remembers the line of the Lua code that called the running C function, for the table
  // at `index` (the table constructors of the card file use it).
  static void remember_line(lua_State* L, int index);

  std::size_t memory_in_use() const { return memory_.used; }
  const SandboxLimits& limits() const { return limits_; }

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
    std::size_t limit = 0;
    bool enforced = true;
    bool refused = false;  // the cap refused an allocation since the last call began
  };
  // Why the running call cannot go on whatever the script does (pcall cannot catch it).
  enum class Fatal { none, instruction_budget, memory_cap };

  // For the sandbox's own C functions (the hook, pcall and xpcall).
  static Sandbox& of(lua_State* L);
  void on_hook_line(int line) { current_line_ = line; }
  bool count_instructions();  // false once the budget is spent
  // After a protected call inside the script: true when the error must go on unwinding.
  bool fatal_error_caught(int status);

 private:
  Sandbox(const SandboxLimits& limits, std::string chunk_name);
  std::string open_libraries();
  std::string failure_message(int status);
  std::string location() const;

  SandboxLimits limits_;
  std::string chunk_name_;
  MemoryAccount memory_;
  lua_State* L_ = nullptr;
  void* host_ = nullptr;
  std::uint64_t instructions_ = 0;
  int current_line_ = 0;
  Fatal fatal_ = Fatal::none;
};

}  // namespace readerlab::cards::lua
