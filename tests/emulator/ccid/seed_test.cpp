// The run's seed reaches the reader: the garbage a card asks to answer over T=1 comes from
// ReaderConfig::seed, the same bytes for the same seed and others for another.
#include "ccid_support.h"

#include "cards/profiles.h"
#include "cards/t1/block.h"
#include "emulator/ccid/reader.h"

#include <doctest/doctest.h>

using namespace readerlab;
using namespace readerlab::ccid;
using namespace readerlab::ccid::test;

namespace {

// What the hostile card answers over T=1 (TPDU level: the blocks reach the test as they are)
// after 80 F4 01 00 asked it to answer once with garbage.
Bytes garbage_answer(std::uint64_t seed) {
  ReaderConfig config;
  config.set_exchange_level(ExchangeLevel::tpdu);
  config.seed = seed;
  Reader reader(config);
  reader.insert(cards::make_builtin_card("hostile"));
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1))) == kActiveOk);
  // T=1 parameters (CCID 6.1.7, bProtocolNum 1): Fi/Di 11, LRC, guard time 0, BWI/CWI 45, IFSC FE.
  REQUIRE(status_of(reader.handle_message(command(Command::set_parameters, 2, hex("11 10 00 45 00 FE 00"), 0, 1))) ==
          kActiveOk);
  REQUIRE(reader.protocol() == 1);
  const auto edc = cards::t1::EdcKind::lrc;
  const Bytes arm = reader.handle_message(
      command(Command::xfr_block, 3, cards::t1::make_i_block(0, 0, false, hex("80 F4 01 00"), edc)));
  REQUIRE(status_of(arm) == kActiveOk);
  const Bytes armed_bytes = data_of(arm);  // the parsed block points into it
  const auto armed = cards::t1::parse_block(armed_bytes, edc);
  REQUIRE(armed.block);
  REQUIRE(Bytes(armed.block->inf.begin(), armed.block->inf.end()) == hex("90 00"));
  const Bytes answer = reader.handle_message(
      command(Command::xfr_block, 4, cards::t1::make_i_block(0, 1, false, hex("00 A4 00 0C 02 3F 00"), edc)));
  REQUIRE(status_of(answer) == kActiveOk);
  return data_of(answer);
}

}  // namespace

TEST_CASE("a card's garbage answers come from the reader's seed") {
  const Bytes first = garbage_answer(7);
  REQUIRE_FALSE(first.empty());
  CHECK_FALSE(cards::t1::parse_block(first, cards::t1::EdcKind::lrc).block);  // not a block
  CHECK(garbage_answer(7) == first);
  CHECK(garbage_answer(8) != first);
}
