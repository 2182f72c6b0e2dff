// libccid under test: the cases through pcscd + libccid in the Linux guest.
#include "conformance/runners/runners.h"

#include "hosts/linux_guest/guest_builder.h"
#include "hosts/linux_guest/guest_session.h"
#include "scenarios/reader_profiles.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

namespace readerlab::conformance::runners {

namespace {

// Known failures for one reader profile: libccid's own, then those of every reader at the
// profile's exchange level (libccid-tpdu.txt: libccid runs T=0 and T=1 itself there), then those
// of every multi-slot reader (libccid-multi-slot.txt: libccid's own code path for them), then
// those the profile's own quirks explain; a later file's line replaces an earlier one for its case.
Expectations reader_expectations(const SuiteRun& run, const scenarios::ReaderProfile& profile) {
  auto expectations = load_expectations(run.expectations_dir / "libccid.txt");
  std::vector<std::filesystem::path> files{
      run.expectations_dir / (std::string("libccid-") + ccid::to_string(profile.config.exchange_level()) + ".txt")};
  if (profile.config.slot_count > 1) files.push_back(run.expectations_dir / "libccid-multi-slot.txt");
  files.push_back(run.expectations_dir / ("libccid@" + profile.name + ".txt"));
  for (const auto& file : files)
    if (std::filesystem::exists(file)) merge_expectations(expectations, load_expectations(file));
  return expectations;
}

// The one guest a libccid run boots: the run's guest, seed and log folder.
linux_guest::GuestSessionOptions guest_options(const SuiteRun& run, const std::filesystem::path& out_dir) {
  linux_guest::GuestSessionOptions options;
  options.guest_dir = run.guest_dir;
  options.out_dir = out_dir;
  options.boot_timeout = std::chrono::seconds(240);
  options.seed = run.seed;
  if (run.saved_state)
    options.saved_states = (run.guest_dir.empty() ? qemu::default_guest_dir() : run.guest_dir) / "saved-states";
  return options;
}

// The guest of a libccid run. A case that did not pass may leave pcscd or libccid wedged (a
// reader thread looping on a device that is gone, a reader never listed again), and so may the
// removal of a multi-slot reader after a case that passed; every case after it would fail for
// that one: after such a case a health probe (lab.check_driver_healthy, which first resets the
// reader to the run's model) runs, and when it fails the guest boots again, so that each verdict
// is about its own case.
class GuestRun {
 public:
  GuestRun(const SuiteRun& run, std::filesystem::path out_dir)
      : options_(guest_options(run, out_dir)), probe_(write_probe(out_dir)), fresh_(run.fresh_guest) {}
  ~GuestRun() { stop(); }

  Status start() {
    ++boots_;
    // The guest gets the baseline's model from the start: no unplug and replug of a reader the
    // driver has just opened before the first case.
    if (baseline_) options_.reader_config = *baseline_;
    session_ = std::make_unique<linux_guest::GuestSession>(options_);
    if (auto started = session_->start(); !started) {
      session_.reset();
      return started;
    }
    return {};
  }
  void stop() {
    if (!session_) return;
    if (boots_ == 1 && !first_apdu_after_) {
      if (const auto at = session_->port().first_apdu_at()) first_apdu_after_ = *at - session_->qemu_started();
    }
    // A guest of --fresh-guest is not used again: no shutdown to wait for.
    if (fresh_)
      session_->discard();
    else
      session_->stop();
    session_->rig().stop_traces();
    session_.reset();
  }
  bool running() const { return session_ != nullptr; }
  bool fresh() const { return fresh_; }
  // QEMU start to the first successful APDU of the first boot, once that boot has ended.
  std::optional<std::chrono::nanoseconds> first_apdu_after() const { return first_apdu_after_; }
  linux_guest::GuestSession& session() { return *session_; }

  // The model every case starts from (again after a restart).
  void set_baseline(const ccid::ReaderConfig& config, ccid::EscapeHandler escape) {
    baseline_ = config;
    escape_ = std::move(escape);
    probing_ = true;
    apply_baseline();
  }

