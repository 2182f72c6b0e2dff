// Churn soak: card insert/remove cycles and reader unplug/replug cycles against a driver
// under test, through the same PC/SC calls the conformance cases make:
//   --driver libccid                 pcscd + libccid in the QEMU guest (the agent's PC/SC calls)
//   --driver reference-rdf           the reference RDF driver on the host, in-process USB
//   --driver reference-rdf-usbredir  the same over a usbredir socket
// After every step it waits until the driver reports the change: SCardGetStatusChange shows the
// new state and its event count (the high word of the reader state) moved by exactly one; on
// the host that count comes from the resource manager's card-tracking IRPs completing. After an
// unplug the reader must leave SCardListReaders, after a replug come back empty. Every
// --check-every cycles, and at the end, a card is inserted, powered and sent an APDU, and the
// driver is asked whether it is alive (the guest's pcscd keeps its pid; the RDF driver answers
// GET_STATE). It prints the cycles, the time, and this process's memory (the emulator runs in
// it) at start and end, and fails when a change went unreported, the driver died or memory
// grew beyond the bound.
#include "bench/soak_support.h"
#include "hosts/linux_guest/guest_session.h"
#include "hosts/windows_model/port/rdf_port.h"
#include "hosts/windows_model/rdf/rdf_registry.h"
#include "scenarios/rig.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
namespace soak = readerlab::soak;

// SCardGetStatusChange reader state bits (winscard.h / pcsclite.h); the high word counts card events.
constexpr std::uint32_t kStateUnaware = 0x0, kStateChanged = 0x2, kStateEmpty = 0x10, kStatePresent = 0x20;
constexpr std::uint32_t kTimeoutError = 0x8010000A;  // SCARD_E_TIMEOUT
constexpr std::uint32_t kShareShared = 2, kProtocolAny = 3, kLeaveCard = 0;
constexpr const char* kCard = "t1-fs";
constexpr const char* kGetChallenge = "0084000008";  // ISO 7816-4 GET CHALLENGE of 8 bytes

std::uint16_t event_count(std::uint32_t state) { return static_cast<std::uint16_t>(state >> 16); }

std::string hex_state(std::uint32_t state) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", state);
  return text;
}

// How long the driver may take to report each kind of change: pcscd in a TCG guest hears of
// a card through libccid's interrupt read and of a reader through udev, both far slower than
// the host driver, which the port pumps every few milliseconds.
struct Patience {
  Ms card_change;
  Ms reader_gone;
  Ms reader_back;
  Ms list_poll;  // between two SCardListReaders while a reader comes or goes
  Ms reply;      // for any one call's reply
};

constexpr Patience kGuestPatience{10s, 30s, 60s, 50ms, 90s};
constexpr Patience kHostPatience{5s, 5s, 10s, 5ms, 30s};

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How long the driver took to report one kind of change, over the run.
struct Latency {
  std::uint64_t count = 0;
  double total_ms = 0, max_ms = 0;
  void add(Clock::time_point since) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - since).count();
    ++count;
    total_ms += ms;
    max_ms = std::max(max_ms, ms);
  }
  std::string text() const {
    if (count == 0) return "none";
    char line[64];
    std::snprintf(line, sizeof line, "mean %.2f ms, max %.1f ms", total_ms / static_cast<double>(count), max_ms);
    return line;
  }
};

struct Tally {
  Latency insertion, removal, reader_gone, reader_back;  // from the step to the driver's report
  std::uint64_t changes_reported = 0;
  std::uint64_t changes_missed = 0;     // not reported within the patience
  std::uint64_t events_miscounted = 0;  // reported, but the event count did not move by exactly one
  std::uint64_t counts_late = 0;        // the state came first, the event count a moment later
  std::uint64_t readers_gone = 0, readers_back = 0;
  std::uint64_t unplugs_missed = 0, replugs_missed = 0;
  std::uint64_t checks_passed = 0, checks_failed = 0;
  // Host drivers: the card-tracking IRP that a change completed was sent again (IS_ABSENT
  // after an insertion, IS_PRESENT after a removal) by the call that reported the change.
  std::uint64_t tracking_rearmed = 0, tracking_missed = 0;
  std::uint64_t failures() const {
    return changes_missed + events_miscounted + unplugs_missed + replugs_missed + checks_failed + tracking_missed;
  }
};

