#include "fuzz/fuzz_input.h"

#include <cstdio>
#include <cstdlib>

namespace readerlab::fuzz {

void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
  std::abort();
}

}  // namespace readerlab::fuzz
