// CCID message faults as a usbredir host sees them: the reader's bulk-IN queue and interrupt
// endpoint carried over the socket (a late answer is sent when its time comes, without a poll).
#include "usbredir_support.h"

#include "emulator/ccid/faults.h"

using namespace readerlab;
using namespace readerlab::usbredir;
using namespace readerlab::usbredir::test;

namespace {

ccid::Fault fault_of(ccid::FaultKind kind) {
  ccid::Fault fault;
  fault.kind = kind;
  fault.command = static_cast<std::uint8_t>(ccid::Command::xfr_block);
  return fault;
}

// A client with the card powered.
struct PoweredLab {
  PoweredLab() : client(lab.connect_client()) {
    REQUIRE(client->set_configuration(1, kWait));
    REQUIRE(client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::icc_power_on, 0), kWait) ==
            usb::TransferStatus::ok);
    const auto atr = client->bulk_in(ccid::kBulkIn, 271, kWait);
    REQUIRE(atr);
    reader().set_fault_log(log);
  }
  ccid::Reader& reader() { return *lab.readers.at(0); }
  void send_select(std::uint8_t seq) {
    REQUIRE(client->bulk_out(ccid::kBulkOut,
                             ccid_command(ccid::Command::xfr_block, seq, select_readerlab_application()),
                             kWait) == usb::TransferStatus::ok);
  }
  Bytes read() {
    const auto in = client->bulk_in(ccid::kBulkIn, 271, kWait);
    REQUIRE(in);
    REQUIRE(in->status == usb::TransferStatus::ok);
    return in->data;
  }
  void check_select_works(std::uint8_t seq) {
    send_select(seq);
    const Bytes answer = read();
    REQUIRE(answer.size() >= ccid::kHeaderSize + 2);
    CHECK(answer[6] == seq);
    CHECK(answer[7] == 0x00);
    CHECK(answer[answer.size() - 2] == 0x90);
  }

  Lab lab{Transport::unix_socket};
  std::shared_ptr<Client> client;
  std::shared_ptr<faults::FaultLog> log = std::make_shared<faults::FaultLog>();
};

}  // namespace

TEST_CASE("usbredir: a late answer is sent when its time comes, to the IN request that waits for it") {
  PoweredLab lab;
  auto fault = fault_of(ccid::FaultKind::late);
  fault.delay = std::chrono::milliseconds(50);
  lab.reader().arm_ccid_fault(fault, 1, 0);
  lab.send_select(1);
  const Bytes answer = lab.read();
  CHECK(answer[6] == 1);
  CHECK(answer[answer.size() - 2] == 0x90);
  REQUIRE(lab.log->firings.size() == 1);
  CHECK(lab.log->firings[0].kind == "late");
  lab.check_select_works(2);
}

TEST_CASE("usbredir: duplicate, wrong-seq and a time-extension storm arrive as the reader queued them") {
  PoweredLab lab;
  lab.reader().arm_ccid_fault(fault_of(ccid::FaultKind::duplicate), 1, 0);
  lab.send_select(1);
  const Bytes first = lab.read();
  CHECK(lab.read() == first);

  lab.reader().arm_ccid_fault(fault_of(ccid::FaultKind::wrong_seq), 2, 1);
  lab.send_select(2);
  CHECK(lab.read()[6] == 3);

  auto storm = fault_of(ccid::FaultKind::time_extension_storm);
  storm.count = 3;
  lab.reader().arm_ccid_fault(storm, 3, 2);
  lab.send_select(4);
  for (int i = 0; i < 3; ++i) CHECK((lab.read()[7] >> 6) == 2);  // CCID 6.2.6 time extension
  CHECK(lab.read()[7] == 0x00);
  lab.check_select_works(5);
}

TEST_CASE("usbredir: no-response leaves the IN request waiting; the next command is answered") {
  PoweredLab lab;
  lab.reader().arm_ccid_fault(fault_of(ccid::FaultKind::no_response), 1, 0);
  lab.send_select(1);
  CHECK_FALSE(lab.client->bulk_in(ccid::kBulkIn, 271, 100ms).has_value());
  lab.check_select_works(2);
}

TEST_CASE("usbredir: hardware-error reaches the interrupt endpoint") {
  PoweredLab lab;
  REQUIRE(lab.client->start_interrupt_receiving(ccid::kInterruptIn, kWait));
  const auto insertion = lab.client->next_interrupt(ccid::kInterruptIn, kWait);
  REQUIRE(insertion);
  lab.reader().arm_ccid_fault(fault_of(ccid::FaultKind::hardware_error), 1, 0);
  lab.send_select(7);
  const Bytes answer = lab.read();
  CHECK(answer[7] == 0x41);  // failed, card inactive
  CHECK(answer[8] == ccid::error::hw_error);
  const auto hardware_error = lab.client->next_interrupt(ccid::kInterruptIn, kWait);
  REQUIRE(hardware_error);
  CHECK(*hardware_error == Bytes{0x51, 0x00, 0x07, 0x01});  // CCID 6.3.2 over-current
  CHECK_FALSE(lab.reader().card_powered());
}
