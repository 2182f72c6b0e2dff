#include "conformance/runners/fuzz_runner.h"

#include "conformance/hunt/case_writer.h"
#include "conformance/hunt/shrink.h"
#include "conformance/runners/runners.h"
#include "conformance/suite.h"
#include "hosts/linux_guest/guest_session.h"
#include "hosts/windows_model/port/rdf_port.h"
#include "hosts/windows_model/rdf/rdf_registry.h"

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

namespace readerlab::conformance::hunt {
namespace {

using Clock = std::chrono::steady_clock;

// How long past its own timeout a trial's child may run before it counts as hung: the driver's
// stop and the process's exit, with room for a loaded machine.
constexpr std::chrono::seconds kHangMargin{30};

enum class VerdictKind { healthy, broke, out_of_time };

struct Verdict {
  VerdictKind kind = VerdictKind::healthy;
  std::string why;  // what broke (first line), or why the trial did not count
  std::chrono::milliseconds duration{0};
};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return error(path.string(), "cannot be written");
  return {};
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string seconds(Clock::duration duration) { return runners::format_seconds(duration); }

// What a trial's case says of the driver, once it ran: its log lines and outcome go to `log`.
// The case's wall-clock budget spent under faults (slow answers, long retries) is not a hang: a
// hang is a call that never returns, which the runner sees.
Verdict case_verdict(const CaseResult& result, std::ostream& log) {
  for (const auto& line : result.record.log) log << "log: " << line << "\n";
  log << "outcome: " << to_string(result.outcome) << "\n" << result.message << "\n";
  Verdict verdict;
  if (result.outcome == Outcome::pass) return verdict;
  const auto& message = result.message;
  const bool out_of_time =
      message.find("time budget") != std::string::npos && message.find("is spent") != std::string::npos;
  verdict.kind = out_of_time ? VerdictKind::out_of_time : VerdictKind::broke;
  verdict.why = first_line(message);
  return verdict;
}

const char* to_string(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::healthy: return "healthy";
    case VerdictKind::broke: return "broke";
    case VerdictKind::out_of_time: return "out_of_time";
  }
  return "broke";
}

// In the child: a fresh rig and driver, the case, the verdict as one JSON line.
nlohmann::json run_trial_here(const windows_model::RdfDriverChoice& choice, const std::filesystem::path& case_file,
                              std::uint64_t trial_seed) {
  const auto info = read_case_info(case_file.parent_path(), case_file);
  char pattern[] = "/tmp/readerlab-fuzz-XXXXXX";
  if (!::mkdtemp(pattern)) return {{"verdict", "error"}, {"why", "cannot create a folder for the reader's socket"}};
  const std::filesystem::path socket_dir = pattern;
  CaseResult result;
  {
    boost::asio::io_context io;
    scenarios::Rig rig(io, nullptr);
    rig.set_seed(trial_seed);
    usbredir::SocketAddress address;
    address.is_unix = true;
    address.path = (socket_dir / "reader1.sock").string();
    rig.add_reader(address);
    windows_model::RdfPort port(rig, choice.transport, *choice.driver);
    result = run_case(info, rig, port, Expectations{});
    // The port and the rig go before the verdict: a crash in the driver's stop is a crash too.
  }
  std::error_code ignored;
  std::filesystem::remove_all(socket_dir, ignored);
  const Verdict verdict = case_verdict(result, std::cout);
  if (verdict.kind == VerdictKind::healthy) return {{"verdict", "healthy"}};
  return {{"verdict", to_string(verdict.kind)}, {"why", verdict.why}};
}

std::string signal_name(int number) {
  const char* name = ::sigabbrev_np(number);
  return name ? std::string("SIG") + name : "signal " + std::to_string(number);
}

// Runs the case file in a fork()ed child whose output goes to `log`; the parent sees a crash, a
// sanitizer's exit and a hang past `limit`.
Verdict run_in_child(const windows_model::RdfDriverChoice& choice, const std::filesystem::path& case_file,
                     std::uint64_t trial_seed, std::chrono::seconds limit, const std::filesystem::path& log) {
  const auto started = Clock::now();
  Verdict verdict;
  int channel[2];
  if (::pipe(channel) != 0) {
    verdict.kind = VerdictKind::out_of_time;
    verdict.why = std::string("pipe: ") + std::strerror(errno);
    return verdict;
  }
  std::cout << std::flush;
  std::cerr << std::flush;
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(channel[0]);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      ::close(log_fd);
    }
    std::string line;
    try {
      line = run_trial_here(choice, case_file, trial_seed).dump() + "\n";
    } catch (const std::exception& e) {
      line =
          nlohmann::json{{"verdict", "broke"}, {"why", std::string("exception from the trial: ") + e.what()}}.dump() +
          "\n";
    }
    std::cout << std::flush;
    std::fflush(nullptr);
    const ssize_t written = ::write(channel[1], line.data(), line.size());
    ::_exit(written == static_cast<ssize_t>(line.size()) ? 0 : 3);
  }
  ::close(channel[1]);
  if (child < 0) {
    ::close(channel[0]);
    verdict.kind = VerdictKind::out_of_time;
    verdict.why = std::string("fork: ") + std::strerror(errno);
    return verdict;
  }
  std::string reply;
  const auto deadline = started + limit + kHangMargin;
  bool hung = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      hung = true;
      break;
    }
    pollfd wait_for{channel[0], POLLIN, 0};
    const int ready = ::poll(&wait_for, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t got = ::read(channel[0], buffer, sizeof buffer);
    if (got <= 0) break;  // the child closed its end: it is exiting
    reply.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(channel[0]);
  int status = 0;
  if (hung) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    verdict.kind = VerdictKind::broke;
    verdict.why = "hung: the trial still ran " + std::to_string((limit + kHangMargin).count()) +
                  " s after it started (a driver call that never returns); killed";
  } else {
    // The verdict is written: the child is exiting (its driver already stopped).
    while (true) {
      const pid_t done = ::waitpid(child, &status, WNOHANG);
      if (done == child || done < 0) break;
      if (Clock::now() > deadline) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        break;
      }
      ::usleep(10000);
    }
    if (WIFSIGNALED(status)) {
      verdict.kind = VerdictKind::broke;
      verdict.why =
          "crashed: the trial died by " + signal_name(WTERMSIG(status)) + " (its output: " + log.string() + ")";
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      verdict.kind = VerdictKind::broke;
      verdict.why = "crashed: the trial exited with status " + std::to_string(WEXITSTATUS(status)) +
                    " (a sanitizer's report? its output: " + log.string() + ")";
    } else {
      const auto parsed = nlohmann::json::parse(first_line(reply), nullptr, false);
      const std::string kind = parsed.is_object() ? parsed.value("verdict", "") : "";
      verdict.why = parsed.is_object() ? parsed.value("why", "") : "";
      if (kind == "healthy")
        verdict.kind = VerdictKind::healthy;
      else if (kind == "out_of_time")
        verdict.kind = VerdictKind::out_of_time;
      else if (kind == "broke")
        verdict.kind = VerdictKind::broke;
      else {
        verdict.kind = VerdictKind::broke;
        verdict.why = "crashed: the trial ended without a verdict (its output: " + log.string() + ")";
      }
    }
  }
  verdict.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return verdict;
}

