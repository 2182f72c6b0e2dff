#include "hosts/linux_guest/guest_shell.h"

#include "scenarios/reader_profiles.h"

#include <poll.h>
#include <unistd.h>
#include <cerrno>
#include <deque>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace readerlab::linux_guest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Every command runs as a job of its own session in the guest: its output goes to a file the
// host reads as it grows, so that a command's output shows while it runs and several commands
// can run at once. The agent runs one request at a time, each to its end: a long command run
// by one Exec would hold every other request back.
constexpr const char* kJobFolder = "/tmp/readerlab-shell";
constexpr milliseconds kForegroundPoll{150};
constexpr milliseconds kBackgroundPoll{400};
constexpr milliseconds kAgentCallTimeout{20000};
constexpr std::chrono::seconds kReaderWait{30};
constexpr int kTimedOutExit = 124;  // as timeout(1) exits
constexpr std::size_t kMaxChunk = 256 * 1024;

struct Job {
  int number = 0;
  std::string command;
  std::string session_id;  // the guest pid of its session leader (its process group)
  std::size_t offset = 0;  // bytes of its output already shown
  bool background = false;
  Clock::time_point started;
};

// Reads standard input without blocking, one line at a time.
class LineSource {
 public:
  explicit LineSource(std::vector<std::string> given) : lines_(given.begin(), given.end()), from_stdin_(given.empty()) {
    if (!from_stdin_) eof_ = true;
  }
  // Reads what standard input has now (nothing when it has nothing).
  void pump() {
    if (eof_) return;
    pollfd input{STDIN_FILENO, POLLIN, 0};
    while (::poll(&input, 1, 0) > 0) {
      char buffer[4096];
      const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        if (!partial_.empty()) lines_.push_back(partial_);
        partial_.clear();
        return;
      }
      partial_.append(buffer, static_cast<std::size_t>(n));
      for (auto newline = partial_.find('\n'); newline != std::string::npos; newline = partial_.find('\n')) {
        lines_.push_back(partial_.substr(0, newline));
        partial_.erase(0, newline + 1);
      }
      if (input.revents & (POLLHUP | POLLERR)) continue;
    }
  }
  std::optional<std::string> next() {
    pump();
    if (lines_.empty()) return std::nullopt;
    auto line = lines_.front();
    lines_.pop_front();
    return line;
  }
  bool finished() {
    pump();
    return eof_ && lines_.empty();
  }

 private:
  std::deque<std::string> lines_;
  std::string partial_;
  bool from_stdin_;
  bool eof_ = false;
};

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

class Shell {
 public:
  Shell(GuestSession& session, const GuestShellOptions& options) : session_(session), options_(options) {}

  int run(LineSource& input) {
    wait_for_reader(!options_.card.empty());
    while (!lost_) {
      if (auto line = input.next()) {
        run_line(*line);
        continue;
      }
      if (input.finished()) break;
      poll_background();
      idle(kBackgroundPoll);
    }
    if (!lost_) {
      poll_all();  // the last output of the background jobs
      for (const auto& job : jobs_)
        std::cerr << "[" << job.number << "] still running, stopped with the guest: " << job.command << "\n";
    }
    return lost_ ? 1 : status_;
  }

 private:
  void run_line(const std::string& raw) {
    const std::string line = trim(raw);
    if (line.empty() || line.front() == '#') return;
    if (shell_command(line)) return;
    std::string command = line;
    const bool background = strip_background(command);
    auto job = start_job(command, background);
    if (!job) return;
    if (background) {
      std::cerr << "[" << job->number << "] " << command << " &\n";
      jobs_.push_back(*job);
      return;
    }
    std::cerr << "guest$ " << command << "\n";
    run_foreground(*job);
  }