// The churn on one reader (the rig's first) through one driver port.
class Churn {
 public:
  // `tracking_ioctls`: the port lists the IOCTLs each call caused (the host RDF port does).
  Churn(readerlab::scenarios::Rig& rig, readerlab::scenarios::DriverPort& port, Patience patience,
        std::function<std::string()> liveness, bool tracking_ioctls)
      : rig_(rig),
        port_(port),
        patience_(patience),
        liveness_(std::move(liveness)),
        tracking_ioctls_(tracking_ioctls) {}

  // A context, the reader listed and empty, one working card, the driver alive.
  void start() {
    context_ = call("EstablishContext", {{"scope", 2}}).at("context").get<std::uint64_t>();
    reader_ = wait_for_reader(patience_.reader_back);
    if (reader_.empty())
      throw Failure("no reader was listed within " + std::to_string(patience_.reader_back.count()) + " ms");
    baseline_empty();
    if (!check_working()) throw Failure("the first card did not work: " + last_problem_);
    alive_at_start_ = liveness_();
  }

  void insert_remove_cycle() {
    rig_.insert(0, kCard);
    expect_change(kStatePresent, "insertion", tally_.insertion);
    rig_.remove(0);
    expect_change(kStateEmpty, "removal", tally_.removal);
  }

  void unplug_replug_cycle() {
    const auto old_name = reader_;
    auto step = Clock::now();
    rig_.unplug(0);
    if (wait_until_gone(old_name, patience_.reader_gone)) {
      tally_.reader_gone.add(step);
      ++tally_.readers_gone;
    } else {
      ++tally_.unplugs_missed;
      note("the reader was still listed " + std::to_string(patience_.reader_gone.count()) + " ms after the unplug");
    }
    step = Clock::now();
    rig_.replug(0);
    reader_ = wait_for_reader(patience_.reader_back);
    if (reader_.empty()) {
      ++tally_.replugs_missed;
      note("the reader was not listed again " + std::to_string(patience_.reader_back.count()) + " ms after the replug");
      // Nothing else can be checked without a reader; the next cycle tries again.
      reader_ = old_name;
      return;
    }
    ++tally_.readers_back;
    baseline_empty();
    tally_.reader_back.add(step);  // listed and reported empty: back in use
  }

  // A card inserted, powered (SCardConnect), sent an APDU that must answer 9000, then removed.
  bool check_working() {
    bool ok = false;
    rig_.insert(0, kCard);
    if (wait_state(kStatePresent, patience_.card_change)) {
      const auto connected = call("Connect", {{"context", context_},
                                              {"reader", reader_},
                                              {"share_mode", kShareShared},
                                              {"preferred_protocols", kProtocolAny}});
      if (connected.value("rv", 1u) == 0) {
        const auto card = connected.at("card").get<std::uint64_t>();
        const auto answer =
            call("Transmit", {{"card", card}, {"protocol", connected.at("active_protocol")}, {"apdu", kGetChallenge}});
        const auto response = answer.value("response", std::string());
        ok = answer.value("rv", 1u) == 0 && response.size() == 20 && response.ends_with("9000");
        if (!ok) last_problem_ = "GET CHALLENGE answered " + answer.dump();
        call("Disconnect", {{"card", card}, {"disposition", kLeaveCard}});
      } else {
        last_problem_ = "SCardConnect gave " + connected.value("rv_name", std::string("?"));
      }
    } else {
      last_problem_ = "the card was not reported present";
    }
    rig_.remove(0);
    // The check's own insertion and removal are counted too: the next change counts from here.
    if (const auto empty = wait_state(kStateEmpty, patience_.card_change)) {
      set_baseline(*empty);
    } else {
      ok = false;
      last_problem_ = "the card's removal was not reported";
    }
    if (!ok) note("power-on + APDU check failed: " + last_problem_);
    ++(ok ? tally_.checks_passed : tally_.checks_failed);
    return ok;
  }

  // The driver's liveness now; a failure when it differs from what it was at the start.
  bool still_alive() {
    const auto now = liveness_();
    if (now == alive_at_start_) return true;
    note("the driver is not the one that started: was '" + alive_at_start_ + "', now '" + now + "'");
    ++tally_.checks_failed;
    return false;
  }

