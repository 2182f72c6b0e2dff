// The small tools: atr, cards, cases.
#include "app/commands.h"
#include "app/paths.h"

#include "cards/atr/atr.h"
#include "cards/profiles.h"
#include "conformance/suite.h"

#include <iomanip>
#include <iostream>

namespace readerlab::app {

std::optional<std::vector<std::uint8_t>> parse_hex(const std::string& text) {
  std::vector<std::uint8_t> bytes;
  std::string digits;
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits += c;
    else if (c != ' ' && c != ':' && c != '-') return std::nullopt;
  }
  if (digits.size() % 2 != 0) return std::nullopt;
  for (std::size_t i = 0; i < digits.size(); i += 2)
    bytes.push_back(static_cast<std::uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return bytes;
}

int atr_command(const std::vector<std::string>& args) {
  std::string text;
  for (const auto& arg : args) text += arg;
  const auto bytes = parse_hex(text);
  if (args.empty() || !bytes) {
    std::cerr << "usage: readerlab atr HEX   (e.g. readerlab atr 3B 02 14 50)\n";
    return 2;
  }
  std::cout << cards::describe_atr_bytes(*bytes);
  return cards::parse_atr(*bytes).atr ? 0 : 1;
}

int cards_command(const std::vector<std::string>&) {
  for (const auto& profile : cards::builtin_profiles()) {
    std::cout << std::left << std::setw(14) << profile.name << profile.description << "\n";
    if (auto atr = cards::builtin_atr(profile.name)) {
      std::cout << std::setw(14) << "" << "ATR ";
      for (auto b : *atr) std::cout << std::right << std::hex << std::uppercase << std::setw(2) << std::setfill('0') << int(b) << ' ';
      std::cout << std::dec << std::setfill(' ') << std::left << "\n";
    }
  }
  return 0;
}

int cases_command(const std::vector<std::string>&) {
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
