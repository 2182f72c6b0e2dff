#include "hosts/linux_guest/qemu_monitor.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace readerlab::qemu {

namespace {

constexpr std::string_view kPrompt = "(qemu) ";

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads until the text holds `prompts` prompts or the deadline passes.
bool read_prompts(int fd, std::string& text, std::size_t prompts, std::chrono::steady_clock::time_point deadline) {
  auto count = [&text] {
    std::size_t n = 0;
    for (auto at = text.find(kPrompt); at != std::string::npos; at = text.find(kPrompt, at + 1)) ++n;
    return n;
  };
  while (count() < prompts) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return false;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Expected<std::string> monitor_command(const std::filesystem::path& socket, const std::string& command,
                                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return error(socket.string(), std::string("socket: ") + std::strerror(errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.size() >= sizeof address.sun_path) return error(path, "the monitor's socket path is too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return error(path, std::string("cannot reach QEMU's monitor: ") + std::strerror(errno));
  std::string text;
  if (!read_prompts(fd.get(), text, 1, deadline)) return error(path, "QEMU's monitor gave no prompt");
  const std::string line = command + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
    return error(path, "cannot send '" + command + "' to QEMU's monitor: " + std::strerror(errno));
  // "quit" ends QEMU: no second prompt comes.
  const bool answered = read_prompts(fd.get(), text, 2, deadline);
  if (!answered && command != "quit")
    return error(path,
                 "QEMU's monitor did not finish '" + command + "' within " + std::to_string(timeout.count()) + " ms");
  const auto first = text.find(kPrompt) + kPrompt.size();
  auto output = text.substr(first);
  if (const auto end = output.rfind(kPrompt); end != std::string::npos) output.resize(end);
  // The monitor echoes the command line first.
  if (const auto echoed = output.find(command); echoed != std::string::npos) output.erase(0, echoed + command.size());
  return output;
}

}  // namespace readerlab::qemu
