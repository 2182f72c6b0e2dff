// Faults at the USB transfer level, through the in-process Device interface (the transfers a
// host makes), on readerlab's CCID reader holding a card: what a host sees under each kind, how
// it recovers (CLEAR_FEATURE, bus reset), what the trace tap records and what the fault log says.
#include "emulator/usb/faults.h"

#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "emulator/usb/descriptors.h"
#include "emulator/usb/transfer_tap.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>

namespace readerlab::usb {
namespace {

using namespace std::chrono_literals;
using ccid::kBulkIn;
using ccid::kBulkOut;
using ccid::kInterruptIn;
using ccid::test::command;
using ccid::test::seq_of;
using ccid::test::type_of;

constexpr std::size_t kHostBuffer = 271 + 10;  // dwMaxCCIDMessageLength and room, as a driver asks

struct Bench {
  std::shared_ptr<faults::FaultLog> log = std::make_shared<faults::FaultLog>();
  ccid::Reader reader;

  explicit Bench(bool with_card = true) {
    if (with_card) reader.insert(cards::make_builtin_card("t1-fs"));
    reader.set_fault_log(log);
    reader.set_configuration(1);
  }

  void arm(Fault fault, std::uint64_t seed = 1, std::size_t index = 0) { reader.arm_usb_fault(fault, seed, index); }

  TransferStatus send(ccid::Command type, std::uint8_t seq, Bytes data = {}) {
    const auto message = command(type, seq, std::move(data));
    return reader.transfer_out(kBulkOut, message);
  }
  std::optional<Device::InResult> read(std::size_t length = kHostBuffer) { return reader.transfer_in(kBulkIn, length); }

