// The POSIX half of the agent: the virtio-serial port and Exec. agent_windows.cpp is its
// Windows counterpart (COM port / CreateProcess); agent.cpp and agent_pcsc.cpp are shared.
#include "agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>

namespace agent {

const char* const kPcscApi = "pcsc-lite";

void power_off() {}  // the guest's /init runs poweroff -f when the agent exits

namespace {

constexpr std::size_t kMaxOutput = 1u << 20;  // PROTOCOL.md: Exec output at most 1 MiB

std::string find_port_by_name(const std::string& wanted) {
  std::string by_link = "/dev/virtio-ports/" + wanted;
  if (access(by_link.c_str(), F_OK) == 0) return by_link;
  DIR* dir = opendir("/sys/class/virtio-ports");
  if (dir == nullptr) return {};
  std::string found;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream name_file(std::string("/sys/class/virtio-ports/") + entry->d_name + "/name");
    std::string name;
    std::getline(name_file, name);
    if (name == wanted) {
      found = std::string("/dev/") + entry->d_name;
      break;
    }
  }
  closedir(dir);
  return found;
}

}  // namespace

std::optional<Port> Port::open(const std::string& path_in, std::string& error) {
  std::string path = path_in.empty() ? find_port_by_name("readerlab.agent") : path_in;
  if (path.empty()) {
    error = "no virtio port named readerlab.agent";
    return std::nullopt;
  }
  int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (isatty(fd)) {
    termios tio{};
    if (tcgetattr(fd, &tio) == 0) {
      cfmakeraw(&tio);
      tio.c_cc[VMIN] = 1;
      tio.c_cc[VTIME] = 0;
      tcsetattr(fd, TCSANOW, &tio);
    }
  }
  return Port(fd);
}

Port::Port(Port&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
Port::~Port() {
  if (fd_ >= 0) ::close(fd_);
}

long Port::read_some(char* buffer, std::size_t size) {
  for (;;) {
    ssize_t n = ::read(fd_, buffer, size);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 0;
    return -1;
  }
}

bool Port::write_all(const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd_, POLLOUT, 0};
      poll(&p, 1, 100);
    } else {
      return false;
    }
  }
  return true;
}

ExecResult exec_command(const std::string& command, std::uint32_t timeout_ms) {
  ExecResult result;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.output = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  pid_t pid = fork();
  if (pid < 0) {
    result.output = std::string("fork: ") + std::strerror(errno);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return result;
  }
  if (pid == 0) {
    setpgid(0, 0);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  close(pipe_fds[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buffer[4096];
  bool open_pipe = true;
  while (open_pipe) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      std::size_t room = kMaxOutput - std::min(kMaxOutput, result.output.size());
      result.output.append(buffer, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
    } else if (n == 0 || errno != EINTR) {
      open_pipe = false;
    }
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.exit_code = 128 + WTERMSIG(status);
  return result;
}

}  // namespace agent
