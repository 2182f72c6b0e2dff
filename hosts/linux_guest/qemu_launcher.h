// QEMU launcher: the command line for readerlab's Linux guest and a child-process handle.
#pragma once

#include "base/error.h"

#include <sys/types.h>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::qemu {

// True when /dev/kvm opens, KVM_CREATE_VM/KVM_CREATE_VCPU succeed, and a paused QEMU with
// -accel kvm stays up for 1.5 s (probed once per process; costs up to ~2.5 s the first time).
bool kvm_usable();

struct GuestOptions {
  std::filesystem::path kernel, initrd, console_log, pcscd_log, agent_socket;
  // Each path is a unix socket readerlab already listens on; QEMU connects as a client.
  std::vector<std::filesystem::path> usbredir_sockets;
  int memory_mb = 512;
  bool try_kvm = true;
  // Appended verbatim (e.g. "-device", "usb-ccid", or "-monitor", "unix:...").
  std::vector<std::string> extra_args;
  // QEMU's human monitor on this unix socket (QEMU listens); empty: no monitor.
  std::filesystem::path monitor_socket;
  // A saved VM state to start from instead of booting (-incoming "exec:cat FILE"); the machine
  // waits paused until the monitor's "cont".
  std::filesystem::path incoming_state;
  // Kernel command line; empty = default_kernel_cmdline().
  std::string kernel_cmdline;
  // Whether kvm is probed with kvm_usable() (tests turn this off to get a fixed line).
  bool probe_kvm = true;
};

// "console=ttyS0 quiet panic=-1": the options the guest's /init expects.
std::string default_kernel_cmdline();

// argv for qemu-system-x86_64 (argv[0] included). The xHCI controller has id "xhci"
// (usb-redir devices sit on bus xhci.0); the virtio-serial controller has id "vser".
std::vector<std::string> qemu_command_line(const GuestOptions& options);

// Reader `index`'s usb-redir connection: the -chardev and -device values of the command line,
// which the monitor's chardev-add and device_add take as they are to plug a reader in later.
std::string usbredir_chardev(std::size_t index, const std::filesystem::path& socket);
std::string usbredir_device(std::size_t index);

class QemuProcess {
 public:
  QemuProcess() = default;
  QemuProcess(const QemuProcess&) = delete;
  QemuProcess& operator=(const QemuProcess&) = delete;
  QemuProcess(QemuProcess&& other) noexcept;
  QemuProcess& operator=(QemuProcess&& other) noexcept;
  ~QemuProcess();  // kills a running child (SIGKILL) and reaps it

  // Starts argv (stdin /dev/null, stdout+stderr appended to output_log or /dev/null).
  // The error names the program ("qemu-system-x86_64: No such file or directory"). The child
  // never outlives readerlab: the kernel kills it when readerlab's process ends
  // (PR_SET_PDEATHSIG), and SIGTERM, SIGINT or SIGHUP to readerlab kill and reap it before
  // readerlab ends (stop_on_signal.h).
  Status start(const std::vector<std::string>& argv, const std::filesystem::path& output_log);

  pid_t pid() const { return pid_; }
  bool running();
  // SIGTERM, then SIGKILL after timeout; returns the exit status (see wait()).
  std::optional<int> terminate(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  // Waits for exit (timeout < 0: forever). Returns the exit code, or 128+signal; nullopt if still running.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));
  std::optional<int> exit_status() const { return status_; }

  std::chrono::steady_clock::time_point start_time() const { return start_time_; }
  std::chrono::milliseconds since_start() const;

 private:
  bool reap(bool block);
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::chrono::steady_clock::time_point start_time_{};
};

}  // namespace readerlab::qemu
