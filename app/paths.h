// Where readerlab finds its own files.
#pragma once

#include <filesystem>

namespace readerlab::app {

// conformance/cases and conformance/expectations of the source tree this binary came from
// (READERLAB_HOME overrides the tree).
std::filesystem::path source_dir();
std::filesystem::path cases_dir();
std::filesystem::path expectations_dir();

}  // namespace readerlab::app