  // insert, remove, unplug, replug, help; false for anything else (a guest command).
  bool shell_command(const std::string& line) {
    std::istringstream words(line);
    std::string verb, argument, extra;
    words >> verb >> argument >> extra;
    auto& rig = session_.rig();
    const auto needs = [&](bool wants_argument) {
      if (wants_argument && (argument.empty() || !extra.empty())) {
        std::cerr << verb << ": give one card profile (see readerlab cards)\n";
        return false;
      }
      if (!wants_argument && !argument.empty()) {
        std::cerr << verb << ": takes no argument\n";
        return false;
      }
      return true;
    };
    if (verb == "insert") {
      if (!needs(true)) return true;
      try {
        rig.insert(0, argument);
        std::cerr << "(card " << argument << " inserted)\n";
      } catch (const std::invalid_argument& refused) {
        std::cerr << "insert: " << refused.what() << "\n";
      }
      return true;
    }
    if (verb == "remove" || verb == "unplug" || verb == "replug") {
      if (!needs(false)) return true;
      if (verb == "remove") rig.remove(0);
      if (verb == "unplug") rig.unplug(0);
      if (verb == "replug") rig.replug(0);
      std::cerr << "(reader: " << verb << " done)\n";
      return true;
    }
    if (verb == "reader") {
      if (argument.empty() || !extra.empty()) {
        std::cerr << "reader: give one reader profile (see readerlab readers)\n";
        return true;
      }
      const auto profile = scenarios::find_reader_profile(argument);
      if (!profile) {
        std::cerr << "reader: " << profile.error().message() << " (see readerlab readers)\n";
        return true;
      }
      ccid::ReaderConfig config = profile->config;
      config.serial_number = rig.reader(0).reader->config().serial_number;
      rig.configure(0, config);  // unplugged, reconfigured, plugged again, empty
      std::cerr << "(reader is now " << profile->name << ": " << profile->title << ", empty)\n";
      return true;
    }
    if (verb == "help" && argument.empty()) {
      std::cerr << "guest shell: a line is a guest command (/bin/sh -c), 'COMMAND &' runs it in the background;\n"
                   "insert PROFILE, remove, unplug, replug, reader NAME (another model, empty) act on the\n"
                   "reader at once.\n";
      return true;
    }
    return false;
  }

  std::optional<Job> start_job(const std::string& command, bool background) {
    Job job;
    job.number = ++last_job_;
    job.command = command;
    job.background = background;
    const std::string base = std::string(kJobFolder) + "/" + std::to_string(job.number);
    // The runner writes the exit code only once the command's output is complete.
    const std::string runner = "sh -c \"$1\" </dev/null >" + base + ".out 2>&1; echo $? >" + base + ".rc.tmp; mv " +
                               base + ".rc.tmp " + base + ".rc";
    const std::string start = "mkdir -p " + std::string(kJobFolder) + " && : >" + base +
                              ".out && cd /root && setsid sh -c " + shell_quote(runner) + " job " +
                              shell_quote(command) + " </dev/null >/dev/null 2>&1 & echo $!";
    auto reply = exec(start);
    if (!reply) return std::nullopt;
    job.session_id = trim(reply->value("output", ""));
    if (reply->value("exit_code", 1) != 0 || job.session_id.empty()) {
      std::cerr << "(could not start '" << command << "': " << reply->value("output", "") << ")\n";
      return std::nullopt;
    }
    job.started = Clock::now();
    return job;
  }

  void run_foreground(Job& job) {
    while (!lost_) {
      if (auto exit_code = poll(job)) {
        std::cerr << "[exit " << *exit_code << "]\n";
        note_status(*exit_code);
        return;
      }
      if (options_.timeout && Clock::now() - job.started >= *options_.timeout) {
        exec("pkill -KILL -s " + job.session_id + "; true");  // every process of the job's session
        poll(job);
        std::cerr << "(timed out after " << options_.timeout->count() << " s: '" << job.command
                  << "' and its children were killed; --timeout sets the limit)\n[exit " << kTimedOutExit << "]\n";
        note_status(kTimedOutExit);
        return;
      }
      poll_background();
      idle(kForegroundPoll);
    }
  }

  void poll_background() {
    for (auto job = jobs_.begin(); job != jobs_.end() && !lost_;) {
      if (auto exit_code = poll(*job)) {
        std::cerr << "[" << job->number << "] exit " << *exit_code << ": " << job->command << "\n";
        note_status(*exit_code);
        job = jobs_.erase(job);
      } else {
        ++job;
      }
    }
  }

  void poll_all() { poll_background(); }

  // Shows the job's new output; its exit code once it ended.
  std::optional<int> poll(Job& job) {
    const std::string base = std::string(kJobFolder) + "/" + std::to_string(job.number);
    const std::string offset = std::to_string(job.offset);
    // The exit code is read before the size: once it exists, the output is complete.
    // The exit code is read before the size: once it exists, the output is complete. At most
    // kMaxChunk bytes a time (the agent's answer holds at most 1 MiB).
    const std::string script = "e=$(cat " + base + ".rc 2>/dev/null); s=$(wc -c <" + base +
                               ".out) || exit 1; n=$((s - " + offset + ")); [ $n -gt " + std::to_string(kMaxChunk) +
                               " ] && n=" + std::to_string(kMaxChunk) + "; [ -n \"$e\" ] && [ $n -lt $((s - " + offset +
                               ")) ] && e=; echo \"$((" + offset + " + n)) ${e:--}\"; tail -c +$((" + offset +
                               " + 1)) " + base + ".out | head -c $n";
    auto reply = exec(script);
    if (!reply) return std::nullopt;
    const std::string output = reply->value("output", "");
    const auto newline = output.find('\n');
    std::istringstream header(output.substr(0, newline));
    std::size_t size = 0;
    std::string exit_text;
    if (reply->value("exit_code", 1) != 0 || !(header >> size >> exit_text)) {
      std::cerr << "(the output of '" << job.command << "' in " << kJobFolder << " is gone)\n";
      return 1;
    }
    if (newline != std::string::npos && newline + 1 < output.size()) {
      std::cout << output.substr(newline + 1) << std::flush;
    }
    job.offset = std::max(job.offset, size);
    if (exit_text == "-") return std::nullopt;
    try {
      return std::stoi(exit_text);
    } catch (const std::exception&) {
      return 1;
    }
  }

