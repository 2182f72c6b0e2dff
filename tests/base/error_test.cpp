#include <doctest/doctest.h>

#include <string>

#include "base/error.h"

namespace {

readerlab::Expected<int> port_of(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 5)
    return readerlab::error("--listen", "port '" + text + "' is not a number");
  return std::stoi(text);
}

}  // namespace

TEST_CASE("an Expected holds a value or an error that says where and what") {
  const auto good = port_of("35950");
  REQUIRE(good);
  CHECK(*good == 35950);
  CHECK(good.value_or(0) == 35950);

  const auto bad = port_of("http");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().where == "--listen");
  CHECK(bad.error().message() == "--listen: port 'http' is not a number");
  CHECK(bad.value_or(7) == 7);
}

TEST_CASE("an error seen from an enclosing place keeps the inner place") {
  const readerlab::Error inner{"line 3", "unknown card"};
  CHECK(inner.within("cards.lua").message() == "cards.lua: line 3: unknown card");
  CHECK(readerlab::Error{"", "no guest"}.within("run").message() == "run: no guest");
  CHECK(readerlab::Error{"", "no guest"}.message() == "no guest");
}

TEST_CASE("a Status is success or an error") {
  const readerlab::Status ok;
  CHECK(ok);
  const readerlab::Status failed = readerlab::error("qemu", "exited with status 1");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message() == "qemu: exited with status 1");
}
