// Building readerlab's Linux guest (kernel + initramfs) from installed Debian packages.
#pragma once

#include "base/error.h"

#include <filesystem>
#include <string>
#include <vector>

namespace readerlab::qemu {

// Directory holding the built guest by default: <dir of this executable>/../guest.
std::filesystem::path default_guest_dir();

struct GuestBuildOptions {
  std::filesystem::path out_dir;            // empty: default_guest_dir()
  std::filesystem::path agent;              // empty: readerlab-agent beside this executable
  std::vector<std::string> with_packages;   // further installed Debian packages to carry, with their dependencies
  std::vector<std::filesystem::path> debs;  // local .deb files unpacked into the guest
  std::vector<std::filesystem::path> driver_bundles;  // pcsc-lite IFD handler bundles (NAME.bundle folders)
};

// Runs hosts/linux_guest/guest/build-guest.sh (its messages go to standard error); an error
// when it cannot run or exits with a failure. readerlab's reader IDs are registered in the
// first driver bundle given, else in libccid's.
Status build_guest(const GuestBuildOptions& options);

}  // namespace readerlab::qemu
