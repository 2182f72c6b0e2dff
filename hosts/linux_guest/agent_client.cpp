#include "hosts/linux_guest/agent_client.h"

#include <array>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <system_error>

#include <boost/asio/buffer.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

namespace readerlab::qemu {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
using nlohmann::json;

struct AgentClient::State : std::enable_shared_from_this<AgentClient::State> {
  explicit State(asio::io_context& io) : acceptor(io), socket(io) {}

  stream::acceptor acceptor;
  stream::socket socket;
  std::filesystem::path path;
  std::ofstream trace;
  std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();

  bool accepting = false;
  bool is_connected = false;
  bool closed = false;
  std::string reason;

  std::array<char, 65536> read_buffer{};
  std::string partial;
  // Only replies to requests sent and not yet taken are kept: an agent cannot grow the map.
  std::set<std::uint64_t> outstanding;
  std::map<std::uint64_t, json> replies;
  std::size_t stray_replies = 0;
  std::vector<json> unsolicited;
  std::optional<json> ready_event;
  std::size_t malformed = 0;

  std::deque<std::string> write_queue;
  bool writing = false;
  std::uint64_t next_id = 1;

  void log(const char* direction, const std::string& line) {
    if (!trace.is_open()) return;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - created);
    trace << ms.count() << ' ' << direction << ' ' << line << '\n';
    trace.flush();
  }

  void close(const std::string& why) {
    if (closed) return;
    closed = true;
    reason = why;
    log("!!", "closed: " + why);
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  void start_accept() {
    accepting = true;
    auto self = shared_from_this();
    acceptor.async_accept(socket, [self](const boost::system::error_code& ec) {
      self->accepting = false;
      if (ec) {
        if (ec != asio::error::operation_aborted) self->close("accept failed: " + ec.message());
        return;
      }
      self->is_connected = true;
      self->log("--", "peer connected");
      self->start_read();
      self->start_write();
    });
  }

  void start_read() {
    auto self = shared_from_this();
    socket.async_read_some(asio::buffer(read_buffer), [self](const boost::system::error_code& ec, std::size_t n) {
      if (ec) {
        if (ec == asio::error::eof)
          self->close("peer closed the connection");
        else if (ec != asio::error::operation_aborted)
          self->close("read failed: " + ec.message());
        return;
      }
      if (!self->consume(self->read_buffer.data(), n)) return;
      self->start_read();
    });
  }

  // Splits received bytes into lines; false when the connection was closed.
  bool consume(const char* data, std::size_t n) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (data[i] != '\n') continue;
      if (partial.size() + (i - start) > kMaxLine) {
        close("agent sent a line longer than 1 MiB");
        return false;
      }
      partial.append(data + start, i - start);
      handle_line(partial);
      partial.clear();
      start = i + 1;
    }
    if (partial.size() + (n - start) > kMaxLine) {
      close("agent sent a line longer than 1 MiB");
      return false;
    }
    partial.append(data + start, n - start);
    return true;
  }

  void handle_line(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    log("<", line);
    if (line.find_first_not_of(" \t") == std::string::npos) return;
    json message = json::parse(line, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
      ++malformed;
      log("!!", "malformed line ignored");
      return;
    }
    if (message.contains("id")) {
      const json& id = message["id"];
      if (id.is_number_unsigned() || (id.is_number_integer() && id.get<std::int64_t>() >= 0)) {
        std::uint64_t key = id.get<std::uint64_t>();
        if (outstanding.count(key) == 0) {
          ++stray_replies;
          log("!!", "reply to no request waiting (id " + std::to_string(key) + ") dropped");
          return;
        }
        replies[key] = std::move(message);
        return;
      }
    }
    const json* event = message.contains("event") ? &message["event"] : nullptr;
    if (event != nullptr && event->is_string() && *event == "ready" && !ready_event) {
      ready_event = message;
      return;
    }
    if (unsolicited.size() == AgentClient::kMaxUnsolicited) {
      unsolicited.erase(unsolicited.begin());
      log("!!", "unsolicited lines not taken: the oldest dropped");
    }
    unsolicited.push_back(std::move(message));
  }

  void start_write() {
    if (writing || !is_connected || closed || write_queue.empty()) return;
    writing = true;
    auto self = shared_from_this();
    asio::async_write(socket, asio::buffer(write_queue.front()),
                      [self](const boost::system::error_code& ec, std::size_t) {
                        self->writing = false;
                        if (ec) {
                          if (ec != asio::error::operation_aborted) self->close("write failed: " + ec.message());
                          return;
                        }
                        self->write_queue.pop_front();
                        self->start_write();
                      });
  }
};