  const Tally& tally() const { return tally_; }
  const std::string& alive_at_start() const { return alive_at_start_; }
  const std::string& reader() const { return reader_; }

 private:
  json call(const std::string& name, json args = json::object()) {
    args["call"] = name;
    const auto id = port_.send(std::move(args));
    auto reply = port_.wait(id, patience_.reply);
    if (!reply) throw Failure("no reply to " + name + " within " + std::to_string(patience_.reply.count()) + " ms");
    if (reply->contains("error")) throw Failure(name + " failed: " + reply->value("error", std::string()));
    return *reply;
  }

  json status_change(std::uint32_t current, Ms timeout) {
    return call("GetStatusChange", {{"context", context_},
                                    {"timeout_ms", static_cast<std::uint32_t>(timeout.count())},
                                    {"readers", json::array({{{"name", reader_}, {"current_state", current}}})}});
  }

  // Waits until the reader's state has `bit`; the state then, or nullopt after the timeout.
  // States on the way (a card powered, a connection ended) are passed over, as pcsc.wait_state does.
  std::optional<std::uint32_t> wait_state(std::uint32_t bit, Ms timeout, std::uint32_t current = kStateUnaware) {
    const auto deadline = Clock::now() + timeout;
    tracking_sent_.clear();
    for (;;) {
      const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
      if (left <= 0ms) return std::nullopt;
      const auto reply = status_change(current, std::min<Ms>(left, 1000ms));
      for (const auto& name : reply.value("ioctls", json::array()))
        if (name == "IOCTL_SMARTCARD_IS_PRESENT" || name == "IOCTL_SMARTCARD_IS_ABSENT")
          tracking_sent_.push_back(name.get<std::string>());
      const auto state = reported_state(reply);
      if (!state) return std::nullopt;
      if (*state & bit) return state;
      current = *state;
    }
  }

  // The reader's state in a GetStatusChange reply, timed out or not: pcscd gives a reader it
  // has just added its first state without counting an event, and a wait from a state without
  // EMPTY or PRESENT then times out while the reply already shows the new state (as
  // pcsc.wait_state in the prelude knows). nullopt, with last_problem_, on an error.
  std::optional<std::uint32_t> reported_state(const json& reply) {
    const auto rv = reply.value("rv", 1u);
    if (rv != 0 && rv != kTimeoutError) {
      last_problem_ = "SCardGetStatusChange gave " + reply.value("rv_name", std::string("?"));
      return std::nullopt;
    }
    const auto readers = reply.value("readers", json::array());
    if (readers.empty() || !readers[0].contains("event_state")) {
      last_problem_ = "SCardGetStatusChange gave no reader state";
      return std::nullopt;
    }
    last_state_seen_ = readers[0]["event_state"].get<std::uint32_t>() & ~kStateChanged;
    return last_state_seen_;
  }

  // The change the last step made must be reported once: the wanted state, one more event.
  void expect_change(std::uint32_t bit, const char* what, Latency& latency) {
    const auto step = Clock::now();
    const auto state = wait_state(bit, patience_.card_change, last_state_);
    if (!state) {
      ++tally_.changes_missed;
      note(std::string(what) + " not reported within " + std::to_string(patience_.card_change.count()) +
           " ms (last state seen " + hex_state(last_state_seen_) +
           (last_problem_.empty() ? ")" : ", " + last_problem_ + ")"));
      last_problem_.clear();
      // Start again from what the driver says now, so that one miss is counted once.
      if (const auto now = wait_state(kStateEmpty | kStatePresent, patience_.card_change)) set_baseline(*now);
      return;
    }
    ++tally_.changes_reported;
    latency.add(step);
    if (tracking_ioctls_) {
      const char* rearm = bit == kStatePresent ? "IOCTL_SMARTCARD_IS_ABSENT" : "IOCTL_SMARTCARD_IS_PRESENT";
      if (std::find(tracking_sent_.begin(), tracking_sent_.end(), rearm) != tracking_sent_.end()) {
        ++tally_.tracking_rearmed;
      } else {
        ++tally_.tracking_missed;
        note(std::string(what) + " was reported without the tracking IRP being sent again as " + rearm);
      }
    }
    ++expected_count_;
    auto reported = *state;
    if (event_count(reported) != expected_count_) {
      // pcscd can publish a reader's new state a moment before its event count: the change
      // was reported, and the count must follow within the patience.
      if (const auto counted = wait_count(reported, patience_.card_change)) {
        ++tally_.counts_late;
        reported = *counted;
      }
    }
    if (event_count(reported) != expected_count_) {
      ++tally_.events_miscounted;
      note(std::string(what) + " left the event count at " + std::to_string(event_count(reported)) + ", not " +
           std::to_string(expected_count_) + " (it was " + std::to_string(event_count(last_state_)) + ")");
      expected_count_ = event_count(reported);
    }
    last_state_ = reported;
  }

