// QEMU's human monitor (HMP) on a unix socket: the commands a saved VM state needs (stop, migrate
// to a file, info migrate, cont, quit). One connection per command, as a person at the prompt.
#pragma once

#include "base/error.h"

#include <chrono>
#include <filesystem>
#include <string>

namespace readerlab::qemu {

// Sends one command and returns what QEMU printed for it (the prompt removed). The error names
// the socket when it does not connect or QEMU says nothing back within the timeout.
Expected<std::string> monitor_command(const std::filesystem::path& socket, const std::string& command,
                                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace readerlab::qemu
