// The usbredir server (usb-host side) against readerlab's usbredir client (the role QEMU
// plays) over real unix and TCP sockets, with a CCID reader as the device.
#include "tests/emulator/usbredir/usbredir_support.h"

#include <cstdio>

namespace readerlab::usbredir {
namespace {

using namespace test;

constexpr Transport kTransports[] = {Transport::unix_socket, Transport::tcp};

}  // namespace

TEST_CASE("a client sees the reader connect with its IDs, interface and endpoints") {
  for (auto transport : kTransports) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    Lab lab(transport);
    auto client = lab.connect_client();
    CHECK(client->device_connected());
    CHECK(client->connect_count() == 1);
    const auto& device = client->device_info();
    CHECK(device.vendor_id == 0x1209);
    CHECK(device.product_id == 0x0001);
    CHECK(device.device_version_bcd == 0x0100);
    CHECK(device.speed == usb_redir_speed_full);

    const auto& interfaces = client->interface_info();
    REQUIRE(interfaces.interface_count == 1);
    CHECK(interfaces.interface[0] == 0);
    CHECK(interfaces.interface_class[0] == 0x0B);

    // usbredir endpoint index: (address & 0x80) >> 3 | (address & 0x0F).
    const auto& endpoints = client->ep_info();
    CHECK(endpoints.type[0x01] == usb_redir_type_bulk);
    CHECK(endpoints.type[0x12] == usb_redir_type_bulk);
    CHECK(endpoints.type[0x13] == usb_redir_type_interrupt);
    CHECK(endpoints.interval[0x13] == 10);
    CHECK(endpoints.max_packet_size[0x01] == 64);
    CHECK(endpoints.max_packet_size[0x13] == 8);
    CHECK(endpoints.type[0x02] == usb_redir_type_invalid);
    CHECK(endpoints.type[0x11] == usb_redir_type_invalid);

    CHECK(lab.server.session_count() == 1);
    CHECK(lab.server.sessions_for(lab.readers[0].get()).size() == 1);
    CHECK(lab.logged("peer connected on " + lab.address.to_string()));
  }
}

TEST_CASE("GET_DESCRIPTOR and SET_CONFIGURATION through usbredir control") {
  for (auto transport : kTransports) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    Lab lab(transport);
    auto client = lab.connect_client();
    auto& reader = *lab.readers[0];

    const auto device = client->control({0x80, usb::kRequestGetDescriptor, 0x0100, 0, 18}, {}, kWait);
    REQUIRE(device.has_value());
    CHECK(device->status == usb::TransferStatus::ok);
    CHECK(device->data == usb::device_descriptor(reader.description()));

    const auto header = client->control({0x80, usb::kRequestGetDescriptor, 0x0200, 0, 9}, {}, kWait);
    REQUIRE(header.has_value());
    REQUIRE(header->data.size() == 9);
    const std::uint16_t total = static_cast<std::uint16_t>(header->data[2] | header->data[3] << 8);
    const auto config = client->control({0x80, usb::kRequestGetDescriptor, 0x0200, 0, total}, {}, kWait);
    REQUIRE(config.has_value());
    CHECK(config->data == usb::configuration_descriptor(reader.description()));
    CHECK(config->data.size() == 93);

    const auto qualifier = client->control({0x80, usb::kRequestGetDescriptor, 0x0600, 0, 10}, {}, kWait);
    REQUIRE(qualifier.has_value());
    CHECK(qualifier->status == usb::TransferStatus::stall);

    const auto rates = client->control({0xA1, ccid::kRequestGetDataRates, 0, 0, 255}, {}, kWait);
    REQUIRE(rates.has_value());
    CHECK(rates->data.size() == 45 * 4);

    CHECK(client->set_configuration(1, kWait));
    CHECK(reader.configuration() == 1);
    const auto get = client->control({0x80, usb::kRequestGetConfiguration, 0, 0, 1}, {}, kWait);
    REQUIRE(get.has_value());
    CHECK(get->data == Bytes{1});
  }
}

TEST_CASE("PowerOn and XfrBlock over bulk OUT and bulk IN") {
  for (auto transport : kTransports) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    Lab lab(transport);
    auto client = lab.connect_client();
    REQUIRE(client->set_configuration(1, kWait));
    check_power_on_gives_atr(*client, 1, "t1-fs");
    check_select_answers_9000(*client, 2);
    CHECK(lab.readers[0]->commands_handled() == 2);
  }
}

