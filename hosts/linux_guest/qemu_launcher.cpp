#include "hosts/linux_guest/qemu_launcher.h"

#include "hosts/linux_guest/stop_on_signal.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

extern char** environ;

namespace readerlab::qemu {

namespace {

bool probe_kvm_once() {
  int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return false;
  bool ok = false;
  if (ioctl(kvm, KVM_GET_API_VERSION, 0) == KVM_API_VERSION) {
    int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
    if (vm >= 0) {
      int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
      if (vcpu >= 0) {
        ok = true;
        ::close(vcpu);
      }
      ::close(vm);
    }
  }
  ::close(kvm);
  if (!ok) return false;
  // The ioctls can work while QEMU still fails to set up a vCPU (seen here: "failed to set
  // MSR 0x10a" and an assertion). Start a paused QEMU with KVM: usable if it stays up.
  QemuProcess probe;
  if (!probe.start({"qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "16", "-nodefaults", "-display",
                    "none", "-S", "-monitor", "none", "-serial", "none"},
                   {})) {
    return false;
  }
  if (probe.wait(std::chrono::milliseconds(1500))) return false;  // exited: KVM unusable
  probe.terminate(std::chrono::milliseconds(1000));
  return true;
}

}  // namespace

bool kvm_usable() {
  static const bool usable = probe_kvm_once();  // probed once per process
  return usable;
}

namespace {
std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}
}  // namespace

std::string default_kernel_cmdline() { return "console=ttyS0 quiet panic=-1"; }

std::vector<std::string> qemu_command_line(const GuestOptions& o) {
  bool kvm = o.try_kvm && o.probe_kvm && kvm_usable();
  std::vector<std::string> a = {
      "qemu-system-x86_64",
      "-accel",
      kvm ? "kvm" : "tcg",
      // +rdrand: the guest's random pool is ready at once, so pcscd's getrandom() does not block.
      "-cpu",
      kvm ? "host" : "qemu64,+rdrand",
      "-smp",
      "1",
      "-m",
      std::to_string(o.memory_mb),
      "-nographic",
      "-no-reboot",
      "-nic",
      "none",
      "-kernel",
      o.kernel.string(),
      "-initrd",
      o.initrd.string(),
      "-append",
      o.kernel_cmdline.empty() ? default_kernel_cmdline() : o.kernel_cmdline,
      "-serial",
      o.console_log.empty() ? std::string("null") : "file:" + o.console_log.string(),
      "-monitor",
      o.monitor_socket.empty() ? std::string("none") : "unix:" + o.monitor_socket.string() + ",server=on,wait=off",
      "-device",
      "qemu-xhci,id=xhci",
  };
  for (std::size_t i = 0; i < o.usbredir_sockets.size(); ++i)
    a.insert(a.end(), {"-chardev", usbredir_chardev(i, o.usbredir_sockets[i]), "-device", usbredir_device(i)});
  a.insert(a.end(), {"-device", "virtio-serial-pci,id=vser"});
  if (!o.agent_socket.empty()) {
    a.insert(a.end(), {"-chardev", "socket,id=agent,path=" + o.agent_socket.string(), "-device",
                       "virtserialport,bus=vser.0,chardev=agent,name=readerlab.agent"});
  }
  if (!o.pcscd_log.empty()) {
    a.insert(a.end(), {"-chardev", "file,id=pcscdlog,path=" + o.pcscd_log.string(), "-device",
                       "virtserialport,bus=vser.0,chardev=pcscdlog,name=readerlab.log"});
  }
  a.insert(a.end(), o.extra_args.begin(), o.extra_args.end());
  // The shell quotes the path for exec: (a guest folder may hold spaces).
  if (!o.incoming_state.empty())
    a.insert(a.end(), {"-incoming", "exec:cat " + shell_quoted(o.incoming_state.string())});
  return a;
}

std::string usbredir_chardev(std::size_t index, const std::filesystem::path& socket) {
  // reconnect=1: a connection readerlab drops (a transport fault) is made again a second later,
  // and usb-redir offers the reader to the guest again (QEMU 7.2 chardev socket option).
  return "socket,id=usbredir" + std::to_string(index) + ",path=" + socket.string() + ",reconnect=1";
}

