// Hostile replies from the guest agent (drivers_under_test/agent/PROTOCOL.md: one JSON
// object a line, at most 1 MiB), one row each.
//  - What the host's agent client does with the line: drops it as malformed (counted and
//    logged), keeps it aside as unsolicited (an object without a usable id), or closes the
//    connection with a reason (a line over 1 MiB). After each row the same connection still
//    delivers the next good reply, and a second agent connection in the same event loop
//    answers too.
//  - Replies that parse but do not say what the call needs (no rv, rv of the wrong type, huge
//    numbers): the case that made the call fails cleanly with a message, and the next case runs.
#include "conformance/suite.h"
#include "hosts/linux_guest/agent_client.h"
#include "tests/hostile/hostile_support.h"

#include <boost/asio/io_context.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <filesystem>
#include <fstream>

namespace readerlab::hostile {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr auto kWait = std::chrono::milliseconds(5000);

fs::path socket_path(const std::string& tag) {
  static int counter = 0;
  return fs::temp_directory_path() /
         ("rl-hostile-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".sock");
}

// The guest's end of the agent socket, driven from the test: what it writes is pushed
// through while the client's event loop runs, so a long line never blocks the test.
class GuestEnd {
 public:
  GuestEnd(const fs::path& path, boost::asio::io_context& io) : io_(io) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  }
  ~GuestEnd() { ::close(fd_); }
  GuestEnd(const GuestEnd&) = delete;
  GuestEnd& operator=(const GuestEnd&) = delete;

  // Writes every byte, or stops when the host closed the connection; false then.
  bool write(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (io_.stopped()) io_.restart();
        io_.run_one_for(10ms);
      } else {
        return false;
      }
    }
    return true;
  }

 private:
  boost::asio::io_context& io_;
  int fd_ = -1;
};

constexpr const char* kReady =
    "{\"event\":\"ready\",\"agent\":\"readerlab-agent\",\"version\":\"0.1\",\"api\":\"pcsc-lite\"}\n";

std::string good_reply(std::uint64_t id) {
  return "{\"id\":" + std::to_string(id) + ",\"rv\":0,\"rv_name\":\"SCARD_S_SUCCESS\",\"context\":7}\n";
}

// --- the agent client ------------------------------------------------------------------

enum class Outcome {
  dropped,      // counted as malformed, nothing else happens
  unsolicited,  // kept with the lines that answer no request
  nothing,      // blank: skipped without a trace
  closed,       // the connection is closed with this reason
};

struct LineEntry {
  const char* name;
  std::string line;  // written as it is, then "\n" unless the row is a line never ended
  Outcome outcome;
  const char* reason = nullptr;  // close reason, for Outcome::closed
  bool ended = true;
};

std::string nested(std::size_t depth, const char* open, const char* close, const std::string& inner) {
  std::string text;
  for (std::size_t i = 0; i < depth; ++i) text += open;
  text += inner;
  for (std::size_t i = 0; i < depth; ++i) text += close;
  return text;
}

constexpr const char* kTooLong = "agent sent a line longer than 1 MiB";

