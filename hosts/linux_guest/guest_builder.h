// Building readerlab's Linux guest (kernel + initramfs) from installed Debian packages.
#pragma once

#include "base/error.h"

#include <filesystem>
#include <optional>
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
// first driver bundle given, else in libccid's. The options are kept in DIR/build-options, so
// that update_guest can build the same guest again.
Status build_guest(const GuestBuildOptions& options);

// The readers build_guest registers in the guest's driver ("0x1209:0x0001:NAME"): readerlab's
// own and every bundled reader profile whose VID:PID Debian's libccid does not list.
std::vector<std::string> readers_to_register();

// DIR/build-options, one "KEY VALUE" a line: agent, with, deb, driver-bundle (as given to
// build_guest, paths absolute) and register-reader (what readers_to_register() gave).
Status write_build_options(const std::filesystem::path& dir, const GuestBuildOptions& options,
                           const std::vector<std::string>& registered);

// Why the guest in dir must be built (again) before it boots, or nothing when it is up to date:
// vmlinuz or initrd.img missing; no build-options (a guest of an older readerlab); build-guest.sh,
// the guest's init or the agent it carries newer than initrd.img; another list of readers to
// register (a reader profile added).
std::optional<std::string> guest_out_of_date(const std::filesystem::path& dir);

// Builds the guest in dir again, with the options it was built with, when guest_out_of_date
// gives a reason (said on standard error); nothing when it is up to date. A guest of an older
// readerlab (no build-options) gets its options from its manifest.txt. When a .deb or driver
// bundle it was built with is gone, it is not built again: a warning says so, and it boots as it is.
Status update_guest(const std::filesystem::path& dir);

}  // namespace readerlab::qemu
