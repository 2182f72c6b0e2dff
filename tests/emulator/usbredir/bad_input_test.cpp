// Peers that do not speak usbredir properly: each loses its own connection, with the reason
// logged, while a well-behaved client on the same server keeps working.
#include "tests/emulator/usbredir/usbredir_support.h"

namespace readerlab::usbredir {
namespace {

using namespace test;

constexpr Transport kTransports[] = {Transport::unix_socket, Transport::tcp};

}  // namespace

TEST_CASE("a peer sending garbage is disconnected with a logged reason") {
  for (auto transport : kTransports) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    Lab lab(transport);
    auto good = lab.connect_client();
    REQUIRE(good->set_configuration(1, kWait));

    RawPeer peer(lab.io, lab.address);
    auto session = session_of_newest(lab, 1);
    Bytes garbage(256);
    for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::uint8_t>(0xA5 ^ (i * 37));
    peer.send(garbage);
    REQUIRE(lab.run_until([&] { return !session->is_open(); }));
    CAPTURE(lab.all_log());
    CHECK(session->close_reason().find("malformed usbredir stream: first packet is of type") == 0);
    CHECK(lab.logged("usbredir connection closed: malformed usbredir stream"));
    CHECK(lab.server.session_count() == 1);

    check_client_still_served(*good, 1);
  }
}

TEST_CASE("a packet before hello is refused") {
  Lab lab(Transport::unix_socket);
  auto good = lab.connect_client();
  REQUIRE(good->set_configuration(1, kWait));
  RawPeer peer(lab.io, lab.address);
  auto session = session_of_newest(lab, 1);
  Bytes reset = header32(usb_redir_reset, 0, 1);
  peer.send(reset);
  REQUIRE(lab.run_until([&] { return !session->is_open(); }));
  CAPTURE(lab.all_log());
  CHECK(session->close_reason() == "malformed usbredir stream: first packet is of type 3, not hello");
  CHECK(lab.readers.back()->commands_handled() == 0);
  check_client_still_served(*good, 1);
}

TEST_CASE("a peer that closes in the middle of a header is disconnected with a logged reason") {
  for (auto transport : kTransports) {
    const std::string transport_name = name_of(transport);
    CAPTURE(transport_name);
    Lab lab(transport);
    auto good = lab.connect_client();
    REQUIRE(good->set_configuration(1, kWait));

    RawPeer peer(lab.io, lab.address);
    auto session = session_of_newest(lab, 1);
    peer.send({0x00, 0x00, 0x00, 0x00, 0x44});  // 5 of the 12 header bytes of a hello
    peer.close();
    REQUIRE(lab.run_until([&] { return !session->is_open(); }));
    CAPTURE(lab.all_log());
    CHECK(session->close_reason() == "peer closed the connection in the middle of a packet");
    CHECK(lab.logged("usbredir connection closed: peer closed the connection in the middle of a packet"));
    CHECK(lab.server.session_count() == 1);

    check_client_still_served(*good, 1);
  }
}

TEST_CASE("a header announcing an absurd length is refused at once") {
  struct Case {
    const char* what;
    bool after_hello;
    std::uint32_t length;
  };
  // libusbredirparser alone refuses over 128 MiB but would allocate and wait for the 8 MiB.
  const Case cases[] = {
      {"hello of 0xFFFFFFF0 bytes", false, 0xFFFFFFF0u},
      {"bulk packet of 0xFFFFFFF0 bytes", true, 0xFFFFFFF0u},
      {"bulk packet of 8 MiB", true, 8u << 20},
      {"hello of 100 MiB", false, 100u << 20},
  };
  for (auto transport : kTransports) {
    for (const auto& c : cases) {
      const std::string transport_name = name_of(transport);
      CAPTURE(transport_name);
      const std::string what = c.what;
      CAPTURE(what);
      Lab lab(transport);
      auto good = lab.connect_client();
      REQUIRE(good->set_configuration(1, kWait));

      RawPeer peer(lab.io, lab.address);
      auto session = session_of_newest(lab, 1);
      // The peer keeps the connection open: the server must not wait for data that never comes.
      Bytes bytes = c.after_hello ? plain_hello() : Bytes{};
      const Bytes header = header32(c.after_hello ? usb_redir_bulk_packet : usb_redir_hello, c.length, 7);
      bytes.insert(bytes.end(), header.begin(), header.end());
      peer.send(bytes);
      REQUIRE(lab.run_until([&] { return !session->is_open(); }));
      CAPTURE(lab.all_log());
      CHECK(session->close_reason().find("announces a length of " + std::to_string(c.length)) != std::string::npos);
      CHECK(lab.logged("usbredir connection closed: " + session->close_reason()));
      CHECK(lab.server.session_count() == 1);

      check_client_still_served(*good, 1);
    }
  }
}