TEST_CASE("an answer longer than the IN request arrives in pieces over usbredir") {
  Lab lab(Transport::unix_socket);
  auto client = lab.connect_client();
  REQUIRE(client->set_configuration(1, kWait));
  check_power_on_gives_atr(*client, 1, "t1-fs");
  // READ BINARY of 256 bytes by SFI 1: a 268-byte RDR_to_PC_DataBlock, read 64 bytes at a time.
  REQUIRE(client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::xfr_block, 2, {0x00, 0xB0, 0x81, 0x00, 0x00}),
                           kWait) == usb::TransferStatus::ok);
  Bytes answer;
  for (int piece = 0; piece < 5; ++piece) {
    const auto in = client->bulk_in(ccid::kBulkIn, 64, kWait);
    REQUIRE(in.has_value());
    answer.insert(answer.end(), in->data.begin(), in->data.end());
  }
  REQUIRE(answer.size() == ccid::kHeaderSize + 258);
  CHECK(answer[1] == 0x02);  // dwLength 258
  CHECK(answer[2] == 0x01);
  for (std::size_t i = 0; i < 256; ++i) REQUIRE(answer[ccid::kHeaderSize + i] == static_cast<std::uint8_t>(i));
}

TEST_CASE("card insertion reaches the client as a NotifySlotChange interrupt packet") {
  for (auto transport : kTransports) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    Lab lab(transport, "");
    auto client = lab.connect_client();
    REQUIRE(client->set_configuration(1, kWait));
    REQUIRE(client->start_interrupt_receiving(ccid::kInterruptIn, kWait));
    auto& reader = *lab.readers[0];

    reader.insert(cards::make_builtin_card("t1-fs"));
    auto inserted = client->next_interrupt(ccid::kInterruptIn, kWait);
    REQUIRE(inserted.has_value());
    CHECK(*inserted == Bytes{0x50, 0x03});

    reader.remove();
    auto removed = client->next_interrupt(ccid::kInterruptIn, kWait);
    REQUIRE(removed.has_value());
    CHECK(*removed == Bytes{0x50, 0x02});

    // The notification was consumed: nothing is left waiting in the reader.
    CHECK_FALSE(reader.notification_pending());
  }
}

TEST_CASE("a card inserted before interrupt receiving starts is reported when it starts") {
  Lab lab(Transport::tcp);  // the factory inserts t1-fs before the client connects
  auto client = lab.connect_client();
  REQUIRE(client->start_interrupt_receiving(ccid::kInterruptIn, kWait));
  auto inserted = client->next_interrupt(ccid::kInterruptIn, kWait);
  REQUIRE(inserted.has_value());
  CHECK(*inserted == Bytes{0x50, 0x03});
}

TEST_CASE("interrupt receiving on an endpoint that is not interrupt IN is refused") {
  Lab lab(Transport::unix_socket);
  auto client = lab.connect_client();
  CHECK_FALSE(client->start_interrupt_receiving(0x82, kWait));
  CHECK_FALSE(client->start_interrupt_receiving(0x85, kWait));
  CHECK(client->start_interrupt_receiving(ccid::kInterruptIn, kWait));
}

TEST_CASE("unplug disconnects the device; replug connects it again and transfers work") {
  for (auto transport : kTransports) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    Lab lab(transport);
    auto client = lab.connect_client();
    REQUIRE(client->set_configuration(1, kWait));
    check_power_on_gives_atr(*client, 1, "t1-fs");

    auto sessions = lab.server.sessions_for(lab.readers[0].get());
    REQUIRE(sessions.size() == 1);
    auto session = sessions[0];
    session->unplug();
    CHECK_FALSE(session->device_attached());
    REQUIRE(client->wait_for_disconnect(kWait));
    CHECK(client->disconnect_count() == 1);
    CHECK_FALSE(client->device_connected());

    // While unplugged, transfers fail instead of reaching the reader.
    const auto out = client->bulk_out(ccid::kBulkOut, ccid_command(ccid::Command::get_slot_status, 2), kWait);
    REQUIRE(out.has_value());
    CHECK(*out != usb::TransferStatus::ok);
    CHECK(lab.readers[0]->commands_handled() == 1);

    session->replug();
    REQUIRE(client->wait_for_device(kWait));
    CHECK(client->connect_count() == 2);
    CHECK(client->device_info().vendor_id == 0x1209);
    // Replug is a new device for the host: unconfigured, card not powered.
    CHECK(lab.readers[0]->configuration() == 0);
    CHECK_FALSE(lab.readers[0]->card_powered());
    REQUIRE(client->set_configuration(1, kWait));
    check_power_on_gives_atr(*client, 3, "t1-fs");
    check_select_answers_9000(*client, 4);
    CHECK(session->is_open());
  }
}