// Where a hunt's trials run: each takes a written case file and gives the driver's verdict.
class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  // `limit`: the case's own time with its health checks; `log`: the trial's output.
  virtual Verdict run(const std::filesystem::path& case_file, std::uint64_t trial_seed, std::chrono::seconds limit,
                      const std::filesystem::path& log) = 0;
  // Whether the place the driver runs takes the usbredir socket's faults.
  virtual bool over_usbredir() const = 0;
};

// An RDF driver on the host: every trial in a fork()ed child with a fresh rig and driver.
class HostTrials final : public TrialRunner {
 public:
  explicit HostTrials(windows_model::RdfDriverChoice choice) : choice_(choice) {}
  Verdict run(const std::filesystem::path& case_file, std::uint64_t trial_seed, std::chrono::seconds limit,
              const std::filesystem::path& log) override {
    return run_in_child(choice_, case_file, trial_seed, limit, log);
  }
  bool over_usbredir() const override { return choice_.transport == windows_model::RdfTransport::usbredir; }

 private:
  windows_model::RdfDriverChoice choice_;
};

// libccid: pcscd in the Linux guest, booted once and used trial after trial while it stays
// healthy. A trial that broke it (or ran out of time) leaves the guest in a state the next trial
// must not inherit: the guest is booted again before it, so that every trial, and every shrink
// candidate, starts from a freshly booted pcscd. The driver broke when pcscd is gone or has another
// pid after the trial (a crash), when the agent stops answering (a hang in pcscd or libccid holds
// the agent's PC/SC call), or when an invariant of lab.check_driver_healthy fails.
class GuestTrials final : public TrialRunner {
 public:
  GuestTrials(std::filesystem::path guest_dir, std::filesystem::path logs, std::uint64_t seed)
      : guest_dir_(std::move(guest_dir)), logs_(std::move(logs)), seed_(seed) {}
  ~GuestTrials() override { stop(); }

