// The case loader: any text as a conformance case file (the "-- @key: value" metadata header
// of conformance/suite) and as an expectations file, then run as a case's chunk in the
// scenarios sandbox with a small time budget (without the lab API: the sandbox itself is
// what a hostile case meets first).
#include "conformance/suite.h"
#include "fuzz/fuzz_input.h"
#include "scenarios/lua_sandbox.h"

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

using namespace readerlab;

namespace {

// One folder per fuzzing process: the loaders read files.
const std::filesystem::path& case_root() {
  static const std::filesystem::path root = [] {
    auto path = std::filesystem::temp_directory_path() / ("readerlab-fuzz-cases-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path / "fuzz");
    return path;
  }();
  return root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  const auto file = case_root() / "fuzz" / "case.lua";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(source.data(), static_cast<std::streamsize>(source.size()));
  }
  const auto info = conformance::read_case_info(case_root(), file);
  READERLAB_FUZZ_CHECK(info.id == "fuzz/case");
  READERLAB_FUZZ_CHECK(!info.title.empty() || !info.metadata_error.empty());
  (void)info.applies_to("libccid");
  (void)conformance::load_expectations(file);

  scenarios::LuaSandbox sandbox;
  (void)sandbox.run(source, "fuzz/case.lua", std::chrono::milliseconds(20));
  return 0;
}