TEST_CASE("several clients each get their own reader; one card removal leaves the others alone") {
  for (auto transport : kTransports) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    Lab lab(transport);
    auto first = lab.connect_client();
    auto second = lab.connect_client();
    auto third = lab.connect_client();
    REQUIRE(lab.readers.size() == 3);
    CHECK(lab.server.session_count() == 3);
    for (const auto& reader : lab.readers) CHECK(lab.server.sessions_for(reader.get()).size() == 1);

    for (auto* client : {first.get(), second.get(), third.get()}) {
      REQUIRE(client->set_configuration(1, kWait));
      REQUIRE(client->start_interrupt_receiving(ccid::kInterruptIn, kWait));
      auto inserted = client->next_interrupt(ccid::kInterruptIn, kWait);
      REQUIRE(inserted.has_value());
      CHECK(*inserted == Bytes{0x50, 0x03});
      check_power_on_gives_atr(*client, 1, "t1-fs");
    }

    lab.readers[0]->remove();
    auto removed = first->next_interrupt(ccid::kInterruptIn, kWait);
    REQUIRE(removed.has_value());
    CHECK(*removed == Bytes{0x50, 0x02});

    const Bytes gone = ccid_exchange(*first, ccid_command(ccid::Command::xfr_block, 2, select_readerlab_application()));
    REQUIRE(gone.size() >= ccid::kHeaderSize);
    CHECK(gone[7] == 0x42);  // ICC absent, command failed
    CHECK(gone[8] == ccid::error::icc_mute);

    check_select_answers_9000(*second, 2);
    check_select_answers_9000(*third, 2);
    CHECK(lab.readers[1]->card_present());
    CHECK(lab.readers[2]->card_present());

    // The first client leaves; the others keep their sessions.
    first->close("test done");
    CHECK(lab.run_until([&] { return lab.server.session_count() == 2; }));
    check_select_answers_9000(*second, 3);
  }
}

TEST_CASE("a bulk IN request is held until the reader has an answer") {
  Lab lab(Transport::unix_socket);
  auto client = lab.connect_client();
  REQUIRE(client->set_configuration(1, kWait));
  auto session = lab.server.sessions_for(lab.readers[0].get()).at(0);
  auto& reader = *lab.readers[0];

  // Nothing has been sent: the IN request cannot be answered yet. Once the server has taken
  // it, the command goes in on the server side and the held request completes with it.
  const auto handled_before = session->packets_handled();
  bool injected = false;
  std::function<void()> inject_when_held = [&] {
    if (session->packets_handled() > handled_before) {
      CHECK(reader.commands_handled() == 0);
      reader.transfer_out(ccid::kBulkOut, ccid_command(ccid::Command::icc_power_on, 0x2B));
      injected = true;
      return;
    }
    boost::asio::post(lab.io, inject_when_held);
  };
  boost::asio::post(lab.io, inject_when_held);
  const auto in = client->bulk_in(ccid::kBulkIn, 271, kWait);
  REQUIRE(in.has_value());
  CHECK(injected);
  CHECK(in->status == usb::TransferStatus::ok);
  REQUIRE(in->data.size() > ccid::kHeaderSize);
  CHECK(in->data[6] == 0x2B);
  CHECK(data_of(in->data) == *cards::builtin_atr("t1-fs"));
}

TEST_CASE("a bulk IN request the client gives up on is cancelled and does not eat the next answer") {
  Lab lab(Transport::tcp);
  auto client = lab.connect_client();
  REQUIRE(client->set_configuration(1, kWait));
  // Nothing to read: the client stops waiting and sends cancel_data_packet.
  CHECK_FALSE(client->bulk_in(ccid::kBulkIn, 271, 100ms).has_value());
  check_power_on_gives_atr(*client, 1, "t1-fs");
  check_select_answers_9000(*client, 2);
}

TEST_CASE("a usbredir reset puts the reader back to its power-on state") {
  Lab lab(Transport::unix_socket);
  auto client = lab.connect_client();
  REQUIRE(client->set_configuration(1, kWait));
  check_power_on_gives_atr(*client, 1, "t1-fs");
  client->send_reset();
  REQUIRE(lab.run_until([&] { return lab.readers[0]->configuration() == 0; }));
  CHECK_FALSE(lab.readers[0]->card_powered());
  REQUIRE(client->set_configuration(1, kWait));
  check_power_on_gives_atr(*client, 2, "t1-fs");
}

