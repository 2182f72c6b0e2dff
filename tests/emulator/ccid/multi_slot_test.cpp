// A reader with several slots (bMaxSlotIndex > 0): a card per slot, slot changes reported per
// slot on the interrupt endpoint, and bMaxCCIDBusySlots honoured while a slow card works.
#include "ccid_support.h"

#include "cards/profiles.h"
#include "emulator/ccid/reader.h"

#include <doctest/doctest.h>

using namespace readerlab;
using namespace readerlab::ccid;
using namespace readerlab::ccid::test;

namespace {

ReaderConfig slots(std::uint8_t count, std::uint8_t max_busy = 1) {
  ReaderConfig config;
  config.slot_count = count;
  config.max_busy_slots = max_busy;
  config.card_timing = true;
  return config;
}

// The answers on bulk IN that are ready now.
std::vector<Bytes> answers_now(Reader& reader) {
  std::vector<Bytes> answers;
  while (auto in = reader.transfer_in(kBulkIn, 512)) answers.push_back(in->data);
  return answers;
}

}  // namespace

TEST_CASE("multi-slot: the class descriptor says bMaxSlotIndex and bMaxCCIDBusySlots") {
  Reader reader(slots(3, 2));
  const Bytes descriptor = reader.class_descriptor();
  CHECK(descriptor.at(4) == 2);   // bMaxSlotIndex
  CHECK(descriptor.at(53) == 2);  // bMaxCCIDBusySlots
}

TEST_CASE("multi-slot: NotifySlotChange carries each slot's present and changed bits") {
  Reader reader(slots(3));
  reader.set_configuration(1);
  reader.insert(cards::make_builtin_card("t1-fs"), 2);
  auto first = reader.transfer_in(kInterruptIn, 8);
  REQUIRE(first.has_value());
  // CCID 6.3.1: two bits a slot, present then changed; slot 2 is bits 4 and 5.
  CHECK(first->data == hex("50 30"));
  reader.insert(cards::make_builtin_card("t0-basic"), 0);
  auto second = reader.transfer_in(kInterruptIn, 8);
  REQUIRE(second.has_value());
  CHECK(second->data == hex("50 13"));  // slot 0 present and changed, slot 2 present
  REQUIRE(reader.remove(2) != nullptr);
  auto third = reader.transfer_in(kInterruptIn, 8);
  REQUIRE(third.has_value());
  CHECK(third->data == hex("50 21"));  // slot 2 gone (changed), slot 0 still present
}

TEST_CASE("multi-slot: each slot's card answers on its own") {
  Reader reader(slots(2));
  reader.insert(cards::make_builtin_card("t1-fs"), 0);
  reader.insert(cards::make_builtin_card("t0-basic"), 1);
  const Bytes atr0 = data_of(reader.handle_message(command(Command::icc_power_on, 1, {}, 0)));
  const Bytes atr1 = data_of(reader.handle_message(command(Command::icc_power_on, 2, {}, 1)));
  CHECK(atr0 == *cards::builtin_atr("t1-fs"));
  CHECK(atr1 == *cards::builtin_atr("t0-basic"));
  const Bytes select0 = reader.handle_message(command(Command::xfr_block, 3, select_readerlab_application(), 0));
  const Bytes select1 = reader.handle_message(command(Command::xfr_block, 4, select_readerlab_application(), 1));
  CHECK(slot_of(select0) == 0);
  CHECK(slot_of(select1) == 1);
  CHECK(data_of(select0).size() >= 2);
  CHECK(data_of(select1).size() >= 2);
  REQUIRE(reader.remove(0) != nullptr);
  CHECK(status_of(reader.handle_message(command(Command::get_slot_status, 5, {}, 0))) == kAbsentOk);
  CHECK(status_of(reader.handle_message(command(Command::get_slot_status, 6, {}, 1))) == kActiveOk);
  CHECK(error_of(reader.handle_message(command(Command::get_slot_status, 7, {}, 2))) == error::offset_slot);
}

TEST_CASE("multi-slot: with one busy slot allowed, a command for another slot gets CMD_SLOT_BUSY at once") {
  Reader reader(slots(2, 1));
  reader.insert(cards::make_builtin_card("slow"), 0);
  reader.insert(cards::make_builtin_card("t1-fs"), 1);
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1, {}, 0))) == kActiveOk);
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 2, {}, 1))) == kActiveOk);
  reader.set_configuration(1);
  // The slow card takes 1.5 s over its command: slot 0 is busy.
  REQUIRE(reader.transfer_out(kBulkOut, command(Command::xfr_block, 3, select_readerlab_application(), 0)) ==
          usb::TransferStatus::ok);
  answers_now(reader);  // time extensions, if any
  REQUIRE(reader.in_ready_at(kBulkIn).has_value());
  REQUIRE(reader.transfer_out(kBulkOut, command(Command::get_slot_status, 4, {}, 1)) == usb::TransferStatus::ok);
  const auto answers = answers_now(reader);
  REQUIRE(answers.size() == 1);
  CHECK(slot_of(answers[0]) == 1);
  CHECK(seq_of(answers[0]) == 4);
  CHECK(status_of(answers[0]) == kActiveFailed);
  CHECK(error_of(answers[0]) == error::cmd_slot_busy);
  // Abort is never refused.
  REQUIRE(reader.transfer_out(kBulkOut, command(Command::abort, 5, {}, 1)) == usb::TransferStatus::ok);
  const auto aborted = answers_now(reader);
  REQUIRE(aborted.size() == 1);
  CHECK(error_of(aborted[0]) == 0);
  // The busy slot's own answer is still to come.
  CHECK(reader.in_ready_at(kBulkIn).has_value());
}

TEST_CASE("multi-slot: with two busy slots allowed, the other slot's card answers while the slow one works") {
  Reader reader(slots(2, 2));
  reader.insert(cards::make_builtin_card("slow"), 0);
  reader.insert(cards::make_builtin_card("t1-fs"), 1);
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1, {}, 0))) == kActiveOk);
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 2, {}, 1))) == kActiveOk);
  reader.set_configuration(1);
  REQUIRE(reader.transfer_out(kBulkOut, command(Command::xfr_block, 3, select_readerlab_application(), 0)) ==
          usb::TransferStatus::ok);
  answers_now(reader);
  REQUIRE(reader.transfer_out(kBulkOut, command(Command::get_slot_status, 4, {}, 1)) == usb::TransferStatus::ok);
  const auto answers = answers_now(reader);
  REQUIRE(answers.size() == 1);
  CHECK(slot_of(answers[0]) == 1);
  CHECK(status_of(answers[0]) == kActiveOk);
  CHECK(error_of(answers[0]) == 0);
  CHECK(reader.in_ready_at(kBulkIn).has_value());  // slot 0's answer, later
}

TEST_CASE("multi-slot: a single-slot reader keeps one command's answers in order") {
  Reader reader(slots(1, 1));
  reader.insert(cards::make_builtin_card("slow"), 0);
  REQUIRE(status_of(reader.handle_message(command(Command::icc_power_on, 1, {}, 0))) == kActiveOk);
  reader.set_configuration(1);
  REQUIRE(reader.transfer_out(kBulkOut, command(Command::xfr_block, 3, select_readerlab_application(), 0)) ==
          usb::TransferStatus::ok);
  answers_now(reader);
  REQUIRE(reader.transfer_out(kBulkOut, command(Command::get_slot_status, 4, {}, 0)) == usb::TransferStatus::ok);
  CHECK(answers_now(reader).empty());  // behind the slow card's answer
}