  // Waits until the event count reaches expected_count_ while the card state stays as in
  // `state`; the state then, or nullopt.
  std::optional<std::uint32_t> wait_count(std::uint32_t state, Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    const auto card_bits = state & (kStateEmpty | kStatePresent);
    for (;;) {
      const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
      if (left <= 0ms) return std::nullopt;
      const auto now = reported_state(status_change(state, std::min<Ms>(left, 1000ms)));
      if (!now) return std::nullopt;
      state = *now;
      if ((state & (kStateEmpty | kStatePresent)) != card_bits) return std::nullopt;
      if (event_count(state) == expected_count_) return state;
    }
  }

  // After a (re)plug: the reader must be empty; its event count starts from there.
  void baseline_empty() {
    const auto state = wait_state(kStateEmpty, patience_.card_change);
    if (!state) {
      ++tally_.replugs_missed;
      note("the reader did not report itself empty after the replug (last state seen " + hex_state(last_state_seen_) +
           (last_problem_.empty() ? ")" : ", " + last_problem_ + ")"));
      last_problem_.clear();
      set_baseline(kStateUnaware);
      return;
    }
    set_baseline(*state);
  }

  void set_baseline(std::uint32_t state) {
    last_state_ = state;
    expected_count_ = event_count(state);
  }

  std::vector<std::string> list_readers() {
    const auto reply = call("ListReaders", {{"context", context_}});
    std::vector<std::string> names;
    for (const auto& name : reply.value("readers", json::array())) names.push_back(name.get<std::string>());
    return names;
  }

  std::string wait_for_reader(Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    do {
      const auto names = list_readers();
      if (!names.empty()) return names.front();
      rig_.sleep(patience_.list_poll);
    } while (Clock::now() < deadline);
    return {};
  }

  bool wait_until_gone(const std::string& name, Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    do {
      const auto names = list_readers();
      if (std::find(names.begin(), names.end(), name) == names.end()) return true;
      rig_.sleep(patience_.list_poll);
    } while (Clock::now() < deadline);
    return false;
  }

  // The first problems are printed as they happen; a count is enough for the rest.
  void note(const std::string& problem) {
    if (++problems_noted_ <= 20)
      std::cout << "  problem: " << problem << std::endl;
    else if (problems_noted_ == 21)
      std::cout << "  (further problems are only counted)" << std::endl;
  }

  readerlab::scenarios::Rig& rig_;
  readerlab::scenarios::DriverPort& port_;
  Patience patience_;
  std::function<std::string()> liveness_;
  bool tracking_ioctls_;
  std::vector<std::string> tracking_sent_;  // by the calls of the last wait_state
  std::uint64_t context_ = 0;
  std::string reader_;
  std::uint32_t last_state_ = kStateUnaware;
  std::uint16_t expected_count_ = 0;
  std::uint32_t last_state_seen_ = 0;  // in the last GetStatusChange reply, for the problem notes  // the event count
                                       // once every change so far is counted
  std::string alive_at_start_;
  std::string last_problem_;
  std::uint64_t problems_noted_ = 0;
  Tally tally_;
};

void print_memory(const char* when, const soak::MemorySample& sample) {
  std::printf("  readerlab memory %-22s RSS %7lld kB, heap in use %9lld bytes\n", when,
              static_cast<long long>(sample.rss_kib), static_cast<long long>(sample.heap_bytes));
}

