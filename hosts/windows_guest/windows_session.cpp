#include "hosts/windows_guest/windows_session.h"

#include "hosts/linux_guest/qemu_monitor.h"
#include "hosts/linux_guest/stop_on_signal.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace readerlab::windows_guest {

WindowsSession::WindowsSession(WindowsSessionOptions options) : options_(std::move(options)) {}

WindowsSession::~WindowsSession() { stop(); }

Status WindowsSession::start() {
  std::error_code failure;
  std::filesystem::create_directories(options_.out_dir, failure);
  if (failure) return error(options_.out_dir.string(), "cannot create the output folder: " + failure.message());
  if (auto firmware = check_firmware(options_.firmware); !firmware) return firmware;
  const auto image = inspect_image(options_.image);
  if (!image) return image.error();
  const auto disk = make_run_disk(*image, options_.snapshot, options_.out_dir);
  if (!disk) return disk.error();
  disk_ = *disk;
  const auto sockets = qemu::make_socket_folder();
  if (!sockets) return sockets.error();
  socket_dir_ = *sockets;

  log_.open(options_.out_dir / "readerlab.log");
  rig_ = std::make_unique<scenarios::Rig>(io_, [this](const std::string& line) { log_ << line << std::endl; });
  rig_->set_seed(options_.seed);
  machine_.disk = disk_;
  machine_.disk_format = options_.snapshot.empty() ? "qcow2" : image->format;
  machine_.snapshot = options_.snapshot;
  machine_.firmware = options_.firmware;
  machine_.agent_port = options_.agent_port;
  machine_.memory_mb = options_.memory_mb;
  machine_.cpus = options_.cpus;
  machine_.kvm = qemu::kvm_usable();
  used_kvm_ = machine_.kvm;
  for (int i = 0; i < options_.readers; ++i) {
    usbredir::SocketAddress address;
    address.is_unix = true;
    address.path = (socket_dir_ / ("reader" + std::to_string(i + 1) + ".sock")).string();
    ccid::ReaderConfig config = options_.reader_config.value_or(ccid::ReaderConfig{});
    config.serial_number = "RL000" + std::to_string(i + 1);
    rig_->add_reader(address, config);
    machine_.usbredir_sockets.push_back(address.path);
  }
  machine_.agent_socket = socket_dir_ / "agent.sock";
  machine_.monitor_socket = socket_dir_ / "monitor.sock";
  try {
    agent_ = std::make_unique<qemu::AgentClient>(io_, machine_.agent_socket, options_.out_dir / "agent.log");
  } catch (const std::system_error& cannot_listen) {
    return error(machine_.agent_socket.string(), std::string("cannot listen for the agent: ") + cannot_listen.what());
  }
  port_ = std::make_unique<linux_guest::AgentPort>(*agent_, "windows");
  if (auto started = qemu_.start(windows_command_line(machine_), options_.out_dir / "qemu.log"); !started)
    return started;
  if (auto up = wait_for_agent(); !up) return up;
  if (!options_.save_snapshot_to.empty()) return save_snapshot();
  return {};
}

// The machine paused, its state saved into the run's overlay, the overlay copied out whole (no
// write reaches it while paused), and the machine running on.
Status WindowsSession::save_snapshot() {
  // Saved once the resource manager lists the readers: the guest has settled with them, and a
  // run that starts there finds them listed.
  const auto wanted = static_cast<std::size_t>(options_.readers);
  if (auto listed = linux_guest::wait_for_readers_listed(io_, *agent_, wanted, false, std::chrono::minutes(2)); !listed)
    return error(options_.save_snapshot_to.string(), "not saved: " + listed.error().what);
  const auto& monitor = machine_.monitor_socket;
  if (auto paused = qemu::monitor_command(monitor, "stop"); !paused) return paused.error();
  // HMP's savevm answers when the state is written: minutes for gigabytes of a guest's memory.
  auto saved = qemu::monitor_command(monitor, std::string("savevm ") + kSnapshotName, std::chrono::minutes(10));
  if (!saved) return saved.error();
  if (saved->find("rror") != std::string::npos)
    return error(options_.save_snapshot_to.string(), "QEMU did not save the snapshot: " + *saved);
  std::error_code failure;
  std::filesystem::copy_file(disk_, options_.save_snapshot_to, std::filesystem::copy_options::overwrite_existing,
                             failure);
  if (failure)
    return error(options_.save_snapshot_to.string(), "cannot keep the snapshot's overlay: " + failure.message());
  if (auto resumed = qemu::monitor_command(monitor, "cont"); !resumed) return resumed.error();
  log_ << "saved snapshot '" << kSnapshotName << "' in " << options_.save_snapshot_to.string() << std::endl;
  return {};
}

