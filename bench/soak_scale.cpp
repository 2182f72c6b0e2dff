// Scale soak: many simultaneous usbredir connections to one readerlab::usbredir::Server, each
// getting a reader of its own (of --slots slots, a card in each), each doing power-on + an APDU
// on every slot while all of them are open; then all are closed; for several rounds. It prints
// the memory one reader costs (RSS and heap while all are open, less before, over the
// connection count) and what stays per closed connection (after closing all, compared with
// after the first round's close: the first round also pays for what the process keeps once,
// e.g. malloc's arenas at their high-water mark).
//
// The peers (readerlab's usbredir client, the role QEMU plays) run in a child process, so the
// figures are those of the server process alone, as `readerlab serve` would have them.
#include "bench/soak_support.h"
#include "cards/profiles.h"
#include "emulator/ccid/messages.h"
#include "emulator/ccid/reader.h"
#include "emulator/usbredir/client.h"
#include "emulator/usbredir/server.h"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;
namespace soak = readerlab::soak;
namespace usbredir = readerlab::usbredir;
namespace ccid = readerlab::ccid;

constexpr const char* kCard = "t1-fs";
constexpr auto kTransferTimeout = 10s;
// SELECT by DF name of the readerlab application every file-system card carries (ISO 7816-4 11.2.2).
const Bytes kSelectApplication = {0x00, 0xA4, 0x04, 0x00, 0x0B, 0xF0, 0x72, 0x65, 0x61,
                                  0x64, 0x65, 0x72, 0x6C, 0x61, 0x62, 0x01, 0x00};

// Each process needs a descriptor per connection, plus its own few.
void allow_descriptors(std::uint64_t connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(connections) + 64;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

bool write_line(int fd, const std::string& line) {
  const std::string text = line + "\n";
  std::size_t written = 0;
  while (written < text.size()) {
    const auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}

// ---- The peers (child process) ----

Bytes ccid_command(ccid::Command type, std::uint8_t slot, std::uint8_t seq, Bytes data = {}) {
  ccid::Message message;
  message.type = static_cast<std::uint8_t>(type);
  message.slot = slot;
  message.seq = seq;
  message.data = std::move(data);
  return ccid::encode(message);
}

// PC_to_RDR out, RDR_to_PC in; the answer, or empty when a transfer failed.
Bytes ccid_exchange(usbredir::Client& client, const Bytes& message) {
  const auto out = client.bulk_out(ccid::kBulkOut, message, kTransferTimeout);
  if (!out || *out != readerlab::usb::TransferStatus::ok) return {};
  const auto in = client.bulk_in(ccid::kBulkIn, 271, kTransferTimeout);
  if (!in || in->status != readerlab::usb::TransferStatus::ok) return {};
  return in->data;
}

// Empty when the reader powered the card of every slot and each answered the SELECT with 9000,
// else what went wrong.
std::string power_on_and_apdu(usbredir::Client& client, const Bytes& expected_atr, std::uint8_t slots) {
  if (!client.wait_for_device(kTransferTimeout)) return "no device_connect";
  if (!client.set_configuration(1, kTransferTimeout)) return "SET_CONFIGURATION failed";
  std::uint8_t seq = 0;
  for (std::uint8_t slot = 0; slot < slots; ++slot) {
    const auto where = " (slot " + std::to_string(slot) + ")";
    const auto atr = ccid_exchange(client, ccid_command(ccid::Command::icc_power_on, slot, seq++));
    if (atr.size() < ccid::kHeaderSize || atr[7] != 0x00 ||
        Bytes(atr.begin() + ccid::kHeaderSize, atr.end()) != expected_atr)
      return "power-on did not give the card's ATR" + where;
    const auto answer = ccid_exchange(client, ccid_command(ccid::Command::xfr_block, slot, seq++, kSelectApplication));
    if (answer.size() < ccid::kHeaderSize + 2 || answer[7] != 0x00 || answer[answer.size() - 2] != 0x90 ||
        answer.back() != 0x00)
      return "SELECT did not answer 9000" + where;
  }
  return {};
}

// Reads "open ADDRESS COUNT SLOTS" and "close" lines from the server process and answers
// "ready OK FAILED [first problem]" and "closed".
int run_peers(int commands_fd, int answers_fd) {
  std::FILE* commands = ::fdopen(commands_fd, "r");
  if (!commands) return 1;
  boost::asio::io_context io;
  std::vector<std::shared_ptr<usbredir::Client>> clients;
  const auto expected_atr = readerlab::cards::builtin_atr(kCard).value_or(Bytes{});
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, commands)) {
    std::istringstream line(buffer);
    std::string verb;
    line >> verb;
    if (verb == "open") {
      std::string address_text;
      std::size_t count = 0;
      unsigned slots = 1;
      line >> address_text >> count >> slots;
      const auto address = usbredir::parse_socket_address(address_text);
      std::size_t ok = 0, failed = 0;
      std::string first_problem;
      // All connected first, so that every exchange happens with all of them open.
      for (std::size_t i = 0; address && i < count; ++i) {
        try {
          clients.push_back(usbredir::Client::connect(io, *address, nullptr));
        } catch (const std::exception& e) {
          ++failed;
          if (first_problem.empty()) first_problem = e.what();
        }
      }
      for (auto& client : clients) {
        const auto problem = power_on_and_apdu(*client, expected_atr, static_cast<std::uint8_t>(slots));
        if (problem.empty()) {
          ++ok;
        } else {
          ++failed;
          if (first_problem.empty()) first_problem = problem;
        }
      }
      if (!write_line(answers_fd, "ready " + std::to_string(ok) + " " + std::to_string(failed) + " " + first_problem))
        return 1;
    } else if (verb == "close") {
      for (auto& client : clients) client->close("the round is over");
      clients.clear();
      // Let the closes complete their handlers before saying so.
      for (int round = 0; round < 100 && io.poll() > 0; ++round) {
      }
      if (!write_line(answers_fd, "closed")) return 1;
    } else {
      break;
    }
  }
  return 0;
}

