#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "hosts/linux_guest/qemu_launcher.h"
#include "hosts/linux_guest/stop_on_signal.h"

namespace fs = std::filesystem;

namespace {

// True while the process exists and is not a zombie waiting for its parent.
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto state = line.find(") ");
  return state != std::string::npos && line[state + 2] != 'Z';
}

// Waits (up to a minute: this is no timing check) until the process is gone.
bool gone(pid_t pid) {
  for (int i = 0; i < 600 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return !alive(pid);
}

// A forked stand-in for readerlab: starts a long child through QemuProcess (the real class),
// registers a folder with a socket-like file, tells the test the child's pid, and waits.
struct StandIn {
  pid_t pid = -1;
  pid_t child = -1;
  fs::path folder;
  StandIn() {
    folder = fs::temp_directory_path() / ("readerlab-stop-on-signal-" + std::to_string(::getpid()));
    fs::remove_all(folder);
    int report[2];
    REQUIRE(::pipe(report) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(report[0]);
      fs::create_directories(folder);
      std::ofstream(folder / "reader1.sock") << "x";
      readerlab::qemu::remove_folder_on_signal(folder);
      readerlab::qemu::QemuProcess process;
      if (!process.start({"sleep", "1000"}, {})) ::_exit(2);
      const pid_t started = process.pid();
      if (::write(report[1], &started, sizeof started) != sizeof started) ::_exit(3);
      for (;;) ::pause();
    }
    ::close(report[1]);
    REQUIRE(::read(report[0], &child, sizeof child) == sizeof child);
    ::close(report[0]);
    REQUIRE(alive(child));
  }
  int end_status() const {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }
  ~StandIn() {
    if (child > 0 && alive(child)) ::kill(child, SIGKILL);
    fs::remove_all(folder);
  }
};

}  // namespace

TEST_CASE(
    "SIGTERM, SIGINT or SIGHUP to readerlab stops its QEMU and removes its socket folder, then ends it by that "
    "signal") {
  for (const int signal : {SIGTERM, SIGINT, SIGHUP}) {
    CAPTURE(signal);
    StandIn readerlab;
    REQUIRE(fs::exists(readerlab.folder / "reader1.sock"));
    ::kill(readerlab.pid, signal);
    const int status = readerlab.end_status();
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == signal);  // a shell sees 128 + signal
    // The handler reaped the child before readerlab ended: it is gone at once.
    CHECK_FALSE(alive(readerlab.child));
    CHECK_FALSE(fs::exists(readerlab.folder));
  }
}

TEST_CASE("a QEMU child does not outlive readerlab killed with SIGKILL (no handler runs)") {
  StandIn readerlab;
  ::kill(readerlab.pid, SIGKILL);
  readerlab.end_status();
  CHECK(gone(readerlab.child));
}
