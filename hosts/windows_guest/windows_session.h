// One Windows guest from a user's image: the disposable disk, QEMU, readerlab's virtual readers
// on usb-redir and the agent (readerlab-agent.exe, started by the image) on COM1, as the
// scenarios' driver port. Windows itself is the user's: readerlab ships no image.
#pragma once

#include "base/error.h"
#include "hosts/linux_guest/agent_client.h"
#include "hosts/linux_guest/guest_session.h"
#include "hosts/linux_guest/qemu_launcher.h"
#include "hosts/windows_guest/windows_machine.h"
#include "scenarios/rig.h"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace readerlab::windows_guest {

// The snapshot --save-snapshot writes.
inline constexpr const char* kSnapshotName = "readerlab";

struct WindowsSessionOptions {
  std::filesystem::path image;  // the user's disk image: never written
  std::string snapshot;         // an internal snapshot of it to start from; empty: a cold boot
  // After a cold boot, once the agent answers: the running machine saved as snapshot
  // kSnapshotName in a qcow2 file here, an overlay on the image (the image itself is untouched),
  // which later runs start from: --image FILE --snapshot readerlab. Empty: nothing saved.
  std::filesystem::path save_snapshot_to;
  Firmware firmware = Firmware::uefi;
  AgentPort agent_port = AgentPort::com1;
  std::filesystem::path out_dir;  // logs (qemu.log, agent.log, readerlab.log) and the run's disk
  int readers = 1;
  std::optional<ccid::ReaderConfig> reader_config;  // the readers' model; none: readerlab's own
  // A cold boot of Windows under TCG takes minutes; the agent starts with the image's services.
  std::chrono::seconds boot_timeout{900};
  std::uint64_t seed = 1;
  int memory_mb = 4096;
  int cpus = 2;
};

class WindowsSession {
 public:
  explicit WindowsSession(WindowsSessionOptions options);
  ~WindowsSession();

  // Makes the run's disk, listens, starts QEMU and waits for the agent. The error says what went
  // wrong; when the agent did not come up, the screen is kept in OUT/screen.ppm and the error says so.
  Status start();
  // Stops QEMU (nothing in the guest needs a clean shutdown: the disk goes) and removes the disk.
  void stop();

  boost::asio::io_context& io() { return io_; }
  scenarios::Rig& rig() { return *rig_; }
  linux_guest::AgentPort& port() { return *port_; }
  qemu::AgentClient& agent() { return *agent_; }
  std::chrono::milliseconds agent_ready_after() const { return agent_ready_after_; }
  bool used_kvm() const { return used_kvm_; }
  // The agent's ListDevices reply once it answered: the smart card reader interfaces Windows
  // made and the driver (service) bound to each.
  const nlohmann::json& devices() const { return devices_; }

 private:
  Status wait_for_agent();
  Status save_snapshot();

  WindowsSessionOptions options_;
  boost::asio::io_context io_;
  std::filesystem::path socket_dir_;
  std::filesystem::path disk_;
  std::ofstream log_;
  std::unique_ptr<scenarios::Rig> rig_;
  std::unique_ptr<qemu::AgentClient> agent_;
  std::unique_ptr<linux_guest::AgentPort> port_;
  qemu::QemuProcess qemu_;
  WindowsMachine machine_;
  std::chrono::milliseconds agent_ready_after_{0};
  bool used_kvm_ = false;
  nlohmann::json devices_;
};

}  // namespace readerlab::windows_guest
