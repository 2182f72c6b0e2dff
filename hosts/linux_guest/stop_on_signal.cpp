#include "hosts/linux_guest/stop_on_signal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace readerlab::qemu {
namespace {

// Everything the handler reads is a lock-free atomic or a buffer published by one: the handler
// may run between any two instructions of the code that registers.
struct ChildSlot {
  std::atomic<pid_t> owner{0};  // getpid() of the process that registered it
  std::atomic<pid_t> child{0};  // 0: free; -1: being filled
};
struct FolderSlot {
  std::atomic<pid_t> owner{0};
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 registered
  char path[256] = {};
};
ChildSlot children[kMaxStopOnSignal];
FolderSlot folders[kMaxStopOnSignal];
constexpr int kSignals[] = {SIGTERM, SIGINT, SIGHUP};

void say(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void say_number(long value) {
  char digits[24];
  int at = sizeof digits;
  digits[--at] = '\0';
  do {
    digits[--at] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && at > 0);
  say(digits + at);
}

// Removes the folder's entries and the folder with system calls only (no opendir: it allocates).
void remove_folder(const char* path) {
  const int folder = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder >= 0) {
    alignas(8) char entries[4096];
    for (;;) {
      const long length = ::syscall(SYS_getdents64, folder, entries, sizeof entries);
      if (length <= 0) break;
      for (long offset = 0; offset < length;) {
        // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
        unsigned short record = 0;
        std::memcpy(&record, entries + offset + 16, sizeof record);
        const char* name = entries + offset + 19;
        if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0) ::unlinkat(folder, name, 0);
        if (record == 0) break;
        offset += record;
      }
    }
    ::close(folder);
  }
  ::rmdir(path);
}

const char* signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
  }
}

void stop_everything(int signal) {
  const int saved_errno = errno;
  const pid_t self = ::getpid();
  for (auto& slot : children) {
    const pid_t child = slot.child.load();
    if (child <= 0 || slot.owner.load() != self) continue;
    ::kill(child, SIGKILL);
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    say("readerlab: ");
    say(signal_name(signal));
    say(": QEMU (pid ");
    say_number(child);
    say(") stopped\n");
  }
  for (auto& slot : folders)
    if (slot.state.load() == 2 && slot.owner.load() == self) remove_folder(slot.path);
  // Ends the process by the signal itself, as if no handler had been there.
  struct sigaction fallback = {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  ::sigaction(signal, &fallback, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, signal);
  ::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
  ::raise(signal);
  errno = saved_errno;
}

void install_once() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    for (const int signal : kSignals) {
      struct sigaction old = {};
      if (::sigaction(signal, nullptr, &old) != 0 || old.sa_handler == SIG_IGN)
        continue;  // nohup's SIGHUP stays ignored
      struct sigaction action = {};
      action.sa_handler = stop_everything;
      sigemptyset(&action.sa_mask);
      for (const int other : kSignals) sigaddset(&action.sa_mask, other);  // one stop at a time
      ::sigaction(signal, &action, nullptr);
    }
  });
}

}  // namespace

bool stop_child_on_signal(pid_t child) {
  if (child <= 0) return false;
  install_once();
  for (auto& slot : children) {
    pid_t free = 0;
    if (!slot.child.compare_exchange_strong(free, -1)) continue;
    slot.owner.store(::getpid());
    slot.child.store(child);
    return true;
  }
  return false;
}

void forget_child_on_signal(pid_t child) {
  if (child <= 0) return;
  for (auto& slot : children) {
    pid_t registered = child;
    if (slot.owner.load() == ::getpid() && slot.child.compare_exchange_strong(registered, 0)) return;
  }
}

bool remove_folder_on_signal(const std::filesystem::path& folder) {
  const std::string path = folder.string();
  if (path.empty() || path.size() >= sizeof(FolderSlot::path)) return false;
  install_once();
  for (auto& slot : folders) {
    int free = 0;
    if (!slot.state.compare_exchange_strong(free, 1)) continue;
    std::memcpy(slot.path, path.c_str(), path.size() + 1);
    slot.owner.store(::getpid());
    slot.state.store(2);
    return true;
  }
  return false;
}

void forget_folder_on_signal(const std::filesystem::path& folder) {
  const std::string path = folder.string();
  for (auto& slot : folders) {
    int registered = 2;
    if (slot.owner.load() != ::getpid() || slot.state.load() != 2 || path != slot.path) continue;
    if (slot.state.compare_exchange_strong(registered, 1)) {
      slot.path[0] = '\0';
      slot.state.store(0);
      return;
    }
  }
}

Expected<std::filesystem::path> make_socket_folder() {
  char pattern[] = "/tmp/readerlab-XXXXXX";
  if (!::mkdtemp(pattern))
    return error("/tmp", std::string("cannot create a folder for the sockets: ") + std::strerror(errno));
  std::filesystem::path folder = pattern;
  remove_folder_on_signal(folder);
  return folder;
}

}  // namespace readerlab::qemu
