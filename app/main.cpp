// readerlab: the command line. Subcommands in the style of git; CLI11 parses them, and every
// value is checked here, before anything boots: a usage error is one line naming the option,
// and exit status 2.
#include "app/commands.h"
#include "app/paths.h"

#include "base/bytes.h"
#include "base/error.h"
#include "cards/lua/lua_card.h"
#include "cards/profiles.h"
#include "conformance/runners/fuzz_runner.h"
#include "conformance/runners/runners.h"
#include "conformance/shard.h"
#include "hosts/linux_guest/guest_builder.h"
#include "hosts/linux_guest/guest_shell.h"
#include "hosts/windows_guest/windows_machine.h"
#include "scenarios/reader_profiles.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <optional>
#include <random>

namespace {

using readerlab::Error;
using readerlab::Status;

constexpr int kUsageError = 2;  // what a command exits with when its arguments are wrong

// A card profile as --card names it: a bundled card, or "none" when the reader stays empty.
const CLI::Validator kCardProfile(
    [](std::string& name) -> std::string {
      if (name == "none" || readerlab::cards::make_builtin_card(name)) return {};
      return "unknown card '" + name + "' (see readerlab cards)";
    },
    "", "card profile");

const CLI::Validator kSeed(
    [](std::string& text) -> std::string {
      std::uint64_t value = 0;
      const auto [end, failure] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (failure == std::errc() && end == text.data() + text.size()) return {};
      return "'" + text + "' is not a seed (a whole number from 0 to 18446744073709551615)";
    },
    "", "seed");

// --shard K/N: the K-th of N slices of a run.
const CLI::Validator kShard(
    [](std::string& text) -> std::string {
      const auto shard = readerlab::conformance::parse_shard(text);
      return shard ? std::string() : shard.error().message();
    },
    "", "shard");

const CLI::Validator kListenAddress(
    [](std::string& text) -> std::string {
      const auto address = readerlab::usbredir::parse_socket_address(text);
      return address ? std::string() : address.error().message();
    },
    "", "address");

const CLI::Validator kDriverName(
    [](std::string& name) -> std::string {
      const auto drivers = readerlab::conformance::runners::resolve_drivers({name});
      return drivers ? std::string() : drivers.error().what;
    },
    "", "driver");

struct RunArguments {
  std::filesystem::path out_dir = "out";
  std::filesystem::path guest_dir;
  std::vector<std::string> cases, drivers;
  std::string seed;  // checked by kSeed; empty: one is drawn and printed
  bool no_traces = false;
  bool saved_state = false;
  bool fresh_guest = false;
  std::vector<std::string> readers;  // --reader: profiles, or "all"
  std::string shard;                 // checked by kShard; empty: the whole run
  std::size_t jobs = 1;
  std::filesystem::path image;  // --guest windows: the user's Windows image
  std::string snapshot;
  bool bios = false;
  std::optional<std::uint64_t> boot_timeout;  // seconds
  std::filesystem::path save_snapshot;
  std::string agent_port;  // --agent-port com1|virtio
};

struct FuzzArguments {
  std::string driver;
  std::string seed;  // checked by kSeed; empty: one is drawn and printed
  std::optional<std::uint64_t> time_seconds, runs;
  std::filesystem::path out_dir = "out";
  std::filesystem::path guest_dir;  // libccid's guest
};

struct GuestShellArguments {
  std::filesystem::path guest_dir, out_dir = "out/guest-shell";
  std::string card = "t1-fs";
  std::string reader;  // a reader profile; empty: readerlab's own reader
  std::optional<std::uint64_t> timeout_seconds;
};

// A reader profile as --reader names it (scenarios/readers/NAME.lua).
const CLI::Validator kReaderProfile(
    [](std::string& name) -> std::string {
      const auto profile = readerlab::scenarios::find_reader_profile(name);
      return profile ? std::string() : profile.error().message() + " (see readerlab readers)";
    },
    "", "reader profile");

struct ServeArguments {
  std::vector<std::string> listen;
  std::string card = "t1-fs";
  std::string reader = "readerlab";
  bool allow_remote = false;
};

// The checks that need more than one option, or the file system, after CLI11 parsed them.
Status check_serve(const ServeArguments& arguments, readerlab::app::ServeOptions& options) {
  for (const auto& text : arguments.listen) {
    auto address = readerlab::usbredir::parse_socket_address(text);
    if (!address) return address.error().within("--listen");
    if (!arguments.allow_remote && !readerlab::app::is_loopback(*address))
      return readerlab::error("--listen", address->to_string() +
                                              " is not a loopback address; anyone reaching it could drive the readers "
                                              "(add --allow-remote)");
    options.addresses.push_back(*address);
  }
  options.card = arguments.card;
  options.reader = arguments.reader;
  return {};
}

std::uint64_t seed_of(const std::string& text) {
  if (text.empty()) return std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// "cmd a b -- cmd2": the words after the first "--", one command between each "--".
std::vector<std::string> split_commands(const std::vector<std::string>& words) {
  std::vector<std::string> commands;
  std::string command;
  for (const auto& word : words) {
    if (word == "--") {
      if (!command.empty()) commands.push_back(command);
      command.clear();
    } else {
      command += (command.empty() ? "" : " ") + word;
    }
  }
  if (!command.empty()) commands.push_back(command);
  return commands;
}

// The deepest subcommand given: "readerlab guest shell".
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* at = &app;
  while (true) {
    const auto given = at->get_subcommands();
    if (given.empty()) return path;
    at = given.front();
    path += " " + at->get_name();
  }
}

int usage_error(const std::string& command, const std::string& what) {
  std::cerr << command << ": " << what << "\n";
  return kUsageError;
}

// CLI11 would only say that a subcommand is required: name the unknown one, and the known.
std::optional<int> refuse_unknown_command(const std::vector<std::string>& args, const CLI::App& app,
                                          const CLI::App& guest) {
  const auto check = [&](const CLI::App& level, std::size_t at, const std::string& command) -> std::optional<int> {
    if (args.size() <= at || args[at].starts_with("-")) return std::nullopt;
    std::string names;
    bool known = false;
    for (const auto* sub : level.get_subcommands({})) {
      known = known || sub->get_name() == args[at];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (known) return std::nullopt;
    return usage_error(command, "unknown command '" + args[at] + "' (" + names + ")");
  };
  if (auto refused = check(app, 0, "readerlab")) return refused;
  if (!args.empty() && args[0] == "guest") return check(guest, 1, "readerlab guest");
  return std::nullopt;
}

// --guest windows: the driver under test is Windows' (the "windows" driver, alone), on an image
// that qemu-img reads, with the snapshot asked for; checked before anything boots.
Status check_windows_guest(const RunArguments& arguments, readerlab::conformance::runners::SuiteRun& suite) {
  const bool windows_guest = arguments.guest_dir == "windows";
  const bool windows_driver = std::find(suite.drivers.begin(), suite.drivers.end(), "windows") != suite.drivers.end();
  if (!windows_guest) {
    if (windows_driver)
      return readerlab::error("--driver", "windows runs in the Windows guest: add --guest windows --image FILE");
    if (!arguments.image.empty())
      return readerlab::error("--image", "is the Windows guest's image: add --guest windows");
    if (!arguments.snapshot.empty())
      return readerlab::error("--snapshot",
                              "is a snapshot of the Windows guest's image: add --guest windows --image FILE");
    if (arguments.bios) return readerlab::error("--bios", "is for the Windows guest: add --guest windows --image FILE");
    if (arguments.boot_timeout)
      return readerlab::error("--boot-timeout", "is for the Windows guest: add --guest windows --image FILE");
    if (!arguments.save_snapshot.empty())
      return readerlab::error("--save-snapshot", "is for the Windows guest: add --guest windows --image FILE");
    if (!arguments.agent_port.empty())
      return readerlab::error("--agent-port", "is for the Windows guest: add --guest windows --image FILE");
    return {};
  }
  // Windows is the driver under test there; --driver adds host drivers to compare with, side by side.
  if (arguments.drivers.empty()) suite.drivers.clear();
  if (!windows_driver) suite.drivers.insert(suite.drivers.begin(), "windows");
  if (std::find(suite.drivers.begin(), suite.drivers.end(), "libccid") != suite.drivers.end())
    return readerlab::error("--guest", "windows is the Windows guest; libccid runs in the Linux guest (run it apart)");
  if (arguments.image.empty())
    return readerlab::error("--guest", "windows needs --image FILE: your Windows disk image (README, Windows guest)");
  if (!arguments.save_snapshot.empty()) {
    if (!arguments.snapshot.empty())
      return readerlab::error("--save-snapshot", "saves a cold boot: it does not go with --snapshot");
    if (suite.jobs > 1) return readerlab::error("--save-snapshot", "one guest saves it: it does not go with --jobs");
    std::error_code failure;
    const auto folder = std::filesystem::absolute(arguments.save_snapshot, failure).parent_path();
    if (!std::filesystem::is_directory(folder, failure))
      return readerlab::error("--save-snapshot", "no folder " + folder.string() + " to write it in");
    suite.windows.save_snapshot_to = std::filesystem::absolute(arguments.save_snapshot, failure);
  }
  const auto image = readerlab::windows_guest::inspect_image(arguments.image);
  if (!image) return image.error().within("--image");
  if (!arguments.snapshot.empty() &&
      std::find(image->snapshots.begin(), image->snapshots.end(), arguments.snapshot) == image->snapshots.end())
    return readerlab::error("--snapshot", "the image has no snapshot '" + arguments.snapshot +
                                              "' (qemu-img snapshot -l " + arguments.image.string() + " lists them)");
  suite.guest_dir.clear();
  suite.windows.image = image->path;
  suite.windows.snapshot = arguments.snapshot;
  suite.windows.bios = arguments.bios;
  suite.windows.virtio_agent = arguments.agent_port == "virtio";
  if (arguments.boot_timeout) suite.windows.boot_timeout = std::chrono::seconds(*arguments.boot_timeout);
  return {};
}

int run_cases(const RunArguments& arguments, const std::string& command) {
  namespace runners = readerlab::conformance::runners;
  auto drivers = runners::resolve_drivers(arguments.drivers);
  if (!drivers) return usage_error(command, drivers.error().message());
  auto selected = runners::select_cases(readerlab::app::cases_dir(), arguments.cases);
  if (!selected) return usage_error(command, selected.error().message());
  runners::SuiteRun suite;
  suite.drivers = std::move(*drivers);
  suite.cases = std::move(*selected);
  suite.out_dir = arguments.out_dir;
  suite.guest_dir = arguments.guest_dir;
  suite.expectations_dir = readerlab::app::expectations_dir();
  suite.coverage_items = readerlab::app::source_dir() / "conformance" / "coverage_items.txt";
  suite.seed = seed_of(arguments.seed);
  suite.traces = !arguments.no_traces;
  suite.saved_state = arguments.saved_state || arguments.fresh_guest;
  suite.fresh_guest = arguments.fresh_guest;
  if (!arguments.shard.empty()) suite.shard = *readerlab::conformance::parse_shard(arguments.shard);
  suite.jobs = arguments.jobs;
  for (const auto& reader : arguments.readers) {
    if (reader == "all" || reader == "representative") {
      const auto names = reader == "all" ? readerlab::scenarios::bundled_reader_names()
                                         : readerlab::scenarios::representative_reader_names();
      suite.readers.insert(suite.readers.end(), names.begin(), names.end());
    } else {
      suite.readers.push_back(reader);
    }
  }
  const auto has_driver = [&suite](const char* name) {
    return std::find(suite.drivers.begin(), suite.drivers.end(), name) != suite.drivers.end();
  };
  if (!suite.readers.empty() && !has_driver("libccid") && !has_driver("windows"))
    return usage_error(command,
                       "--reader: reader profiles are for the guests' drivers (--driver libccid, --guest windows)");
  if (auto windows = check_windows_guest(arguments, suite); !windows)
    return usage_error(command, windows.error().message());
  switch (runners::run_suite(suite)) {
    case runners::SuiteOutcome::all_passed: return 0;
    case runners::SuiteOutcome::some_failed: return 1;
    case runners::SuiteOutcome::shard_empty: return 0;
    case runners::SuiteOutcome::no_case_for_drivers: break;
  }
  return usage_error(command, "--case: no case selected is written for the driver(s) asked (see readerlab cases)");
}

int hunt_driver(const FuzzArguments& arguments, const std::string& command) {
  if (arguments.driver == "all") return usage_error(command, "--driver: the hunt takes one driver, not all");
  namespace hunt = readerlab::conformance::hunt;
  hunt::HuntOptions options;
  options.driver = arguments.driver;
  options.seed = seed_of(arguments.seed);
  // --runs and --time exclude each other; neither: a minute.
  if (arguments.runs)
    options.runs = *arguments.runs;
  else
    options.time = std::chrono::seconds(arguments.time_seconds.value_or(60));
  options.out_dir = arguments.out_dir;
  options.cases_dir = readerlab::app::cases_dir();
  options.expectations_dir = readerlab::app::expectations_dir();
  options.guest_dir = arguments.guest_dir;
  const auto outcome = hunt::run_hunt(options);
  if (!outcome) {
    if (outcome.error().where == "--driver") return usage_error(command, outcome.error().message());
    std::cerr << command << ": " << outcome.error().message() << "\n";
    return 1;
  }
  return *outcome == hunt::HuntOutcome::found ? 1 : 0;
}

int serve_readers(const ServeArguments& arguments, const std::string& command) {
  readerlab::app::ServeOptions options;
  if (auto checked = check_serve(arguments, options); !checked) return usage_error(command, checked.error().message());
  return readerlab::app::serve_command(options);
}

int build_the_guest(const readerlab::qemu::GuestBuildOptions& options, const std::string& command) {
  if (auto built = readerlab::qemu::build_guest(options); !built) {
    std::cerr << command << ": " << built.error().message() << "\n";
    return 1;
  }
  return 0;
}

int open_guest_shell(const GuestShellArguments& arguments, const std::vector<std::string>& after_dashes,
                     const std::string& command) {
  readerlab::linux_guest::GuestShellOptions options;
  options.session.guest_dir = arguments.guest_dir;
  options.session.out_dir = arguments.out_dir;
  options.card = arguments.card == "none" ? std::string() : arguments.card;
  options.commands = split_commands(after_dashes);  // none: the lines of standard input, as they come
  if (arguments.timeout_seconds) options.timeout = std::chrono::seconds(*arguments.timeout_seconds);
  if (!arguments.reader.empty()) {
    const auto profile = readerlab::scenarios::find_reader_profile(arguments.reader);
    if (!profile) return usage_error(command, "--reader: " + profile.error().message());
    options.session.reader_config = profile->config;
    std::cerr << "reader profile " << profile->name << ": " << profile->title << "\n";
  }
  auto status = readerlab::linux_guest::run_guest_shell(options);
  if (!status) {
    std::cerr << command << ": " << status.error().message() << "\n";
    return 1;
  }
  return *status;
}

int describe_card(const std::string& name, const std::string& command) {
  auto description = readerlab::cards::describe_card(name);
  if (!description) {
    if (!readerlab::cards::builtin_profile(name) && !readerlab::cards::find_lua_card(name))
      return usage_error(command, "--describe: unknown card '" + name + "' (see readerlab cards)");
    std::cerr << command << ": " << description.error().message() << "\n";
    return 1;
  }
  std::cout << *description;
  return 0;
}

int decode_atr(const std::vector<std::string>& words, const std::string& command) {
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : " ") + word;
  auto bytes = readerlab::read_hex(text);
  if (!bytes) return usage_error(command, bytes.error().within("HEX").message());
  return readerlab::app::atr_command(*bytes);
}

}  // namespace