Status WindowsSession::wait_for_agent() {
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options_.boot_timeout);
  // From a snapshot the agent is already running: it announced itself before the snapshot was
  // taken, so an answer to a request is the sign. A cold boot's agent says it is ready.
  const bool up = options_.snapshot.empty() ? agent_->accept(timeout) : agent_->accept_connection(timeout);
  if (up && !options_.snapshot.empty()) {
    // QEMU's usb-redir restores its side of the connection the snapshot had and takes the new one
    // for it, never asking for the interrupt pipe again: the new connections are dropped, QEMU
    // connects again a second later (reconnect=1) with a fresh usbredir state, and Windows
    // enumerates the readers anew.
    const auto connected = [this] {
      for (std::size_t i = 0; i < rig_->reader_count(); ++i)
        if (rig_->server().sessions_for(rig_->reader(i).reader.get()).empty()) return false;
      return true;
    };
    for (int waited = 0; !connected() && waited < 100; ++waited) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(50));
    }
    for (std::size_t i = 0; i < rig_->reader_count(); ++i)
      for (const auto& session : rig_->server().sessions_for(rig_->reader(i).reader.get()))
        session->close("the guest restored from a snapshot gets its reader afresh");
    // The cases find the readers listed again, as after the boot the snapshot was saved from. A
    // driver that does not start again is the cases' to report, not the session's.
    // The old names go first (the resource manager saw the readers leave), then the new come.
    const auto wanted = static_cast<std::size_t>(options_.readers);
    if (auto gone = linux_guest::wait_for_readers_listed(io_, *agent_, 0, true, std::chrono::seconds(30)); !gone)
      log_ << "after the restore, the old readers: " << gone.error().message() << std::endl;
    if (auto listed = linux_guest::wait_for_readers_listed(io_, *agent_, wanted, false, std::chrono::seconds(60));
        !listed)
      log_ << "after the restore, the readers: " << listed.error().message() << std::endl;
  }
  if (up) {
    if (auto listed = agent_->call({{"call", "ListDevices"}}, std::chrono::seconds(60)); listed) {
      devices_ = *listed;
      agent_ready_after_ = qemu_.since_start();
      return {};
    }
  }
  std::string screen;
  if (qemu_.running()) {
    const auto file = options_.out_dir / "screen.ppm";
    if (qemu::monitor_command(machine_.monitor_socket, "screendump " + file.string()))
      screen = "; the guest's screen is in " + file.string();
  }
  const std::string port = options_.agent_port == AgentPort::com1 ? "COM1" : "the virtio port readerlab.agent";
  return error("guest", std::string(up ? "the agent on " + port + " did not answer" : "no agent on " + port) +
                            " within " + std::to_string(options_.boot_timeout.count()) + " s (QEMU " +
                            (qemu_.running() ? "still running" : "exited: see qemu.log") + screen +
                            "): is readerlab-agent.exe installed in the image as a service (README, Windows guest)?");
}

void WindowsSession::stop() {
  if (qemu_.running()) qemu_.terminate();
  if (rig_) rig_->server().close_all();
  std::error_code ignored;
  if (!disk_.empty()) {
    std::filesystem::remove(disk_, ignored);
    disk_.clear();
  }
  if (!socket_dir_.empty()) {
    std::filesystem::remove_all(socket_dir_, ignored);
    qemu::forget_folder_on_signal(socket_dir_);
    socket_dir_.clear();
  }
}

}  // namespace readerlab::windows_guest