const LineEntry kLines[] = {
    {"not JSON", "hello agent", Outcome::dropped},
    {"an object cut short", "{\"id\":1,\"rv\":", Outcome::dropped},
    {"an array", "[1,2,3]", Outcome::dropped},
    {"a bare number", "42", Outcome::dropped},
    {"a bare string", "\"SCARD_S_SUCCESS\"", Outcome::dropped},
    {"null", "null", Outcome::dropped},
    {"invalid UTF-8 in a string", "{\"id\":1,\"rv\":0,\"rv_name\":\"\xff\xfe\"}", Outcome::dropped},
    {"a NUL byte inside the object", std::string("{\"id\":1,\0\"rv\":0}", 16), Outcome::dropped},
    {"garbage after the object", "{\"id\":1,\"rv\":0} trailing", Outcome::dropped},
    {"two objects on one line", "{\"id\":1,\"rv\":0}{\"id\":1,\"rv\":0}", Outcome::dropped},
    {"rv of 1e400, over a double", "{\"id\":1,\"rv\":1e400}", Outcome::dropped},
    {"an integer of 400 digits", "{\"id\":1,\"rv\":" + std::string(400, '9') + "}", Outcome::dropped},
    {"100 000 nested arrays", nested(100000, "[", "]", ""), Outcome::dropped},
    {"an id of 2^64, past 64 bits", "{\"id\":18446744073709551616,\"rv\":0}", Outcome::unsolicited},
    {"a negative id", "{\"id\":-1,\"rv\":0}", Outcome::unsolicited},
    {"an id as a string", "{\"id\":\"1\",\"rv\":0}", Outcome::unsolicited},
    {"an id of 1.5", "{\"id\":1.5,\"rv\":0}", Outcome::unsolicited},
    {"an id of null (the agent's own parse error)", "{\"id\":null,\"rv\":null,\"error\":\"line longer than 1 MiB\"}",
     Outcome::unsolicited},
    {"an unknown event", "{\"event\":\"surprise\"}", Outcome::unsolicited},
    {"a second ready event", "{\"event\":\"ready\",\"agent\":\"impostor\"}", Outcome::unsolicited},
    {"an event that is a number", "{\"event\":7}", Outcome::unsolicited},
    {"100 000 nested objects without an id", nested(100000, "{\"a\":", "}", "0"), Outcome::unsolicited},
    {"an empty line", "", Outcome::nothing},
    {"blanks and tabs", "  \t  ", Outcome::nothing},
    {"a line of 1 MiB and 1 byte", std::string((1u << 20) + 1, 'x'), Outcome::closed, kTooLong},
    {"1 MiB and 1 byte never ended", std::string((1u << 20) + 1, ' '), Outcome::closed, kTooLong, false},
    {"a 2 MiB JSON string", "{\"id\":1,\"rv\":\"" + std::string(2u << 20, 'a') + "\"}", Outcome::closed, kTooLong},
};

struct Agent {
  Agent(boost::asio::io_context& io, const std::string& tag)
      : client(io, socket_path(tag)), guest(client.socket_path(), io) {
    REQUIRE(guest.write(kReady));
    REQUIRE(client.accept(kWait));
  }
  qemu::AgentClient client;
  GuestEnd guest;
};

// A request answered by a good reply, through a connection that must still work.
void check_answers(Agent& agent) {
  const auto id = agent.client.send({{"call", "EstablishContext"}});
  REQUIRE(agent.guest.write(good_reply(id)));
  const auto reply = agent.client.wait(id, kWait);
  REQUIRE(reply.has_value());
  CHECK((*reply)["rv"] == 0);
  CHECK((*reply)["context"] == 7);
}

// --- the case running on the agent -----------------------------------------------------

// The scenarios' driver port on the agent client (what `readerlab run` uses on a guest).
class AgentDriverPort : public scenarios::DriverPort {
 public:
  explicit AgentDriverPort(qemu::AgentClient& client) : client_(client) {}
  std::string name() const override { return "hostile-agent"; }
  std::uint64_t send(json request) override { return client_.send(std::move(request)); }
  std::optional<json> wait(std::uint64_t id, std::chrono::milliseconds timeout) override {
    return client_.wait(id, timeout);
  }

 private:
  qemu::AgentClient& client_;
};

struct ReplyEntry {
  const char* name;
  std::string reply;    // the rest of the reply object after "id":N, as JSON text
  const char* message;  // what the case's failure message must contain
};

// The case: SCardEstablishContext, which needs rv 0 and a context.
constexpr const char* kCase =
    "-- @title: establish a context through a hostile agent\n"
    "local context = pcsc.establish()\n"
    "lab.check(math.type(context) == 'integer', 'a context handle')\n";

