#include "conformance/runners/fuzz_runner.h"

#include "conformance/hunt/case_writer.h"
#include "conformance/hunt/shrink.h"
#include "conformance/runners/runners.h"
#include "conformance/suite.h"
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
  for (const auto& line : result.record.log) std::cout << "log: " << line << "\n";
  std::cout << "outcome: " << to_string(result.outcome) << "\n" << result.message << "\n";
  if (result.outcome == Outcome::pass) return {{"verdict", "healthy"}};
  const auto& message = result.message;
  // The case's wall-clock budget spent under faults (slow answers, long retries) is not a hang:
  // a hang is a call that never returns, which the parent sees.
  if (message.find("time budget") != std::string::npos && message.find("is spent") != std::string::npos)
    return {{"verdict", "out_of_time"}, {"why", first_line(message)}};
  return {{"verdict", "broke"}, {"why", first_line(message)}};
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

// Whether a case arms faults of its own (the fault cases and scenarios).
bool arms_faults(const CaseInfo& info) {
  const std::string source = read_text(info.path);
  return source.find("lab.faults") != std::string::npos || source.find(":fault") != std::string::npos;
}

// The cases a hunt on the driver draws from: those written for it (or for every RDF driver, the
// family "reference-rdf"), without its known failures (a case the driver fails without faults
// shows nothing about faults) and without faults of their own (what breaks is then the drawn
// schedule, which the shrinker can shrink).
std::vector<CaseInfo> hunt_cases(const HuntOptions& options, const windows_model::RdfDriverChoice& choice) {
  const std::string own_file = choice.driver->expectations;
  const auto expectations =
      load_expectations(own_file.empty() ? options.expectations_dir / (std::string(choice.driver->name) + ".txt")
                                         : std::filesystem::path(own_file));
  std::vector<CaseInfo> cases;
  for (auto& info : discover_cases(options.cases_dir)) {
    if (!info.metadata_error.empty()) continue;
    if (!info.applies_to("reference-rdf") && !info.applies_to(options.driver) && !info.applies_to(choice.driver->name))
      continue;
    if (expectations.expected_failures.contains(info.id) || arms_faults(info)) continue;
    cases.push_back(std::move(info));
  }
  return cases;
}

class Hunt {
 public:
  Hunt(const HuntOptions& options, windows_model::RdfDriverChoice choice, std::vector<CaseInfo> cases)
      : options_(options), choice_(choice), cases_(std::move(cases)), folder_(options.out_dir / "fuzz") {}

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
    draw.transport_faults = choice_.transport == windows_model::RdfTransport::usbredir;
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
    return run_in_child(choice_, file, trial.seed, original.timeout + kHealthCheckTime, folder_ / (name + ".log"));
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
    const auto replay = run_in_child(
        choice_, file, trial.seed, original.timeout + kHealthCheckTime,
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
  windows_model::RdfDriverChoice choice_;
  std::vector<CaseInfo> cases_;
  std::filesystem::path folder_;
  Clock::time_point started_;
  std::set<std::size_t> breaks_alone_;  // cases that break the driver with no fault armed
};

}  // namespace

Expected<HuntOutcome> run_hunt(const HuntOptions& options) {
  const auto choice = windows_model::choose_rdf_driver(options.driver);
  if (!choice) return error("--driver", choice.error().message());
  auto cases = hunt_cases(options, *choice);
  if (cases.empty()) return error("--driver", "no case to hunt with for " + options.driver);
  if (!options.runs && !options.time) return error("readerlab fuzz", "neither --time nor --runs");
  return Hunt(options, *choice, std::move(cases)).run();
}

}  // namespace readerlab::conformance::hunt
