// `readerlab guest shell`: commands run in a booted guest with a virtual reader attached.
#pragma once

#include "base/error.h"
#include "hosts/linux_guest/guest_session.h"

#include <string>
#include <vector>

namespace readerlab::linux_guest {

struct GuestShellOptions {
  GuestSessionOptions session;
  std::string card;                   // a card profile inserted once the guest is up; empty: none
  std::vector<std::string> commands;  // each run with /bin/sh -c through the agent
};

// Boots the guest, inserts the card and runs each command, its output to standard output and
// the progress to standard error. The value is 0 when every command exited 0, else the last
// failing command's exit status (1 when the agent did not answer); an error when the guest did
// not start.
Expected<int> run_guest_shell(const GuestShellOptions& options);

}  // namespace readerlab::linux_guest
