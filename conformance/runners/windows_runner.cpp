// Windows under test: the cases through Windows' own smart card stack in the user's image, against
// whatever reader driver Windows bound to the virtual reader (its inbox CCID driver, or a vendor's
// for a reader profile with the vendor's VID:PID).
#include "conformance/runners/runners.h"

#include "hosts/windows_guest/windows_session.h"
#include "scenarios/reader_profiles.h"

namespace readerlab::conformance::runners {

namespace {

// "Name (service usbccid, USB\VID_...)" for each reader interface the agent listed
// (PROTOCOL.md, ListDevices).
std::string describe_devices(const nlohmann::json& reply) {
  const auto devices = reply.find("devices");
  if (devices == reply.end() || !devices->is_array() || devices->empty())
    return "none listed (" + reply.value("error", std::string("no smart card reader interface")) + ")";
  const auto text_of = [](const nlohmann::json& device, const char* field) {
    const auto value = device.find(field);
    return value != device.end() && value->is_string() ? value->get<std::string>() : std::string();
  };
  std::string text;
  for (const auto& device : *devices) {
    if (!device.is_object()) continue;
    std::string name = text_of(device, "friendly_name");
    if (name.empty()) name = text_of(device, "description");
    std::string hardware_id = "?";
    if (const auto ids = device.find("hardware_ids");
        ids != device.end() && ids->is_array() && !ids->empty() && ids->front().is_string())
      hardware_id = ids->front().get<std::string>();
    const std::string service = text_of(device, "service");
    if (!text.empty()) text += "; ";
    text += (name.empty() ? std::string("?") : name) + " (driver service " + (service.empty() ? "?" : service) + ", " +
            hardware_id + ")";
  }
  return text;
}

}  // namespace

std::vector<RunSummary> run_windows(const SuiteRun& run, const std::vector<RunColumn>& columns,
                                    const std::filesystem::path& out_dir) {
  windows_guest::WindowsSessionOptions options;
  options.image = run.windows.image;
  options.snapshot = run.windows.snapshot;
  options.firmware = run.windows.bios ? windows_guest::Firmware::bios : windows_guest::Firmware::uefi;
  options.agent_port = run.windows.virtio_agent ? windows_guest::AgentPort::virtio : windows_guest::AgentPort::com1;
  options.out_dir = out_dir;
  options.seed = run.seed;
  options.boot_timeout = run.windows.boot_timeout;
  options.save_snapshot_to = run.windows.save_snapshot_to;
  windows_guest::WindowsSession session(options);
  const auto started = session.start();
  std::string boot_fact;
  if (started) {
    boot_fact = format_seconds(session.agent_ready_after()) + (session.used_kvm() ? " (KVM" : " (TCG") +
                (run.windows.snapshot.empty() ? ", cold boot)" : ", from snapshot " + run.windows.snapshot + ")");
    print_line("Windows guest up: QEMU start to agent ready " + boot_fact);
    if (!run.windows.save_snapshot_to.empty())
      print_line("saved snapshot '" + std::string(windows_guest::kSnapshotName) + "' in " +
                 run.windows.save_snapshot_to.string() + " (later runs: --image " +
                 run.windows.save_snapshot_to.string() + " --snapshot " + windows_guest::kSnapshotName + ")");
  }
  std::vector<RunSummary> summaries;
  for (const auto& column : columns) {
    RunSummary summary;
    summary.driver = column.reader.empty() ? "windows" : "windows@" + column.reader;
    summary.seed = run.seed;
    if (!runs_left(summary.driver, column.cases)) continue;  // --jobs: the other jobs took them all
    if (!started) {
      fail_all(summary, column.cases, "the Windows guest did not start: " + started.error().message());
      summaries.push_back(std::move(summary));
      continue;
    }
    auto expectations = load_expectations(run.expectations_dir / "windows.txt");
    if (!column.reader.empty()) {
      const auto profile = scenarios::find_reader_profile(column.reader);
      if (!profile) {
        fail_all(summary, column.cases, profile.error().message());
        summaries.push_back(std::move(summary));
        continue;
      }
      print_line("reader " + column.reader + " (" + profile->title + ")");
      session.rig().set_baseline(0, profile->config, scenarios::make_escape_handler(*profile));
      session.rig().reset_to_baseline();
      summary.facts.emplace_back("reader", column.reader + ": " + profile->title);
      const auto own = run.expectations_dir / ("windows@" + column.reader + ".txt");
      if (std::filesystem::exists(own)) merge_expectations(expectations, load_expectations(own));
    }
    summary.facts.emplace_back("image", run.windows.image.string() + " (not written: the run's disk was a " +
                                            (run.windows.snapshot.empty() ? "qcow2 overlay" : "copy") + ")");
    summary.facts.emplace_back("QEMU start to agent ready", boot_fact);
    summary.facts.emplace_back("reader device when the guest came up", describe_devices(session.devices()));
    for (std::size_t index = 0; index < column.cases.size(); ++index) {
      if (!take_run(summary.driver, column.cases[index])) continue;
      auto result = run_case(column.cases[index], session.rig(), session.port(), expectations,
                             trace_folder(run, column.reader.empty() ? out_dir : out_dir / summary.driver));
      print_progress(index + 1, column.cases.size(), result);
      summary.results.push_back(std::move(result));
    }
    summaries.push_back(std::move(summary));
  }
  session.stop();
  return summaries;
}

}  // namespace readerlab::conformance::runners
