// What the soak programs share: their command-line options and the memory figures of this
// process. The soaks are plain programs rather than Google Benchmark ones: a soak is one long
// run whose figures (cycles, time, memory at start and end) are the result, not a loop to time.
#pragma once

#include <malloc.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace readerlab::soak {

// --name value options with defaults; --help prints them. Anything else is a usage error.
class Options {
 public:
  Options(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

  void add(const std::string& name, std::string default_value, std::string help) {
    values_[name] = std::move(default_value);
    order_.push_back({name, std::move(help)});
  }

  // false when the program should stop: --help was asked (exit_code 0) or the line was wrong (2).
  bool parse(int argc, char** argv, int& exit_code) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "-h" || arg == "--help") {
        usage(stdout);
        exit_code = 0;
        return false;
      }
      const auto known = arg.size() > 2 && arg.starts_with("--") ? values_.find(arg.substr(2)) : values_.end();
      if (known == values_.end() || i + 1 >= argc) {
        std::fprintf(stderr, "%s: unexpected argument '%s'\n", program_.c_str(), arg.c_str());
        usage(stderr);
        exit_code = 2;
        return false;
      }
      known->second = argv[++i];
    }
    return true;
  }

  const std::string& text(const std::string& name) const { return values_.at(name); }

  // Throws std::invalid_argument naming the option when its value is not a whole number >= 0.
  std::uint64_t number(const std::string& name) const {
    const auto& value = values_.at(name);
    std::size_t used = 0;
    unsigned long long parsed = 0;
    try {
      parsed = std::stoull(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != value.size() || value.starts_with("-"))
      throw std::invalid_argument("--" + name + " wants a whole number, not '" + value + "'");
    return parsed;
  }

 private:
  void usage(std::FILE* out) const {
    std::fprintf(out, "usage: %s [options]\n%s\n\noptions:\n", program_.c_str(), summary_.c_str());
    for (const auto& [name, help] : order_)
      std::fprintf(out, "  --%-26s %s (default: %s)\n", (name + " VALUE").c_str(), help.c_str(),
                   values_.at(name).empty() ? "none" : values_.at(name).c_str());
  }

  std::string program_, summary_;
  std::map<std::string, std::string> values_;
  std::vector<std::pair<std::string, std::string>> order_;
};

// Under AddressSanitizer freed memory waits in a quarantine of up to 256 MB and malloc's
// counters are ASan's, so RSS grows with churn whatever the code does: the soaks print the
// figures but hold them to no bound there (LeakSanitizer reports leaks at exit instead).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kMemoryBoundsApply = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kMemoryBoundsApply = false;
#else
inline constexpr bool kMemoryBoundsApply = true;
#endif
#else
inline constexpr bool kMemoryBoundsApply = true;
#endif

// The resident set of this process (VmRSS of /proc/self/status), in KiB; 0 when unreadable.
inline std::int64_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6));
  return 0;
}

// Bytes malloc has handed out and not had back. RSS moves in pages and glibc keeps freed
// memory for reuse, so a leak of a few hundred bytes per cycle shows here long before it
// shows in RSS.
inline std::int64_t heap_in_use_bytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return static_cast<std::int64_t>(info.uordblks + info.hblkhd);
}

struct MemorySample {
  std::int64_t rss_kib = resident_kib();
  std::int64_t heap_bytes = heap_in_use_bytes();
};

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace readerlab::soak
