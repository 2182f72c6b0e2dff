// A case runs under the same limits as a card: what a hostile or broken case meets when it
// goes past them through the lab API - a failure with its file and line, never a crash, a
// hang, a leak or undefined behaviour.
#include "scenarios/lab.h"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

using namespace readerlab;
using namespace std::chrono_literals;

namespace {

// A driver that never answers, and counts what it was sent.
class SilentDriver : public scenarios::DriverPort {
 public:
  std::string name() const override { return "silent"; }
  std::uint64_t send(nlohmann::json request) override {
    sent.push_back(std::move(request));
    return sent.size();
  }
  std::optional<nlohmann::json> wait(std::uint64_t, std::chrono::milliseconds timeout) override {
    waited += timeout;
    return std::nullopt;
  }
  std::vector<nlohmann::json> sent;
  std::chrono::milliseconds waited{0};
};

struct Lab {
  boost::asio::io_context io;
  scenarios::Rig rig{io, nullptr};
  SilentDriver port;
  scenarios::CaseRecord record;
  scenarios::LuaSandbox sandbox;

  explicit Lab(const scenarios::ScriptLimits& limits = {}) : sandbox(limits, "cases/limits.lua") {
    usbredir::SocketAddress address;
    address.host = "127.0.0.1";
    rig.add_reader(address);
    scenarios::install_lab(sandbox, rig, port, record);
  }
  // The failure's message, or "" when the chunk ran.
  std::string run(const std::string& source, std::chrono::milliseconds budget = 10s) {
    const auto ran = sandbox.run(source, "cases/limits.lua", budget);
    return ran ? std::string() : ran.error().message();
  }
};

// Lua for a table nested `depth` levels deep, built at run time.
std::string nested_table(int depth) {
  return "local t = {} local inner = t\nfor i = 1, " + std::to_string(depth) +
         " do inner.next = {} inner = inner.next end\n";
}

}  // namespace

TEST_CASE("a table nested deeper than JSON allows is a case error, for lab.send and reader:configure") {
  Lab lab;
  // 32 levels took the Lua stack past its end and corrupted the heap.
  for (const char* call : {"lab.send('Status', t)", "lab.reader(1):configure(t)"}) {
    CAPTURE(call);
    for (int depth : {32, 40, 200}) {
      CAPTURE(depth);
      const auto error = lab.run(nested_table(depth) + call);
      CHECK(error.find("cases/limits.lua:") == 0);
      CHECK(error.find("nested") != std::string::npos);
    }
  }
  // Shallower tables still go through.
  CHECK(lab.run(nested_table(20) + "lab.send('Status', t)").empty());
  CHECK(lab.run("lab.send('Status', {reader = {name = 'x', flags = {1, 2}}})").empty());
  REQUIRE_FALSE(lab.port.sent.empty());
  CHECK(lab.port.sent.back()["reader"]["flags"] == nlohmann::json::array({1, 2}));
}

TEST_CASE("lab.metric with a bad value is a case error and leaks nothing") {
  Lab lab;
  // A name long enough to live on the heap: the error used to skip its destructor.
  const auto error = lab.run("lab.metric('a metric whose name does not fit in a small string', {})");
  CHECK(error.find("cases/limits.lua:1:") == 0);
  CHECK(error.find("number expected") != std::string::npos);
  CHECK(lab.record.metrics.empty());
  CHECK(lab.run("lab.metric('apdus', 12.5, '/s')").empty());
  REQUIRE(lab.record.metrics.size() == 1);
  CHECK(lab.record.metrics[0].unit == "/s");
}

TEST_CASE("waits are cut to the case's time budget, and the case fails when it is spent") {
  Lab lab;
  const auto started = std::chrono::steady_clock::now();
  const auto error = lab.run("lab.sleep(30000)\nlab.log('after')", 300ms);
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(error.find("cases/limits.lua:1: the time budget of 300 ms is spent") == 0);
  CHECK(lab.record.log.empty());
  CHECK(took < 10s);  // not the 30 s asked for

  // An enormous timeout is cut too, and no arithmetic on it overflows (UBSan watches).
  CHECK(lab.run("lab._wait_change_read(1, math.maxinteger)", 200ms).empty());
  CHECK(lab.run("lab._wait_change_read(1, math.mininteger)", 200ms).empty());
  // The driver port is asked to wait no longer than the case has left.
  CHECK(lab.run("local id = lab.send('Status', {})\nassert(lab.wait(id, math.maxinteger) == nil)", 200ms).empty());
  CHECK(lab.port.waited <= 200ms);
}

TEST_CASE("pcall cannot swallow the time budget of a case") {
  // The clock, not the instruction count, must be what stops the loop, however fast it runs.
  scenarios::ScriptLimits limits;
  limits.instructions_per_call = std::uint64_t{1} << 60;
  Lab lab(limits);
  const auto error = lab.run("while true do pcall(function() while true do end end) end", 200ms);
  CHECK(error.find("the time budget of 200 ms is spent") != std::string::npos);
}

TEST_CASE("a case has the card's memory cap unless its header raises it") {
  Lab lab;
  // 2^31 - 1 bytes once took 4.2 GB.
  const auto error = lab.run("local s = string.rep('x', 2^31 - 1)");
  CHECK(error.find("cases/limits.lua:1: the memory cap of 8388608 bytes is reached") == 0);

  scenarios::ScriptLimits more;
  more.memory_bytes = 64u << 20;
  Lab roomy(more);
  CHECK(roomy.run("local s = string.rep('x', 16 * 1024 * 1024) assert(#s == 16 * 1024 * 1024)").empty());
  CHECK(roomy.run("local s = string.rep('x', 2^31 - 1)").find("the memory cap of 67108864 bytes") != std::string::npos);
}

TEST_CASE("a case sees neither coroutine nor string.dump, and cannot set __gc finalizers") {
  Lab lab;
  CHECK(lab.run("assert(coroutine == nil, 'coroutine') assert(string.dump == nil, 'dump')").empty());
  const auto error = lab.run("setmetatable({}, {__gc = function() while true do end end})");
  CHECK(error.find("cases/limits.lua:1: __gc finalizers are not available to a script") == 0);
}

TEST_CASE("a case's print goes to its log, cut when very long") {
  Lab lab;
  CHECK(lab.run("print('a', 1, nil)\nprint(string.rep('y', 1 << 20))").empty());
  REQUIRE(lab.record.log.size() == 2);
  CHECK(lab.record.log[0] == "a\t1\tnil");
  CHECK(lab.record.log[1].size() < 17 * 1024);
  CHECK(lab.record.log[1].find("more bytes)") != std::string::npos);
}

TEST_CASE("string building in a loop spends a case's instruction budget") {
  scenarios::ScriptLimits limits;
  limits.instructions_per_call = 1'000'000;
  Lab lab(limits);
  const auto error = lab.run("local s = string.rep('a', 1 << 20)\nwhile true do local u = s:upper() end", 60s);
  CHECK(error.find("cases/limits.lua:2: the instruction budget of 1000000 per call is spent") == 0);
}