struct Phase {
  const char* name;
  std::uint64_t cycles;
  std::uint64_t report_every;
  std::function<void(Churn&)> cycle;
};

// Runs one phase; returns false when it stopped early because too much went wrong.
bool run_phase(Churn& churn, const Phase& phase, std::uint64_t check_every, std::uint64_t max_failures) {
  if (phase.cycles == 0) return true;
  const auto start = Clock::now();
  const auto failures_before = churn.tally().failures();
  std::uint64_t done = 0;
  for (; done < phase.cycles; ++done) {
    phase.cycle(churn);
    const auto cycle = done + 1;
    if (check_every && cycle % check_every == 0 && cycle != phase.cycles) {
      churn.check_working();
      churn.still_alive();
    }
    if (cycle % phase.report_every == 0 || cycle == phase.cycles) {
      const double seconds = soak::seconds_since(start);
      std::printf("  %s %llu/%llu: %.1f s, %.2f cycles/s, RSS %lld kB, heap %lld bytes\n", phase.name,
                  static_cast<unsigned long long>(cycle), static_cast<unsigned long long>(phase.cycles), seconds,
                  static_cast<double>(cycle) / seconds, static_cast<long long>(soak::resident_kib()),
                  static_cast<long long>(soak::heap_in_use_bytes()));
      std::fflush(stdout);
    }
    if (churn.tally().failures() - failures_before >= max_failures) {
      std::printf("  %s: stopping after %llu cycles, %llu failures\n", phase.name,
                  static_cast<unsigned long long>(cycle), static_cast<unsigned long long>(max_failures));
      ++done;
      break;
    }
  }
  // A working card and a live driver at the end of every phase, whatever the period.
  churn.check_working();
  churn.still_alive();
  const double seconds = soak::seconds_since(start);
  std::printf("%s: %llu cycles in %.1f s (%.2f cycles/s)\n", phase.name, static_cast<unsigned long long>(done), seconds,
              static_cast<double>(done) / seconds);
  return done == phase.cycles;
}

// pcscd's pid in the guest (which must not change) and its resident set (printed only).
std::pair<std::string, std::string> pcscd_pid_and_rss(readerlab::linux_guest::GuestSession& session) {
  const auto reply = session.agent().call(
      {{"call", "Exec"},
       {"command", "pid=$(pidof pcscd); echo \"$pid\"; grep VmRSS /proc/$pid/status 2>/dev/null | tr -s ' \\t' ' '"},
       {"timeout_ms", 20000}},
      60s);
  if (!reply) return {"no reply from the agent", ""};
  std::istringstream output(reply->value("output", std::string()));
  std::string pid, rss;
  std::getline(output, pid);
  std::getline(output, rss);
  return {pid.empty() ? "pcscd is not running" : "pcscd pid " + pid, rss};
}

}  // namespace

