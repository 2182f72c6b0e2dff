// `readerlab guest shell`: commands run in a booted guest with a virtual reader attached.
#pragma once

#include "base/error.h"
#include "hosts/linux_guest/guest_session.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::linux_guest {

struct GuestShellOptions {
  GuestSessionOptions session;
  std::string card;                   // a card profile inserted once the guest is up; empty: none
  std::vector<std::string> commands;  // the lines to run; empty: read them from standard input
  // A foreground command still running after this long is killed (exit 124, with a message);
  // nullopt: commands run as long as they take.
  std::optional<std::chrono::seconds> timeout;
};

// Boots the guest, inserts the card, waits for pcscd to see the reader, then runs each line as
// it comes (standard input is read while the guest runs, not before it boots):
//   - a guest command runs with /bin/sh -c; its output comes as it is written, then its exit
//     code ("[exit N]");
//   - a command ending in '&' runs in the background: the next lines run at once while its
//     output keeps coming; "[N] exit X" when it ends;
//   - insert PROFILE, remove, unplug, replug, reader NAME (a reader profile: the reader leaves
//     and comes back as that model, empty) act on the reader at once, while background
//     commands run; help lists them.
// Output goes to standard output, the progress and exit codes to standard error. The value is 0
// when every command that ended exited 0, else the last failing exit status (1 when the guest
// stopped answering); an error when the guest did not start. However the shell ends, QEMU and
// the reader's sockets go with it: SIGTERM, SIGINT or SIGHUP kill QEMU and end readerlab by that
// signal (exit status 128 + N, 143 for SIGTERM; stop_on_signal.h).
Expected<int> run_guest_shell(const GuestShellOptions& options);

// A word for /bin/sh: single-quoted, each ' written '\''.
std::string shell_quote(const std::string& word);

// "cmd &" -> "cmd" (and true); "a && b" and "cmd" stay as they are (false).
bool strip_background(std::string& command);

}  // namespace readerlab::linux_guest
