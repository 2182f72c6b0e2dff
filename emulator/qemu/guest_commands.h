// The `readerlab guest ...` subcommands.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace readerlab::qemu {

// Directory holding the built guest by default: <dir of this executable>/../guest.
std::filesystem::path default_guest_dir();

// readerlab guest build [--out DIR] [--agent PATH] [--with DEBIAN_PACKAGE]...
// Runs emulator/qemu/guest/build-guest.sh; returns its exit status.
int guest_build(const std::vector<std::string>& args);

}  // namespace readerlab::qemu
