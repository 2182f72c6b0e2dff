// readerlab-agent: reads JSON-line requests from the host (PROTOCOL.md), runs them one at a
// time on a worker thread, and writes one JSON-line reply per request. Cancel runs at once
// on the reading thread so it can interrupt a blocking GetStatusChange.
#include "agent.h"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace {

using nlohmann::json;

constexpr std::size_t kMaxLine = 1u << 20;  // PROTOCOL.md: at most 1 MiB per line

class Agent {
 public:
  explicit Agent(agent::Port port) : port_(std::move(port)) {}

  // Returns when the port's read fails (on Windows also when its stop event fires).
  void run(const std::function<void()>& after_ready) {
    send(json{{"event", "ready"}, {"agent", "readerlab-agent"}, {"version", "0.1"}, {"api", agent::kPcscApi}});
    if (after_ready) after_ready();
    std::thread worker([this] { work(); });
    worker.detach();  // the process ends through Poweroff, a dead port or a service stop
    read_loop();
  }

 private:
  void send(const json& message) {
    std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace);
    line.push_back('\n');
    std::lock_guard<std::mutex> lock(write_mutex_);
    port_.write_all(line);
  }

  void reply(const json& id, json body) {
    body["id"] = id;
    send(body);
  }

  void read_loop() {
    std::string pending;
    bool discarding = false;  // inside an over-long line: drop bytes up to its newline
    char buffer[65536];
    for (;;) {
      long n = port_.read_some(buffer, sizeof(buffer));
      if (n < 0) return;
      if (n == 0) {  // host not connected (virtio-serial returns 0): wait and retry
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      for (long i = 0; i < n; ++i) {
        char c = buffer[i];
        if (c == '\n') {
          if (discarding) {
            discarding = false;
            reply(nullptr, json{{"rv", nullptr}, {"error", "line longer than 1 MiB"}});
          } else {
            handle_line(pending);
          }
          pending.clear();
        } else if (!discarding) {
          if (pending.size() >= kMaxLine) {
            discarding = true;
            pending.clear();
            pending.shrink_to_fit();
          } else {
            pending.push_back(c);
          }
        }
      }
    }
  }

  void handle_line(std::string& line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) return;
    json request = json::parse(line, nullptr, false);
    if (request.is_discarded()) {
      reply(nullptr, json{{"rv", nullptr}, {"error", "malformed JSON"}});
      return;
    }
    if (!request.is_object()) {
      reply(nullptr, json{{"rv", nullptr}, {"error", "request must be a JSON object"}});
      return;
    }
    json id = request.contains("id") ? request["id"] : json(nullptr);
    if (!id.is_number_integer()) {
      reply(nullptr, json{{"rv", nullptr}, {"error", "request needs an integer 'id'"}});
      return;
    }
    auto call = request.find("call");
    if (call == request.end() || !call->is_string()) {
      reply(id, json{{"rv", nullptr}, {"error", "request needs a string 'call'"}});
      return;
    }
    if (*call == "Cancel") {
      reply(id, agent::handle_cancel(request));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      queue_.push_back(std::move(request));
    }
    queue_cv_.notify_one();
  }

  void work() {
    for (;;) {
      json request;
      {
        std::unique_lock<std::mutex> lock(queue_mutex_);
        queue_cv_.wait(lock, [this] { return !queue_.empty(); });
        request = std::move(queue_.front());
        queue_.pop_front();
      }
      json id = request["id"];
      if (request["call"] == "Poweroff") {
        reply(id, json{{"rv", 0}, {"rv_name", "SCARD_S_SUCCESS"}});
        std::fflush(nullptr);
        agent::power_off();
        std::_Exit(0);  // the guest's init powers off when the agent exits
      }
      reply(id, agent::handle_pcsc_request(request));
    }
  }

  agent::Port port_;
  std::mutex write_mutex_;
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<json> queue_;
};

}  // namespace

void agent::serve(Port port, const std::function<void()>& after_ready) {
  // Never deleted: the detached worker may still be inside a request when serve returns,
  // and the process exits soon after.
  auto* running = new Agent(std::move(port));
  running->run(after_ready);
}

int main(int argc, char** argv) {
  std::string port_path;
  bool service = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port_path = argv[++i];
#ifdef _WIN32
    } else if (arg == "--service") {
      service = true;
#endif
    } else if (arg == "--help" || arg == "-h") {
      std::printf(
#ifdef _WIN32
          "usage: readerlab-agent [--service] [--port PATH]\n"
          "Speaks readerlab's JSON-line protocol on PATH (default: the virtio port "
          "named readerlab.agent, else COM1).\n"
          "--service: run under the service control manager (install-agent.ps1 sets that up);\n"
          "the log is readerlab-agent.log beside the executable.\n"
#else
          "usage: readerlab-agent [--port PATH]\n"
          "Speaks readerlab's JSON-line protocol on PATH (default: the virtio port "
          "named readerlab.agent).\n"
#endif
      );
      return 0;
    } else {
      std::fprintf(stderr, "readerlab-agent: unknown argument '%s'\n", arg.c_str());
      return 2;
    }
  }
#ifdef _WIN32
  if (service) return agent::run_service(port_path);
#else
  (void)service;
#endif
  std::string error;
  auto port = agent::Port::open(port_path, error);
  if (!port) {
    std::fprintf(stderr, "readerlab-agent: %s\n", error.c_str());
    return 1;
  }
  agent::serve(std::move(*port), {});
  std::fprintf(stderr, "readerlab-agent: port read failed, exiting\n");
  return 2;
}
