// Hex text for tests, on top of the one bytes module: a malformed literal in a test is a bug in
// the test, so it stops the test instead of reading as fewer bytes.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace readerlab::test {

inline Bytes hex(std::string_view text) {
  auto bytes = read_hex(text);
  if (!bytes) throw std::invalid_argument("bad hex literal in a test: " + bytes.error().message());
  return std::move(bytes).value();
}

inline std::string to_hex(ByteView bytes) { return readerlab::to_hex(bytes, " "); }

}  // namespace readerlab::test
