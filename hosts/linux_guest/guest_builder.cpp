#include "hosts/linux_guest/guest_builder.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "emulator/ccid/reader.h"
#include "scenarios/reader_profiles.h"

#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

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

namespace {

const std::filesystem::path kBuildScript = READERLAB_SOURCE_DIR "/hosts/linux_guest/guest/build-guest.sh";
const std::filesystem::path kGuestInit = READERLAB_SOURCE_DIR "/hosts/linux_guest/guest/init";
constexpr const char* kBuildOptionsFile = "build-options";

std::filesystem::path agent_of(const GuestBuildOptions& options) {
  return options.agent.empty() ? exe_dir() / "readerlab-agent" : std::filesystem::absolute(options.agent);
}

// A guest built before build-options existed: its options from manifest.txt. Giving every
// carried package as --with carries the same files (their dependencies are among them); the
// packages every guest has are not --with ones.
Expected<GuestBuildOptions> options_from_manifest(const std::filesystem::path& dir) {
  const auto file = dir / "manifest.txt";
  std::ifstream in(file);
  if (!in) return error(file.string(), "cannot be read");
  GuestBuildOptions options;
  options.out_dir = dir;
  const std::set<std::string> always = {"linux-image-amd64", "busybox-static", "pcscd", "libccid", "udev"};
  std::set<std::string> packages;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kind, name;
    words >> kind >> name;
    const auto arrow = line.find(" <- ");
    const std::string source = arrow == std::string::npos ? std::string() : line.substr(arrow + 4);
    if (kind == "agent" && !name.empty())
      options.agent = line.substr(6);
    else if (kind == "package" && !always.contains(name) && packages.insert(name).second)
      options.with_packages.push_back(name);
    else if (kind == "deb" && !source.empty())
      options.debs.emplace_back(source);
    else if (kind == "driver" && name == "bundle" && !source.empty())
      options.driver_bundles.emplace_back(source);
  }
  return options;
}

// DIR/build-options back into the options (and the readers it registered).
Expected<GuestBuildOptions> read_build_options(const std::filesystem::path& dir, std::vector<std::string>& registered) {
  const auto file = dir / kBuildOptionsFile;
  std::ifstream in(file);
  if (!in) return error(file.string(), "cannot be read");
  GuestBuildOptions options;
  options.out_dir = dir;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? std::string() : line.substr(space + 1);
    if (key.empty() || key.front() == '#') continue;
    if (value.empty()) return error(file.string() + ":" + std::to_string(number), key + ": no value");
    if (key == "agent")
      options.agent = value;
    else if (key == "with")
      options.with_packages.push_back(value);
    else if (key == "deb")
      options.debs.emplace_back(value);
    else if (key == "driver-bundle")
      options.driver_bundles.emplace_back(value);
    else if (key == "register-reader")
      registered.push_back(value);
    else
      return error(file.string() + ":" + std::to_string(number), "unknown key '" + key + "'");
  }
  return options;
}

std::optional<std::filesystem::file_time_type> modified(const std::filesystem::path& path) {
  std::error_code failure;
  const auto time = std::filesystem::last_write_time(path, failure);
  if (failure) return std::nullopt;
  return time;
}

}  // namespace

std::vector<std::string> readers_to_register() {
  std::vector<ccid::ReaderConfig> readers = {ccid::ReaderConfig{}};
  for (const auto& profile : scenarios::bundled_reader_profiles())
    if (!profile.libccid_listed) readers.push_back(profile.config);
  std::set<std::pair<std::uint16_t, std::uint16_t>> seen;
  std::vector<std::string> entries;
  for (const auto& reader : readers) {
    if (!seen.insert({reader.vendor_id, reader.product_id}).second) continue;
    char ids[16];
    std::snprintf(ids, sizeof ids, "0x%04X:0x%04X:", reader.vendor_id, reader.product_id);
    // The name goes into an XML <string> and a colon-separated argument: keep it plain.
    std::string name = reader.manufacturer + " " + reader.product;
    std::erase_if(name, [](char c) { return c == '<' || c == '>' || c == '&' || c == ':' || c == '\n'; });
    entries.push_back(ids + name);
  }
  return entries;
}

