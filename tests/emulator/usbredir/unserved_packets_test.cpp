// Packets a CCID reader does not serve (isochronous streams, bulk streams, bulk receiving,
// filters, interfaces and settings it lacks): each gets the answer the usbredir protocol gives, or closes only its own
// connection with a logged reason, while a well-behaved client beside it keeps working.
#include "tests/emulator/usbredir/usbredir_support.h"

namespace readerlab::usbredir {
namespace {

using namespace test;

Bytes bytes_of_u32(std::uint32_t value) {
  Bytes out;
  put32(out, value);
  return out;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Unserved {
  const char* what;
  std::uint32_t type;
  Bytes body;                             // type header and data
  std::uint32_t answer_type;              // usb_redir_hello (0) when no answer is owed
  std::size_t status_offset;              // of the status byte in the answer's type header
  std::string closed_because;             // empty when the connection must stay open
  std::uint8_t status = usb_redir_inval;  // in the answer
};

// Byte layouts of usbredirproto.h; a peer without capabilities has 16-bit bulk lengths.
std::vector<Unserved> unserved_packets() {
  constexpr std::uint8_t kIsoOut = 0x03, kBulkIn = 0x82;
  return {
      {"start_iso_stream", usb_redir_start_iso_stream, {0x83, 8, 4}, usb_redir_iso_stream_status, 0, ""},
      {"stop_iso_stream", usb_redir_stop_iso_stream, {0x83}, usb_redir_iso_stream_status, 0, ""},
      {"alloc_bulk_streams", usb_redir_alloc_bulk_streams, concat(bytes_of_u32(1u << 2), bytes_of_u32(4)),
       usb_redir_bulk_streams_status, 8, ""},
      {"free_bulk_streams", usb_redir_free_bulk_streams, bytes_of_u32(1u << 2), usb_redir_bulk_streams_status, 8, ""},
      {"iso packet", usb_redir_iso_packet, {kIsoOut, 0, 4, 0, 1, 2, 3, 4}, usb_redir_hello, 0, ""},
      {"stop_interrupt_receiving on the bulk IN endpoint",
       usb_redir_stop_interrupt_receiving,
       {kBulkIn},
       usb_redir_interrupt_receiving_status,
       0,
       ""},
      {"start_interrupt_receiving on the bulk IN endpoint",
       usb_redir_start_interrupt_receiving,
       {kBulkIn},
       usb_redir_interrupt_receiving_status,
       0,
       ""},
      {"bulk IN on an endpoint the device lacks",
       usb_redir_bulk_packet,
       {0x85, 0, 64, 0, 0, 0, 0, 0},
       usb_redir_bulk_packet,
       1,
       ""},
      {"get_alt_setting of an interface the device lacks",
       usb_redir_get_alt_setting,
       {5},
       usb_redir_alt_setting_status,
       0,
       "",
       usb_redir_stall},
      {"set_alt_setting of an interface the device lacks",
       usb_redir_set_alt_setting,
       {5, 0},
       usb_redir_alt_setting_status,
       0,
       "",
       usb_redir_stall},
      {"set_alt_setting 1 of interface 0",
       usb_redir_set_alt_setting,
       {0, 1},
       usb_redir_alt_setting_status,
       0,
       "",
       usb_redir_stall},
      {"cancel of an unknown packet id", usb_redir_cancel_data_packet, {}, usb_redir_hello, 0, ""},
      // Packets the protocol allows only after a capability this server never announced: the
      // parser refuses them, and the connection closes naming the reason.
      {"filter_reject", usb_redir_filter_reject, {}, usb_redir_hello, 0, "filter_reject without cap_filter"},
      {"filter_filter",
       usb_redir_filter_filter,
       {'-', '1', ',', '-', '1', ',', '-', '1', ',', '-', '1', ',', '1', 0},
       usb_redir_hello,
       0,
       "filter_filter without cap_filter"},
      {"device_disconnect_ack",
       usb_redir_device_disconnect_ack,
       {},
       usb_redir_hello,
       0,
       "device_disconnect_ack without cap_device_disconnect_ack"},
      {"start_bulk_receiving",
       usb_redir_start_bulk_receiving,
       {1, 0, 0, 0, 0, 1, 0, 0, kBulkIn, 2},
       usb_redir_hello,
       0,
       "bulk_receiving"},
      {"stop_bulk_receiving",
       usb_redir_stop_bulk_receiving,
       {1, 0, 0, 0, kBulkIn},
       usb_redir_hello,
       0,
       "bulk_receiving"},
      // Interrupt IN data flows only from the device once receiving started; a guest cannot ask.
      {"interrupt IN request", usb_redir_interrupt_packet, {kBulkIn, 0, 0, 0}, usb_redir_hello, 0, "wrong direction"},
  };
}

}  // namespace

TEST_CASE("every libusbredirparser callback is set on both sides") {
  Lab lab(Transport::unix_socket);
  auto client = lab.connect_client();
  auto session = session_of_newest(lab, 0);
  std::string unset_on_server, unset_on_client;
  for (const auto& name : session->unset_callbacks()) unset_on_server += name + " ";
  for (const auto& name : client->unset_callbacks()) unset_on_client += name + " ";
  CHECK(unset_on_server == "");
  CHECK(unset_on_client == "");
}

TEST_CASE("each packet the reader does not serve gets the protocol's answer and hurts no other reader") {
  for (const auto& packet : unserved_packets()) {
    const std::string what = packet.what;
    CAPTURE(what);
    Lab lab(Transport::unix_socket);
    auto good = lab.connect_client();
    REQUIRE(good->set_configuration(1, kWait));

    RawPeer peer(lab.io, lab.address);
    auto session = session_of_newest(lab, 1);
    peer.start_reading();
    peer.send(plain_hello());
    REQUIRE(lab.run_until([&] {
      for (const auto& p : peer.packets())
        if (p.type == usb_redir_device_connect) return true;
      return false;
    }));
    constexpr std::uint32_t kId = 4242;
    peer.send(packet32(packet.type, kId, packet.body));

    if (packet.answer_type != usb_redir_hello) {
      std::optional<RawPeer::Packet> answer;
      REQUIRE(lab.run_until([&] {
        for (const auto& p : peer.packets())
          if (p.id == kId && p.type == packet.answer_type) answer = p;
        return answer.has_value();
      }));
      REQUIRE(answer->body.size() > packet.status_offset);
      CHECK(answer->body[packet.status_offset] == packet.status);
    }
    // The peer's own connection is still served afterwards, or was closed with the reason.
    CAPTURE(lab.all_log());
    if (packet.closed_because.empty()) {
      const Bytes get_configuration = packet32(usb_redir_get_configuration, kId + 1, {});
      peer.send(get_configuration);
      REQUIRE(lab.run_until([&] {
        for (const auto& p : peer.packets())
          if (p.id == kId + 1 && p.type == usb_redir_configuration_status) return true;
        return false;
      }));
      CHECK(session->is_open());
    } else {
      REQUIRE(lab.run_until([&] { return !session->is_open(); }));
      CHECK(session->close_reason().find(packet.closed_because) != std::string::npos);
    }
    check_client_still_served(*good, 1);
  }
}

TEST_CASE("unserved packets are logged once per kind, not once per packet") {
  Lab lab(Transport::unix_socket);
  RawPeer peer(lab.io, lab.address);
  auto session = session_of_newest(lab, 0);
  Bytes bytes = plain_hello();
  for (std::uint32_t id = 1; id <= 50; ++id) bytes = concat(bytes, packet32(usb_redir_stop_iso_stream, id, {0x83}));
  peer.start_reading();
  peer.send(bytes);
  REQUIRE(lab.run_until([&] {
    std::size_t answers = 0;
    for (const auto& p : peer.packets()) answers += p.type == usb_redir_iso_stream_status;
    return answers == 50;
  }));
  std::size_t lines = 0;
  for (const auto& line : lab.log) lines += line.find("stop_iso_stream") != std::string::npos;
  CHECK(lines == 1);
  CHECK(session->is_open());
}

TEST_CASE("a stop of interrupt receiving on the bulk IN endpoint does not wedge bulk IN") {
  Lab lab(Transport::unix_socket);
  auto client = lab.connect_client();
  REQUIRE(client->set_configuration(1, kWait));
  const auto status = client->raw_request(
      [](usbredirparser* parser, std::uint64_t id) {
        usb_redir_stop_interrupt_receiving_header header{ccid::kBulkIn};
        usbredirparser_send_stop_interrupt_receiving(parser, id, &header);
      },
      kWait);
  REQUIRE(status.has_value());
  CHECK(*status == usb_redir_inval);
  check_client_still_served(*client, 1);
}

TEST_CASE("bulk IN requests beyond the cap are answered at once, and the reader goes on") {
  Lab lab(Transport::unix_socket);
  auto good = lab.connect_client();
  REQUIRE(good->set_configuration(1, kWait));
  RawPeer peer(lab.io, lab.address);
  auto session = session_of_newest(lab, 1);
  peer.start_reading();
  // No command was sent, so the reader has nothing to answer: every request waits.
  Bytes bytes = plain_hello();
  const std::uint32_t requests = HostSession::kMaxPendingIn + 10;
  for (std::uint32_t id = 1; id <= requests; ++id)
    bytes = concat(bytes, packet32(usb_redir_bulk_packet, id, {ccid::kBulkIn, 0, 0x0F, 0x01, 0, 0, 0, 0}));
  peer.send(bytes);
  REQUIRE(lab.run_until([&] {
    std::size_t refused = 0;
    for (const auto& p : peer.packets())
      refused += p.type == usb_redir_bulk_packet && p.body.size() > 1 && p.body[1] == usb_redir_inval;
    return refused == 10;
  }));
  CHECK(lab.logged("more than " + std::to_string(HostSession::kMaxPendingIn) + " bulk IN requests"));
  CHECK(session->is_open());
  check_client_still_served(*good, 1);
}

TEST_CASE("a peer that never reads its replies is disconnected with the reason, the others go on") {
  Lab lab(Transport::unix_socket);
  auto good = lab.connect_client();
  REQUIRE(good->set_configuration(1, kWait));
  RawPeer peer(lab.io, lab.address);
  auto session = session_of_newest(lab, 1);
  // GET_DESCRIPTOR(configuration) asks for the most a control transfer gives: every answer
  // queues at the server while the peer reads nothing.
  Bytes burst;
  for (std::uint32_t id = 1; id <= 2000; ++id)
    burst = concat(burst, packet32(usb_redir_control_packet, id, {0x80, 0x06, 0x80, 0, 0x00, 0x02, 0, 0, 0xFF, 0xFF}));
  peer.send(plain_hello());
  // Each burst is read by the server before the next is written, so the test's own blocking
  // writes never wait on a full socket.
  for (std::uint64_t round = 1; session->is_open() && round <= 200; ++round) {
    peer.send(burst);
    lab.run_until([&] { return !session->is_open() || session->packets_handled() == 2000 * round; });
  }
  REQUIRE(lab.run_until([&] { return !session->is_open(); }));
  CHECK(session->close_reason().find("the peer does not read what it asked for") == 0);
  CHECK(session->queued_output() <= Connection::kMaxQueuedOutput);
  check_client_still_served(*good, 1);
}

TEST_CASE("a closed connection leaves nothing behind in the server") {
  Lab lab(Transport::unix_socket);
  for (int round = 0; round < 5; ++round) {
    std::weak_ptr<HostSession> weak;
    {
      auto client = lab.connect_client();
      weak = session_of_newest(lab, static_cast<std::size_t>(round));
      client->close("done");
    }
    REQUIRE(lab.run_until([&] { return weak.expired(); }));
    CHECK(lab.server.session_count() == 0);
  }
}

}  // namespace readerlab::usbredir
