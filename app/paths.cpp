#include "app/paths.h"

#include <cstdlib>

namespace readerlab::app {

std::filesystem::path source_dir() {
  if (const char* home = std::getenv("READERLAB_HOME"); home && *home) return home;
  return READERLAB_SOURCE_DIR;
}

std::filesystem::path cases_dir() { return source_dir() / "conformance" / "cases"; }
std::filesystem::path expectations_dir() { return source_dir() / "conformance" / "expectations"; }

}  // namespace readerlab::app
