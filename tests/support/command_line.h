// Reading a QEMU command line (argv) in tests.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace readerlab::test {

// The value following `flag` for every occurrence of it.
inline std::vector<std::string> values_of(const std::vector<std::string>& argv, const std::string& flag) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag) out.push_back(argv[i + 1]);
  return out;
}

}  // namespace readerlab::test