  Verdict run(const std::filesystem::path& case_file, std::uint64_t, std::chrono::seconds,
              const std::filesystem::path& log) override {
    const auto started = Clock::now();
    if (auto booted = ensure_booted(); !booted) {
      // A guest that cannot boot is not a finding about the driver: the hunt cannot go on.
      throw std::runtime_error("the guest did not start: " + first_line(booted.error().message()));
    }
    const auto info = read_case_info(case_file.parent_path(), case_file);
    const CaseResult result = run_case(info, session_->rig(), session_->port(), Expectations{});
    std::ofstream out(log, std::ios::trunc);
    Verdict verdict = case_verdict(result, out);
    out << "guest logs: " << (logs_ / "pcscd.log").string() << ", " << (logs_ / "guest-console.log").string() << "\n";
    const std::string pcscd = pcscd_pid();
    if (pcscd != pcscd_pid_) {
      verdict.kind = VerdictKind::broke;
      verdict.why = pcscd.empty() ? "crashed: pcscd is gone from the guest (pid " + pcscd_pid_ + " was running; " +
                                        (logs_ / "pcscd.log").string() + ")"
                                  : "crashed: pcscd runs with pid " + pcscd + " now, not " + pcscd_pid_;
    }
    if (verdict.kind != VerdictKind::healthy) stop();
    verdict.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return verdict;
  }
  bool over_usbredir() const override { return true; }

 private:
  Status ensure_booted() {
    if (session_) return {};
    linux_guest::GuestSessionOptions options;
    options.guest_dir = guest_dir_;
    options.out_dir = logs_;
    options.seed = seed_;
    session_ = std::make_unique<linux_guest::GuestSession>(options);
    std::cout << "  (booting the guest: " << (boots_ == 0 ? "first boot" : "a fresh pcscd after the last trial")
              << ")\n"
              << std::flush;
    ++boots_;
    if (auto started = session_->start(); !started) {
      session_.reset();
      return started;
    }
    pcscd_pid_ = pcscd_pid();
    if (pcscd_pid_.empty()) {
      stop();
      return error("the guest", "pcscd is not running after the boot");
    }
    return {};
  }

  // pcscd's pid in the guest, empty when it is not running or the agent does not answer.
  std::string pcscd_pid() {
    if (!session_) return {};
    const auto reply = session_->agent().call({{"call", "Exec"}, {"command", "pidof pcscd"}, {"timeout_ms", 10000}},
                                              std::chrono::seconds(30));
    if (!reply) return {};
    std::string pid = first_line(reply->value("output", std::string()));
    while (!pid.empty() && (pid.back() == ' ' || pid.back() == '\r')) pid.pop_back();
    return pid;
  }

  void stop() {
    if (!session_) return;
    session_->stop();
    session_.reset();
  }

  std::filesystem::path guest_dir_;
  std::filesystem::path logs_;
  std::uint64_t seed_;
  std::unique_ptr<linux_guest::GuestSession> session_;
  std::string pcscd_pid_;
  int boots_ = 0;
};

// Whether a case arms faults of its own (the fault cases and scenarios).
bool arms_faults(const CaseInfo& info) {
  const std::string source = read_text(info.path);
  return source.find("lab.faults") != std::string::npos || source.find(":fault") != std::string::npos;
}

// The cases a hunt on the driver draws from: those written for it (or for every RDF driver, the
// family "reference-rdf"), without its known failures (a case the driver fails without faults
// shows nothing about faults) and without faults of their own (what breaks is then the drawn
// schedule, which the shrinker can shrink).
std::vector<CaseInfo> hunt_cases(const HuntOptions& options, const std::filesystem::path& expectations_file,
                                 const std::vector<std::string>& driver_names) {
  const auto expectations = load_expectations(expectations_file);
  std::vector<CaseInfo> cases;
  for (auto& info : discover_cases(options.cases_dir)) {
    if (!info.metadata_error.empty()) continue;
    bool written_for = false;
    for (const auto& name : driver_names) written_for = written_for || info.applies_to(name);
    if (!written_for) continue;
    if (expectations.expected_failures.contains(info.id) || arms_faults(info)) continue;
    cases.push_back(std::move(info));
  }
  return cases;
}