AgentClient::AgentClient(asio::io_context& io, const std::filesystem::path& socket_path,
                         const std::filesystem::path& trace_file)
    : io_(io), state_(std::make_shared<State>(io)) {
  state_->path = socket_path;
  if (!trace_file.empty()) state_->trace.open(trace_file, std::ios::app);
  std::error_code fs_ec;
  if (std::filesystem::is_socket(socket_path, fs_ec)) std::filesystem::remove(socket_path, fs_ec);
  boost::system::error_code ec;
  stream::endpoint endpoint(socket_path.string());
  state_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state_->acceptor.bind(endpoint, ec);
  if (!ec) state_->acceptor.listen(1, ec);
  if (ec) throw std::system_error(ec.value(), std::generic_category(), "agent socket " + socket_path.string());
  state_->log("--", "listening on " + socket_path.string());
  state_->start_accept();
}

AgentClient::~AgentClient() {
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  state_->socket.close(ignored);
  std::error_code fs_ec;
  std::filesystem::remove(state_->path, fs_ec);
  // Handlers still queued on io_ hold their own reference to state_.
}

bool AgentClient::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (state_->closed && !done()) return false;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    if (io_.stopped()) io_.restart();
    io_.run_one_for(deadline - now);
  }
  return true;
}

bool AgentClient::accept(std::chrono::milliseconds timeout) {
  return run_until([this] { return state_->is_connected && state_->ready_event.has_value(); }, timeout);
}

bool AgentClient::accept_connection(std::chrono::milliseconds timeout) {
  return run_until([this] { return state_->is_connected; }, timeout);
}

std::uint64_t AgentClient::send(json request) {
  if (!request.is_object()) request = json::object();
  std::uint64_t id = state_->next_id++;
  request["id"] = id;
  state_->outstanding.insert(id);
  std::string line = request.dump(-1, ' ', false, json::error_handler_t::replace);
  state_->log(">", line);
  line.push_back('\n');
  state_->write_queue.push_back(std::move(line));
  state_->start_write();
  return id;
}

std::optional<json> AgentClient::wait(std::uint64_t id, std::chrono::milliseconds timeout) {
  auto has = [this, id] { return state_->replies.count(id) != 0; };
  run_until(has, timeout);
  auto it = state_->replies.find(id);
  if (it == state_->replies.end()) return std::nullopt;
  json reply = std::move(it->second);
  state_->replies.erase(it);
  state_->outstanding.erase(id);
  return reply;
}

std::optional<json> AgentClient::call(json request, std::chrono::milliseconds timeout) {
  return wait(send(std::move(request)), timeout);
}

bool AgentClient::connected() const { return state_->is_connected && !state_->closed; }
bool AgentClient::ready() const { return state_->ready_event.has_value(); }
const std::optional<json>& AgentClient::ready_event() const { return state_->ready_event; }
std::vector<json> AgentClient::take_unsolicited() { return std::exchange(state_->unsolicited, {}); }
std::string AgentClient::close_reason() const { return state_->reason; }
std::size_t AgentClient::malformed_lines() const { return state_->malformed; }
std::size_t AgentClient::stray_replies() const { return state_->stray_replies; }
const std::filesystem::path& AgentClient::socket_path() const { return state_->path; }

}  // namespace readerlab::qemu