  // After a case that did not pass or left a multi-slot reader plugged in: probes the driver; when it is unhealthy,
  // boots the guest again and returns why (empty: healthy, or not probed). A driver that fails the probe right after a
  // fresh boot is never healthy on this reader model: probing stops until the next one.
  std::string after_case(const CaseResult& result, const std::string& column) {
    if (fresh_) return fresh_guest_after(column == "libccid" ? result.info.id : column + "/" + result.info.id);
    if (!session_ || !probing_) return {};
    // Removing a multi-slot reader is where libccid 1.5.2 wedges (its slot-reading thread loops on
    // the gone device, the old readers stay listed): the next case's reset does that removal.
    const bool multi_slot = session_->rig().reader(0).reader->config().slot_count > 1;
    if (result.outcome == Outcome::pass && !multi_slot) return {};
    session_->rig().stop_traces();  // the case's traces end with it; the probe is not a case
    const auto probe = run_case(read_case_info(probe_.parent_path(), probe_), session_->rig(), session_->port(), {});
    if (probe.outcome == Outcome::pass) return {};
    std::string why = probe.message;
    stop();
    why += "; that boot's logs: " + keep_logs(result.info.id).string();
    if (auto started = start(); !started) return why + "; the guest did not boot again: " + started.error().message();
    apply_baseline();
    const auto again = run_case(read_case_info(probe_.parent_path(), probe_), session_->rig(), session_->port(), {});
    if (again.outcome != Outcome::pass) {
      probing_ = false;
      why += " (and after a fresh boot too: not probed again on this reader model)";
    }
    return why;
  }

 private:
  static std::filesystem::path write_probe(const std::filesystem::path& out_dir) {
    std::filesystem::create_directories(out_dir);
    const auto file = out_dir / "health-probe.lua";
    std::ofstream out(file, std::ios::trunc);
    out << "-- @title: after a case that did not pass: is the driver still healthy? (not a case of the suite)\n"
           "-- @drivers: libccid\n"
           "-- @timeout: 90\n"
           "lab.check_driver_healthy()\n";
    return file;
  }
  // The next boot writes its logs where this one did: this boot's go to a folder of their own.
  std::filesystem::path keep_logs(const std::string& case_id) {
    std::string name = "logs-unhealthy-after-" + case_id;
    std::replace(name.begin(), name.end(), '/', '_');
    const auto folder = options_.out_dir / name;
    std::error_code ignored;
    std::filesystem::create_directories(folder, ignored);
    for (const char* log : {"guest-console.log", "pcscd.log", "agent.log", "readerlab.log", "qemu.log"})
      std::filesystem::rename(options_.out_dir / log, folder / log, ignored);
    return folder;
  }
  // --fresh-guest: the case's guest goes with its logs; the next case this job takes starts one
  // restored from the saved state (restart_fresh), so a job that takes none starts none.
  std::string fresh_guest_after(const std::string& log_folder) {
    if (!session_) return {};
    stop();
    auto folder = options_.out_dir / "guest-logs" / log_folder;
    std::error_code ignored;
    std::filesystem::create_directories(folder, ignored);
    for (const char* log : {"guest-console.log", "pcscd.log", "agent.log", "readerlab.log", "qemu.log"})
      std::filesystem::rename(options_.out_dir / log, folder / log, ignored);
    return {};
  }

 public:
  // Returns why when the guest did not start.
  std::string restart_fresh() {
    if (auto started = start(); !started) return "the guest did not start again: " + started.error().message();
    apply_baseline();
    return {};
  }

 private:
  void apply_baseline() {
    if (!session_ || !baseline_) return;
    session_->rig().set_baseline(0, *baseline_, escape_);
    session_->rig().reset_to_baseline();
  }