std::string usbredir_device(std::size_t index) {
  const std::string id = "usbredir" + std::to_string(index);
  return "usb-redir,id=" + id + "dev,chardev=" + id + ",bus=xhci.0";
}

QemuProcess::QemuProcess(QemuProcess&& other) noexcept
    : pid_(other.pid_), status_(other.status_), start_time_(other.start_time_) {
  other.pid_ = -1;
}

QemuProcess& QemuProcess::operator=(QemuProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      reap(true);
    }
    pid_ = other.pid_;
    status_ = other.status_;
    start_time_ = other.start_time_;
    other.pid_ = -1;
  }
  return *this;
}

QemuProcess::~QemuProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
}

namespace {

// The program's path as execvp would find it (searched here: the forked child makes no call
// that is not async-signal-safe); empty when there is none.
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path_variable = std::getenv("PATH");
  std::istringstream path(path_variable && *path_variable ? path_variable : "/usr/local/bin:/usr/bin:/bin");
  for (std::string folder; std::getline(path, folder, ':');) {
    const std::string candidate = (folder.empty() ? std::string(".") : folder) + "/" + name;
    struct stat info = {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return {};
}

// In the forked child: tells the parent why it could not become the program, and ends.
[[noreturn]] void child_failed(int report) {
  const int failure = errno;
  const ssize_t ignored = ::write(report, &failure, sizeof failure);
  (void)ignored;
  ::_exit(127);
}

}  // namespace

Status QemuProcess::start(const std::vector<std::string>& argv, const std::filesystem::path& output_log) {
  if (argv.empty()) return error("qemu", "empty command line");
  if (pid_ > 0 && !status_) return error(argv[0], "already running (pid " + std::to_string(pid_) + ")");
  const std::string program = find_program(argv[0]);
  if (program.empty()) return error(argv[0], std::string("cannot start: ") + std::strerror(ENOENT));
  const std::string log = output_log.empty() ? std::string("/dev/null") : output_log.string();
  std::vector<char*> args;
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    return error(argv[0], std::string("cannot start: pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  start_time_ = std::chrono::steady_clock::now();
  const pid_t child = ::fork();
  if (child == 0) {
    // QEMU ends with readerlab however readerlab ends (a SIGKILL, a crash): the kernel sends it
    // SIGKILL when its parent goes. Already gone: stop here.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_failed(report[1]);
    if (::getppid() != parent) ::_exit(127);
    const int input = ::open("/dev/null", O_RDONLY);
    if (input < 0 || ::dup2(input, STDIN_FILENO) < 0) child_failed(report[1]);
    const int output = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (output < 0 || ::dup2(output, STDOUT_FILENO) < 0 || ::dup2(output, STDERR_FILENO) < 0) child_failed(report[1]);
    ::execve(program.c_str(), args.data(), environ);
    child_failed(report[1]);
  }
  ::close(report[1]);
  if (child < 0) {
    const int failure = errno;
    ::close(report[0]);
    return error(argv[0], std::string("cannot start: fork: ") + std::strerror(failure));
  }
  int failure = 0;
  ssize_t got = 0;
  do {
    got = ::read(report[0], &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  ::close(report[0]);
  if (got == static_cast<ssize_t>(sizeof failure)) {  // the exec did not happen
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return error(argv[0], std::string("cannot start: ") + std::strerror(failure));
  }
  pid_ = child;
  status_.reset();
  stop_child_on_signal(child);
  return {};
}

bool QemuProcess::reap(bool block) {
  if (pid_ <= 0) return true;
  if (status_) return true;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    forget_child_on_signal(pid_);
    return true;
  }
  if (r < 0) {  // not our child any more (ECHILD): treat as gone
    status_ = -1;
    forget_child_on_signal(pid_);
    return true;
  }
  return false;
}

bool QemuProcess::running() { return pid_ > 0 && !reap(false); }

std::optional<int> QemuProcess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  if (timeout.count() < 0) {
    reap(true);
    return status_;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(false)) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

std::optional<int> QemuProcess::terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  if (!running()) return status_;
  ::kill(pid_, SIGTERM);
  if (auto st = wait(timeout)) return st;
  ::kill(pid_, SIGKILL);
  return wait();
}

std::chrono::milliseconds QemuProcess::since_start() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_time_);
}

}  // namespace readerlab::qemu
