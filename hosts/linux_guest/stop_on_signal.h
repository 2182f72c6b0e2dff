// What a run leaves behind when a signal ends readerlab: the QEMU it started and the folder of
// its sockets. While a child or a folder is registered, SIGTERM, SIGINT and SIGHUP (those not
// ignored when the first one was registered) kill the process's registered children with SIGKILL
// and reap them, remove its registered folders, say so on standard error, then end readerlab by
// the same signal: a shell sees the exit status 128 + N (143 for SIGTERM). A fork()ed child
// inherits the handler but acts only on what it registered itself.
#pragma once

#include "base/error.h"

#include <sys/types.h>
#include <filesystem>

namespace readerlab::qemu {

// At most kMaxStopOnSignal children and as many folders at once; registering more is refused
// (false): those are then left to PR_SET_PDEATHSIG (children) or stay behind (folders).
inline constexpr int kMaxStopOnSignal = 16;

bool stop_child_on_signal(pid_t child);
void forget_child_on_signal(pid_t child);
// The folder's files (not sub-folders) and the folder itself are removed; paths of 255 bytes at most.
bool remove_folder_on_signal(const std::filesystem::path& folder);
void forget_folder_on_signal(const std::filesystem::path& folder);

// A new folder for a guest's unix sockets, /tmp/readerlab-XXXXXX (socket paths are limited to
// 107 bytes, so not below the output folder), removed on a signal as above.
Expected<std::filesystem::path> make_socket_folder();

}  // namespace readerlab::qemu
