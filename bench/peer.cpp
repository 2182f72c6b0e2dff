// Peer benchmark (issue 13): readerlab's reader over usb-redir against QEMU's own reader
// (usb-ccid with ccid-card-emulated, backend=certificates), in the same Linux guest with the same
// program: the guest agent's TransmitRepeat, SCardTransmit of one SELECT in a loop, through pcscd
// and libccid. The two boot alternately, several times each; the benchmark prints every boot,
// then the medians and readerlab's ratio to QEMU's reader for APDU/s and for QEMU start to the
// first successful APDU. The ratios are the figures: absolute times vary by machine.
//
// It also prints the emulator's share of readerlab's round trip: the time its usbredir server
// spent from each read's completion to the answers queued (usbredir::BusyTime: the parser, the
// CCID reader, the card) per APDU, and the process's CPU time (user + system) per APDU during the
// loop, each over the round trip. The process does nothing else then (the loop runs in the guest).
//
// QEMU's emulated card needs an NSS database with three certificates (QEMU docs/ccid.txt); the
// benchmark makes one with certutil (Debian libnss3-tools) in its output folder.
#include "bench/soak_support.h"
#include "hosts/linux_guest/guest_session.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
namespace soak = readerlab::soak;
namespace linux_guest = readerlab::linux_guest;

constexpr const char* kCard = "t1-fs";
// SELECT the MF by its FID, no answer data (ISO 7816-4 11.2.2, P2 0C): one short round trip on
// both cards, whatever status each gives.
constexpr const char* kSelect = "00a4000c023f00";
constexpr std::uint32_t kScopeSystem = 2;  // SCARD_SCOPE_SYSTEM
constexpr std::uint32_t kShareShared = 2;  // SCARD_SHARE_SHARED
constexpr std::uint32_t kProtocolAny = 3;  // SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1
constexpr std::uint32_t kLeaveCard = 0;    // SCARD_LEAVE_CARD

enum class Peer { readerlab, qemu };
const char* name_of(Peer peer) { return peer == Peer::readerlab ? "readerlab usb-redir" : "QEMU usb-ccid"; }

struct Boot {
  Peer peer = Peer::readerlab;
  int number = 0;
  double agent_ready_s = 0, first_apdu_s = 0, apdu_per_s = 0;
  double emulator_cpu_us_per_apdu = 0;   // readerlab's process, during the loop
  double emulator_busy_us_per_apdu = 0;  // its usbredir server's handling time (usbredir::BusyTime)
  double reads_per_apdu = 0;             // usbredir reads it handled
  double packets_in_per_apdu = 0, packets_out_per_apdu = 0, writes_per_apdu = 0;  // usbredir, readerlab's side
  std::map<std::string, double> trace_per_apdu;  // QEMU trace events in the loop, by name (--qemu-trace)
  std::string problem;
};

