// The malformed-input catalogue's common ground: bytes written as text in the tables, and
// the well-behaved neighbour that must still answer after each hostile input.
#pragma once

#include "cards/profiles.h"
#include "cards/t1/block.h"
#include "emulator/ccid/reader.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace readerlab::hostile {

using Bytes = std::vector<std::uint8_t>;
using readerlab::test::to_hex;

// Hex pairs as readerlab::test::hex reads them, where "XX*N" stands for N copies of the
// byte XX, so a table row can hold a 300-byte message: "6F 2C010000 00 01 000000 00*300",
// and "LRC" / "CRC" append the T=1 error detection code of the bytes before them (ISO 7816-3
// 11.4.4), so a block that must be valid reads as one: "00 00 02 90 00 LRC".
inline Bytes bytes_of(std::string_view text) {
  Bytes out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = text.find(' ', i);
    const std::string_view word = text.substr(i, end == std::string_view::npos ? text.size() - i : end - i);
    i = end == std::string_view::npos ? text.size() : end + 1;
    if (word.empty()) continue;
    if (word == "LRC") {
      out.push_back(cards::t1::lrc(out));
      continue;
    }
    if (word == "CRC") {
      const std::uint16_t crc = cards::t1::crc16(out);
      out.push_back(static_cast<std::uint8_t>(crc & 0xFF));  // low-order byte first, ISO 7816-3 11.4.4
      out.push_back(static_cast<std::uint8_t>(crc >> 8));
      continue;
    }
    if (const std::size_t star = word.find('*'); star != std::string_view::npos) {
      const Bytes unit = readerlab::test::hex(word.substr(0, star));
      const std::size_t count = std::stoul(std::string(word.substr(star + 1)));
      for (std::size_t n = 0; n < count; ++n) out.insert(out.end(), unit.begin(), unit.end());
    } else {
      const Bytes part = readerlab::test::hex(word);
      out.insert(out.end(), part.begin(), part.end());
    }
  }
  return out;
}

// The rows of each table of the catalogue (catalogue_count_test.cpp adds them up).
std::size_t usbredir_catalogue_size();
std::size_t ccid_catalogue_size();
std::size_t ccid_extended_catalogue_size();
std::size_t t1_catalogue_size();
std::size_t atr_catalogue_size();
std::size_t apdu_catalogue_size();
std::size_t lua_catalogue_size();
std::size_t agent_catalogue_size();

// SELECT of the readerlab application every file-system card carries (answers FCI + 9000).
inline Bytes select_application() { return ccid::test::select_readerlab_application(); }

// A reader slot that still does what a driver expects: IccPowerOn gives the card's ATR with
// bStatus 00, and a SELECT through XfrBlock ends in 90 00 (CCID 6.1.1, 6.1.4, 6.2.1).
inline void check_slot_serves(ccid::Reader& reader, std::uint8_t slot, std::string_view card, std::uint8_t seq) {
  using namespace ccid::test;
  INFO("the well-behaved slot ", int(slot), " holding ", std::string(card));
  const Bytes atr = reader.handle_message(command(ccid::Command::icc_power_on, seq, {}, slot));
  REQUIRE(atr.size() >= ccid::kHeaderSize);
  CHECK(type_of(atr) == type(ccid::Response::data_block));
  CHECK(seq_of(atr) == seq);
  CHECK(status_of(atr) == kActiveOk);
  CHECK(data_of(atr) == *cards::builtin_atr(card));
  const auto next = static_cast<std::uint8_t>(seq + 1);
  const Bytes answer = reader.handle_message(command(ccid::Command::xfr_block, next, select_application(), slot));
  REQUIRE(answer.size() >= ccid::kHeaderSize + 2);
  CHECK(seq_of(answer) == next);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(to_hex(data_of(answer)).ends_with("90 00"));
}

}  // namespace readerlab::hostile