const ReplyEntry kReplies[] = {
    {"a reply without rv", "", "SCardEstablishContext failed: nil"},
    {"rv as a string", ",\"rv\":\"0\",\"rv_name\":\"SCARD_S_SUCCESS\"", "SCardEstablishContext failed"},
    {"rv null with the agent's error", ",\"rv\":null,\"error\":\"context: an integer expected\"",
     "context: an integer expected"},
    {"rv of 1e300", ",\"rv\":1e300", "no integer representation"},
    {"rv of 2^64 - 1", ",\"rv\":18446744073709551615,\"rv_name\":\"?\"", "SCardEstablishContext failed: ?"},
    {"rv 0 but no context", ",\"rv\":0,\"rv_name\":\"SCARD_S_SUCCESS\"", "a context handle"},
    {"a context that is a string", ",\"rv\":0,\"context\":\"7\"", "a context handle"},
    {"a context of 1.5", ",\"rv\":0,\"context\":1.5", "a context handle"},
    {"a context nested 50 deep", ",\"rv\":0,\"context\":" + nested(50, "[", "]", "7"),
     "JSON value nested deeper than 32 levels"},
};

}  // namespace

std::size_t agent_catalogue_size() { return std::size(kLines) + std::size(kReplies); }

TEST_CASE("hostile agent lines are dropped, kept aside or close the connection with a reason") {
  for (const LineEntry& entry : kLines) {
    const std::string name = entry.name;
    CAPTURE(name);
    boost::asio::io_context io;
    Agent hostile(io, "a");
    Agent neighbour(io, "b");
    const auto id = hostile.client.send({{"call", "EstablishContext"}});
    const bool written = hostile.guest.write(entry.line + (entry.ended ? "\n" : ""));
    if (entry.outcome != Outcome::closed) {
      REQUIRE(written);
      REQUIRE(hostile.guest.write(good_reply(id)));
      const auto reply = hostile.client.wait(id, kWait);
      REQUIRE(reply.has_value());
      CHECK((*reply)["rv"] == 0);
      CHECK(hostile.client.malformed_lines() == (entry.outcome == Outcome::dropped ? 1u : 0u));
      CHECK(hostile.client.take_unsolicited().size() == (entry.outcome == Outcome::unsolicited ? 1u : 0u));
      CHECK(hostile.client.connected());
      check_answers(hostile);
    } else {
      const auto reply = hostile.client.wait(id, 2000ms);
      CHECK_FALSE(reply.has_value());
      CHECK_FALSE(hostile.client.connected());
      CHECK(hostile.client.close_reason() == entry.reason);
    }
    check_answers(neighbour);
  }
}

TEST_CASE("hostile agent replies fail the case that asked, cleanly, and the next case runs") {
  const fs::path root = fs::temp_directory_path() / ("rl-hostile-cases-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "agent");
  std::ofstream(root / "agent" / "establish.lua") << kCase;
  const auto info = conformance::read_case_info(root, root / "agent" / "establish.lua");
  for (const ReplyEntry& entry : kReplies) {
    const std::string name = entry.name;
    CAPTURE(name);
    boost::asio::io_context io;
    scenarios::Rig rig(io, nullptr);
    Agent agent(io, "c");
    AgentDriverPort port(agent.client);
    // The case's first request gets id 1; its reply is waiting before the case runs.
    REQUIRE(agent.guest.write("{\"id\":1" + entry.reply + "}\n"));
    const auto failed = conformance::run_case(info, rig, port, {});
    CAPTURE(failed.message);
    CHECK(failed.outcome == conformance::Outcome::fail);
    CHECK(failed.message.find(entry.message) != std::string::npos);
    // The same case passes on the same connection when the reply is right.
    REQUIRE(agent.guest.write(good_reply(2)));
    const auto passed = conformance::run_case(info, rig, port, {});
    CAPTURE(passed.message);
    CHECK(passed.outcome == conformance::Outcome::pass);
  }
  fs::remove_all(root);
}

}  // namespace readerlab::hostile