// What a boot records beyond the rates: QEMU's trace events, perf on the QEMU process.
struct Probes {
  std::vector<std::string> trace_patterns;  // -trace enable=PATTERN each
  std::string perf;                         // "", "stat", "record" or "sched"
};

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// The QEMU the session started: this process's child of that name (one guest at a time).
pid_t qemu_child() {
  const auto self = ::getpid();
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
    const auto close = line.rfind(')');
    const auto open = line.find('(');
    if (close == std::string::npos || open == std::string::npos) continue;
    const auto comm = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    long parent = 0;
    rest >> state >> parent;
    if (parent == self && comm.starts_with("qemu-system")) return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

// perf stat or perf record on a process from now until stop(): SIGINT makes perf write its figures.
class PerfRun {
 public:
  PerfRun(const std::string& mode, pid_t target, const std::filesystem::path& folder) {
    if (mode.empty() || target <= 0) return;
    std::vector<std::string> args = {"perf", mode};
    if (mode == "sched") {
      // Every thread's wakeups and switches, system-wide: who waited for a CPU, and how long
      // (perf sched timehist -i perf-sched.data).
      args = {"perf", "sched", "record", "-a", "-o", (folder / "perf-sched.data").string()};
    } else if (mode == "stat") {
      args.insert(args.end(), {"-e", "task-clock,context-switches,cpu-migrations,page-faults", "--per-thread", "-o",
                               (folder / "perf-stat.txt").string()});
    } else {
      args.insert(args.end(), {"-g", "-F", "2000", "-o", (folder / "perf.data").string()});
    }
    if (mode != "sched") args.insert(args.end(), {"-p", std::to_string(target)});
    // Everything the child needs is made before the fork: other threads may hold locks.
    const auto log = (folder / ("perf-" + mode + ".log")).string();
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execvp("perf", argv.data());
      ::_exit(127);
    }
    std::this_thread::sleep_for(300ms);  // perf attaches before the loop starts
  }
  ~PerfRun() { stop(); }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// The log backend's lines with -msg timestamp=on: "PID@SECONDS.MICROS:event args".
std::map<std::string, std::uint64_t> count_trace_events(const std::filesystem::path& log, double from_s, double to_s) {
  std::map<std::string, std::uint64_t> counts;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find('@');
    const auto colon = line.find(':', at == std::string::npos ? 0 : at);
    if (at == std::string::npos || colon == std::string::npos) continue;
    double when = 0;
    try {
      when = std::stod(line.substr(at + 1, colon - at - 1));
    } catch (const std::exception&) {
      continue;
    }
    if (when < from_s || when > to_s) continue;
    const auto end = line.find(' ', colon);
    ++counts[line.substr(colon + 1, end == std::string::npos ? std::string::npos : end - colon - 1)];
  }
  return counts;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The NSS database QEMU's ccid-card-emulated reads its three certificates from; made once.
std::optional<std::string> make_nss_database(const std::filesystem::path& folder) {
  if (std::filesystem::exists(folder / "cert9.db")) return std::nullopt;
  if (std::system("command -v certutil >/dev/null 2>&1") != 0)
    return "certutil is not installed (Debian libnss3-tools; tools/install-deps.sh installs it)";
  std::filesystem::create_directories(folder);
  {
    // certutil -S asks for key noise; random bytes from a file make it non-interactive.
    std::ofstream noise(folder / "noise.bin", std::ios::binary);
    std::random_device random;
    for (int i = 0; i < 2048; ++i) noise.put(static_cast<char>(random() & 0xFF));
  }
  const std::string db = "sql:" + folder.string();
  std::string commands = "certutil -N -d '" + db + "' --empty-password";
  for (int i = 1; i <= 3; ++i) {
    commands += " && certutil -S -d '" + db + "' -n cert" + std::to_string(i) + " -s 'CN=readerlab peer bench " +
                std::to_string(i) + "' -x -t 'CT,C,C' -k rsa -g 2048 -v 120 -z '" + (folder / "noise.bin").string() +
                "' -m " + std::to_string(i);
  }
  commands += " >'" + (folder / "certutil.log").string() + "' 2>&1";
  if (std::system(commands.c_str()) != 0)
    return "certutil failed to make the NSS database (see " + (folder / "certutil.log").string() + ")";
  return std::nullopt;
}

class Agent {
 public:
  explicit Agent(linux_guest::GuestSession& session) : session_(session) {}
  json call(const std::string& name, json args = json::object(), std::chrono::milliseconds timeout = 60s) {
    args["call"] = name;
    auto reply = session_.agent().call(args, timeout);
    if (!reply) throw std::runtime_error("no reply to " + name);
    if (reply->contains("error")) throw std::runtime_error(name + ": " + reply->value("error", std::string()));
    return *reply;
  }

 private:
  linux_guest::GuestSession& session_;
};

void boot_once(Boot& boot, const std::filesystem::path& out, const std::filesystem::path& nss, std::uint64_t count,
               const std::filesystem::path& saved_states, const Probes& probes) {
  linux_guest::GuestSessionOptions options;
  options.out_dir = out;
  options.boot_timeout = 240s;
  if (boot.peer == Peer::readerlab) {
    options.readers = 1;
    options.initial_card = kCard;
    options.saved_states = saved_states;
  } else {
    // QEMU docs/ccid.txt: the emulated card on QEMU's CCID reader, certificates from an NSS database.
    options.readers = 0;
    options.extra_qemu_args = {
        "-device", "usb-ccid,id=ccid,bus=xhci.0", "-device",
        "ccid-card-emulated,backend=certificates,db=sql:" + nss.string() + ",cert1=cert1,cert2=cert2,cert3=cert3"};
  }
  const auto trace_log = out / "qemu-trace.log";
  if (!probes.trace_patterns.empty()) {
    std::filesystem::create_directories(out);
    options.extra_qemu_args.insert(options.extra_qemu_args.end(), {"-D", trace_log.string(), "-msg", "timestamp=on"});
    for (const auto& pattern : probes.trace_patterns)
      options.extra_qemu_args.insert(options.extra_qemu_args.end(), {"-trace", "enable=" + pattern});
  }
  double loop_from_s = 0, loop_to_s = 0;
  linux_guest::GuestSession session(options);
  if (const auto started = session.start(); !started) {
    boot.problem = started.error().message();
    return;
  }
  boot.agent_ready_s = static_cast<double>(session.agent_ready_after().count()) / 1000.0;
  Agent agent(session);
  try {
    const auto context = agent.call("EstablishContext", {{"scope", kScopeSystem}}).at("context");
    const auto deadline = Clock::now() + 120s;
    std::string reader;
    while (reader.empty() && Clock::now() < deadline) {
      const auto listed = agent.call("ListReaders", {{"context", context}});
      if (listed.contains("readers") && !listed["readers"].empty()) reader = listed["readers"][0].get<std::string>();
      if (reader.empty()) std::this_thread::sleep_for(20ms);
    }
    if (reader.empty()) throw std::runtime_error("no reader was listed within 120 s");
    json connected;
    while (Clock::now() < deadline) {
      connected = agent.call("Connect", {{"context", context},
                                         {"reader", reader},
                                         {"share_mode", kShareShared},
                                         {"preferred_protocols", kProtocolAny}});
      if (connected.value("rv", 1u) == 0) break;
      // pcscd may not have seen the card yet, or not finished its power-up; after a restored
      // state the reader comes back as a new device, under a name pcscd lists anew.
      std::this_thread::sleep_for(20ms);
      const auto listed = agent.call("ListReaders", {{"context", context}});
      if (listed.contains("readers") && !listed["readers"].empty()) reader = listed["readers"][0].get<std::string>();
    }
    if (connected.value("rv", 1u) != 0)
      throw std::runtime_error("SCardConnect gave " + connected.value("rv_name", std::string("?")));
    const auto card = connected.at("card");
    const auto protocol = connected.at("active_protocol");
    const auto first = agent.call("Transmit", {{"card", card}, {"protocol", protocol}, {"apdu", kSelect}});
    if (first.value("rv", 1u) != 0)
      throw std::runtime_error("the first SCardTransmit gave " + first.value("rv_name", std::string("?")));
    boot.first_apdu_s = std::chrono::duration<double>(Clock::now() - session.qemu_started()).count();
    PerfRun perf(probes.perf, probes.perf.empty() ? -1 : qemu_child(), out);
    const double cpu_before = cpu_seconds();
    const auto busy_before = session.rig().server().busy_time();
    loop_from_s = wall_seconds();
    const auto repeated = agent.call(
        "TransmitRepeat", {{"card", card}, {"protocol", protocol}, {"apdu", kSelect}, {"count", count}}, 600s);
    loop_to_s = wall_seconds();
    const double cpu_spent = cpu_seconds() - cpu_before;
    const auto busy_after = session.rig().server().busy_time();
    perf.stop();
    const auto done = repeated.value("count_done", std::uint64_t{0});
    const auto elapsed_us = repeated.value("elapsed_us", std::uint64_t{0});
    if (done != count || elapsed_us == 0)
      throw std::runtime_error("TransmitRepeat did " + std::to_string(done) + " of " + std::to_string(count) + " (" +
                               repeated.value("rv_name", std::string("?")) + ")");
    boot.apdu_per_s = static_cast<double>(count) / (static_cast<double>(elapsed_us) / 1e6);
    boot.emulator_cpu_us_per_apdu = cpu_spent * 1e6 / static_cast<double>(count);
    boot.emulator_busy_us_per_apdu =
        std::chrono::duration<double, std::micro>(busy_after.handling - busy_before.handling).count() /
        static_cast<double>(count);
    const auto per_apdu = [count](std::uint64_t after, std::uint64_t before) {
      return static_cast<double>(after - before) / static_cast<double>(count);
    };
    boot.reads_per_apdu = per_apdu(busy_after.reads, busy_before.reads);
    boot.packets_in_per_apdu = per_apdu(busy_after.packets_received, busy_before.packets_received);
    boot.packets_out_per_apdu = per_apdu(busy_after.packets_sent, busy_before.packets_sent);
    boot.writes_per_apdu = per_apdu(busy_after.writes, busy_before.writes);
    agent.call("Disconnect", {{"card", card}, {"disposition", kLeaveCard}});
  } catch (const std::exception& e) {
    boot.problem = e.what();
  }
  session.stop();
  // The agent's calls before and after the loop are outside [from, to]; the loop's
  // SCardTransmit calls are all inside.
  if (!probes.trace_patterns.empty() && boot.problem.empty())
    for (const auto& [name, n] : count_trace_events(trace_log, loop_from_s, loop_to_s))
      boot.trace_per_apdu[name] = static_cast<double>(n) / static_cast<double>(count);
}

}  // namespace

