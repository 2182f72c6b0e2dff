#include "hosts/linux_guest/guest_shell.h"

#include <iomanip>
#include <iostream>

namespace readerlab::linux_guest {

Expected<int> run_guest_shell(const GuestShellOptions& options) {
  GuestSession session(options.session);
  if (auto started = session.start(); !started) return started.error();
  std::cerr << "guest up after " << std::fixed << std::setprecision(2)
            << static_cast<double>(session.agent_ready_after().count()) / 1000.0 << " s\n";
  if (!options.card.empty()) session.rig().insert(0, options.card);
  int status = 0;
  for (const auto& command : options.commands) {
    std::cerr << "guest$ " << command << "\n";
    auto reply =
        session.agent().call({{"call", "Exec"}, {"command", command}, {"timeout_ms", 60000}}, std::chrono::seconds(70));
    if (!reply) {
      std::cerr << "(no answer from the agent)\n";
      status = 1;
      continue;
    }
    std::cout << reply->value("output", "") << std::flush;
    const int exit_code = reply->value("exit_code", 1);
    if (exit_code != 0) status = exit_code;
  }
  session.stop();
  return status;
}

}  // namespace readerlab::linux_guest
