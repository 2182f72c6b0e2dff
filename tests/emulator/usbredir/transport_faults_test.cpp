// Faults at the transport level (the usbredir socket) and at the USB transfer level as a
// usbredir peer sees them, over a real socket with readerlab's own client (the role QEMU
// plays). The reader is one shared device, so that a dropped connection finds it again.
#include "emulator/usbredir/transport_faults.h"

#include "tests/emulator/usbredir/usbredir_support.h"

#include <stdexcept>

namespace readerlab::usbredir {
namespace {

using namespace test;

// One reader served on a unix socket (or TCP) to every connection, with its fault log.
struct SharedReaderLab {
  explicit SharedReaderLab(Transport transport = Transport::unix_socket) {
    reader->insert(cards::make_builtin_card("t1-fs"));
    reader->set_fault_log(log);
    SocketAddress wanted;
    if (transport == Transport::unix_socket) {
      wanted.is_unix = true;
      wanted.path = unique_socket_path();
    } else {
      wanted.host = "127.0.0.1";
    }
    address = server.listen(wanted, [this] {
      ++connections;
      return reader;
    });
  }

  std::shared_ptr<Client> connect() {
    auto client = Client::connect(io, address, {});
    REQUIRE(client->wait_for_device(kWait));
    REQUIRE(client->set_configuration(1, kWait));
    return client;
  }

  void arm(TransportFault fault, std::size_t index = 0) {
    server.arm_transport_fault(reader.get(), fault, faults::fault_seed(1, index), index, log);
  }
  void arm_usb(usb::Fault fault, std::size_t index = 0) {
    reader->arm_usb_fault(fault, faults::fault_seed(1, index), index);
  }

  std::size_t firings_of(const std::string& kind) const {
    std::size_t count = 0;
    for (const auto& firing : log->firings) count += firing.kind == kind;
    return count;
  }

  boost::asio::io_context io;
  std::shared_ptr<faults::FaultLog> log = std::make_shared<faults::FaultLog>();
  std::shared_ptr<ccid::Reader> reader = std::make_shared<ccid::Reader>();
  Server server{io, {}};
  SocketAddress address;
  int connections = 0;
};

TransportFault transport_fault(TransportFaultKind kind) {
  TransportFault fault;
  fault.kind = kind;
  return fault;
}

usb::Fault usb_fault(usb::FaultKind kind) {
  usb::Fault fault;
  fault.kind = kind;
  return fault;
}

std::optional<usb::ControlResult> endpoint_request(Client& client, std::uint8_t request_type, std::uint8_t request,
                                                   std::uint8_t endpoint, std::uint16_t length = 0) {
  return client.control(usb::SetupPacket{request_type, request, 0, endpoint, length}, {}, kWait);
}

}  // namespace

TEST_CASE("every transport fault kind has the name the fault specs use, and back") {
  const std::vector<std::pair<TransportFaultKind, std::string>> names{
      {TransportFaultKind::latency, "latency"},
      {TransportFaultKind::split_writes, "split-writes"},
      {TransportFaultKind::drop, "drop"}};
  for (const auto& [kind, name] : names) {
    CHECK(std::string(to_string(kind)) == name);
    CHECK(transport_fault_kind_from_string(name) == kind);
  }
  CHECK_FALSE(transport_fault_kind_from_string("split_writes").has_value());
}

TEST_CASE("a transport fault that cannot apply is refused, naming the field") {
  SharedReaderLab lab;
  TransportFault zero = transport_fault(TransportFaultKind::split_writes);
  zero.chunk = 0;
  CHECK_THROWS_WITH_AS(lab.arm(zero), doctest::Contains("chunk"), std::invalid_argument);
}

TEST_CASE("latency: every packet to the peer leaves late, in order, and the exchanges still work") {
  for (auto transport : {Transport::unix_socket, Transport::tcp}) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    SharedReaderLab lab(transport);
    auto client = lab.connect();
    TransportFault fault = transport_fault(TransportFaultKind::latency);
    fault.delay = std::chrono::milliseconds(40);
    fault.trigger.times = 0;
    lab.arm(fault);
    const auto started = std::chrono::steady_clock::now();
    check_power_on_gives_atr(*client, 1, "t1-fs");
    // Two packets came back (the OUT's status, the answer), each at least the delay late.
    CHECK(std::chrono::steady_clock::now() - started >= 2 * fault.delay);
    check_select_answers_9000(*client, 2);
    CHECK(lab.firings_of("latency") >= 4);
    CHECK(lab.log->firings[0].level == "transport");
    CHECK(lab.log->firings[0].detail.find("40 ms late") != std::string::npos);
  }
}