class Hunt {
 public:
  Hunt(const HuntOptions& options, std::vector<CaseInfo> cases)
      : options_(options), cases_(std::move(cases)), folder_(options.out_dir / "fuzz") {}

  void set_runner(std::unique_ptr<TrialRunner> runner) { runner_ = std::move(runner); }
  const std::filesystem::path& folder() const { return folder_; }

  Expected<HuntOutcome> run() {
    std::error_code failed;
    std::filesystem::create_directories(folder_, failed);
    if (failed) return error(folder_.string(), "cannot be created: " + failed.message());
    started_ = Clock::now();
    std::cout << "readerlab fuzz: " << options_.driver << ", seed " << options_.seed << ", " << cases_.size()
              << " case(s), ";
    if (options_.runs)
      std::cout << *options_.runs << " trial(s) at most";
    else
      std::cout << "for " << options_.time->count() << " s";
    std::cout << "; output in " << folder_.string() << "\n" << std::flush;

    DrawOptions draw;
    draw.transport_faults = runner_->over_usbredir();
    draw.case_count = cases_.size();
    std::uint64_t number = 0;
    while (true) {
      if (options_.runs && number >= *options_.runs) break;
      if (options_.time && Clock::now() - started_ >= *options_.time) break;
      const Trial trial = draw_trial(options_.seed, ++number, draw);
      const auto& original = cases_[trial.case_index];
      std::cout << "trial " << trial.number << " [" << original.id << "]: " << describe(trial.schedule) << "\n";
      if (breaks_alone_.count(trial.case_index)) {
        std::cout << "  skipped: the case breaks this driver without faults\n" << std::flush;
        continue;
      }
      auto verdict = run_trial(trial, original, trial.schedule, "trial");
      if (!verdict) return verdict.error();
      if (verdict->kind == VerdictKind::healthy) {
        std::cout << "  healthy (" << seconds(verdict->duration) << ")\n" << std::flush;
        continue;
      }
      if (verdict->kind == VerdictKind::out_of_time) {
        std::cout << "  not counted: " << verdict->why << " (" << seconds(verdict->duration) << ")\n" << std::flush;
        continue;
      }
      // A case that breaks the driver with no fault at all is the driver's plain failure (or a
      // reader model it cannot drive), not what the faults found: it leaves the hunt.
      auto alone = run_trial(trial, original, Schedule{}, "no-faults");
      if (!alone) return alone.error();
      if (alone->kind == VerdictKind::broke) {
        std::cout << "  BROKE (" << seconds(verdict->duration) << "), but the case breaks this driver without faults"
                  << " too (" << alone->why << "): no fault finding; the case leaves the hunt\n"
                  << std::flush;
        breaks_alone_.insert(trial.case_index);
        continue;
      }
      return report_break(trial, original, *verdict);
    }
    std::cout << "readerlab fuzz: no break in " << number << " trial(s) (" << seconds(Clock::now() - started_)
              << ", seed " << options_.seed << ")\n";
    return HuntOutcome::nothing_found;
  }

 private:
  TrialCase trial_case(const Trial& trial, const Schedule& schedule) const {
    TrialCase text;
    text.driver = options_.driver;
    text.hunt_seed = options_.seed;
    text.trial_number = trial.number;
    text.trial_seed = trial.seed;
    text.schedule = schedule;
    return text;
  }

  // Writes the trial's case next to the others and runs it in a child.
  Expected<Verdict> run_trial(const Trial& trial, const CaseInfo& original, const Schedule& schedule,
                              const std::string& name) {
    const auto file = folder_ / (name + ".lua");
    if (auto written = write_text(file, compose_case(original, read_text(original.path), trial_case(trial, schedule)));
        !written)
      return written.error();
    return runner_->run(file, trial.seed, original.timeout + kHealthCheckTime, folder_ / (name + ".log"));
  }

