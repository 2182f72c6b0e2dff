// Host side of the guest agent's JSON-line protocol (drivers_under_test/agent/PROTOCOL.md).
// Listens on a unix socket that QEMU's virtserialport chardev connects to as a client. All
// I/O runs on the caller's io_context; accept() and wait() drive it (run_one_for), so other
// work on the same io_context (usbredir, timers) keeps running while they wait. No threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

namespace readerlab::qemu {

class AgentClient {
 public:
  static constexpr std::size_t kMaxLine = 1u << 20;  // PROTOCOL.md: at most 1 MiB a line
  // Unsolicited lines kept until taken; beyond, the oldest go.
  static constexpr std::size_t kMaxUnsolicited = 1024;

  // Creates and listens on socket_path (a stale socket file there is replaced). Every line
  // both ways is appended to trace_file when one is given. Throws std::system_error when
  // the socket cannot be created.
  AgentClient(boost::asio::io_context& io, const std::filesystem::path& socket_path,
              const std::filesystem::path& trace_file = {});
  ~AgentClient();
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // Runs the io_context until QEMU connected AND the agent's ready event arrived.
  bool accept(std::chrono::milliseconds timeout);
  // Runs the io_context until QEMU connected: a guest restored from a saved state has an agent
  // that announced itself before the state was saved.
  bool accept_connection(std::chrono::milliseconds timeout);
  // Assigns an id (written into request["id"]), queues the line and returns the id.
  // The line is written while accept()/wait() run the io_context.
  std::uint64_t send(nlohmann::json request);
  // Runs the io_context until the reply with this id arrives (other replies are kept for
  // their own wait). nullopt on timeout or when the connection closed.
  std::optional<nlohmann::json> wait(std::uint64_t id, std::chrono::milliseconds timeout);
  std::optional<nlohmann::json> call(nlohmann::json request, std::chrono::milliseconds timeout);

  bool connected() const;  // a peer is connected and the connection is open
  bool ready() const;      // the ready event arrived
  const std::optional<nlohmann::json>& ready_event() const;
  // Lines without an integer id (events, errors for unparseable requests), in arrival order,
  // the newest kMaxUnsolicited of them.
  std::vector<nlohmann::json> take_unsolicited();
  // Why the connection closed (empty while open).
  std::string close_reason() const;
  std::size_t malformed_lines() const;
  // Replies whose id names no request waiting for one: dropped, counted here.
  std::size_t stray_replies() const;
  const std::filesystem::path& socket_path() const;

  struct State;

 private:
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  boost::asio::io_context& io_;
  std::shared_ptr<State> state_;
};

}  // namespace readerlab::qemu
