// libccid under test: the cases through pcscd + libccid in the Linux guest.
#include "conformance/runners/runners.h"

#include "hosts/linux_guest/guest_session.h"
#include "scenarios/reader_profiles.h"

#include <iostream>

namespace readerlab::conformance::runners {

namespace {

// Known failures for one reader profile: libccid's own, and those its quirks explain.
Expectations reader_expectations(const SuiteRun& run, const std::string& reader) {
  auto expectations = load_expectations(run.expectations_dir / "libccid.txt");
  const auto own = run.expectations_dir / ("libccid@" + reader + ".txt");
  if (std::filesystem::exists(own)) {
    auto more = load_expectations(own);
    for (auto& [id, reason] : more.expected_failures) expectations.expected_failures[id] = reason;
    for (auto& [id, text] : more.failure_must_contain) expectations.failure_must_contain[id] = text;
  }
  return expectations;
}

// The one guest a libccid run boots: the run's guest, seed and log folder.
linux_guest::GuestSessionOptions guest_options(const SuiteRun& run, const std::filesystem::path& out_dir) {
  linux_guest::GuestSessionOptions options;
  options.guest_dir = run.guest_dir;
  options.out_dir = out_dir;
  options.boot_timeout = std::chrono::seconds(240);
  options.seed = run.seed;
  return options;
}

}  // namespace

std::vector<RunSummary> run_libccid_readers(const SuiteRun& run, const std::vector<CaseInfo>& cases,
                                            const std::filesystem::path& out_dir) {
  std::vector<RunSummary> summaries;
  linux_guest::GuestSession session(guest_options(run, out_dir));
  const auto started = session.start();
  for (const auto& reader : run.readers) {
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
    std::cout << "reader " << reader << " (" << profile->title << ")\n" << std::flush;
    // The profile is the model every case starts from; a case's configure{} goes on top of it.
    session.rig().set_baseline(0, profile->config, scenarios::make_escape_handler(*profile));
    session.rig().reset_to_baseline();
    summary.facts.emplace_back("reader", reader + ": " + profile->title);
    if (!profile->libccid_listed) summary.facts.emplace_back("libccid", "VID:PID not in Debian libccid 1.5.2's list");
    const auto expectations = reader_expectations(run, reader);
    const auto traces = trace_folder(run, out_dir / ("libccid@" + reader));
    std::size_t number = 0;
    for (const auto& info : cases) {
      auto result = run_case(info, session.rig(), session.port(), expectations, traces);
      print_progress(++number, cases.size(), result);
      summary.results.push_back(std::move(result));
    }
    summaries.push_back(std::move(summary));
  }
  if (started) session.stop();
  session.rig().stop_traces();
  return summaries;
}

RunSummary run_libccid(const SuiteRun& run, const std::vector<CaseInfo>& cases, const std::filesystem::path& out_dir) {
  RunSummary summary;
  summary.driver = "libccid";
  summary.seed = run.seed;
  linux_guest::GuestSession session(guest_options(run, out_dir));
  if (const auto started = session.start(); !started) {
    const std::string why = started.error().message();
    std::cerr << "readerlab run: " << why << "\n";
    fail_all(summary, cases, "the guest did not start: " + why.substr(0, why.find('\n')));
    return summary;
  }
  std::cout << "guest up: QEMU start to agent ready " << format_seconds(session.agent_ready_after()) << " ("
            << (session.used_kvm() ? "KVM" : "TCG") << ")\n"
            << std::flush;
  summary.facts.emplace_back("accelerator", session.used_kvm() ? "KVM" : "TCG");
  summary.facts.emplace_back("QEMU start to agent ready", format_seconds(session.agent_ready_after()));
  const auto expectations = load_expectations(run.expectations_dir / "libccid.txt");
  std::size_t number = 0;
  for (const auto& info : cases) {
    auto result = run_case(info, session.rig(), session.port(), expectations, trace_folder(run, out_dir));
    print_progress(++number, cases.size(), result);
    summary.results.push_back(std::move(result));
  }
  if (auto first = session.port().first_apdu_at())
    summary.facts.emplace_back("QEMU start to first successful APDU", format_seconds(*first - session.qemu_started()));
  else
    summary.facts.emplace_back("QEMU start to first successful APDU", "no APDU succeeded");
  session.stop();
  session.rig().stop_traces();
  summary.facts.emplace_back("guest logs",
                             (out_dir / "guest-console.log").string() + ", " + (out_dir / "pcscd.log").string());
  return summary;
}

}  // namespace readerlab::conformance::runners