TEST_CASE("split-writes: packets to the peer in writes of a few bytes still parse whole") {
  for (auto transport : {Transport::unix_socket, Transport::tcp}) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    SharedReaderLab lab(transport);
    TransportFault fault = transport_fault(TransportFaultKind::split_writes);
    fault.chunk = 3;
    fault.trigger.times = 0;
    lab.arm(fault);
    // Armed before the connection: the hello and device_connect go out in pieces too.
    auto client = lab.connect();
    REQUIRE(client->start_interrupt_receiving(ccid::kInterruptIn, kWait));
    auto inserted = client->next_interrupt(ccid::kInterruptIn, kWait);
    REQUIRE(inserted.has_value());
    CHECK(*inserted == Bytes{0x50, 0x03});
    check_power_on_gives_atr(*client, 1, "t1-fs");
    check_select_answers_9000(*client, 2);
    CHECK(lab.firings_of("split-writes") >= 6);
    CHECK(lab.log->firings[0].detail.find("writes of 3 bytes") != std::string::npos);
  }
}

TEST_CASE("drop: the connection closes after a bulk-OUT reached the reader; a new connection finds it, card and all") {
  SharedReaderLab lab;
  auto client = lab.connect();
  check_power_on_gives_atr(*client, 1, "t1-fs");
  TransportFault fault = transport_fault(TransportFaultKind::drop);
  fault.trigger.after = 1;  // the second bulk-OUT
  lab.arm(fault, 4);
  check_select_answers_9000(*client, 2);
  const auto out = client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::get_slot_status, 3), kWait);
  CHECK_FALSE(out.has_value());  // no answer: the connection is gone
  CHECK_FALSE(client->is_open());
  CHECK(lab.reader->commands_handled() == 3);  // the command in flight was taken
  REQUIRE(lab.log->firings.size() == 1);
  CHECK(lab.log->firings[0].kind == "drop");
  CHECK(lab.log->firings[0].fault_index == 4);
  CHECK(lab.log->firings[0].event == 2);

  auto again = lab.connect();
  CHECK(lab.connections == 2);
  CHECK(lab.reader->card_powered());
  // The answer to the command in flight waited in the reader; it is read first.
  const auto stale = again->bulk_in(ccid::kBulkIn, 271, kWait);
  REQUIRE(stale.has_value());
  CHECK(stale->status == usb::TransferStatus::ok);
  CHECK(stale->data[6] == 3);
  check_select_answers_9000(*again, 4);
}

TEST_CASE("transport faults outlive a dropped connection; clear_transport_faults ends them") {
  SharedReaderLab lab;
  TransportFault fault = transport_fault(TransportFaultKind::drop);
  fault.trigger.times = 2;
  lab.arm(fault);
  for (int round = 0; round < 2; ++round) {
    auto client = lab.connect();
    CHECK_FALSE(client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::get_slot_status, 1), kWait));
    // Reads the answer on the next connection, so the reader's queue is empty again.
    auto next = lab.connect();
    REQUIRE(next->bulk_in(ccid::kBulkIn, 271, kWait).has_value());
  }
  CHECK(lab.firings_of("drop") == 2);

  fault.trigger.times = 0;
  lab.arm(fault);
  lab.server.clear_transport_faults(lab.reader.get());
  auto client = lab.connect();
  check_power_on_gives_atr(*client, 1, "t1-fs");
  check_select_answers_9000(*client, 2);
  CHECK(lab.firings_of("drop") == 2);
}

TEST_CASE("usb stall over usbredir: the peer sees STALL and the halt bit, clears it, and reads the answer") {
  SharedReaderLab lab;
  auto client = lab.connect();
  lab.arm_usb(usb_fault(usb::FaultKind::stall));
  const auto out = client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::icc_power_on, 7), kWait);
  REQUIRE(out == usb::TransferStatus::ok);
  const auto stalled = client->bulk_in(ccid::kBulkIn, 271, kWait);
  REQUIRE(stalled.has_value());
  CHECK(stalled->status == usb::TransferStatus::stall);
  const auto status = endpoint_request(*client, 0x82, usb::kRequestGetStatus, ccid::kBulkIn, 2);
  REQUIRE(status.has_value());
  REQUIRE(status->data.size() == 2);
  CHECK(status->data[0] == 0x01);
  const auto cleared = endpoint_request(*client, 0x02, usb::kRequestClearFeature, ccid::kBulkIn);
  REQUIRE(cleared.has_value());
  CHECK(cleared->status == usb::TransferStatus::ok);
  const auto answer = client->bulk_in(ccid::kBulkIn, 271, kWait);
  REQUIRE(answer.has_value());
  CHECK(answer->status == usb::TransferStatus::ok);
  CHECK(answer->data[6] == 7);
  CHECK(lab.firings_of("stall") == 1);
}

