#include <doctest/doctest.h>

#include "base/bytes.h"

using readerlab::Bytes;

TEST_CASE("hex text with blanks between bytes reads both cases of digits") {
  CHECK(readerlab::parse_hex("3B 02 14 50") == Bytes{0x3B, 0x02, 0x14, 0x50});
  CHECK(readerlab::parse_hex("3b0214\t50\n") == Bytes{0x3B, 0x02, 0x14, 0x50});
  CHECK(readerlab::parse_hex("") == Bytes{});
}

TEST_CASE("hex text that is not pairs of digits is refused with the column") {
  CHECK_FALSE(readerlab::parse_hex("3 B"));
  CHECK_FALSE(readerlab::parse_hex("3B0"));
  CHECK_FALSE(readerlab::parse_hex("3G"));
  const auto split = readerlab::read_hex("3B 0 2");
  REQUIRE_FALSE(split);
  CHECK(split.error().message() == "column 5: a blank splits a byte (hex digits come in pairs)");
  const auto letter = readerlab::read_hex("3BX0");
  REQUIRE_FALSE(letter);
  CHECK(letter.error().message() == "column 3: 'X' is not a hex digit");
  const auto odd = readerlab::read_hex("3B0");
  REQUIRE_FALSE(odd);
  CHECK(odd.error().what == "odd number of hex digits");
}

TEST_CASE("bytes print as upper-case pairs with an optional separator") {
  const Bytes bytes{0x3B, 0x0a, 0xFF};
  CHECK(readerlab::to_hex(bytes) == "3B0AFF");
  CHECK(readerlab::to_hex(bytes, " ") == "3B 0A FF");
  CHECK(readerlab::to_hex(bytes, {}, readerlab::HexCase::lower) == "3b0aff");
  CHECK(readerlab::to_hex(Bytes{}, " ").empty());
  CHECK(readerlab::hex_byte(0x0F) == "0F");
  CHECK(readerlab::hex_word(0x3F00) == "3F00");
  CHECK(readerlab::parse_hex(readerlab::to_hex(bytes, " ")) == bytes);
}
