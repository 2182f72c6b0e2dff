// The rig's hands keep a person's pace for a guest's driver (scenarios::DriverPace): a card goes
// into an emptied slot no sooner than settle_after_removal after the driver read the removal,
// and a swap is a removal, that wait and an insertion. A driver the host runs gets no pace;
// insert_after puts a card in at the moment the case asked for.
#include "scenarios/rig.h"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>

using namespace readerlab;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

scenarios::Rig& rig_with_one_reader(scenarios::Rig& rig) {
  usbredir::SocketAddress address;
  address.host = "127.0.0.1";
  rig.add_reader(address);
  return rig;
}

// The host reads the interrupt pipe as a driver would: the notification of the last change.
void host_reads_slot_change(scenarios::Rig& rig) {
  auto read = rig.reader(0).reader->transfer_in(ccid::kInterruptIn, 64);
  REQUIRE(read.has_value());
  CHECK(read->data.at(0) == 0x50);  // CCID 6.3.1: RDR_to_PC_NotifySlotChange
}

}  // namespace

TEST_CASE("a guest's driver gets a person's pace between a removal and the next insertion") {
  boost::asio::io_context io;
  scenarios::Rig rig(io, nullptr);
  rig_with_one_reader(rig);
  const auto pace = scenarios::DriverPace{}.settle_after_removal;
  rig.insert(0, "t1-fs");
  host_reads_slot_change(rig);
  rig.remove(0);
  host_reads_slot_change(rig);
  const auto read_at = Clock::now();
  rig.insert(0, "t0-basic");
  CHECK(Clock::now() - read_at >= pace);
  CHECK(rig.reader(0).reader->card_present());
  CHECK(rig.card_in(0, 0) == "t0-basic");

  // The card left long ago: nothing more to wait for.
  rig.remove(0);
  host_reads_slot_change(rig);
  rig.sleep(pace);
  const auto later = Clock::now();
  rig.insert(0, "t1-fs");
  CHECK(Clock::now() - later < pace);
}

TEST_CASE("a swap for a guest's driver is the card out, a person's pace, the new card in") {
  boost::asio::io_context io;
  scenarios::Rig rig(io, nullptr);
  rig_with_one_reader(rig);
  rig.insert(0, "t1-fs");
  host_reads_slot_change(rig);
  const auto start = Clock::now();
  rig.insert(0, "t0-basic");
  CHECK(Clock::now() - start >= scenarios::DriverPace{}.settle_after_removal);
  CHECK(rig.card_in(0, 0) == "t0-basic");
  CHECK(rig.reader(0).reader->card_present());
  // Two notifications: the removal, then the insertion.
  auto removal = rig.reader(0).reader->transfer_in(ccid::kInterruptIn, 64);
  REQUIRE(removal.has_value());
  CHECK((removal->data.at(1) & 0x03) == 0x02);  // CCID 6.3.1: slot 0 changed, empty
  auto insertion = rig.reader(0).reader->transfer_in(ccid::kInterruptIn, 64);
  REQUIRE(insertion.has_value());
  CHECK((insertion->data.at(1) & 0x03) == 0x03);  // changed, present
}

TEST_CASE("a driver the host runs gets no pace, and insert_after keeps the case's time") {
  boost::asio::io_context io;
  scenarios::Rig rig(io, nullptr);
  rig_with_one_reader(rig);
  rig.set_driver_pace(scenarios::DriverPace::host_driver());
  rig.insert(0, "t1-fs");
  rig.remove(0);
  const auto start = Clock::now();
  rig.insert(0, "t0-basic");
  CHECK(Clock::now() - start < milliseconds(100));

  rig.remove(0);
  rig.insert_after(0, milliseconds(150), "t1-fs");
  rig.sleep(milliseconds(50));
  CHECK_FALSE(rig.reader(0).reader->card_present());
  rig.sleep(milliseconds(250));
  CHECK(rig.reader(0).reader->card_present());
  CHECK(rig.card_in(0, 0) == "t1-fs");

  // A removal scheduled and then overtaken by the case's own insert is cancelled.
  rig.remove_after(0, milliseconds(100));
  rig.insert(0, "t0-basic");
  rig.sleep(milliseconds(200));
  CHECK(rig.card_in(0, 0) == "t0-basic");
  CHECK_THROWS_AS(rig.insert_after(0, milliseconds(10), "no-such-card"), std::invalid_argument);
}

TEST_CASE("a guest's driver gets a person's reaction time after it answered the application") {
  boost::asio::io_context io;
  scenarios::Rig rig(io, nullptr);
  rig_with_one_reader(rig);
  const auto pace = scenarios::DriverPace{}.hand_after_answer;
  rig.insert(0, "t1-fs");
  host_reads_slot_change(rig);
  rig.note_driver_answer();
  const auto answered = Clock::now();
  rig.remove(0);
  CHECK(Clock::now() - answered >= pace);
  CHECK_FALSE(rig.reader(0).reader->card_present());
  // The case's own timing is kept: remove_after and insert_after do not wait for it.
  rig.note_driver_answer();
  rig.insert_after(0, milliseconds(0), "t0-basic");
  rig.sleep(milliseconds(50));
  CHECK(rig.reader(0).reader->card_present());
}
