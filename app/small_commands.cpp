// The small tools: atr, cards, cases, readers.
#include "app/commands.h"
#include "app/paths.h"

#include "cards/atr/atr.h"
#include "cards/profiles.h"
#include "conformance/suite.h"
#include "scenarios/reader_profiles.h"

#include <iomanip>
#include <iostream>

namespace readerlab::app {

int atr_command(const Bytes& atr) {
  std::cout << cards::describe_atr_bytes(atr);
  return cards::parse_atr(atr).atr ? 0 : 1;
}

int cards_command() {
  for (const auto& profile : cards::builtin_profiles()) {
    std::cout << std::left << std::setw(14) << profile.name << profile.description << "\n";
    if (auto atr = cards::builtin_atr(profile.name)) {
      std::cout << std::setw(14) << ""
                << "ATR " << to_hex(*atr, " ") << " \n";
    }
  }
  return 0;
}

int cases_command() {
  for (const auto& info : conformance::discover_cases(cases_dir())) {
    std::cout << info.id << "\n  " << info.title << "\n";
    if (!info.covers.empty()) {
      std::cout << "  covers:";
      for (const auto& item : info.covers) std::cout << " " << item;
      std::cout << "\n";
    }
    if (!info.spec.empty()) std::cout << "  spec: " << info.spec << "\n";
    if (!info.metadata_error.empty()) std::cout << "  error: " << info.metadata_error << "\n";
  }
  return 0;
}

int readers_command() {
  const auto pin_text = [](std::uint8_t pin) {
    std::string text = (pin & 0x01) ? "verify" : "";  // CCID 5.1 bPINSupport bit 0
    if (pin & 0x02) text += text.empty() ? "modify" : ",modify";
    return text.empty() ? std::string("-") : text;
  };
  std::cout << std::left << std::setw(18) << "NAME" << std::setw(11) << "VID:PID" << std::setw(15) << "LEVEL"
            << std::setw(6) << "SLOTS" << std::setw(15) << "PIN"
            << "TITLE\n";
  bool marks = false;
  for (const auto& profile : scenarios::bundled_reader_profiles()) {
    const auto& c = profile.config;
    char ids[16];
    std::snprintf(ids, sizeof ids, "%04X:%04X", c.vendor_id, c.product_id);
    std::string mark = profile.malformed ? "!" : "";
    if (!profile.libccid_listed) mark += "*";
    if (profile.representative) mark += "+";
    marks = marks || !mark.empty();
    std::cout << std::setw(18) << profile.name << std::setw(11) << ids << std::setw(15)
              << ccid::to_string(c.exchange_level()) << std::setw(6) << static_cast<int>(c.slot_count) << std::setw(15)
              << pin_text(c.pin_support) << profile.title << (mark.empty() ? "" : " " + mark) << "\n";
  }
  if (marks)
    std::cout << "! malformed on purpose (its descriptor breaks CCID 5.1)   * not in Debian libccid 1.5.2's "
                 "Info.plist\n+ in the representative handful (readerlab run --reader representative: ./run.sh, CI)\n";
  const auto failures = scenarios::check_bundled_reader_profiles();
  for (const auto& failure : failures) std::cerr << "readerlab readers: " << failure.message() << "\n";
  return failures.empty() ? 0 : 1;
}

}  // namespace readerlab::app