TEST_CASE("a peer that says hello and leaves between packets closes without complaint") {
  Lab lab(Transport::unix_socket);
  RawPeer peer(lab.io, lab.address);
  auto session = session_of_newest(lab, 0);
  peer.send(plain_hello());
  peer.close();
  REQUIRE(lab.run_until([&] { return !session->is_open(); }));
  CHECK(session->close_reason() == "peer closed the connection");
}

TEST_CASE("an unknown packet type after hello is refused by the parser with its reason") {
  Lab lab(Transport::unix_socket);
  auto good = lab.connect_client();
  REQUIRE(good->set_configuration(1, kWait));
  RawPeer peer(lab.io, lab.address);
  auto session = session_of_newest(lab, 1);
  Bytes bytes = plain_hello();
  const Bytes unknown = header32(0x7777, 0, 1);
  bytes.insert(bytes.end(), unknown.begin(), unknown.end());
  peer.send(bytes);
  REQUIRE(lab.run_until([&] { return !session->is_open(); }));
  CAPTURE(lab.all_log());
  CHECK(session->close_reason().find("malformed usbredir stream: usbredirparser: ") == 0);
  CHECK(session->close_reason().find("usbredirparser: usbredirparser:") == std::string::npos);
  CHECK(lab.logged("usbredir connection closed: malformed usbredir stream"));
  check_client_still_served(*good, 1);
}

TEST_CASE("a peer that sends a proper hello and then garbage only loses its own session") {
  Lab lab(Transport::tcp);
  auto good = lab.connect_client();
  REQUIRE(good->set_configuration(1, kWait));
  RawPeer peer(lab.io, lab.address);
  auto session = session_of_newest(lab, 1);
  Bytes bytes = plain_hello();
  // A control packet whose length is shorter than its own type header.
  const Bytes control = header32(usb_redir_control_packet, 2, 9);
  bytes.insert(bytes.end(), control.begin(), control.end());
  bytes.insert(bytes.end(), {0x80, 0x06});
  peer.send(bytes);
  REQUIRE(lab.run_until([&] { return !session->is_open(); }));
  CAPTURE(lab.all_log());
  CHECK(session->close_reason().find("malformed usbredir stream") == 0);
  check_client_still_served(*good, 1);
}

TEST_CASE("many random garbage peers never take the server down") {
  Lab lab(Transport::unix_socket);
  auto good = lab.connect_client();
  REQUIRE(good->set_configuration(1, kWait));
  std::uint32_t state = 12345;
  auto next = [&] {
    state = state * 1103515245u + 12345u;
    return static_cast<std::uint8_t>(state >> 16);
  };
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    RawPeer peer(lab.io, lab.address);
    auto session = session_of_newest(lab, static_cast<std::size_t>(round) + 1);
    Bytes bytes = round % 2 == 0 ? plain_hello() : Bytes{};
    const std::size_t size = 1 + next() % 200;
    for (std::size_t i = 0; i < size; ++i) bytes.push_back(next());
    peer.send(bytes);
    peer.close();
    REQUIRE(lab.run_until([&] { return !session->is_open(); }));
    CHECK_FALSE(session->close_reason().empty());
  }
  CHECK(lab.server.session_count() == 1);
  check_client_still_served(*good, 1);
}

}  // namespace readerlab::usbredir