int main(int argc, char** argv) {
  soak::Options options("bench_peer",
                        "readerlab's reader over usb-redir against QEMU's usb-ccid + ccid-card-emulated, in the same\n"
                        "guest with the same APDU loop, boots alternating; prints medians and ratios.");
  options.add("boots", "3", "boots of each reader");
  options.add("count", "1000", "APDUs in each boot's loop");
  options.add("out", "out/peer-bench", "logs of each boot, and the NSS database");
  options.add("saved-state", "no",
              "yes: readerlab's guest starts from a VM state saved once before the rounds (readerlab run\n"
              "--saved-state); QEMU's own reader still boots");
  options.add("qemu-trace", "",
              "QEMU trace events to log in every boot (comma-separated patterns, e.g. 'usb_xhci_xfer*,usb_packet*'),\n"
              "to BOOT-FOLDER/qemu-trace.log with timestamps; each event's count per APDU in the loop is printed");
  options.add("perf", "no",
              "stat or record: perf on the QEMU process during the loop, into the boot's folder; sched: perf sched\n"
              "record of the whole machine during the loop");
  int exit_code = 0;
  if (!options.parse(argc, argv, exit_code)) return exit_code;
  Probes probes;
  {
    std::istringstream patterns(options.text("qemu-trace"));
    for (std::string pattern; std::getline(patterns, pattern, ',');)
      if (!pattern.empty()) probes.trace_patterns.push_back(pattern);
    const auto& perf = options.text("perf");
    if (perf == "stat" || perf == "record" || perf == "sched")
      probes.perf = perf;
    else if (perf != "no") {
      std::fprintf(stderr, "bench_peer: --perf is no, stat, record or sched\n");
      return 2;
    }
  }
  std::uint64_t boots = 0, count = 0;
  try {
    boots = std::max<std::uint64_t>(1, options.number("boots"));
    count = std::max<std::uint64_t>(1, options.number("count"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_peer: %s\n", e.what());
    return 2;
  }
  const auto out = std::filesystem::absolute(options.text("out"));
  const auto nss = out / "nss";
  if (const auto problem = make_nss_database(nss)) {
    std::fprintf(stderr, "bench_peer: %s\n", problem->c_str());
    return 1;
  }
  std::printf("peer bench: %llu boots of each reader, alternating, %llu x SELECT (%s) per boot\n",
              static_cast<unsigned long long>(boots), static_cast<unsigned long long>(count), kSelect);
  std::filesystem::path saved_states;
  if (options.text("saved-state") == "yes") {
    saved_states = out / "saved-states";
    std::error_code ignored;
    std::filesystem::remove_all(saved_states, ignored);
    linux_guest::GuestSessionOptions saving;
    saving.out_dir = out / "saving-state";
    saving.readers = 1;
    saving.initial_card = kCard;
    saving.saved_states = saved_states;
    linux_guest::GuestSession session(saving);
    if (const auto started = session.start(); !started) {
      std::fprintf(stderr, "bench_peer: saving the guest's state: %s\n", started.error().message().c_str());
      return 1;
    }
    session.stop();
    std::printf("readerlab's guest starts from the state saved in %s\n", session.saved_state().string().c_str());
  } else if (options.text("saved-state") != "no") {
    std::fprintf(stderr, "bench_peer: --saved-state is yes or no\n");
    return 2;
  }
  std::vector<Boot> results;
  bool failed = false;
  for (std::uint64_t round = 1; round <= boots; ++round) {
    // Alternating, and which one goes first alternates too, so that a drift of the machine
    // (a warm page cache, another process) does not favour one of them.
    const bool readerlab_first = round % 2 == 1;
    for (const Peer peer :
         {readerlab_first ? Peer::readerlab : Peer::qemu, readerlab_first ? Peer::qemu : Peer::readerlab}) {
      Boot boot;
      boot.peer = peer;
      boot.number = static_cast<int>(round);
      const auto folder = out / ((peer == Peer::readerlab ? "readerlab-" : "qemu-") + std::to_string(round));
      boot_once(boot, folder, nss, count, saved_states, probes);
      if (boot.problem.empty()) {
        std::printf(
            "%-20s boot %d: agent ready %.2f s, first APDU %.2f s after QEMU started, %.0f APDU/s (%.3f ms a "
            "round trip)",
            name_of(peer), boot.number, boot.agent_ready_s, boot.first_apdu_s, boot.apdu_per_s,
            1000.0 / boot.apdu_per_s);
        if (peer == Peer::readerlab)
          std::printf(
              "; readerlab an APDU: %.1f us handling %.1f usbredir reads (%.1f%% of the round trip), %.1f us CPU "
              "(%.1f%%)",
              boot.emulator_busy_us_per_apdu, boot.reads_per_apdu,
              boot.emulator_busy_us_per_apdu * boot.apdu_per_s / 1e4, boot.emulator_cpu_us_per_apdu,
              boot.emulator_cpu_us_per_apdu * boot.apdu_per_s / 1e4);
        if (peer == Peer::readerlab)
          std::printf("; usbredir packets an APDU: %.2f from QEMU, %.2f to QEMU in %.2f writes",
                      boot.packets_in_per_apdu, boot.packets_out_per_apdu, boot.writes_per_apdu);
        std::printf("\n");
        if (!boot.trace_per_apdu.empty()) {
          std::printf("    QEMU trace events an APDU:");
          for (const auto& [event, n] : boot.trace_per_apdu) std::printf(" %s %.2f", event.c_str(), n);
          std::printf("\n");
        }
      } else {
        std::printf("%-20s boot %d: FAILED: %s (logs in %s)\n", name_of(peer), boot.number, boot.problem.c_str(),
                    folder.string().c_str());
        failed = true;
      }
      std::fflush(stdout);
      results.push_back(boot);
    }
  }
  auto figures = [&](Peer peer, double Boot::*field) {
    std::vector<double> values;
    for (const auto& boot : results)
      if (boot.peer == peer && boot.problem.empty()) values.push_back(boot.*field);
    return median(values);
  };
  const double ours_rate = figures(Peer::readerlab, &Boot::apdu_per_s);
  const double theirs_rate = figures(Peer::qemu, &Boot::apdu_per_s);
  const double ours_first = figures(Peer::readerlab, &Boot::first_apdu_s);
  const double theirs_first = figures(Peer::qemu, &Boot::first_apdu_s);
  const double ours_cpu = figures(Peer::readerlab, &Boot::emulator_cpu_us_per_apdu);
  const double ours_busy = figures(Peer::readerlab, &Boot::emulator_busy_us_per_apdu);
  std::printf("\nmedians:\n");
  std::printf("  APDU/s: readerlab %.0f, QEMU usb-ccid %.0f: ratio %.2f (readerlab / QEMU; aim >= 1.2)\n", ours_rate,
              theirs_rate, theirs_rate > 0 ? ours_rate / theirs_rate : 0.0);
  std::printf("  QEMU start to first APDU: readerlab %.2f s, QEMU usb-ccid %.2f s: ratio %.2f (aim <= 0.75)\n",
              ours_first, theirs_first, theirs_first > 0 ? ours_first / theirs_first : 0.0);
  std::printf(
      "  the emulator's share of readerlab's round trip: %.1f us handling usbredir packets an APDU, %.1f%% (aim <= "
      "5%%); its process's CPU %.1f us, %.1f%%\n",
      ours_busy, ours_rate > 0 ? ours_busy * ours_rate / 1e4 : 0.0, ours_cpu,
      ours_rate > 0 ? ours_cpu * ours_rate / 1e4 : 0.0);
  std::printf("%s\n", failed ? "FAIL: a boot did not complete (above)" : "done");
  return failed ? 1 : 0;
}