  ControlResult endpoint_request(std::uint8_t request_type, std::uint8_t request, std::uint8_t endpoint,
                                 std::uint16_t length = 0) {
    return reader.control(SetupPacket{request_type, request, 0, endpoint, length}, {});
  }
  bool halt_bit(std::uint8_t endpoint) {
    const auto status = endpoint_request(0x82, kRequestGetStatus, endpoint, 2);
    REQUIRE(status.status == TransferStatus::ok);
    REQUIRE(status.data.size() == 2);
    return (status.data[0] & 0x01) != 0;
  }
  void clear_halt(std::uint8_t endpoint) {
    REQUIRE(endpoint_request(0x02, kRequestClearFeature, endpoint).status == TransferStatus::ok);
  }
  // Powers the card on and reads the ATR answer: a reader in use.
  void power_on() {
    REQUIRE(send(ccid::Command::icc_power_on, 0) == TransferStatus::ok);
    const auto atr = read();
    REQUIRE(atr);
    REQUIRE(atr->status == TransferStatus::ok);
  }
};

Fault fault_of(FaultKind kind) {
  Fault fault;
  fault.kind = kind;
  return fault;
}

// A tap that keeps the completions it sees, as a trace writer would write them.
struct Completions : TransferTap {
  struct Seen {
    std::uint8_t endpoint;
    TransferStatus status;
    std::size_t length;
  };
  std::vector<Seen> seen;
  void on_transfer(const TransferEvent& event) noexcept override {
    if (event.phase == TransferEvent::Phase::completed) seen.push_back({event.endpoint, event.status, event.length});
  }
};

// READ BINARY of 52 bytes from the card's transparent EF with short file identifier 1: the
// answer is 52 data bytes and SW1 SW2, a CCID DataBlock of 10 + 54 = 64 bytes, one full packet.
Bytes read_binary_52() { return {0x00, 0xB0, 0x81, 0x00, 0x34}; }

}  // namespace

TEST_CASE("every USB fault kind has the name the fault specs use, and back") {
  const std::vector<std::pair<FaultKind, std::string>> names{{FaultKind::stall, "stall"},
                                                             {FaultKind::nak, "nak"},
                                                             {FaultKind::short_packet, "short-packet"},
                                                             {FaultKind::babble, "babble"},
                                                             {FaultKind::missing_zlp, "missing-zlp"},
                                                             {FaultKind::split, "split"},
                                                             {FaultKind::control_fail, "control-fail"},
                                                             {FaultKind::needs_reset, "needs-reset"},
                                                             {FaultKind::disconnect, "disconnect"}};
  for (const auto& [kind, name] : names) {
    CHECK(std::string(to_string(kind)) == name);
    CHECK(fault_kind_from_string(name) == kind);
  }
  CHECK_FALSE(fault_kind_from_string("Stall").has_value());
  CHECK_FALSE(fault_kind_from_string("").has_value());
}

TEST_CASE("a fault the device cannot take is refused, naming the field") {
  Bench bench;
  auto on = [](FaultKind kind, std::uint8_t endpoint) {
    Fault fault = fault_of(kind);
    fault.endpoint = endpoint;
    return fault;
  };
  CHECK_THROWS_WITH_AS(bench.arm(on(FaultKind::stall, 0x05)), doctest::Contains("endpoint: 0x05"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(bench.arm(on(FaultKind::babble, kBulkOut)), doctest::Contains("OUT endpoint"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(bench.arm(on(FaultKind::disconnect, kInterruptIn)), doctest::Contains("not a bulk"),
                       std::invalid_argument);
  Fault zero = fault_of(FaultKind::split);
  zero.sizes = {3, 0};
  CHECK_THROWS_WITH_AS(bench.arm(zero), doctest::Contains("sizes"), std::invalid_argument);
  // Nothing was armed: the reader answers as usual.
  bench.power_on();
  CHECK(bench.log->firings.empty());
}

TEST_CASE("stall on bulk-IN: the endpoint halts until CLEAR_FEATURE, and the answer waiting is read after it") {
  Bench bench;
  auto taps = std::make_shared<Completions>();
  bench.reader.set_transfer_tap(taps);
  bench.arm(fault_of(FaultKind::stall), 7, 3);  // endpoint 0: the bulk-IN endpoint
  REQUIRE(bench.send(ccid::Command::icc_power_on, 0x11) == TransferStatus::ok);

  auto first = bench.read();
  REQUIRE(first);
  CHECK(first->status == TransferStatus::stall);
  CHECK(first->data.empty());
  CHECK(bench.reader.endpoint_halted(kBulkIn));
  CHECK(bench.halt_bit(kBulkIn));
  CHECK_FALSE(bench.halt_bit(kBulkOut));
  // Still halted: the host must clear it (USB 2.0 9.4.5); the trigger fired once only.
  CHECK(bench.read()->status == TransferStatus::stall);

  bench.clear_halt(kBulkIn);
  CHECK_FALSE(bench.halt_bit(kBulkIn));
  auto answer = bench.read();
  REQUIRE(answer);
  CHECK(answer->status == TransferStatus::ok);
  CHECK(type_of(answer->data) == static_cast<std::uint8_t>(ccid::Response::data_block));
  CHECK(seq_of(answer->data) == 0x11);

  REQUIRE(bench.log->firings.size() == 1);
  const auto& firing = bench.log->firings[0];
  CHECK(firing.level == "usb");
  CHECK(firing.kind == "stall");
  CHECK(firing.fault_index == 3);
  CHECK(firing.event == 1);
  CHECK(firing.detail.find("0x82") != std::string::npos);

  // The trace shows the transfers as the host got them: two STALLs, then the answer.
  std::vector<TransferStatus> bulk_in;
  for (const auto& seen : taps->seen)
    if (seen.endpoint == kBulkIn) bulk_in.push_back(seen.status);
  CHECK(bulk_in == std::vector<TransferStatus>{TransferStatus::stall, TransferStatus::stall, TransferStatus::ok});
}

TEST_CASE("stall on bulk-OUT: the command is not taken; after CLEAR_FEATURE it is") {
  Bench bench;
  Fault fault = fault_of(FaultKind::stall);
  fault.endpoint = kBulkOut;
  bench.arm(fault);
  CHECK(bench.send(ccid::Command::icc_power_on, 1) == TransferStatus::stall);
  CHECK(bench.halt_bit(kBulkOut));
  CHECK(bench.send(ccid::Command::icc_power_on, 2) == TransferStatus::stall);
  CHECK_FALSE(bench.read().has_value());  // nothing reached the reader
  bench.clear_halt(kBulkOut);
  REQUIRE(bench.send(ccid::Command::icc_power_on, 3) == TransferStatus::ok);
  auto answer = bench.read();
  REQUIRE(answer);
  CHECK(seq_of(answer->data) == 3);
  CHECK(bench.reader.commands_handled() == 1);
}

TEST_CASE("stall on interrupt-IN: NotifySlotChange waits behind the halt and comes after CLEAR_FEATURE") {
  Bench bench(false);
  Fault fault = fault_of(FaultKind::stall);
  fault.endpoint = kInterruptIn;
  bench.arm(fault);
  int ready = 0;
  bench.reader.on_in_data_ready([&](std::uint8_t endpoint) { ready += endpoint == kInterruptIn; });
  bench.reader.insert(cards::make_builtin_card("t1-fs"));
  auto in = bench.reader.transfer_in(kInterruptIn, 8);
  REQUIRE(in);
  CHECK(in->status == TransferStatus::stall);
  const int ready_before = ready;
  bench.clear_halt(kInterruptIn);
  CHECK(ready == ready_before + 1);  // the transport is told the data can go now
  in = bench.reader.transfer_in(kInterruptIn, 8);
  REQUIRE(in);
  CHECK(in->status == TransferStatus::ok);
  CHECK(in->data == Bytes{0x50, 0x03});  // CCID 6.3.1: slot 0 present and changed
}

TEST_CASE("SET_FEATURE(ENDPOINT_HALT) from the host halts an endpoint the same way") {
  Bench bench;
  REQUIRE(bench.endpoint_request(0x02, kRequestSetFeature, kBulkIn).status == TransferStatus::ok);
  CHECK(bench.halt_bit(kBulkIn));
  bench.clear_halt(kBulkIn);
  bench.power_on();
  CHECK(bench.log->firings.empty());
}

TEST_CASE("nak on bulk-IN: nothing is answered for the duration, then the answer comes") {
  Bench bench;
  Fault fault = fault_of(FaultKind::nak);
  fault.duration = 20ms;
  bench.arm(fault);
  REQUIRE(bench.send(ccid::Command::icc_power_on, 5) == TransferStatus::ok);
  CHECK_FALSE(bench.read().has_value());
  const auto retry_at = bench.reader.next_attempt_at(kBulkIn);
  REQUIRE(retry_at);
  std::this_thread::sleep_until(*retry_at);
  auto answer = bench.read();
  REQUIRE(answer);
  CHECK(seq_of(answer->data) == 5);
  REQUIRE(bench.log->firings.size() == 1);
  CHECK(bench.log->firings[0].detail.find("20 ms") != std::string::npos);
}

TEST_CASE("nak on bulk-OUT: a transport that can hold the transfer offers it again; one that cannot has it taken") {
  Bench bench;
  Fault fault = fault_of(FaultKind::nak);
  fault.endpoint = kBulkOut;
  fault.duration = std::chrono::minutes(10);
  fault.trigger.times = 2;
  bench.arm(fault);
  const auto message = command(ccid::Command::icc_power_on, 9);
  CHECK_FALSE(bench.reader.try_transfer_out(kBulkOut, message).has_value());
  CHECK(bench.reader.commands_handled() == 0);
  REQUIRE(bench.reader.next_attempt_at(kBulkOut).has_value());
  bench.reader.clear_usb_faults();  // ends the NAK at once
  CHECK(bench.reader.try_transfer_out(kBulkOut, message) == TransferStatus::ok);
  CHECK(bench.reader.commands_handled() == 1);
  CHECK(seq_of(bench.read()->data) == 9);

  bench.arm(fault);
  CHECK(bench.send(ccid::Command::icc_power_on, 10) == TransferStatus::ok);
  CHECK(bench.reader.commands_handled() == 2);
}

TEST_CASE("short-packet: the transfer ends early with the first bytes, and the rest of that message is gone") {
  Bench bench;
  bench.power_on();
  Fault fault = fault_of(FaultKind::short_packet);
  fault.sizes = {4};
  bench.arm(fault);
  REQUIRE(bench.send(ccid::Command::get_slot_status, 0x21) == TransferStatus::ok);
  auto cut = bench.read();
  REQUIRE(cut);
  CHECK(cut->status == TransferStatus::ok);
  CHECK(cut->data.size() == 4);
  CHECK(cut->data[0] == static_cast<std::uint8_t>(ccid::Response::slot_status));
  CHECK_FALSE(bench.read().has_value());
  // The next command is answered whole.
  REQUIRE(bench.send(ccid::Command::get_slot_status, 0x22) == TransferStatus::ok);
  auto next = bench.read();
  REQUIRE(next);
  CHECK(next->data.size() == ccid::kHeaderSize);
  CHECK(seq_of(next->data) == 0x22);
}

TEST_CASE("short-packet without a size cuts the message in half") {
  Bench bench;
  bench.power_on();
  bench.arm(fault_of(FaultKind::short_packet));
  REQUIRE(bench.send(ccid::Command::get_slot_status, 1) == TransferStatus::ok);
  CHECK(bench.read()->data.size() == ccid::kHeaderSize / 2);
}

TEST_CASE("babble: the transfer completes with a babble status, the host's buffer full, and the message lost") {
  Bench bench;
  auto taps = std::make_shared<Completions>();
  bench.reader.set_transfer_tap(taps);
  bench.power_on();
  bench.arm(fault_of(FaultKind::babble));
  REQUIRE(bench.send(ccid::Command::get_slot_status, 0x31) == TransferStatus::ok);
  auto in = bench.read(64);
  REQUIRE(in);
  CHECK(in->status == TransferStatus::babble);
  CHECK(in->data.size() == 64);
  CHECK_FALSE(bench.read().has_value());
  CHECK(taps->seen.back().status == TransferStatus::babble);
  REQUIRE(bench.log->firings.size() == 1);
  CHECK(bench.log->firings[0].kind == "babble");
}

TEST_CASE("split: one message in transfers of the odd sizes given, then the rest") {
  Bench bench;
  bench.power_on();
  Fault fault = fault_of(FaultKind::split);
  fault.sizes = {3, 5};
  bench.arm(fault);
  REQUIRE(bench.send(ccid::Command::icc_power_on, 0x41) == TransferStatus::ok);
  Bytes joined;
  std::vector<std::size_t> sizes;
  while (auto in = bench.read()) {
    REQUIRE(in->status == TransferStatus::ok);
    sizes.push_back(in->data.size());
    joined.insert(joined.end(), in->data.begin(), in->data.end());
  }
  REQUIRE(sizes.size() == 3);
  CHECK(sizes[0] == 3);
  CHECK(sizes[1] == 5);
  CHECK(joined.size() == ccid::kHeaderSize + 19);  // t1-fs's ATR is 19 bytes
  CHECK(seq_of(joined) == 0x41);
  CHECK(ccid::test::length_of(joined) == 19);
}

TEST_CASE("missing-zlp: a message of a whole number of packets runs into the next one's transfer") {
  Bench bench;
  bench.power_on();
  // A 64-byte answer first, read with the ZLP in place: the size this case relies on.
  REQUIRE(bench.send(ccid::Command::xfr_block, 1, read_binary_52()) == TransferStatus::ok);
  auto whole = bench.read();
  REQUIRE(whole);
  REQUIRE(whole->data.size() == 64);

  bench.arm(fault_of(FaultKind::missing_zlp));
  REQUIRE(bench.send(ccid::Command::xfr_block, 2, read_binary_52()) == TransferStatus::ok);
  // The transfer does not end: the host waits for more.
  CHECK_FALSE(bench.read().has_value());
  REQUIRE(bench.send(ccid::Command::get_slot_status, 3) == TransferStatus::ok);
  auto run_on = bench.read();
  REQUIRE(run_on);
  CHECK(run_on->data.size() == 64 + ccid::kHeaderSize);
  CHECK(seq_of(run_on->data) == 2);
  CHECK(run_on->data[64 + 6] == 3);  // the next message's bSeq, inside the same transfer
  REQUIRE(bench.log->firings.size() == 1);
  CHECK(bench.log->firings[0].detail.find("zero-length") != std::string::npos);
}

TEST_CASE("missing-zlp: a host that cancels the waiting transfer loses the message; the next one is whole") {
  Bench bench;
  bench.power_on();
  bench.arm(fault_of(FaultKind::missing_zlp));
  REQUIRE(bench.send(ccid::Command::xfr_block, 2, read_binary_52()) == TransferStatus::ok);
  CHECK_FALSE(bench.read().has_value());
  bench.reader.cancel_in(kBulkIn);
  REQUIRE(bench.send(ccid::Command::get_slot_status, 3) == TransferStatus::ok);
  auto next = bench.read();
  REQUIRE(next);
  CHECK(next->data.size() == ccid::kHeaderSize);
  CHECK(seq_of(next->data) == 3);
}

TEST_CASE("control-fail: the named request is answered STALL, the others as usual") {
  Bench bench;
  Fault fault = fault_of(FaultKind::control_fail);
  fault.request = kRequestGetDescriptor;
  fault.trigger.times = 0;  // every time
  bench.arm(fault);
  const SetupPacket get_device{0x80, kRequestGetDescriptor, kDescriptorDevice << 8, 0, 18};
  CHECK(bench.reader.control(get_device, {}).status == TransferStatus::stall);
  CHECK(bench.reader.control(get_device, {}).status == TransferStatus::stall);
  // CCID 5.3.3 GET_DATA_RATES, a class request to the interface: not named, answered.
  const SetupPacket data_rates{0xA1, ccid::kRequestGetDataRates, 0, 0, 64};
  CHECK(bench.reader.control(data_rates, {}).status == TransferStatus::ok);
  CHECK(bench.log->firings.size() == 2);
  CHECK(bench.log->firings[0].detail.find("GET_DESCRIPTOR") != std::string::npos);
  bench.reader.clear_usb_faults();
  CHECK(bench.reader.control(get_device, {}).status == TransferStatus::ok);
}

TEST_CASE("control-fail without a request fails the next control request, a CCID class request here") {
  Bench bench;
  bench.arm(fault_of(FaultKind::control_fail));
  const SetupPacket abort{0x21, ccid::kRequestAbort, 0x0100, 0, 0};
  CHECK(bench.reader.control(abort, {}).status == TransferStatus::stall);
  CHECK(bench.reader.control(abort, {}).status == TransferStatus::ok);
}

TEST_CASE("needs-reset: every transfer STALLs, CLEAR_FEATURE included, until a bus reset") {
  Bench bench;
  bench.power_on();
  bench.arm(fault_of(FaultKind::needs_reset));
  CHECK(bench.send(ccid::Command::get_slot_status, 1) == TransferStatus::stall);
  CHECK(bench.reader.waiting_for_reset());
  CHECK(bench.read()->status == TransferStatus::stall);
  CHECK(bench.endpoint_request(0x02, kRequestClearFeature, kBulkOut).status == TransferStatus::stall);
  CHECK(bench.send(ccid::Command::get_slot_status, 2) == TransferStatus::stall);
  bench.reader.bus_reset();
  CHECK_FALSE(bench.reader.waiting_for_reset());
  bench.reader.set_configuration(1);
  REQUIRE(bench.send(ccid::Command::get_slot_status, 3) == TransferStatus::ok);
  // The reset cleared the slot change queue and deactivated the card; the answer is this one.
  auto answer = bench.read();
  REQUIRE(answer);
  CHECK(seq_of(answer->data) == 3);
}

TEST_CASE("disconnect: the waiting bulk-IN fails, the device is off the bus, the handler says for how long") {
  Bench bench;
  bench.power_on();
  std::vector<std::chrono::milliseconds> asked;
  bench.reader.on_disconnect_request([&](std::chrono::milliseconds back_after) { asked.push_back(back_after); });
  Fault fault = fault_of(FaultKind::disconnect);
  fault.duration = std::chrono::minutes(10);
  bench.arm(fault);
  REQUIRE(bench.send(ccid::Command::get_slot_status, 1) == TransferStatus::ok);
  auto in = bench.read();
  REQUIRE(in);
  CHECK(in->status == TransferStatus::io_error);
  REQUIRE(asked.size() == 1);
  CHECK(asked[0] == std::chrono::minutes(10));
  CHECK(bench.reader.off_the_bus());
  CHECK(bench.send(ccid::Command::get_slot_status, 2) == TransferStatus::io_error);
  CHECK(bench.reader.control(SetupPacket{0x80, kRequestGetConfiguration, 0, 0, 1}, {}).status ==
        TransferStatus::io_error);
  // The transport shows it plugged in again: a bus reset.
  bench.reader.bus_reset();
  CHECK_FALSE(bench.reader.off_the_bus());
  bench.reader.set_configuration(1);
  REQUIRE(bench.send(ccid::Command::get_slot_status, 3) == TransferStatus::ok);
  CHECK(bench.reader.card_present());
}

TEST_CASE("disconnect without a transport's handler: the device comes back by itself, reset, after the time") {
  Bench bench;
  bench.power_on();
  Fault fault = fault_of(FaultKind::disconnect);
  fault.duration = 10ms;
  bench.arm(fault);
  REQUIRE(bench.send(ccid::Command::get_slot_status, 1) == TransferStatus::ok);
  CHECK(bench.read()->status == TransferStatus::io_error);
  while (bench.reader.off_the_bus()) std::this_thread::sleep_for(2ms);
  REQUIRE(bench.send(ccid::Command::get_slot_status, 2) == TransferStatus::ok);
  CHECK_FALSE(bench.reader.card_powered());  // the power-on reset deactivated the card
  CHECK(seq_of(bench.read()->data) == 2);
}

TEST_CASE("clear_usb_faults disarms every fault and ends a halt") {
  Bench bench;
  Fault stall = fault_of(FaultKind::stall);
  stall.trigger.times = 0;
  bench.arm(stall);
  bench.arm(fault_of(FaultKind::babble), 2, 1);
  REQUIRE(bench.send(ccid::Command::icc_power_on, 1) == TransferStatus::ok);
  CHECK(bench.read()->status == TransferStatus::stall);
  bench.reader.clear_usb_faults();
  CHECK_FALSE(bench.reader.endpoint_halted(kBulkIn));
  auto answer = bench.read();
  REQUIRE(answer);
  CHECK(answer->status == TransferStatus::ok);
  CHECK(seq_of(answer->data) == 1);
  CHECK(bench.log->firings.size() == 1);
}

TEST_CASE("triggers: after N transfers, N times, and a probability that the same seed repeats") {
  SUBCASE("after 2, times 2") {
    Bench bench;
    bench.power_on();
    Fault fault = fault_of(FaultKind::short_packet);
    fault.sizes = {1};
    fault.trigger.after = 2;
    fault.trigger.times = 2;
    bench.arm(fault);
    std::vector<std::size_t> sizes;
    for (std::uint8_t seq = 0; seq < 6; ++seq) {
      REQUIRE(bench.send(ccid::Command::get_slot_status, seq) == TransferStatus::ok);
      sizes.push_back(bench.read()->data.size());
    }
    CHECK(sizes == std::vector<std::size_t>{10, 10, 1, 1, 10, 10});
    REQUIRE(bench.log->firings.size() == 2);
    CHECK(bench.log->firings[0].event == 3);
    CHECK(bench.log->firings[1].event == 4);
  }
  SUBCASE("probability") {
    auto schedule = [](std::uint64_t seed) {
      Bench bench;
      bench.power_on();
      Fault fault = fault_of(FaultKind::short_packet);
      fault.trigger.times = 0;
      fault.trigger.probability = 0.5;
      bench.arm(fault, seed);
      std::vector<bool> cut;
      for (std::uint8_t seq = 0; seq < 32; ++seq) {
        REQUIRE(bench.send(ccid::Command::get_slot_status, seq) == TransferStatus::ok);
        cut.push_back(bench.read()->data.size() < ccid::kHeaderSize);
      }
      return cut;
    };
    const auto first = schedule(faults::fault_seed(42, 0));
    CHECK(first == schedule(faults::fault_seed(42, 0)));
    CHECK(first != schedule(faults::fault_seed(43, 0)));
    CHECK(std::count(first.begin(), first.end(), true) > 0);
    CHECK(std::count(first.begin(), first.end(), false) > 0);
  }
}

}  // namespace readerlab::usb