TEST_CASE("closing the server ends every session with a reason") {
  Lab lab(Transport::tcp);
  auto client = lab.connect_client();
  auto session = lab.server.sessions_for(lab.readers[0].get()).at(0);
  lab.server.close_all();
  CHECK_FALSE(session->is_open());
  CHECK(session->close_reason() == "server shutting down");
  CHECK(lab.logged("usbredir connection closed: server shutting down"));
  CHECK(lab.run_until([&] { return !client->is_open(); }));
  CHECK(client->close_reason() == "peer closed the connection");
  CHECK_THROWS_AS(Client::connect(lab.io, lab.address, {}), std::runtime_error);
}

TEST_CASE("listening on an address in use or a bad host throws naming the address") {
  Lab lab(Transport::tcp);
  Server other(lab.io, {});
  const std::string address = lab.address.to_string();
  CHECK_THROWS_WITH_AS(other.listen(lab.address, [] { return std::make_shared<ccid::Reader>(); }),
                       doctest::Contains(address.c_str()), std::runtime_error);
  SocketAddress bad;
  bad.host = "not-an-ip";
  CHECK_THROWS_AS(other.listen(bad, [] { return std::make_shared<ccid::Reader>(); }), std::runtime_error);
}

TEST_CASE("socket addresses parse as the command line spells them") {
  auto unix_address = parse_socket_address("unix:/tmp/x.sock");
  REQUIRE(unix_address.has_value());
  CHECK(unix_address->is_unix);
  CHECK(unix_address->path == "/tmp/x.sock");
  auto tcp = parse_socket_address("127.0.0.1:5555");
  REQUIRE(tcp.has_value());
  CHECK(tcp->host == "127.0.0.1");
  CHECK(tcp->port == 5555);
  auto v6 = parse_socket_address("[::1]:7");
  REQUIRE(v6.has_value());
  CHECK(v6->host == "::1");
  CHECK(v6->to_string() == "[::1]:7");
  const auto out_of_range = parse_socket_address("127.0.0.1:70000");
  REQUIRE_FALSE(out_of_range.has_value());
  CHECK(out_of_range.error().where == "socket address '127.0.0.1:70000'");
  CHECK(out_of_range.error().what == "port is not 0..65535");
  const auto no_host = parse_socket_address("nohost");
  REQUIRE_FALSE(no_host.has_value());
  CHECK(no_host.error().message() == "socket address 'nohost': expected HOST:PORT or unix:PATH");
  CHECK_FALSE(parse_socket_address("unix:").has_value());
  CHECK_FALSE(parse_socket_address("unix:/" + std::string(120, 'a')).has_value());
}

}  // namespace readerlab::usbredir

namespace readerlab::usbredir {

TEST_CASE("listening on a unix path that holds a user's file refuses and leaves the file alone") {
  boost::asio::io_context io;
  Server server(io, {});
  SocketAddress address;
  address.is_unix = true;
  address.path = test::unique_socket_path();
  {
    std::FILE* file = std::fopen(address.path.c_str(), "w");
    REQUIRE(file != nullptr);
    std::fputs("precious", file);
    std::fclose(file);
  }
  CHECK_THROWS_AS(server.listen(address, [] { return std::make_shared<ccid::Reader>(); }), std::runtime_error);
  CHECK(std::filesystem::is_regular_file(address.path));
  CHECK(std::filesystem::file_size(address.path) == 8);
  std::filesystem::remove(address.path);
}

TEST_CASE("a second server on a live unix socket refuses; the first keeps serving") {
  test::Lab lab(test::Transport::unix_socket);
  Server other(lab.io, {});
  CHECK_THROWS_AS(other.listen(lab.address, [] { return std::make_shared<ccid::Reader>(); }), std::runtime_error);
  CHECK(std::filesystem::is_socket(lab.address.path));
  auto client = Client::connect(lab.io, lab.address, {});
  CHECK(client->wait_for_device(test::kWait));
}

TEST_CASE("a unix socket left behind by a server that is gone is replaced") {
  boost::asio::io_context io;
  const std::string path = test::unique_socket_path();
  {
    boost::asio::local::stream_protocol::acceptor gone(io, boost::asio::local::stream_protocol::endpoint(path));
  }  // closed without removing its file
  REQUIRE(std::filesystem::is_socket(path));
  Server server(io, {});
  SocketAddress address;
  address.is_unix = true;
  address.path = path;
  REQUIRE_NOTHROW(server.listen(address, [] { return std::make_shared<ccid::Reader>(); }));
  auto client = Client::connect(io, address, {});
  CHECK(client->wait_for_device(test::kWait));
  client->close("test done");
  server.close_all();
  CHECK_FALSE(std::filesystem::exists(path));
}

}  // namespace readerlab::usbredir