TEST_CASE("usb babble over usbredir: the peer gets usb_redir_babble") {
  SharedReaderLab lab;
  auto client = lab.connect();
  lab.arm_usb(usb_fault(usb::FaultKind::babble));
  REQUIRE(client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::get_slot_status, 1), kWait) ==
          usb::TransferStatus::ok);
  const auto in = client->bulk_in(ccid::kBulkIn, 64, kWait);
  REQUIRE(in.has_value());
  CHECK(in->status == usb::TransferStatus::babble);
  CHECK(lab.firings_of("babble") == 1);
  check_power_on_gives_atr(*client, 2, "t1-fs");
}

TEST_CASE("usb split over usbredir: one answer in transfers of the odd sizes given") {
  SharedReaderLab lab;
  auto client = lab.connect();
  usb::Fault fault = usb_fault(usb::FaultKind::split);
  fault.sizes = {5, 9};
  lab.arm_usb(fault);
  REQUIRE(client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::icc_power_on, 1), kWait) ==
          usb::TransferStatus::ok);
  Bytes joined;
  std::vector<std::size_t> sizes;
  while (joined.size() < ccid::kHeaderSize + 19) {
    const auto in = client->bulk_in(ccid::kBulkIn, 271, kWait);
    REQUIRE(in.has_value());
    REQUIRE(in->status == usb::TransferStatus::ok);
    sizes.push_back(in->data.size());
    joined.insert(joined.end(), in->data.begin(), in->data.end());
  }
  CHECK(sizes == std::vector<std::size_t>{5, 9, 15});
  CHECK(data_of(joined) == *cards::builtin_atr("t1-fs"));
}

TEST_CASE("usb nak over usbredir: a bulk-IN waits out the NAK, a bulk-OUT is answered after it") {
  SharedReaderLab lab;
  auto client = lab.connect();
  usb::Fault in_nak = usb_fault(usb::FaultKind::nak);
  in_nak.duration = std::chrono::milliseconds(30);
  lab.arm_usb(in_nak);
  auto started = std::chrono::steady_clock::now();
  check_power_on_gives_atr(*client, 1, "t1-fs");
  CHECK(std::chrono::steady_clock::now() - started >= in_nak.duration);

  usb::Fault out_nak = in_nak;
  out_nak.endpoint = ccid::kBulkOut;
  lab.arm_usb(out_nak, 1);
  started = std::chrono::steady_clock::now();
  check_select_answers_9000(*client, 2);
  CHECK(std::chrono::steady_clock::now() - started >= out_nak.duration);
  CHECK(lab.firings_of("nak") == 2);
}

TEST_CASE("usb disconnect over usbredir: the waiting bulk-IN fails, the device leaves and comes back reset") {
  SharedReaderLab lab;
  auto client = lab.connect();
  check_power_on_gives_atr(*client, 1, "t1-fs");
  usb::Fault fault = usb_fault(usb::FaultKind::disconnect);
  fault.duration = std::chrono::milliseconds(20);
  lab.arm_usb(fault);
  REQUIRE(client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::get_slot_status, 2), kWait) ==
          usb::TransferStatus::ok);
  const auto in = client->bulk_in(ccid::kBulkIn, 271, kWait);
  REQUIRE(in.has_value());
  CHECK(in->status == usb::TransferStatus::io_error);
  REQUIRE(client->wait_for_disconnect(kWait));
  REQUIRE(client->wait_for_device(kWait));
  CHECK(client->connect_count() == 2);
  CHECK(lab.connections == 1);  // the same connection: the device left the bus, not the socket
  CHECK_FALSE(lab.reader->card_powered());
  REQUIRE(client->set_configuration(1, kWait));
  check_power_on_gives_atr(*client, 3, "t1-fs");
  REQUIRE(lab.log->firings.size() == 1);
  CHECK(lab.log->firings[0].detail.find("back after 20 ms") != std::string::npos);
}

TEST_CASE("usb needs-reset over usbredir: STALL everywhere until the peer's reset packet") {
  SharedReaderLab lab;
  auto client = lab.connect();
  lab.arm_usb(usb_fault(usb::FaultKind::needs_reset));
  CHECK(client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::get_slot_status, 1), kWait) ==
        usb::TransferStatus::stall);
  const auto cleared = endpoint_request(*client, 0x02, usb::kRequestClearFeature, ccid::kBulkOut);
  REQUIRE(cleared.has_value());
  CHECK(cleared->status == usb::TransferStatus::stall);
  client->send_reset();
  REQUIRE(client->set_configuration(1, kWait));
  check_power_on_gives_atr(*client, 2, "t1-fs");
}

}  // namespace readerlab::usbredir