Status write_build_options(const std::filesystem::path& dir, const GuestBuildOptions& options,
                           const std::vector<std::string>& registered) {
  std::vector<std::pair<std::string, std::string>> lines = {{"agent", agent_of(options).string()}};
  for (const auto& p : options.with_packages) lines.emplace_back("with", p);
  for (const auto& deb : options.debs) lines.emplace_back("deb", std::filesystem::absolute(deb).string());
  for (const auto& bundle : options.driver_bundles)
    lines.emplace_back("driver-bundle", std::filesystem::absolute(bundle).string());
  for (const auto& reader : registered) lines.emplace_back("register-reader", reader);
  const auto file = dir / kBuildOptionsFile;
  std::ofstream out(file, std::ios::trunc);
  out << "# what readerlab guest build was given; readerlab builds the same guest again from it\n";
  for (const auto& [key, value] : lines) {
    if (value.find('\n') != std::string::npos) return error(file.string(), key + ": a value with a line break");
    out << key << " " << value << "\n";
  }
  out.close();
  if (!out) return error(file.string(), "cannot be written");
  return {};
}

Status build_guest(const GuestBuildOptions& options) {
  const std::filesystem::path out_dir = options.out_dir.empty() ? default_guest_dir() : options.out_dir;
  const std::string out = out_dir.string();
  const std::string agent = agent_of(options).string();
  std::vector<std::string> argv = {"/bin/bash", kBuildScript.string(), "--out", out, "--agent", agent};
  for (const auto& p : options.with_packages) argv.insert(argv.end(), {"--with", p});
  for (const auto& deb : options.debs) argv.insert(argv.end(), {"--deb", std::filesystem::absolute(deb).string()});
  for (const auto& bundle : options.driver_bundles)
    argv.insert(argv.end(), {"--driver-bundle", std::filesystem::absolute(bundle).string()});
  // readerlab's own reader, and the reader profiles guest shell --reader and configure{profile = ...}
  // plug in the guest.
  const auto registered = readers_to_register();
  for (const auto& reader : registered) argv.insert(argv.end(), {"--register-reader", reader});
  const auto status = run_program(argv);
  if (!status) return status.error();
  if (*status != 0)
    return error("build-guest.sh", "exited with status " + std::to_string(*status) + " (its messages are above)");
  return write_build_options(out_dir, options, registered);
}

std::optional<std::string> guest_out_of_date(const std::filesystem::path& dir) {
  const auto initrd = modified(dir / "initrd.img");
  if (!modified(dir / "vmlinuz") || !initrd) return "it has no vmlinuz or initrd.img";
  std::vector<std::string> registered;
  const auto options = read_build_options(dir, registered);
  if (!options && !std::filesystem::exists(dir / kBuildOptionsFile))
    return "it has no build-options: an older readerlab built it";
  if (!options) return options.error().message();
  for (const auto& source : {kBuildScript, kGuestInit, agent_of(*options)}) {
    const auto changed = modified(source);
    if (changed && *changed > *initrd) return source.string() + " changed since it was built";
  }
  if (registered != readers_to_register()) return "the reader profiles to register in its driver changed";
  return std::nullopt;
}

Status update_guest(const std::filesystem::path& dir) {
  if (!guest_out_of_date(dir)) return {};
  // Two readerlab runs starting at once (ctest -j) must not build into the same folder together:
  // the second waits for the first, then finds the guest up to date.
  std::error_code failure;
  std::filesystem::create_directories(dir, failure);
  if (failure) return error(dir.string(), "cannot create the guest's folder: " + failure.message());
  const auto lock_path = dir / ".build-lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) return error(lock_path.string(), std::string("cannot be opened: ") + std::strerror(errno));
  while (::flock(lock, LOCK_EX) != 0 && errno == EINTR) {
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }  // closing the file releases the lock
  } unlock{lock};
  const auto reason = guest_out_of_date(dir);
  if (!reason) return {};
  std::vector<std::string> registered;
  auto options = read_build_options(dir, registered);
  if (!options) options = options_from_manifest(dir);
  GuestBuildOptions again;
  again.out_dir = dir;
  if (options) again = *options;
  // A --deb or --driver-bundle given then may be gone (a temporary file): the guest then boots as
  // it is, and the user is told how to build it.
  std::vector<std::filesystem::path> gone;
  for (const auto& deb : again.debs)
    if (!std::filesystem::exists(deb)) gone.push_back(deb);
  for (const auto& bundle : again.driver_bundles)
    if (!std::filesystem::exists(bundle)) gone.push_back(bundle);
  if (!gone.empty()) {
    std::cerr << "readerlab: warning: the guest in " << dir.string() << " is out of date (" << *reason
              << ") but is not built again: " << gone.front().string()
              << ", which it was built with, is gone; it boots as it is (readerlab guest build --out " << dir.string()
              << " builds it)\n";
    return {};
  }
  std::cerr << "readerlab: building the guest in " << dir.string() << ": " << *reason
            << (options ? " (with the options it was built with)" : " (with no --with, --deb or --driver-bundle)")
            << "\n";
  if (auto built = build_guest(again); !built) return built.error().within("building the guest in " + dir.string());
  return {};
}

}  // namespace readerlab::qemu