  std::optional<nlohmann::json> exec(const std::string& script) {
    if (lost_) return std::nullopt;
    auto reply = session_.agent().call(
        {{"call", "Exec"}, {"command", script}, {"timeout_ms", kAgentCallTimeout.count() / 2}}, kAgentCallTimeout);
    if (!reply) {
      std::cerr << "guest shell: the guest stopped answering (see " << options_.session.out_dir.string()
                << "/guest-console.log)\n";
      lost_ = true;
    }
    return reply;
  }

  // Runs the usbredir traffic and the agent for a while.
  void idle(milliseconds duration) {
    auto& io = session_.io();
    if (io.stopped()) io.restart();
    io.run_for(duration);
  }

  void note_status(int exit_code) {
    if (exit_code != 0) status_ = exit_code;
  }

  // Waits until pcscd lists the reader (and sees the card when one was inserted), so that the
  // first command finds them; says so when it does not happen.
  void wait_for_reader(bool with_card) {
    auto context_reply = session_.agent().call({{"call", "EstablishContext"}, {"scope", 2}}, kAgentCallTimeout);
    if (!context_reply || context_reply->value("rv", 1) != 0) {
      std::cerr << "(pcscd did not answer SCardEstablishContext; see " << options_.session.out_dir.string()
                << "/pcscd.log)\n";
      return;
    }
    const auto context = context_reply->value("context", std::uint64_t{0});
    const auto deadline = Clock::now() + kReaderWait;
    std::string reader;
    bool ready = false;
    while (!ready && Clock::now() < deadline) {
      auto listed = session_.agent().call({{"call", "ListReaders"}, {"context", context}}, kAgentCallTimeout);
      if (listed && listed->contains("readers") && (*listed)["readers"].is_array() && !(*listed)["readers"].empty()) {
        reader = (*listed)["readers"][0].get<std::string>();
        if (!with_card) {
          ready = true;
          break;
        }
        auto state =
            session_.agent().call({{"call", "GetStatusChange"},
                                   {"context", context},
                                   {"timeout_ms", 0},
                                   {"readers", nlohmann::json::array({{{"name", reader}, {"current_state", 0}}})}},
                                  kAgentCallTimeout);
        constexpr unsigned kStatePresent = 0x20;  // SCARD_STATE_PRESENT, pcsclite.h
        if (state && state->contains("readers") && !(*state)["readers"].empty() &&
            ((*state)["readers"][0].value("event_state", 0u) & kStatePresent))
          ready = true;
      }
      if (!ready) idle(milliseconds(200));
    }
    session_.agent().call({{"call", "ReleaseContext"}, {"context", context}}, kAgentCallTimeout);
    if (ready)
      std::cerr << "reader: " << reader << (with_card ? " (card present)" : "") << "\n";
    else
      std::cerr << "(pcscd did not " << (reader.empty() ? "list the reader" : "see the card") << " within "
                << kReaderWait.count() << " s; see " << options_.session.out_dir.string() << "/pcscd.log)\n";
  }

  GuestSession& session_;
  const GuestShellOptions& options_;
  std::vector<Job> jobs_;
  int last_job_ = 0;
  int status_ = 0;
  bool lost_ = false;
};

}  // namespace

std::string shell_quote(const std::string& word) {
  std::string quoted = "'";
  for (const char c : word) {
    if (c == '\'')
      quoted += "'\\''";
    else
      quoted += c;
  }
  return quoted + "'";
}

bool strip_background(std::string& command) {
  std::string text = trim(command);
  if (text.size() < 2 || text.back() != '&' || text[text.size() - 2] == '&') return false;
  text.pop_back();
  text = trim(text);
  if (text.empty()) return false;
  command = text;
  return true;
}

Expected<int> run_guest_shell(const GuestShellOptions& options) {
  std::cerr << "logs: " << options.session.out_dir.string()
            << " (guest-console.log, pcscd.log, agent.log, qemu.log, readerlab.log)\n";
  GuestSession session(options.session);
  if (auto started = session.start(); !started) return started.error();
  std::cerr << "guest up after " << std::fixed << std::setprecision(2)
            << static_cast<double>(session.agent_ready_after().count()) / 1000.0 << " s\n";
  if (!options.card.empty()) session.rig().insert(0, options.card);
  LineSource input(options.commands);
  Shell shell(session, options);
  const int status = shell.run(input);
  session.stop();
  return status;
}

}  // namespace readerlab::linux_guest