  Expected<HuntOutcome> report_break(const Trial& trial, const CaseInfo& original, const Verdict& verdict) {
    const auto found_after = Clock::now() - started_;
    std::cout << "  BROKE (" << seconds(verdict.duration) << "): " << verdict.why << "\n";
    std::cout << "shrinking the schedule (the same case and seed, a change kept only while it still breaks)\n"
              << std::flush;
    std::string shrink_error;
    const auto shrunk = shrink_schedule(trial.schedule, [&](const Schedule& candidate) {
      auto again = run_trial(trial, original, candidate, "shrink");
      if (!again) {
        shrink_error = again.error().message();
        return false;
      }
      const bool breaks = again->kind == VerdictKind::broke;
      std::cout << "  " << (breaks ? "still breaks" : "passes      ") << ": " << describe(candidate) << "\n"
                << std::flush;
      return breaks;
    });
    if (!shrink_error.empty()) return error("readerlab fuzz", shrink_error);

    TrialCase found = trial_case(trial, shrunk.schedule);
    found.finding = verdict.why;
    found.drawn_schedule = describe(trial.schedule);
    const auto file =
        folder_ / ("found-" + std::to_string(options_.seed) + "-" + std::to_string(trial.number) + ".lua");
    if (auto written = write_text(file, compose_case(original, read_text(original.path), found)); !written)
      return written.error();
    // The file as written, run once more as `readerlab run --case` would: does it reproduce?
    const auto replay = runner_->run(
        file, trial.seed, original.timeout + kHealthCheckTime,
        folder_ / ("found-" + std::to_string(options_.seed) + "-" + std::to_string(trial.number) + ".log"));
    std::error_code ignored;
    std::filesystem::remove(folder_ / "shrink.lua", ignored);
    std::filesystem::remove(folder_ / "shrink.log", ignored);

    std::cout << "\nreaderlab fuzz: " << options_.driver << " broke\n"
              << "  seed:            " << options_.seed << " (trial " << trial.number << ", case " << original.id
              << ")\n"
              << "  what broke:      " << verdict.why << "\n"
              << "  schedule:        " << describe(trial.schedule) << "\n"
              << "  shrunk schedule: " << describe(shrunk.schedule) << " (" << shrunk.tries << " tries"
              << (shrunk.exhausted ? ", stopped at the limit" : "") << ")\n"
              << "  case written:    " << file.string() << "\n"
              << "  replayed:        "
              << (replay.kind == VerdictKind::broke ? "breaks again: " + replay.why
                                                    : std::string("did NOT break again (a timing-dependent finding)"))
              << "\n"
              << "  reproduce with:  readerlab run --driver " << options_.driver << " --case " << file.string() << "\n"
              << "  time to find:    " << seconds(found_after) << " (with shrinking and replay "
              << seconds(Clock::now() - started_) << ")\n";
    return HuntOutcome::found;
  }

  const HuntOptions& options_;
  std::unique_ptr<TrialRunner> runner_;
  std::vector<CaseInfo> cases_;
  std::filesystem::path folder_;
  Clock::time_point started_;
  std::set<std::size_t> breaks_alone_;  // cases that break the driver with no fault armed
};

}  // namespace

Expected<HuntOutcome> run_hunt(const HuntOptions& options) {
  if (!options.runs && !options.time) return error("readerlab fuzz", "neither --time nor --runs");
  std::vector<CaseInfo> cases;
  std::optional<windows_model::RdfDriverChoice> host_driver;
  if (options.driver == "libccid") {
    cases = hunt_cases(options, options.expectations_dir / "libccid.txt", {"libccid"});
  } else {
    const auto choice = windows_model::choose_rdf_driver(options.driver);
    if (!choice) return error("--driver", choice.error().message());
    host_driver = *choice;
    // The cases written for the driver, or for every RDF driver (the family "reference-rdf").
    const std::string own_file = choice->driver->expectations;
    cases = hunt_cases(options,
                       own_file.empty() ? options.expectations_dir / (std::string(choice->driver->name) + ".txt")
                                        : std::filesystem::path(own_file),
                       {"reference-rdf", options.driver, std::string(choice->driver->name)});
  }
  if (cases.empty()) return error("--driver", "no case to hunt with for " + options.driver);
  Hunt hunt(options, std::move(cases));
  if (host_driver)
    hunt.set_runner(std::make_unique<HostTrials>(*host_driver));
  else
    hunt.set_runner(std::make_unique<GuestTrials>(options.guest_dir, hunt.folder() / "guest", options.seed));
  try {
    return hunt.run();
  } catch (const std::runtime_error& stopped) {
    return error("readerlab fuzz", stopped.what());
  }
}

}  // namespace readerlab::conformance::hunt
