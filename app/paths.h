// Where readerlab finds its own files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::app {

// conformance/cases and conformance/expectations of the source tree this binary came from
// (READERLAB_HOME overrides the tree).
std::filesystem::path source_dir();
std::filesystem::path cases_dir();
std::filesystem::path expectations_dir();

std::optional<std::vector<std::uint8_t>> parse_hex(const std::string& text);

}  // namespace readerlab::app
