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

// readerlab guest shell [--guest DIR] [--memory MB] [--apdu] [--keep] [--trace FILE]
//                       [--qemu-arg ARG]... [--append KERNEL_OPTION]... [-- COMMAND...]...
// Boots the guest (building it first when missing), waits for the agent, runs each
// `-- COMMAND...` group through the agent's Exec (or each line of stdin when none is
// given), prints the output and powers the guest off. usbredir_sockets are unix sockets the
// caller already listens on; QEMU attaches one usb-redir device to each. Returns 0 when
// every command exited 0, else the last non-zero exit code (or 1 for boot failures).
int guest_shell(const std::vector<std::string>& args, const std::vector<std::filesystem::path>& usbredir_sockets);

}  // namespace readerlab::qemu
