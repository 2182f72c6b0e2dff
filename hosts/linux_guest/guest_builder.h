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
  std::filesystem::path out_dir;           // empty: default_guest_dir()
  std::filesystem::path agent;             // empty: readerlab-agent beside this executable
  std::vector<std::string> with_packages;  // further installed Debian packages to carry
};

// Runs hosts/linux_guest/guest/build-guest.sh (its messages go to standard error); an error
// when it cannot run or exits with a failure.
Status build_guest(const GuestBuildOptions& options);

}  // namespace readerlab::qemu