// ---- The server (this process) ----

class PeerLink {
 public:
  PeerLink(boost::asio::io_context& io, int answers_fd, int commands_fd)
      : io_(io), answers_(io, answers_fd), commands_fd_(commands_fd) {}

  bool send(const std::string& line) { return write_line(commands_fd_, line); }

  // Runs the server's loop until the peers answer a line (and `also` holds); nullopt on timeout.
  std::optional<std::string> answer(
      std::chrono::milliseconds timeout, const std::function<bool()>& also = [] { return true; }) {
    bool done = false, failed = false;
    std::string line;
    boost::asio::async_read_until(answers_, buffer_, '\n', [&](boost::system::error_code ec, std::size_t) {
      done = true;
      failed = static_cast<bool>(ec);
      if (!ec) {
        std::istream in(&buffer_);
        std::getline(in, line);
      }
    });
    const bool arrived = usbredir::run_until(
        io_, [&] { return done && also(); }, timeout);
    if (!done) {
      answers_.cancel();
      usbredir::run_until(
          io_, [&] { return done; }, 1s);
    }
    if (!arrived || failed) return std::nullopt;
    return line;
  }

 private:
  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor answers_;
  boost::asio::streambuf buffer_;
  int commands_fd_;
};

std::string kib(std::int64_t value) { return std::to_string(value) + " kB"; }

struct Round {
  soak::MemorySample before, open, closed;
  std::int64_t trimmed_rss_kib = 0;  // after the close, once malloc gave free memory back
  std::size_t sessions_open = 0, readers_made = 0, answered = 0, failed = 0;
  double open_seconds = 0, close_seconds = 0;
  std::string problem;
};

}  // namespace

