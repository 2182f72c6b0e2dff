#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "hosts/linux_guest/agent_client.h"

using namespace std::chrono_literals;
using nlohmann::json;
using readerlab::qemu::AgentClient;

namespace {

std::filesystem::path temp_socket(const char* tag) {
  return std::filesystem::temp_directory_path() /
         ("readerlab-test-" + std::string(tag) + "-" + std::to_string(::getpid()) + ".sock");
}

// The fake agent: the QEMU side of the socket, driven inline by the test (no threads).
class FakeAgent {
 public:
  explicit FakeAgent(const std::filesystem::path& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~FakeAgent() { ::close(fd_); }
  void write(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
  }
  // Next request line the client sent, while the client's io_context is driven by pump.
  template <typename Pump>
  json read_request(Pump&& pump) {
    for (int tries = 0; tries < 200; ++tries) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return json::parse(line);
      }
      pump();
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        char chunk[4096];
        ssize_t n = ::read(fd_, chunk, sizeof(chunk));
        if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
      }
    }
    FAIL("no request from the client");
    return {};
  }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

const std::string kReady = R"({"event":"ready","agent":"readerlab-agent","version":"0.1","api":"pcsc-lite"})"
                           "\n";

}  // namespace

TEST_CASE("agent client accepts once the agent announced itself ready") {
  boost::asio::io_context io;
  auto path = temp_socket("ready");
  AgentClient client(io, path);
  CHECK_FALSE(client.accept(50ms));  // nobody connected yet
  FakeAgent agent(path);
  CHECK_FALSE(client.accept(50ms));  // connected, but no ready event yet
  agent.write(kReady.substr(0, 20));
  CHECK_FALSE(client.accept(50ms));  // half a line is not an event
  agent.write(kReady.substr(20));
  REQUIRE(client.accept(1s));
  CHECK(client.connected());
  CHECK(client.ready_event()->at("agent") == "readerlab-agent");
}

TEST_CASE("agent client matches replies to requests by id, in any order") {
  boost::asio::io_context io;
  auto path = temp_socket("order");
  AgentClient client(io, path);
  FakeAgent agent(path);
  agent.write(kReady);
  REQUIRE(client.accept(1s));

  auto first = client.send({{"call", "EstablishContext"}, {"scope", 2}});
  auto second = client.send({{"call", "Exec"}, {"command", "true"}});
  CHECK(first != second);
  auto pump = [&] { client.wait(0, 1ms); };
  json r1 = agent.read_request(pump);
  json r2 = agent.read_request(pump);
  CHECK(r1["id"] == first);
  CHECK(r1["call"] == "EstablishContext");
  CHECK(r2["id"] == second);

  // Second answered first, with noise in between that the client must survive.
  agent.write(json{{"id", second}, {"rv", 0}, {"exit_code", 0}, {"output", ""}}.dump() + "\n");
  agent.write("this is not json\n[1,2,3]\n\n");
  agent.write(R"({"id":null,"rv":null,"error":"malformed JSON"})"
              "\n");
  agent.write(json{{"id", first}, {"rv", 0}, {"rv_name", "SCARD_S_SUCCESS"}, {"context", 7}}.dump() + "\n");

  auto reply1 = client.wait(first, 1s);
  REQUIRE(reply1);
  CHECK(reply1->at("context") == 7);
  auto reply2 = client.wait(second, 1s);  // arrived earlier, kept for this wait
  REQUIRE(reply2);
  CHECK(reply2->at("exit_code") == 0);
  CHECK(client.malformed_lines() == 2);
  auto extra = client.take_unsolicited();
  REQUIRE(extra.size() == 1);
  CHECK(extra[0]["error"] == "malformed JSON");
  CHECK(client.connected());
}

TEST_CASE("agent client gives up on a reply that never comes") {
  boost::asio::io_context io;
  auto path = temp_socket("timeout");
  AgentClient client(io, path);
  FakeAgent agent(path);
  agent.write(kReady);
  REQUIRE(client.accept(1s));
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(client.call({{"call", "ListReaders"}, {"context", 1}}, 100ms));
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);
  CHECK(client.connected());
}

TEST_CASE("agent client closes the connection on a line longer than 1 MiB") {
  boost::asio::io_context io;
  auto path = temp_socket("oversize");
  AgentClient client(io, path);
  FakeAgent agent(path);
  agent.write(kReady);
  REQUIRE(client.accept(1s));
  auto id = client.send({{"call", "Exec"}, {"command", "yes"}});
  std::string huge = R"({"id":1,"rv":0,"output":")";
  huge.append(AgentClient::kMaxLine + 16, 'y');
  // Write in pieces while the client reads, so the socket buffer never blocks the test.
  for (std::size_t off = 0; off < huge.size() && client.connected(); off += 65536) {
    agent.write(huge.substr(off, 65536));
    client.wait(id, 5ms);
  }
  CHECK_FALSE(client.wait(id, 500ms));
  CHECK_FALSE(client.connected());
  CHECK(client.close_reason().find("1 MiB") != std::string::npos);
}

TEST_CASE("agent client reports a peer that hung up") {
  boost::asio::io_context io;
  auto path = temp_socket("hangup");
  AgentClient client(io, path);
  {
    FakeAgent agent(path);
    agent.write(kReady);
    REQUIRE(client.accept(1s));
  }
  CHECK_FALSE(client.call({{"call", "Poweroff"}}, 2s));
  CHECK_FALSE(client.connected());
  CHECK_FALSE(client.close_reason().empty());
}

TEST_CASE("agent client keeps no reply nobody asked for, and only the newest unsolicited lines") {
  boost::asio::io_context io;
  auto path = temp_socket("stray");
  AgentClient client(io, path);
  FakeAgent agent(path);
  agent.write(kReady);
  REQUIRE(client.accept(1s));
  const auto id = client.send({{"call", "ListReaders"}, {"context", 1}});
  // Replies to ids never sent, or already taken, would otherwise be kept for ever.
  std::string stray;
  for (int n = 0; n < 500; ++n) stray += json{{"id", 100000 + n}, {"rv", 0}}.dump() + "\n";
  agent.write(stray);
  agent.write(json{{"id", id}, {"rv", 0}}.dump() + "\n");
  REQUIRE(client.wait(id, 1s));
  agent.write(json{{"id", id}, {"rv", 0}}.dump() + "\n");  // a second answer to a taken request
  std::string events;
  for (std::size_t n = 0; n < AgentClient::kMaxUnsolicited + 10; ++n) events += json{{"event", n}}.dump() + "\n";
  agent.write(events);
  CHECK_FALSE(client.wait(id, 200ms));
  CHECK(client.stray_replies() == 501);
  const auto unsolicited = client.take_unsolicited();
  REQUIRE(unsolicited.size() == AgentClient::kMaxUnsolicited);
  CHECK(unsolicited.front()["event"] == 10);
  CHECK(client.connected());
}
