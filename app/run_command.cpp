// readerlab run: the conformance suite through the guest's pcscd + libccid.
// readerlab guest ...: build the guest, or run commands in it with a reader attached.
#include "app/commands.h"
#include "app/guest_session.h"
#include "app/paths.h"
#include "hosts/windows_model/port/rdf_port.h"

#include "conformance/report.h"
#include "conformance/suite.h"
#include "emulator/qemu/guest_commands.h"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

namespace readerlab::app {
namespace {

using windows_model::RdfPort;
using windows_model::RdfTransport;

std::string format_seconds(std::chrono::nanoseconds duration) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << std::chrono::duration<double>(duration).count() << " s";
  return out.str();
}

struct RunOptions {
  std::filesystem::path out_dir = "out";
  std::filesystem::path guest_dir;
  std::vector<std::string> case_filters;
  std::vector<std::string> drivers;  // libccid, or a registered RDF driver's NAME / NAME-usbredir
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

void print_progress(std::size_t number, std::size_t total, const conformance::CaseResult& result) {
  std::cout << "[" << number << "/" << total << "] " << std::left << std::setw(36) << result.info.id << " "
            << conformance::to_string(result.outcome) << " (" << format_seconds(result.duration) << ")\n";
  if (!result.message.empty() && conformance::counts_as_failure(result.outcome))
    std::cout << "    " << result.message.substr(0, result.message.find('\n')) << "\n";
  std::cout << std::flush;
}

void fail_all(conformance::RunSummary& summary, const std::vector<conformance::CaseInfo>& cases,
              const std::string& why) {
  for (const auto& info : cases) {
    conformance::CaseResult result;
    result.info = info;
    result.outcome = conformance::Outcome::fail;
    result.message = why;
    summary.results.push_back(result);
  }
}

// The cases through the guest's pcscd + libccid.
conformance::RunSummary run_libccid(const RunOptions& options, const std::vector<conformance::CaseInfo>& cases,
                                    const std::filesystem::path& out_dir) {
  conformance::RunSummary summary;
  summary.driver = "libccid";
  summary.seed = options.seed;
  GuestSession session({options.guest_dir, out_dir, 1, std::chrono::seconds(240)});
  const std::string error = session.start();
  if (!error.empty()) {
    std::cerr << "readerlab run: " << error << "\n";
    fail_all(summary, cases, "the guest did not start: " + error.substr(0, error.find('\n')));
    return summary;
  }
  std::cout << "guest up: QEMU start to agent ready " << format_seconds(session.agent_ready_after()) << " ("
            << (session.used_kvm() ? "KVM" : "TCG") << ")\n" << std::flush;
  summary.facts.emplace_back("accelerator", session.used_kvm() ? "KVM" : "TCG");
  summary.facts.emplace_back("QEMU start to agent ready", format_seconds(session.agent_ready_after()));
  const auto expectations = conformance::load_expectations(expectations_dir() / "libccid.txt");
  std::size_t number = 0;
  for (const auto& info : cases) {
    auto result = conformance::run_case(info, session.rig(), session.port(), expectations);
    print_progress(++number, cases.size(), result);
    summary.results.push_back(std::move(result));
  }
  if (auto first = session.port().first_apdu_at())
    summary.facts.emplace_back("QEMU start to first successful APDU", format_seconds(*first - session.qemu_started()));
  else
    summary.facts.emplace_back("QEMU start to first successful APDU", "no APDU succeeded");
  session.stop();
  summary.facts.emplace_back("guest logs",
                             (out_dir / "guest-console.log").string() + ", " + (out_dir / "pcscd.log").string());
  return summary;
}

using RdfChoice = windows_model::RdfDriverChoice;

std::optional<RdfChoice> find_rdf_choice(const std::string& name) {
  auto choice = windows_model::choose_rdf_driver(name);
  if (!choice) return std::nullopt;
  return *choice;
}

std::string known_driver_names() {
  const auto rdf = windows_model::rdf_driver_names();
  return "libccid, " + (rdf.empty() ? std::string() : rdf + ", ") + "all";
}

// The cases through the smclib model and an RDF driver under test on the host.
conformance::RunSummary run_rdf_driver(const RunOptions& options, const std::vector<conformance::CaseInfo>& cases,
                                       const RdfChoice& choice, const std::string& driver_name) {
  conformance::RunSummary summary;
  summary.driver = driver_name;
  summary.seed = options.seed;
  char pattern[] = "/tmp/readerlab-XXXXXX";
  if (!::mkdtemp(pattern)) {
    fail_all(summary, cases, "cannot create a folder for the reader's socket in /tmp");
    return summary;
  }
  const std::filesystem::path socket_dir = pattern;
  {
    boost::asio::io_context io;
    scenarios::Rig rig(io, nullptr);
    usbredir::SocketAddress address;
    address.is_unix = true;
    address.path = (socket_dir / "reader1.sock").string();
    rig.add_reader(address);
    RdfPort port(rig, choice.transport, *choice.driver);
    // One known-failures file per driver, for both transports: its own, or conformance/expectations/NAME.txt.
    const std::string own_file = choice.driver->expectations;
    const auto expectations = conformance::load_expectations(
        own_file.empty() ? expectations_dir() / (std::string(choice.driver->name) + ".txt") : std::filesystem::path(own_file));
    std::size_t number = 0;
    for (const auto& info : cases) {
      auto result = conformance::run_case(info, rig, port, expectations);
      print_progress(++number, cases.size(), result);
      summary.results.push_back(std::move(result));
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(socket_dir, ignored);
  return summary;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
  RunOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--out" && has_value) options.out_dir = args[++i];
    else if (args[i] == "--guest" && has_value) options.guest_dir = args[++i];
    else if (args[i] == "--case" && has_value) options.case_filters.push_back(args[++i]);
    else if (args[i] == "--driver" && has_value) options.drivers.push_back(args[++i]);
    else if (args[i] == "--seed" && has_value) {
      options.seed = std::stoull(args[++i]);
      options.seed_given = true;
    } else {
      std::cerr << "usage: readerlab run [--out DIR] [--driver libccid|RDF-DRIVER|RDF-DRIVER-usbredir|all]...\n"
                   "                     [--case ID|FILE]... [--guest DIR] [--seed N]\n";
      return 2;
    }
  }
  if (!options.seed_given) options.seed = std::random_device{}();
  // "all" is the drivers the suite is kept green for: libccid in the guest and the reference
  // RDF driver both ways; other registered drivers are run by name.
  const std::vector<std::string> all_drivers = {"libccid", "reference-rdf", "reference-rdf-usbredir"};
  if (options.drivers.empty()) options.drivers = {"libccid"};
  if (options.drivers.size() == 1 && options.drivers[0] == "all") options.drivers = all_drivers;
  for (const auto& driver : options.drivers) {
    if (driver != "libccid" && !find_rdf_choice(driver)) {
      std::cerr << "readerlab run: unknown driver '" << driver << "' (" << known_driver_names() << ")\n";
      return 2;
    }
  }

  std::vector<conformance::CaseInfo> all_cases;
  for (auto& info : conformance::discover_cases(cases_dir()))
    if (selected(info, options.case_filters)) all_cases.push_back(std::move(info));
  std::vector<conformance::RunSummary> summaries;
  std::size_t total_cases = 0;
  for (const auto& driver : options.drivers) {
    // Every RDF driver runs the IOCTL cases (written for the family "reference-rdf").
    const std::string family = driver == "libccid" ? "libccid" : "reference-rdf";
    std::vector<conformance::CaseInfo> cases;
    for (const auto& info : all_cases)
      if (info.applies_to(family)) cases.push_back(info);
    if (cases.empty()) continue;
    total_cases += cases.size();
    const auto out_dir = options.drivers.size() == 1 ? options.out_dir : options.out_dir / driver;
    std::filesystem::create_directories(out_dir);
    std::cout << "readerlab run: " << driver << ", " << cases.size() << " case(s), seed " << options.seed
              << ", output in " << out_dir.string() << "\n" << std::flush;
    auto summary = driver == "libccid" ? run_libccid(options, cases, out_dir)
                                       : run_rdf_driver(options, cases, *find_rdf_choice(driver), driver);
    conformance::write_junit(out_dir / "junit.xml", summary);
    conformance::write_markdown(out_dir / "report.md", summary);
    summaries.push_back(std::move(summary));
  }
  if (total_cases == 0) {
    std::cerr << "readerlab run: no case matches";
    for (const auto& filter : options.case_filters) std::cerr << " '" << filter << "'";
    std::cerr << " for the driver(s) asked (see readerlab cases)\n";
    return 2;
  }
  if (summaries.size() > 1) {
    conformance::write_junit(options.out_dir / "junit.xml", summaries);
    conformance::write_side_by_side(options.out_dir / "report.md", summaries,
                                    conformance::load_coverage_items(source_dir() / "conformance" / "coverage_items.txt"));
  }
  conformance::RunSummary total;
  for (const auto& summary : summaries) {
    std::cout << "\n== " << summary.driver << "\n";
    conformance::print_table(std::cout, summary);
    total.results.insert(total.results.end(), summary.results.begin(), summary.results.end());
  }
  std::cout << conformance::closing_line(total) << "\n";
  return total.failed() == 0 ? 0 : 1;
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