int main(int argc, char** argv) {
  // What follows the first "--" is guest shell's commands, never options.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> after_dashes;
  if (const auto dashes = std::find(args.begin(), args.end(), "--"); dashes != args.end()) {
    after_dashes.assign(dashes, args.end());
    args.erase(dashes, args.end());
  }

  CLI::App app(
      "A virtual USB CCID reader with scriptable ISO 7816 cards, and a conformance suite for the\n"
      "smart card reader drivers that use it.",
      "readerlab");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "print the options of every command");
  app.footer(
      "readerlab COMMAND --help prints a command's options. Exit status: 0 when everything passed, 1 on\n"
      "a failure, 2 on a usage error.\n");

  RunArguments run_arguments;
  auto* run = app.add_subcommand("run",
                                 "run conformance cases (all by default) on the drivers under test: libccid in\n"
                                 "the Linux guest, or an RDF driver on the host (NAME in-process, NAME-usbredir)");
  run->add_option("--out", run_arguments.out_dir, "reports (junit.xml, report.md) and logs go here")
      ->type_name("DIR")
      ->capture_default_str();
  run->add_option("--case", run_arguments.cases, "a case id or file (repeatable; see readerlab cases)")
      ->type_name("ID|FILE");
  run->add_option("--driver", run_arguments.drivers,
                  "a driver under test (repeatable; default libccid; all = libccid,\n"
                  "reference-rdf and reference-rdf-usbredir)")
      ->check(kDriverName)
      ->type_name("DRIVER");
  run->add_option("--guest", run_arguments.guest_dir,
                  "the built Linux guest (default: build/guest, built when missing or out of date);\n"
                  "windows: the Windows guest from --image, where the driver under test is windows")
      ->type_name("DIR|windows");
  run->add_option("--image", run_arguments.image,
                  "--guest windows: your Windows disk image with readerlab-agent.exe installed (README);\n"
                  "never written: the run's disk is a qcow2 overlay on it")
      ->type_name("FILE");
  run->add_option("--snapshot", run_arguments.snapshot,
                  "--guest windows: start from this internal snapshot of the image (-loadvm) instead of\n"
                  "booting; the run's disk is then a copy of the image (a reflink where the file system can)")
      ->type_name("NAME");
  run->add_flag("--bios", run_arguments.bios, "--guest windows: the image boots through a legacy BIOS, not UEFI");
  run->add_option("--boot-timeout", run_arguments.boot_timeout,
                  "--guest windows: seconds from QEMU's start until the agent must answer (default 900:\n"
                  "Windows boots for minutes under TCG)")
      ->check(CLI::Range(1, 7200))
      ->type_name("SECONDS");
  run->add_option("--agent-port", run_arguments.agent_port,
                  "--guest windows: where the agent talks: com1 (default; a stock Windows has its driver) or\n"
                  "virtio (the virtio-serial port readerlab.agent; the image needs the virtio-serial driver)")
      ->check(CLI::IsMember({"com1", "virtio"}))
      ->type_name("com1|virtio");
  run->add_option("--save-snapshot", run_arguments.save_snapshot,
                  "--guest windows: once the agent answers after the boot, save the running machine as\n"
                  "snapshot 'readerlab' in FILE (a qcow2 overlay on --image, which stays untouched); later\n"
                  "runs start there in seconds: --image FILE --snapshot readerlab")
      ->type_name("FILE");
  run->add_option("--seed", run_arguments.seed,
                  "drives every random choice; the report prints the one drawn without it")
      ->check(kSeed)
      ->type_name("N");
  run->add_option("--reader", run_arguments.readers,
                  "run libccid's cases on this reader profile (repeatable; all: every profile; representative:\n"
                  "the handful marked + in readerlab readers): one report column per profile")
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            if (name == "all" || name == "representative") return {};
            const auto profile = readerlab::scenarios::find_reader_profile(name);
            return profile ? std::string() : profile.error().message();
          },
          "", "reader profile"))
      ->type_name("NAME|all");
  run->add_option("--shard", run_arguments.shard,
                  "run only the K-th of N slices, for a CI matrix: the runs of a case (driver,\n"
                  "reader profile, case) of the whole run in its order, run i (from 0) to shard i mod N + 1;\n"
                  "the N shards with the same options and --seed make the whole run, once")
      ->check(kShard)
      ->type_name("K/N");
  run->add_option("--jobs", run_arguments.jobs,
                  "runs of a driver at once (default 1): N jobs, each with a driver instance of its own\n"
                  "(a guest each for libccid, logs in OUT/job-K), a job that is free taking the next run")
      ->check(CLI::Range(1, 16))
      ->type_name("N");
  run->add_flag("--saved-state", run_arguments.saved_state,
                "start libccid's guests from a VM state saved after the first boot (QEMU -incoming):\n"
                "about 2 s instead of a 7 s boot for each guest and each guest booted again, the readers\n"
                "plugged in once it runs; the state is kept in the guest's folder (saved-states/) for its\n"
                "build and QEMU command line");
  run->add_flag("--fresh-guest", run_arguments.fresh_guest,
                "every libccid case starts from the same guest: a guest of its own restored from the saved\n"
                "state (--saved-state; about 2 s a case), its logs in OUT/guest-logs/<case id>/");
  run->add_flag("--no-traces", run_arguments.no_traces,
                "write no USB traces (by default every case writes a pcap per reader,\n"
                "OUT/traces/<case id>/readerN.pcap, linked from the reports)");

  FuzzArguments fuzz_arguments;
  auto* fuzz = app.add_subcommand("fuzz",
                                  "hunt driver bugs: run a driver's cases under random fault schedules until\n"
                                  "it crashes, hangs or breaks an invariant; shrink the schedule and write a case\n"
                                  "that reproduces it (OUT/fuzz/found-SEED-TRIAL.lua)");
  fuzz->add_option("--driver", fuzz_arguments.driver,
                   "libccid (pcscd in the guest) or an RDF driver (NAME in-process, NAME-usbredir)")
      ->required()
      ->check(kDriverName)
      ->type_name("DRIVER");
  fuzz->add_option("--seed", fuzz_arguments.seed, "draws the cases and the schedules; printed when drawn")
      ->check(kSeed)
      ->type_name("N");
  auto* fuzz_time = fuzz->add_option("--time", fuzz_arguments.time_seconds,
                                     "stop after this long without a break "
                                     "(default 60)")
                        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{7 * 24 * 3600}))
                        ->type_name("SECONDS");
  fuzz->add_option("--runs", fuzz_arguments.runs, "stop after this many trials without a break")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}))
      ->excludes(fuzz_time)
      ->type_name("N");
  fuzz->add_option("--guest", fuzz_arguments.guest_dir,
                   "libccid: the built guest (default: build/guest, built when missing or out of date)")
      ->type_name("DIR");
  fuzz->add_option("--out", fuzz_arguments.out_dir, "the cases found and the trials' logs go to OUT/fuzz")
      ->type_name("DIR")
      ->capture_default_str();

  ServeArguments serve_arguments;
  auto* serve =
      app.add_subcommand("serve", "serve a virtual CCID reader per connection over usbredir, for your own QEMU");
  serve
      ->add_option("--listen", serve_arguments.listen,
                   "HOST:PORT or unix:PATH (repeatable); loopback or unix only\n"
                   "unless --allow-remote")
      ->required()
      ->check(kListenAddress)
      ->type_name("ADDR");
  serve->add_option("--card", serve_arguments.card, "the card in each new reader")
      ->check(kCardProfile)
      ->type_name("PROFILE|none")
      ->capture_default_str();
  serve->add_option("--reader", serve_arguments.reader, "the reader model of each new reader (see readerlab readers)")
      ->check(kReaderProfile)
      ->type_name("NAME")
      ->capture_default_str();
  serve->add_flag("--allow-remote", serve_arguments.allow_remote, "let other machines reach the readers");

  auto* guest = app.add_subcommand("guest", "build the Linux guest, or run commands in it");
  guest->require_subcommand(1);
  readerlab::qemu::GuestBuildOptions build_options;
  auto* build = guest->add_subcommand("build", "build the guest kernel + initramfs from installed Debian packages");
  build->add_option("--out", build_options.out_dir, "where vmlinuz and initrd.img go (default: build/guest)")
      ->type_name("DIR");
  build->add_option("--agent", build_options.agent, "the agent to carry (default: readerlab-agent beside readerlab)")
      ->check(CLI::ExistingFile)
      ->type_name("PATH");
  build
      ->add_option("--with", build_options.with_packages,
                   "also carry an installed Debian package, with the installed packages it\n"
                   "depends on (repeatable), e.g. pcsc-tools for scriptor and pcsc_scan")
      ->type_name("PACKAGE");
  build
      ->add_option("--deb", build_options.debs,
                   "unpack a local Debian package into the guest (dpkg-deb -x); its dependencies\n"
                   "come from the installed packages (repeatable)")
      ->check(CLI::ExistingFile)
      ->type_name("FILE");
  build
      ->add_option("--driver-bundle", build_options.driver_bundles,
                   "your pcsc-lite driver: a NAME.bundle folder (Contents/Info.plist,\n"
                   "Contents/Linux/LIBRARY) put in the guest's drivers folder; readerlab's reader\n"
                   "is registered in the first one given (a libccid build: call it ifd-ccid.bundle)")
      ->check(CLI::ExistingDirectory)
      ->type_name("DIR");
  GuestShellArguments shell_arguments;
  auto* shell = guest->add_subcommand("shell",
                                      "boot the guest with a virtual reader and run commands in it:\n"
                                      "guest shell [OPTIONS] -- COMMAND [-- COMMAND]..., or one command a line\n"
                                      "of standard input, run as it comes. 'COMMAND &' runs in the background;\n"
                                      "insert PROFILE, remove, unplug, replug act on the reader meanwhile;\n"
                                      "each command's exit code is printed");
  shell->add_option("--card", shell_arguments.card, "the card inserted once the guest is up")
      ->check(kCardProfile)
      ->type_name("PROFILE|none")
      ->capture_default_str();
  shell->add_option("--reader", shell_arguments.reader, "the reader's model: a reader profile (see readerlab readers)")
      ->check(kReaderProfile)
      ->type_name("NAME");
  shell->add_option("--guest", shell_arguments.guest_dir, "the built guest (default: build/guest)")->type_name("DIR");
  shell->add_option("--out", shell_arguments.out_dir, "the guest's logs")->type_name("DIR")->capture_default_str();
  shell
      ->add_option("--timeout", shell_arguments.timeout_seconds,
                   "kill a command still running after this long (exit 124; not one run in\n"
                   "the background with &, which ends with the guest; default: no limit)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{7 * 24 * 3600}))
      ->type_name("SECONDS");

  std::vector<std::string> atr_words;
  auto* atr = app.add_subcommand("atr", "decode an ATR, e.g. readerlab atr 3B 02 14 50");
  atr->add_option("HEX", atr_words, "the ATR's bytes in hex")->required();
  auto* cards = app.add_subcommand("cards", "list the bundled cards with their ATRs");
  std::string card_to_describe;
  cards
      ->add_option("--describe", card_to_describe,
                   "one card as its model holds it: ATR and protocols, file tree with FIDs\n"
                   "and AIDs, data objects, PIN and PUK with their retry counters")
      ->type_name("NAME");
  auto* cases = app.add_subcommand("cases", "list the conformance cases and what they cover");
  auto* readers = app.add_subcommand("readers", "list the reader profiles (serve --reader, configure{profile = NAME})");

  if (args.empty()) {
    std::cerr << app.help();
    return kUsageError;
  }
  if (args.size() == 1 && args[0] == "help") args[0] = "--help";
  if (auto refused = refuse_unknown_command(args, app, *guest)) return *refused;
  try {
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
    app.parse(args);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& wrong) {
    std::string what = wrong.what();
    if (const auto newline = what.find('\n'); newline != std::string::npos) what.resize(newline);
    return usage_error(command_path(app), what);
  }
  const std::string command = command_path(app);
  if (!after_dashes.empty() && !shell->parsed())
    return usage_error(command, "'--' and the words after it belong to readerlab guest shell only");

  try {
    if (run->parsed()) return run_cases(run_arguments, command);
    if (serve->parsed()) return serve_readers(serve_arguments, command);
    if (fuzz->parsed()) return hunt_driver(fuzz_arguments, command);
    if (build->parsed()) return build_the_guest(build_options, command);
    if (shell->parsed()) return open_guest_shell(shell_arguments, after_dashes, command);
    if (atr->parsed()) return decode_atr(atr_words, command);
    if (cards->parsed())
      return card_to_describe.empty() ? readerlab::app::cards_command() : describe_card(card_to_describe, command);
    if (cases->parsed()) return readerlab::app::cases_command();
    if (readers->parsed()) return readerlab::app::readers_command();
  } catch (const std::exception& bug) {
    // Input errors are reported above; an exception is a broken invariant.
    std::cerr << command << ": internal error: " << bug.what() << "\n";
    return 1;
  }
  return kUsageError;
}