int main(int argc, char** argv) {
  const soak::MemorySample at_start;
  soak::Options options("bench_soak_scale",
                        "Simultaneous usbredir connections to one server, each doing power-on + an APDU, for several\n"
                        "rounds of open-all / close-all; prints memory per reader and per closed connection.");
  options.add("connections", "256", "connections open at once");
  options.add("slots", "1", "slots of each reader (1..8), a card in each, powered and sent an APDU");
  options.add("rounds", "8", "rounds of open-all / close-all (the first one is the warm-up)");
  options.add("transport", "unix", "unix or tcp (loopback)");
  options.add("max-heap-per-closed-connection", "16",
              "bytes the heap may keep for each connection closed after the first round");
  options.add("max-rss-growth-kib", "1024",
              "RSS growth (after malloc_trim) allowed from the first round's close to the last one's");
  options.add("max-heap-per-reader", "262144", "heap bytes one open reader may cost for each of its slots");
  int exit_code = 0;
  if (!options.parse(argc, argv, exit_code)) return exit_code;

  std::uint64_t connections = 0, slots = 1, rounds = 0, max_heap_per_closed = 0, max_rss_growth = 0,
                max_heap_per_reader = 0;
  try {
    connections = options.number("connections");
    slots = options.number("slots");
    // CCID 5.1: bMaxSlotIndex is 0..7.
    if (slots < 1 || slots > 8) throw std::runtime_error("--slots is 1 to 8");
    rounds = std::max<std::uint64_t>(1, options.number("rounds"));
    max_heap_per_closed = options.number("max-heap-per-closed-connection");
    max_rss_growth = options.number("max-rss-growth-kib");
    max_heap_per_reader = options.number("max-heap-per-reader");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_soak_scale: %s\n", e.what());
    return 2;
  }
  const auto transport = options.text("transport");
  if (transport != "unix" && transport != "tcp") {
    std::fprintf(stderr, "bench_soak_scale: --transport is unix or tcp\n");
    return 2;
  }
  allow_descriptors(connections);

  // The peers are forked before anything (io_context, sockets) exists that the child would share.
  int commands[2], answers[2];
  if (::pipe(commands) != 0 || ::pipe(answers) != 0) {
    std::perror("pipe");
    return 1;
  }
  std::fflush(stdout);
  const pid_t peers = ::fork();
  if (peers < 0) {
    std::perror("fork");
    return 1;
  }
  if (peers == 0) {
    ::close(commands[1]);
    ::close(answers[0]);
    ::_exit(run_peers(commands[0], answers[1]));
  }
  ::close(commands[0]);
  ::close(answers[1]);

  bool passed = true;
  std::vector<Round> results;
  std::size_t readers_made = 0;
  double reader_alone_heap = 0;
  usbredir::SocketAddress address;
  {
    boost::asio::io_context io;
    // What the server logged, counted by line with the socket's address taken out: a refusal
    // or a cap on connections shows here without printing a line per connection.
    std::map<std::string, std::size_t> server_log;
    std::string logged_address;
    usbredir::Server server(io, [&server_log, &logged_address](const std::string& line) {
      auto text = line;
      if (const auto at = logged_address.empty() ? std::string::npos : text.find(logged_address);
          at != std::string::npos)
        text.replace(at, logged_address.size(), "ADDRESS");
      if (server_log.size() < 50 || server_log.count(text)) ++server_log[text];
    });
    usbredir::SocketAddress wanted;
    if (transport == "unix") {
      wanted.is_unix = true;
      wanted.path =
          (std::filesystem::temp_directory_path() / ("readerlab-scale-" + std::to_string(::getpid()) + ".sock"))
              .string();
    } else {
      wanted.host = "127.0.0.1";
    }
    // Every connection gets a reader of its own with a card in it, as `readerlab serve` gives.
    ccid::ReaderConfig config;
    config.slot_count = static_cast<std::uint8_t>(slots);
    config.max_busy_slots = config.slot_count;
    const auto make_reader = [&config] {
      auto reader = std::make_shared<ccid::Reader>(config);
      for (std::uint8_t slot = 0; slot < config.slot_count; ++slot)
        reader->insert(readerlab::cards::make_builtin_card(kCard), slot);
      return reader;
    };
    // What the reader and its card cost without a connection, to tell them from the session's share.
    {
      const soak::MemorySample before;
      std::vector<std::shared_ptr<ccid::Reader>> alone;
      for (std::uint64_t i = 0; i < connections; ++i) alone.push_back(make_reader());
      reader_alone_heap = static_cast<double>(soak::heap_in_use_bytes() - before.heap_bytes) /
                          static_cast<double>(std::max<std::uint64_t>(1, connections));
    }
    // Round 1 starts from what the process holds, not from what these readers left free.
    ::malloc_trim(0);
    address = server.listen(wanted, [&readers_made, &make_reader] {
      ++readers_made;
      return make_reader();
    });
    PeerLink link(io, answers[0], commands[1]);
    const std::string address_text = address.to_string();
    logged_address = address_text;

    std::printf(
        "soak: %llu simultaneous usbredir connections over %s, %llu rounds, a reader of %llu slot(s) on each, power-on "
        "+ "
        "SELECT on every slot\n",
        static_cast<unsigned long long>(connections), transport.c_str(), static_cast<unsigned long long>(rounds),
        static_cast<unsigned long long>(slots));
    for (std::uint64_t round = 1; round <= rounds; ++round) {
      Round r;
      r.before = soak::MemorySample{};
      const auto made_before = readers_made;
      auto start = Clock::now();
      link.send("open " + address_text + " " + std::to_string(connections) + " " + std::to_string(slots));
      const auto ready = link.answer(std::chrono::seconds(60 + connections / 4));
      r.open = soak::MemorySample{};
      r.open_seconds = soak::seconds_since(start);
      r.sessions_open = server.session_count();
      r.readers_made = readers_made - made_before;
      if (!ready) {
        r.problem = "the peers did not report back";
      } else {
        std::istringstream words(*ready);
        std::string verb;
        words >> verb >> r.answered >> r.failed;
        std::getline(words >> std::ws, r.problem);
      }
      start = Clock::now();
      link.send("close");
      const auto closed = link.answer(60s, [&server] { return server.session_count() == 0; });
      // What is ready (the closes' last handlers) runs before the memory is read.
      for (int idle = 0; idle < 100 && io.poll() > 0; ++idle) {
      }
      r.closed = soak::MemorySample{};
      r.close_seconds = soak::seconds_since(start);
      // glibc keeps freed memory for reuse, so RSS stays at its high-water mark after a close;
      // what malloc_trim gives back shows that memory was free, not held, and lets the next
      // round's per-reader figure start from a low RSS again.
      ::malloc_trim(0);
      r.trimmed_rss_kib = soak::resident_kib();
      if (!closed && r.problem.empty()) r.problem = "the connections did not all close";

      const double per_reader_rss = static_cast<double>(r.open.rss_kib - r.before.rss_kib) * 1024.0 /
                                    static_cast<double>(std::max<std::uint64_t>(1, connections));
      const double per_reader_heap = static_cast<double>(r.open.heap_bytes - r.before.heap_bytes) /
                                     static_cast<double>(std::max<std::uint64_t>(1, connections));
      std::printf(
          "round %llu: %zu of %llu answered (%zu failed), %zu sessions open, %zu readers made; open + APDU %.2f s, "
          "close %.2f s\n",
          static_cast<unsigned long long>(round), r.answered, static_cast<unsigned long long>(connections), r.failed,
          r.sessions_open, r.readers_made, r.open_seconds, r.close_seconds);
      std::printf(
          "  RSS before %s, all open %s, all closed %s (%s after malloc_trim); per reader %.0f bytes RSS, "
          "%.0f bytes heap\n",
          kib(r.before.rss_kib).c_str(), kib(r.open.rss_kib).c_str(), kib(r.closed.rss_kib).c_str(),
          kib(r.trimmed_rss_kib).c_str(), per_reader_rss, per_reader_heap);
      std::printf("  heap in use before %lld, all open %lld, all closed %lld bytes\n",
                  static_cast<long long>(r.before.heap_bytes), static_cast<long long>(r.open.heap_bytes),
                  static_cast<long long>(r.closed.heap_bytes));
      if (!r.problem.empty()) std::printf("  problem: %s\n", r.problem.c_str());
      std::fflush(stdout);
      if (r.answered != connections || r.failed != 0 || r.sessions_open != connections || !closed) {
        std::printf("FAIL: round %llu: not every connection was served and closed\n",
                    static_cast<unsigned long long>(round));
        passed = false;
      }
      if (soak::kMemoryBoundsApply && per_reader_heap > static_cast<double>(max_heap_per_reader * slots)) {
        std::printf("FAIL: a reader cost %.0f heap bytes, more than %llu\n", per_reader_heap,
                    static_cast<unsigned long long>(max_heap_per_reader * slots));
        passed = false;
      }
      results.push_back(r);
      if (!passed) break;
    }
    link.send("quit");
    std::printf("server log (lines, counted):\n");
    for (const auto& [line, count] : server_log) std::printf("  %6zu x %s\n", count, line.c_str());
  }
  ::close(commands[1]);
  int status = 0;
  ::waitpid(peers, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::printf("FAIL: the peers' process ended with status %d\n", status);
    passed = false;
  }

  std::printf("\nresults:\n");
  std::printf("  readerlab memory at program start: RSS %s, heap %lld bytes\n", kib(at_start.rss_kib).c_str(),
              static_cast<long long>(at_start.heap_bytes));
  if (!results.empty()) {
    const auto& first = results.front();
    const auto& last = results.back();
    const double n = static_cast<double>(std::max<std::uint64_t>(1, connections));
    std::printf("  memory per reader (all %llu open, round 1): RSS %.0f bytes, heap %.0f bytes\n",
                static_cast<unsigned long long>(connections),
                static_cast<double>(first.open.rss_kib - first.before.rss_kib) * 1024.0 / n,
                static_cast<double>(first.open.heap_bytes - first.before.heap_bytes) / n);
    std::printf(
        "  of which a reader with its card(s), without a connection: heap %.0f bytes; the usbredir session the rest\n",
        reader_alone_heap);
    if (slots > 1)
      std::printf(
          "  per slot with its card (%llu slots a reader): RSS %.0f bytes, heap %.0f bytes\n",
          static_cast<unsigned long long>(slots),
          static_cast<double>(first.open.rss_kib - first.before.rss_kib) * 1024.0 / n / static_cast<double>(slots),
          static_cast<double>(first.open.heap_bytes - first.before.heap_bytes) / n / static_cast<double>(slots));
    std::printf(
        "  after round 1's close (the warm-up, against before it): RSS %+lld kB (%+lld kB after malloc_trim), heap "
        "%+lld bytes (%.1f a connection)\n",
        static_cast<long long>(first.closed.rss_kib - first.before.rss_kib),
        static_cast<long long>(first.trimmed_rss_kib - first.before.rss_kib),
        static_cast<long long>(first.closed.heap_bytes - first.before.heap_bytes),
        static_cast<double>(first.closed.heap_bytes - first.before.heap_bytes) / n);
    if (results.size() > 1) {
      const double closed_since = n * static_cast<double>(results.size() - 1);
      // RSS once malloc_trim gave free memory back: without it, RSS is malloc's high-water mark.
      const auto rss_growth = last.trimmed_rss_kib - first.trimmed_rss_kib;
      const auto heap_growth = last.closed.heap_bytes - first.closed.heap_bytes;
      std::printf(
          "  memory per closed connection (rounds 2-%zu, %.0f connections, against round 1's close): "
          "RSS %.1f bytes (after malloc_trim), heap %.1f bytes\n",
          results.size(), closed_since, static_cast<double>(rss_growth) * 1024.0 / closed_since,
          static_cast<double>(heap_growth) / closed_since);
      std::printf("  all closed after each round: RSS");
      for (const auto& r : results) std::printf(" %lld", static_cast<long long>(r.closed.rss_kib));
      std::printf(" kB (after malloc_trim");
      for (const auto& r : results) std::printf(" %lld", static_cast<long long>(r.trimmed_rss_kib));
      std::printf(" kB); heap");
      for (const auto& r : results) std::printf(" %lld", static_cast<long long>(r.closed.heap_bytes));
      std::printf(" bytes\n");
      if (soak::kMemoryBoundsApply &&
          static_cast<double>(heap_growth) / closed_since > static_cast<double>(max_heap_per_closed)) {
        std::printf("FAIL: the heap kept %.1f bytes per closed connection, more than %llu\n",
                    static_cast<double>(heap_growth) / closed_since,
                    static_cast<unsigned long long>(max_heap_per_closed));
        passed = false;
      }
      if (soak::kMemoryBoundsApply && rss_growth > static_cast<std::int64_t>(max_rss_growth)) {
        std::printf("FAIL: RSS grew by %lld kB after round 1, more than %llu kB\n", static_cast<long long>(rss_growth),
                    static_cast<unsigned long long>(max_rss_growth));
        passed = false;
      }
    }
  }
  if (address.is_unix) {
    std::error_code ignored;
    std::filesystem::remove(address.path, ignored);
  }
  if (!soak::kMemoryBoundsApply) std::printf("  (AddressSanitizer build: the memory bounds are not applied)\n");
  std::printf("%s\n", passed ? "PASS" : "FAIL");
  return passed ? 0 : 1;
}