int main(int argc, char** argv) {
  const soak::MemorySample at_start;
  soak::Options options("bench_soak_churn",
                        "Card insert/remove and reader unplug/replug cycles against a driver under test; fails when a\n"
                        "change is not reported, the driver dies or this process's memory grows beyond the bounds.");
  options.add("driver", "libccid",
              "libccid (pcscd + libccid in the QEMU guest), reference-rdf or reference-rdf-usbredir");
  options.add("insert-remove", "10000", "insert/remove cycles");
  options.add("unplug-replug", "1000", "unplug/replug cycles");
  options.add("check-every", "1000", "cycles between two power-on + APDU checks and liveness checks");
  options.add("max-rss-growth-kib", "4096", "allowed RSS growth from after the setup to the end");
  options.add("max-heap-growth-bytes", "262144", "allowed growth of malloc's bytes in use over the same span");
  options.add("max-failures", "20", "a phase stops after this many problems");
  options.add("out", "soak-out", "folder for the guest's logs (libccid)");
  int exit_code = 0;
  if (!options.parse(argc, argv, exit_code)) return exit_code;

  try {
    const auto driver = options.text("driver");
    const auto insert_remove = options.number("insert-remove");
    const auto unplug_replug = options.number("unplug-replug");
    const auto check_every = options.number("check-every");
    const auto max_failures = std::max<std::uint64_t>(1, options.number("max-failures"));
    const auto max_rss_growth = static_cast<std::int64_t>(options.number("max-rss-growth-kib"));
    const auto max_heap_growth = static_cast<std::int64_t>(options.number("max-heap-growth-bytes"));

    // The driver under test, its rig and its port; only the ones of the chosen driver are made.
    std::unique_ptr<readerlab::linux_guest::GuestSession> guest;
    std::unique_ptr<boost::asio::io_context> host_io;
    std::unique_ptr<readerlab::scenarios::Rig> host_rig;
    std::unique_ptr<readerlab::windows_model::RdfPort> host_port;
    std::filesystem::path host_socket;
    readerlab::scenarios::Rig* rig = nullptr;
    readerlab::scenarios::DriverPort* port = nullptr;
    Patience patience = kHostPatience;
    std::function<std::string()> liveness;

    const auto setup_start = Clock::now();
    if (driver == "libccid") {
      readerlab::linux_guest::GuestSessionOptions guest_options;
      guest_options.out_dir = options.text("out");
      guest = std::make_unique<readerlab::linux_guest::GuestSession>(guest_options);
      if (const auto started = guest->start(); !started) {
        std::cerr << "bench_soak_churn: " << started.error().message() << "\n";
        return 1;
      }
      std::printf("guest: agent ready %.1f s after QEMU started (%s)\n",
                  static_cast<double>(guest->agent_ready_after().count()) / 1000.0, guest->used_kvm() ? "KVM" : "TCG");
      rig = &guest->rig();
      port = &guest->port();
      patience = kGuestPatience;
      liveness = [&session = *guest] { return pcscd_pid_and_rss(session).first; };
    } else if (driver == "reference-rdf" || driver == "reference-rdf-usbredir") {
      const auto* registered = readerlab::windows_model::find_rdf_driver("reference-rdf");
      if (!registered) throw std::runtime_error("the reference RDF driver is not registered in this build");
      host_io = std::make_unique<boost::asio::io_context>();
      host_rig = std::make_unique<readerlab::scenarios::Rig>(*host_io, nullptr);
      host_socket = std::filesystem::temp_directory_path() / ("readerlab-soak-" + std::to_string(::getpid()) + ".sock");
      readerlab::usbredir::SocketAddress address;
      address.is_unix = true;
      address.path = host_socket.string();
      host_rig->add_reader(address);
      host_port = std::make_unique<readerlab::windows_model::RdfPort>(
          *host_rig,
          driver == "reference-rdf" ? readerlab::windows_model::RdfTransport::in_process
                                    : readerlab::windows_model::RdfTransport::usbredir,
          *registered);
      host_port->begin_case();
      rig = host_rig.get();
      port = host_port.get();
      // The driver answers GET_STATE: the same port, so a dead or wedged driver shows as an error.
      liveness = [&host = *host_port] {
        const auto id = host.send({{"call", "State"}});
        const auto reply = host.wait(id, 30s);
        if (!reply || reply->value("rv", 1u) != 0) return std::string("the driver does not answer GET_STATE");
        return std::string("the driver answers GET_STATE");
      };
    } else {
      std::cerr << "bench_soak_churn: unknown --driver '" << driver << "'\n";
      return 2;
    }

    std::printf("soak: %s, %llu insert/remove cycles, %llu unplug/replug cycles, card %s\n", port->name().c_str(),
                static_cast<unsigned long long>(insert_remove), static_cast<unsigned long long>(unplug_replug), kCard);
    Churn churn(*rig, *port, patience, liveness, !guest);
    churn.start();
    std::printf("setup: %.1f s; reader '%s'; %s\n", soak::seconds_since(setup_start), churn.reader().c_str(),
                churn.alive_at_start().c_str());
    if (guest) std::printf("  pcscd %s at start\n", pcscd_pid_and_rss(*guest).second.c_str());
    const soak::MemorySample after_setup;

    const auto soak_start = Clock::now();
    bool completed = run_phase(
        churn, {"insert/remove", insert_remove, guest ? 100u : 1000u, [](Churn& c) { c.insert_remove_cycle(); }},
        check_every, max_failures);
    const soak::MemorySample after_insert_remove;
    completed =
        run_phase(churn,
                  {"unplug/replug", unplug_replug, guest ? 10u : 100u, [](Churn& c) { c.unplug_replug_cycle(); }},
                  std::max<std::uint64_t>(1, check_every / 10), max_failures) &&
        completed;
    const soak::MemorySample at_end;
    const double soak_seconds = soak::seconds_since(soak_start);

    const auto& tally = churn.tally();
    std::printf("\nresults (%s):\n", port->name().c_str());
    std::printf(
        "  card changes: %llu reported, %llu missed, %llu with a wrong event count (%llu counted a moment after "
        "the state was reported)\n",
        static_cast<unsigned long long>(tally.changes_reported), static_cast<unsigned long long>(tally.changes_missed),
        static_cast<unsigned long long>(tally.events_miscounted), static_cast<unsigned long long>(tally.counts_late));
    std::printf(
        "  readers: %llu unplugs reported gone (%llu missed), %llu replugs reported back (%llu missed)\n",
        static_cast<unsigned long long>(tally.readers_gone), static_cast<unsigned long long>(tally.unplugs_missed),
        static_cast<unsigned long long>(tally.readers_back), static_cast<unsigned long long>(tally.replugs_missed));
    if (!guest)
      std::printf("  card-tracking IRPs: completed and sent again for %llu changes, not for %llu\n",
                  static_cast<unsigned long long>(tally.tracking_rearmed),
                  static_cast<unsigned long long>(tally.tracking_missed));
    std::printf("  power-on + APDU and liveness checks: %llu passed, %llu failed; %s\n",
                static_cast<unsigned long long>(tally.checks_passed),
                static_cast<unsigned long long>(tally.checks_failed), churn.alive_at_start().c_str());
    if (guest) std::printf("  pcscd %s at the end\n", pcscd_pid_and_rss(*guest).second.c_str());
    std::printf("  time: setup %.1f s, cycles %.1f s\n",
                std::chrono::duration<double>(soak_start - setup_start).count(), soak_seconds);
    std::printf("  reported after: insertion %s; removal %s\n", tally.insertion.text().c_str(),
                tally.removal.text().c_str());
    std::printf("                  reader gone %s; reader back and empty %s\n", tally.reader_gone.text().c_str(),
                tally.reader_back.text().c_str());
    print_memory("at program start", at_start);
    print_memory("after the setup", after_setup);
    print_memory("after insert/remove", after_insert_remove);
    print_memory("at the end", at_end);
    const auto rss_growth = at_end.rss_kib - after_setup.rss_kib;
    const auto heap_growth = at_end.heap_bytes - after_setup.heap_bytes;
    const auto cycles = std::max<std::uint64_t>(1, insert_remove + unplug_replug);
    std::printf(
        "  growth from the setup to the end: RSS %+lld kB (bound %lld), heap %+lld bytes (bound %lld; %+.1f a cycle)\n",
        static_cast<long long>(rss_growth), static_cast<long long>(max_rss_growth), static_cast<long long>(heap_growth),
        static_cast<long long>(max_heap_growth), static_cast<double>(heap_growth) / static_cast<double>(cycles));

    bool passed = completed && tally.failures() == 0;
    if (!soak::kMemoryBoundsApply) std::printf("  (AddressSanitizer build: the memory bounds are not applied)\n");
    if (soak::kMemoryBoundsApply && rss_growth > max_rss_growth) {
      std::printf("FAIL: RSS grew by %lld kB, more than %lld kB\n", static_cast<long long>(rss_growth),
                  static_cast<long long>(max_rss_growth));
      passed = false;
    }
    if (soak::kMemoryBoundsApply && heap_growth > max_heap_growth) {
      std::printf("FAIL: the heap grew by %lld bytes, more than %lld\n", static_cast<long long>(heap_growth),
                  static_cast<long long>(max_heap_growth));
      passed = false;
    }
    if (tally.failures() != 0 || !completed)
      std::printf("FAIL: %llu problems (see above)\n", static_cast<unsigned long long>(tally.failures()));
    std::printf("%s\n", passed ? "PASS" : "FAIL");

    host_port.reset();
    if (!host_socket.empty()) {
      std::error_code ignored;
      std::filesystem::remove(host_socket, ignored);
    }
    return passed ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
}
