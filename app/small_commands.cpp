// The small tools: atr, cards, cases.
#include "app/commands.h"
#include "app/paths.h"

#include "cards/atr/atr.h"
#include "cards/profiles.h"
#include "conformance/suite.h"

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

}  // namespace readerlab::app
