// libccid under test: the cases through pcscd + libccid in the Linux guest.
#include "conformance/runners/runners.h"

#include "hosts/linux_guest/guest_session.h"

#include <iostream>

namespace readerlab::conformance::runners {

RunSummary run_libccid(const SuiteRun& run, const std::vector<CaseInfo>& cases, const std::filesystem::path& out_dir) {
  RunSummary summary;
  summary.driver = "libccid";
  summary.seed = run.seed;
  linux_guest::GuestSessionOptions options;
  options.guest_dir = run.guest_dir;
  options.out_dir = out_dir;
  options.boot_timeout = std::chrono::seconds(240);
  options.seed = run.seed;
  linux_guest::GuestSession session(options);
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