  linux_guest::GuestSessionOptions options_;
  std::filesystem::path probe_;
  std::unique_ptr<linux_guest::GuestSession> session_;
  std::optional<ccid::ReaderConfig> baseline_;
  ccid::EscapeHandler escape_;
  bool probing_ = true;
  bool fresh_ = false;
  int boots_ = 0;
  std::optional<std::chrono::nanoseconds> first_apdu_after_;
};

// Runs the cases in the guest, with a restart after a case that left the driver unhealthy (with
// --fresh-guest, a guest restored for every case). With --jobs only the cases this job takes.
void run_cases_in(GuestRun& guest, const std::vector<CaseInfo>& cases, const Expectations& expectations,
                  const std::filesystem::path& traces, RunSummary& summary) {
  std::size_t restarts = 0;
  for (std::size_t index = 0; index < cases.size(); ++index) {
    const auto& info = cases[index];
    CaseResult result;
    result.info = info;
    if (!guest.running() && !guest.fresh()) {
      if (runs_shared()) break;  // this job's guest is gone: the other jobs take what is left
      result.message = "the guest did not boot again after an earlier case";
      print_progress(index + 1, cases.size(), result);
      summary.results.push_back(std::move(result));
      continue;
    }
    if (!take_run(summary.driver, info)) continue;
    if (!guest.running()) result.message = guest.restart_fresh();
    if (result.message.empty())
      result = run_case(info, guest.session().rig(), guest.session().port(), expectations, traces);
    print_progress(index + 1, cases.size(), result);
    const std::string why = guest.after_case(result, summary.driver);
    summary.results.push_back(std::move(result));
    if (why.empty()) continue;
    ++restarts;
    print_line("    the driver was unhealthy after it, the guest booted again: " + why);
    summary.facts.emplace_back("guest booted again after " + info.id, why);
  }
  if (guest.fresh())
    summary.facts.emplace_back("guests", "a fresh one for every case, restored from the saved state (--fresh-guest)");
  else if (restarts == 0)
    summary.facts.emplace_back("guest restarts", "none (no case left the driver unhealthy)");
}

}  // namespace

std::vector<RunSummary> run_libccid_readers(const SuiteRun& run, const std::vector<RunColumn>& columns,
                                            const std::filesystem::path& out_dir) {
  std::vector<RunSummary> summaries;
  GuestRun guest(run, out_dir);
  if (const auto first = scenarios::find_reader_profile(columns.front().reader))
    guest.set_baseline(first->config, scenarios::make_escape_handler(*first));
  const auto started = guest.start();
  std::string boot_fact;
  if (started) {
    auto& first = guest.session();
    boot_fact = format_seconds(first.agent_ready_after()) + (first.used_kvm() ? " (KVM)" : " (TCG)") +
                (first.restored() ? ", restored from " + first.saved_state().filename().string() : "");
    print_line("guest up: QEMU start to agent ready " + boot_fact);
  }
  for (const auto& column : columns) {
    const auto& reader = column.reader;
    const auto& cases = column.cases;
    RunSummary summary;
    summary.driver = "libccid@" + reader;
    summary.seed = run.seed;
    if (!started) {
      fail_all(summary, cases, "the guest did not start: " + started.error().message());
      summaries.push_back(std::move(summary));
      continue;
    }
    const auto profile = scenarios::find_reader_profile(reader);
    if (!profile) {
      fail_all(summary, cases, profile.error().message());
      summaries.push_back(std::move(summary));
      continue;
    }
    if (!runs_left(summary.driver, cases)) continue;  // --jobs: the other jobs took them all
    if (!guest.running() && !guest.fresh()) {
      // A restart after an earlier reader's case failed to boot: every reader after it.
      if (auto again = guest.start(); !again) {
        fail_all(summary, cases, "the guest did not boot again: " + again.error().message());
        summaries.push_back(std::move(summary));
        continue;
      }
    }
    print_line("reader " + reader + " (" + profile->title + ")");
    // The profile is the model every case starts from; a case's configure{} goes on top of it.
    guest.set_baseline(profile->config, scenarios::make_escape_handler(*profile));
    summary.facts.emplace_back("reader", reader + ": " + profile->title);
    if (summaries.empty()) summary.facts.emplace_back("QEMU start to agent ready (first boot)", boot_fact);
    if (!profile->libccid_listed) summary.facts.emplace_back("libccid", "VID:PID not in Debian libccid 1.5.2's list");
    run_cases_in(guest, cases, reader_expectations(run, *profile), trace_folder(run, out_dir / ("libccid@" + reader)),
                 summary);
    summaries.push_back(std::move(summary));
  }
  guest.stop();
  return summaries;
}

RunSummary run_libccid(const SuiteRun& run, const std::vector<CaseInfo>& cases, const std::filesystem::path& out_dir) {
  RunSummary summary;
  summary.driver = "libccid";
  summary.seed = run.seed;
  GuestRun guest(run, out_dir);
  if (const auto started = guest.start(); !started) {
    const std::string why = started.error().message();
    std::cerr << "readerlab run: " << why << "\n";
    fail_all(summary, cases, "the guest did not start: " + why.substr(0, why.find('\n')));
    return summary;
  }
  auto& first = guest.session();
  const std::string restored =
      first.restored() ? ", restored from " + first.saved_state().filename().string() : std::string();
  print_line("guest up: QEMU start to agent ready " + format_seconds(first.agent_ready_after()) + " (" +
             (first.used_kvm() ? "KVM" : "TCG") + restored + ")");
  summary.facts.emplace_back("accelerator", first.used_kvm() ? "KVM" : "TCG");
  summary.facts.emplace_back("QEMU start to agent ready", format_seconds(first.agent_ready_after()) + restored);
  run_cases_in(guest, cases, load_expectations(run.expectations_dir / "libccid.txt"), trace_folder(run, out_dir),
               summary);
  guest.stop();
  const auto first_apdu_after = guest.first_apdu_after();
  summary.facts.emplace_back(
      "QEMU start to first successful APDU",
      first_apdu_after ? format_seconds(*first_apdu_after) : std::string("no APDU succeeded in the first boot"));
  summary.facts.emplace_back("guest logs", run.fresh_guest ? (out_dir / "guest-logs").string() + "/<case id>/"
                                                           : (out_dir / "guest-console.log").string() + ", " +
                                                                 (out_dir / "pcscd.log").string());
  return summary;
}

}  // namespace readerlab::conformance::runners
