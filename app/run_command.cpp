// readerlab run: the conformance suite through the guest's pcscd + libccid.
// readerlab guest ...: build the guest, or run commands in it with a reader attached.
#include "app/commands.h"
#include "app/guest_session.h"
#include "app/paths.h"

#include "conformance/report.h"
#include "conformance/suite.h"
#include "emulator/qemu/guest_commands.h"

#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

namespace readerlab::app {
namespace {

std::string format_seconds(std::chrono::nanoseconds duration) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << std::chrono::duration<double>(duration).count() << " s";
  return out.str();
}

struct RunOptions {
  std::filesystem::path out_dir = "out";
  std::filesystem::path guest_dir;
  std::vector<std::string> case_filters;
  std::uint64_t seed = 0;
  bool seed_given = false;
};

bool selected(const conformance::CaseInfo& info, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  for (const auto& filter : filters) {
    if (info.id == filter || info.path == std::filesystem::path(filter)) return true;
    if (std::filesystem::exists(filter) && std::filesystem::equivalent(info.path, filter)) return true;
  }
  return false;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
  RunOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--out" && has_value) options.out_dir = args[++i];
    else if (args[i] == "--guest" && has_value) options.guest_dir = args[++i];
    else if (args[i] == "--case" && has_value) options.case_filters.push_back(args[++i]);
    else if (args[i] == "--seed" && has_value) {
      options.seed = std::stoull(args[++i]);
      options.seed_given = true;
    } else {
      std::cerr << "usage: readerlab run [--out DIR] [--case ID|FILE]... [--guest DIR] [--seed N]\n";
      return 2;
    }
  }
  if (!options.seed_given) options.seed = std::random_device{}();

  std::vector<conformance::CaseInfo> cases;
  for (auto& info : conformance::discover_cases(cases_dir()))
    if (selected(info, options.case_filters)) cases.push_back(std::move(info));
  if (cases.empty()) {
    std::cerr << "readerlab run: no case matches";
    for (const auto& filter : options.case_filters) std::cerr << " '" << filter << "'";
    std::cerr << " (see readerlab cases)\n";
    return 2;
  }

  conformance::RunSummary summary;
  summary.driver = "libccid (Linux guest: pcscd + libccid)";
  summary.seed = options.seed;
  std::cout << "readerlab run: " << cases.size() << " case(s), seed " << options.seed << ", output in "
            << options.out_dir.string() << "\n" << std::flush;

  GuestSession session({options.guest_dir, options.out_dir, 1, std::chrono::seconds(240)});
  const std::string error = session.start();
  if (!error.empty()) {
    std::cerr << "readerlab run: " << error << "\n";
    for (const auto& info : cases) {
      conformance::CaseResult result;
      result.info = info;
      result.outcome = conformance::Outcome::fail;
      result.message = "the guest did not start: " + error.substr(0, error.find('\n'));
      summary.results.push_back(result);
    }
  } else {
    std::cout << "guest up: QEMU start to agent ready " << format_seconds(session.agent_ready_after()) << " ("
              << (session.used_kvm() ? "KVM" : "TCG") << ")\n" << std::flush;
    summary.facts.emplace_back("accelerator", session.used_kvm() ? "KVM" : "TCG");
    summary.facts.emplace_back("QEMU start to agent ready", format_seconds(session.agent_ready_after()));
    const auto expectations = conformance::load_expectations(expectations_dir() / "libccid.txt");
    std::size_t number = 0;
    for (const auto& info : cases) {
      auto result = conformance::run_case(info, session.rig(), session.port(), expectations);
      std::cout << "[" << ++number << "/" << cases.size() << "] " << std::left << std::setw(36) << info.id << " "
                << conformance::to_string(result.outcome) << " (" << format_seconds(result.duration) << ")\n";
      if (!result.message.empty() && conformance::counts_as_failure(result.outcome))
        std::cout << "    " << result.message.substr(0, result.message.find('\n')) << "\n";
      std::cout << std::flush;
      summary.results.push_back(std::move(result));
    }
    if (auto first = session.port().first_apdu_at())
      summary.facts.emplace_back("QEMU start to first successful APDU", format_seconds(*first - session.qemu_started()));
    else
      summary.facts.emplace_back("QEMU start to first successful APDU", "no APDU succeeded");
    session.stop();
  }
  summary.facts.emplace_back("guest logs", (options.out_dir / "guest-console.log").string() + ", " +
                                               (options.out_dir / "pcscd.log").string());
  std::filesystem::create_directories(options.out_dir);
  conformance::write_junit(options.out_dir / "junit.xml", summary);
  conformance::write_markdown(options.out_dir / "report.md", summary);
  std::cout << "\n";
  conformance::print_table(std::cout, summary);
  std::cout << conformance::closing_line(summary) << "\n";
  return summary.failed() == 0 ? 0 : 1;
}

int guest_command(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "build" && args[0] != "shell")) {
    std::cerr << "usage: readerlab guest build [--out DIR] [--with PACKAGE]...\n"
                 "       readerlab guest shell [--guest DIR] [--card PROFILE|none] [--out DIR] -- COMMAND [-- COMMAND]...\n";
    return 2;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "build") return qemu::guest_build(rest);

  GuestSessionOptions options{{}, "out/guest-shell", 1, std::chrono::seconds(240)};
  std::string card = "t1-fs";
  std::vector<std::string> commands;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const bool has_value = i + 1 < rest.size();
    if (rest[i] == "--guest" && has_value) options.guest_dir = rest[++i];
    else if (rest[i] == "--out" && has_value) options.out_dir = rest[++i];
    else if (rest[i] == "--card" && has_value) card = rest[++i];
    else if (rest[i] == "--") {
      std::string command;
      while (i + 1 < rest.size() && rest[i + 1] != "--") command += (command.empty() ? "" : " ") + rest[++i];
      if (!command.empty()) commands.push_back(command);
    } else {
      std::cerr << "readerlab guest shell: unexpected argument '" << rest[i] << "'\n";
      return 2;
    }
  }
  if (commands.empty()) {
    // One command per line of standard input.
    std::string line;
    while (std::getline(std::cin, line))
      if (!line.empty()) commands.push_back(line);
  }
  GuestSession session(options);
  const std::string error = session.start();
  if (!error.empty()) {
    std::cerr << "readerlab guest shell: " << error << "\n";
    return 1;
  }
  std::cerr << "guest up after " << format_seconds(session.agent_ready_after()) << "\n";
  if (card != "none") session.rig().insert(0, card);
  int status = 0;
  for (const auto& command : commands) {
    std::cerr << "guest$ " << command << "\n";
    auto reply = session.agent().call({{"call", "Exec"}, {"command", command}, {"timeout_ms", 60000}},
                                      std::chrono::seconds(70));
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

}  // namespace readerlab::app
