#include "hosts/linux_guest/guest_builder.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "emulator/ccid/reader.h"
#include "scenarios/reader_profiles.h"

#include <set>

extern char** environ;

namespace readerlab::qemu {
namespace {

std::filesystem::path exe_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::filesystem::current_path();
  return exe.parent_path();
}

// The program's exit status, or an error when it cannot be started.
Expected<int> run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) return error(argv[0], std::string("cannot run: ") + std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

std::filesystem::path default_guest_dir() { return (exe_dir() / ".." / "guest").lexically_normal(); }

Status build_guest(const GuestBuildOptions& options) {
  const std::string out = (options.out_dir.empty() ? default_guest_dir() : options.out_dir).string();
  const std::string agent = (options.agent.empty() ? exe_dir() / "readerlab-agent" : options.agent).string();
  const std::string script = READERLAB_SOURCE_DIR "/hosts/linux_guest/guest/build-guest.sh";
  std::vector<std::string> argv = {"/bin/bash", script, "--out", out, "--agent", agent};
  for (const auto& p : options.with_packages) argv.insert(argv.end(), {"--with", p});
  for (const auto& deb : options.debs) argv.insert(argv.end(), {"--deb", std::filesystem::absolute(deb).string()});
  for (const auto& bundle : options.driver_bundles)
    argv.insert(argv.end(), {"--driver-bundle", std::filesystem::absolute(bundle).string()});
  // readerlab's own reader, and every bundled reader profile whose VID:PID Debian's libccid does
  // not list (guest shell --reader, configure{profile = ...} use them in the guest).
  std::vector<ccid::ReaderConfig> readers = {ccid::ReaderConfig{}};
  for (const auto& profile : scenarios::bundled_reader_profiles())
    if (!profile.libccid_listed) readers.push_back(profile.config);
  std::set<std::pair<std::uint16_t, std::uint16_t>> registered;
  for (const auto& reader : readers) {
    if (!registered.insert({reader.vendor_id, reader.product_id}).second) continue;
    char ids[16];
    std::snprintf(ids, sizeof ids, "0x%04X:0x%04X:", reader.vendor_id, reader.product_id);
    // The name goes into an XML <string> and a colon-separated argument: keep it plain.
    std::string name = reader.manufacturer + " " + reader.product;
    std::erase_if(name, [](char c) { return c == '<' || c == '>' || c == '&' || c == ':' || c == '\n'; });
    argv.insert(argv.end(), {"--register-reader", ids + name});
  }
  const auto status = run_program(argv);
  if (!status) return status.error();
  if (*status != 0)
    return error("build-guest.sh", "exited with status " + std::to_string(*status) + " (its messages are above)");
  return {};
}

}  // namespace readerlab::qemu
