// Hostile usbredir packets from a peer, one row each, and the answer the usbredir protocol
// gives: a status packet (usb_redir_stall for a request the USB device refuses, USB 2.0
// 9.4 "Request Error"; usb_redir_inval for what the device does not have), or a closed
// connection with its reason logged. Where the connection is kept, the same peer then powers
// the card and runs an APDU through bulk packets; in every row a second connection on the
// same server does power-on + SELECT.
#include "tests/emulator/usbredir/usbredir_support.h"
#include "tests/hostile/hostile_support.h"

#include <array>
#include <cstring>
#include <optional>

namespace readerlab::hostile {
namespace {

using usbredir::test::kWait;
using usbredir::test::Lab;
using usbredir::test::Transport;

// usbredir integers are little endian.
void append_le(Bytes& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}
std::uint32_t le(const Bytes& in, std::size_t at, int bytes) {
  std::uint32_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value |= static_cast<std::uint32_t>(in.at(at + static_cast<std::size_t>(i))) << (8 * i);
  return value;
}

// A packet with a 32-bit id (the peer announces no 64-bit ids): type, length, id, payload.
Bytes packet(std::uint32_t type, std::uint32_t id, const Bytes& payload, std::optional<std::uint32_t> length = {}) {
  Bytes out;
  append_le(out, type, 4);
  append_le(out, length.value_or(static_cast<std::uint32_t>(payload.size())), 4);
  append_le(out, id, 4);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// The peer's hello: a version string of 64 bytes and the capability of 32-bit bulk lengths.
Bytes hello() {
  Bytes payload(64, 0);
  const std::string version = "hostile peer";
  std::memcpy(payload.data(), version.data(), version.size());
  append_le(payload, 1u << usb_redir_cap_32bits_bulk_length, 4);
  return packet(usb_redir_hello, 0, payload);
}

struct Packet {
  std::uint32_t type = 0, id = 0;
  Bytes payload;
};

// A peer that writes raw usbredir packets and reads what the server answers, on the lab's
// event loop.
class RawRedirPeer {
 public:
  explicit RawRedirPeer(Lab& lab) : lab_(lab), socket_(lab.io) {
    socket_.connect(boost::asio::local::stream_protocol::endpoint(lab.address.path));
    read();
  }
  ~RawRedirPeer() {
    *alive_ = false;
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  void send(const Bytes& bytes) { boost::asio::write(socket_, boost::asio::buffer(bytes)); }
  // Ends the peer's side of the stream; the server reads end of file.
  void leave() {
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::socket_base::shutdown_send, ignored);
  }

  // The next packet of this type the server sent (after those already taken).
  std::optional<Packet> next(std::uint32_t type) {
    std::optional<Packet> found;
    lab_.run_until([&] {
      split();
      for (auto it = packets_.begin(); it != packets_.end(); ++it) {
        if (it->type != type) continue;
        found = std::move(*it);
        packets_.erase(it);
        return true;
      }
      return *closed_;
    });
    return found;
  }

  // Bulk OUT of a CCID message on 01, then the RDR_to_PC answer from bulk IN 82.
  Bytes ccid_exchange(const Bytes& message, std::uint32_t id) {
    Bytes out;
    append_le(out, ccid::kBulkOut, 1);
    append_le(out, usb_redir_success, 1);
    append_le(out, message.size() & 0xFFFF, 2);
    append_le(out, 0, 4);  // stream id
    append_le(out, message.size() >> 16, 2);
    out.insert(out.end(), message.begin(), message.end());
    send(packet(usb_redir_bulk_packet, id, out));
    const auto sent = next(usb_redir_bulk_packet);
    REQUIRE(sent.has_value());
    CHECK(sent->payload.at(1) == usb_redir_success);
    Bytes in;
    append_le(in, ccid::kBulkIn, 1);
    append_le(in, usb_redir_success, 1);
    append_le(in, 271, 2);  // dwMaxCCIDMessageLength
    append_le(in, 0, 4);
    append_le(in, 0, 2);
    send(packet(usb_redir_bulk_packet, id + 1, in));
    const auto answer = next(usb_redir_bulk_packet);
    REQUIRE(answer.has_value());
    REQUIRE(answer->payload.size() >= 10);
    CHECK(answer->payload.at(1) == usb_redir_success);
    return Bytes(answer->payload.begin() + 10, answer->payload.end());
  }

 private:
  void read() {
    auto alive = alive_;
    auto closed = closed_;
    auto chunk = chunk_;
    socket_.async_read_some(
        boost::asio::buffer(*chunk), [this, alive, closed, chunk](boost::system::error_code ec, std::size_t n) {
          if (!*alive) return;
          if (ec) {
            *closed = true;
            return;
          }
          received_.insert(received_.end(), chunk->begin(), chunk->begin() + static_cast<std::ptrdiff_t>(n));
          read();
        });
  }

  void split() {
    constexpr std::size_t kHeader = 12;  // 32-bit ids: type, length, id
    while (received_.size() >= kHeader) {
      const std::uint32_t length = le(received_, 4, 4);
      if (received_.size() < kHeader + length) return;
      Packet p{le(received_, 0, 4), le(received_, 8, 4),
               Bytes(received_.begin() + kHeader, received_.begin() + static_cast<std::ptrdiff_t>(kHeader + length))};
      received_.erase(received_.begin(), received_.begin() + static_cast<std::ptrdiff_t>(kHeader + length));
      packets_.push_back(std::move(p));
    }
  }

  Lab& lab_;
  boost::asio::local::stream_protocol::socket socket_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<bool> closed_ = std::make_shared<bool>(false);
  std::shared_ptr<std::array<std::uint8_t, 65536>> chunk_ = std::make_shared<std::array<std::uint8_t, 65536>>();
  Bytes received_;
  std::vector<Packet> packets_;
};

// Where a status packet carries its status (the usbredir type headers, usbredirproto.h).
std::size_t status_offset(std::uint32_t type) {
  switch (type) {
    case usb_redir_bulk_streams_status: return 8;
    case usb_redir_bulk_receiving_status: return 5;
    case usb_redir_control_packet: return 3;
    case usb_redir_bulk_packet:
    case usb_redir_iso_packet:
    case usb_redir_interrupt_packet: return 1;
    default: return 0;  // configuration, alt setting, iso stream, interrupt receiving status
  }
}

constexpr std::uint32_t kNoReply = 0xFFFFFFFF;   // the server answers nothing; the session stays
constexpr std::uint32_t kClosed = 0xFFFFFFFE;    // the server closes the connection
constexpr std::uint32_t kRawBytes = 0xFFFFFFFF;  // the payload goes out as it is, with no header
// An endpoint the device does not have: usbredir's usb_redir_inval (no such endpoint in
// ep_info) and the device's usb_redir_stall are both refusals a usb-guest understands.
constexpr std::uint8_t kInvalOrStall = 0xFE;

struct Entry {
  const char* name;
  std::uint32_t type;        // the packet's type
  const char* payload;       // type header and data, hex
  std::uint32_t reply_type;  // the answer's type, kNoReply or kClosed
  std::uint8_t status = 0;   // the answer's status (usb_redir_success, _stall, _inval, ...)
  int data_length = -1;      // the answer's data bytes after its type header; -1: not checked
  const char* reason = "";   // kClosed: what the logged reason contains
  bool before_hello = false;
  std::optional<std::uint32_t> length = {};  // a header length that lies about the payload
  bool leaves = false;                       // the peer ends its side of the stream after it
};

// Control packet type header: endpoint, bRequest, bmRequestType, status, wValue, wIndex, wLength.
const Entry kCatalogue[] = {
    // Standard requests the device refuses (USB 2.0 9.4: Request Error, a STALL).
    {"SetConfiguration 5", usb_redir_set_configuration, "05", usb_redir_configuration_status, usb_redir_stall},
    {"SetInterface 0 to alternate setting 1", usb_redir_set_alt_setting, "00 01", usb_redir_alt_setting_status,
     usb_redir_stall},
    {"GET_DESCRIPTOR of string EE", usb_redir_control_packet, "80 06 80 00 EE03 0000 FFFF", usb_redir_control_packet,
     usb_redir_stall, 0},
    {"GET_DESCRIPTOR of descriptor type 42", usb_redir_control_packet, "80 06 80 00 0042 0000 FFFF",
     usb_redir_control_packet, usb_redir_stall, 0},
    {"a vendor request", usb_redir_control_packet, "80 01 C0 00 0000 0000 FFFF", usb_redir_control_packet,
     usb_redir_stall, 0},
    {"class request 7F to the interface", usb_redir_control_packet, "80 7F A1 00 0000 0000 FFFF",
     usb_redir_control_packet, usb_redir_stall, 0},
    {"GET_STATUS of endpoint 05, which does not exist", usb_redir_control_packet, "80 00 82 00 0000 0500 0200",
     usb_redir_control_packet, usb_redir_stall, 0},
    {"CLEAR_FEATURE(ENDPOINT_HALT) of endpoint 7F", usb_redir_control_packet, "00 01 02 00 0000 7F00 0000",
     usb_redir_control_packet, usb_redir_stall, 0},
    // wLength FFFF: the device sends what it has, never more (USB 2.0 9.3.5).
    {"GET_DESCRIPTOR of the device, wLength FFFF", usb_redir_control_packet, "80 06 80 00 0001 0000 FFFF",
     usb_redir_control_packet, usb_redir_success, 18},
    {"GET_DESCRIPTOR of the configuration, wLength FFFF", usb_redir_control_packet, "80 06 80 00 0002 0000 FFFF",
     usb_redir_control_packet, usb_redir_success, 9 + 9 + 54 + 3 * 7},
    {"GET_CLOCK_FREQUENCIES, wLength FFFF", usb_redir_control_packet, "80 02 A1 00 0000 0000 FFFF",
     usb_redir_control_packet, usb_redir_success, 4},
    // Transfers to endpoints the reader does not have, or of impossible sizes.
    {"bulk OUT to endpoint 05", usb_redir_bulk_packet, "05 00 0400 00000000 0000 01020304", usb_redir_bulk_packet,
     kInvalOrStall},
    {"bulk IN of 0 bytes", usb_redir_bulk_packet, "82 00 0000 00000000 0000", usb_redir_bulk_packet, usb_redir_inval,
     0},
    {"bulk IN of 2^31 bytes, over libusbredirparser's 128 MiB", usb_redir_bulk_packet, "82 00 0000 00000000 0080",
     kClosed, 0, -1, "bulk transfer length exceeds limits"},
    {"bulk IN of 1 MiB and 1 byte", usb_redir_bulk_packet, "82 00 0100 00000000 1000", usb_redir_bulk_packet,
     usb_redir_inval, 0},
    {"bulk IN from endpoint 81, which does not exist", usb_redir_bulk_packet, "81 00 0001 00000000 0000",
     usb_redir_bulk_packet, kInvalOrStall, 0},
    {"interrupt OUT to endpoint 02", usb_redir_interrupt_packet, "02 00 0400 01020304", usb_redir_interrupt_packet,
     kInvalOrStall},
    {"start interrupt receiving on the bulk-IN endpoint", usb_redir_start_interrupt_receiving, "82",
     usb_redir_interrupt_receiving_status, usb_redir_inval},
    {"start interrupt receiving on the OUT endpoint 01", usb_redir_start_interrupt_receiving, "01", kClosed, 0, -1,
     "start int receiving on non input ep"},
    {"start interrupt receiving on endpoint 85", usb_redir_start_interrupt_receiving, "85",
     usb_redir_interrupt_receiving_status, usb_redir_inval},
    {"cancel a packet never sent", usb_redir_cancel_data_packet, "", kNoReply},
    // What a CCID reader does not serve: requests get usb_redir_inval, data is dropped with a
    // logged refusal, packets that need a capability nobody announced close the connection.
    {"stop interrupt receiving on the bulk-IN endpoint", usb_redir_stop_interrupt_receiving, "82",
     usb_redir_interrupt_receiving_status, usb_redir_inval},
    {"start an iso stream on 84", usb_redir_start_iso_stream, "84 08 04", usb_redir_iso_stream_status, usb_redir_inval},
    {"stop an iso stream on 83", usb_redir_stop_iso_stream, "83", usb_redir_iso_stream_status, usb_redir_inval},
    {"allocate 2^32-1 bulk streams", usb_redir_alloc_bulk_streams, "04000000 FFFFFFFF", usb_redir_bulk_streams_status,
     usb_redir_inval},
    {"free bulk streams", usb_redir_free_bulk_streams, "04000000", usb_redir_bulk_streams_status, usb_redir_inval},
    {"an iso packet to endpoint 03", usb_redir_iso_packet, "03 00 0400 01020304", kNoReply, 0, -1,
     "iso packet from the peer is not served here"},
    {"filter_reject", usb_redir_filter_reject, "", kClosed, 0, -1, "filter_reject without cap_filter"},
    {"filter_filter", usb_redir_filter_filter, "2D 31 2C 2D 31 2C 2D 31 2C 2D 31 2C 31 00", kClosed, 0, -1,
     "filter_filter without cap_filter"},
    {"device_disconnect_ack", usb_redir_device_disconnect_ack, "", kClosed, 0, -1,
     "device_disconnect_ack without cap_device_disconnect_ack"},
    {"start bulk receiving on 82", usb_redir_start_bulk_receiving, "01000000 00010000 82 02", kClosed, 0, -1,
     "bulk_receiving"},
    {"stop bulk receiving on 82", usb_redir_stop_bulk_receiving, "01000000 82", kClosed, 0, -1, "bulk_receiving"},
    {"an interrupt IN request from the peer", usb_redir_interrupt_packet, "83 00 0800", kClosed, 0, -1,
     "wrong direction"},
    // Packets that break the stream: the connection closes with the reason.
    {"packet type 7777", 0x7777, "", kClosed, 0, -1, "malformed usbredir stream: usbredirparser: "},
    {"packet type 99, between the control and the data packets", 99, "", kClosed, 0, -1,
     "malformed usbredir stream: usbredirparser: "},
    {"a control packet shorter than its header", usb_redir_control_packet, "80 06", kClosed, 0, -1,
     "malformed usbredir stream"},
    {"a bulk packet whose header says 4 bytes and carries 2", usb_redir_bulk_packet, "01 00 0400 00000000 0000 6F00",
     kClosed, 0, -1, "malformed usbredir stream"},
    {"a header announcing 2^31 bytes", usb_redir_bulk_packet, "", kClosed, 0, -1, "announces a length of 2147483648",
     false, 0x80000000u},
    {"a header announcing 2^32-1 bytes", usb_redir_control_packet, "", kClosed, 0, -1,
     "announces a length of 4294967295", false, 0xFFFFFFFFu},
    {"a device_connect from the usb-guest side", usb_redir_device_connect, "01 00 00 00 0912 0100 0001 0001", kClosed,
     0, -1, "malformed usbredir stream"},
    // Before hello.
    {"reset before hello", usb_redir_reset, "", kClosed, 0, -1, "first packet is of type 3, not hello", true},
    {"a bulk packet before hello", usb_redir_bulk_packet, "01 00 0000 00000000 0000", kClosed, 0, -1,
     "first packet is of type 101, not hello", true},
    {"a hello of 0xFFFFFFF0 bytes", usb_redir_hello, "", kClosed, 0, -1, "announces a length of 4294967280", true,
     0xFFFFFFF0u},
    {"a hello of 2 bytes", usb_redir_hello, "41 42", kClosed, 0, -1, "malformed usbredir stream", true},
    {"32 random bytes instead of a hello", kRawBytes,
     "F7 E1 C3 A5 5A 3C 1E 0F 99 88 77 66 55 44 33 22 11 00 FF EE DD CC BB AA 01 23 45 67 89 AB CD EF", kClosed, 0, -1,
     "first packet is of type 2781078007, not hello", true},
    {"5 of the 12 bytes of a header, then the peer leaves",
     kRawBytes,
     "00000000 44",
     kClosed,
     0,
     -1,
     "peer closed the connection in the middle of a packet",
     true,
     {},
     true},
    {"half a bulk packet after hello, then the peer leaves",
     kRawBytes,
     "65000000 0E000000 01000000 01 00 0400",
     kClosed,
     0,
     -1,
     "peer closed the connection in the middle of a packet",
     false,
     {},
     true},
};

// Mutated CCID messages through bulk OUT: the transfer succeeds and the reader's answer on
// bulk IN says what is wrong (CCID 6.2.6).
struct CcidEntry {
  const char* name;
  const char* message;
  std::uint8_t type;
  std::uint8_t error;
};

const CcidEntry kCcid[] = {
    {"CCID dwLength 2^31", "6F 00000080 00 07 000000", 0x80, 1},
    {"CCID header cut at 5 bytes", "62 00000000", 0x80, 1},
    {"CCID type FF", "FF 00000000 00 07 000000", 0x81, 0x00},
    {"CCID bSlot 7", "62 00000000 07 07 000000", 0x80, 5},
    {"CCID 4 KiB XfrBlock", "6F 00100000 00 07 000000 00*4096", 0x80, 1},
};

void hello_and_device(RawRedirPeer& peer) {
  peer.send(hello());
  REQUIRE(peer.next(usb_redir_device_connect).has_value());
}

// The same connection still powers the card and runs an APDU.
void check_peer_served(RawRedirPeer& peer) {
  using namespace ccid::test;
  const Bytes atr = peer.ccid_exchange(command(ccid::Command::icc_power_on, 0x61), 1000);
  REQUIRE(atr.size() >= ccid::kHeaderSize);
  CHECK(status_of(atr) == kActiveOk);
  CHECK(data_of(atr) == *cards::builtin_atr("t1-fs"));
  const Bytes answer = peer.ccid_exchange(command(ccid::Command::xfr_block, 0x62, select_application()), 1002);
  REQUIRE(answer.size() >= ccid::kHeaderSize + 2);
  CHECK(to_hex(data_of(answer)).ends_with("90 00"));
}

void check_neighbour_served(usbredir::Client& client) {
  REQUIRE(client.is_open());
  usbredir::test::check_power_on_gives_atr(client, 0x71, "t1-fs");
  usbredir::test::check_select_answers_9000(client, 0x72);
}

}  // namespace

std::size_t usbredir_catalogue_size() { return std::size(kCatalogue) + std::size(kCcid); }

TEST_CASE("hostile usbredir packets get a status packet or a closed connection with its reason") {
  for (const Entry& entry : kCatalogue) {
    const std::string name = entry.name;
    CAPTURE(name);
    Lab lab(Transport::unix_socket);
    auto neighbour = lab.connect_client();
    REQUIRE(neighbour->set_configuration(1, kWait));
    RawRedirPeer peer(lab);
    auto session = usbredir::test::session_of_newest(lab, 1);
    if (!entry.before_hello) hello_and_device(peer);

    peer.send(entry.type == kRawBytes ? bytes_of(entry.payload)
                                      : packet(entry.type, 77, bytes_of(entry.payload), entry.length));
    if (entry.leaves) peer.leave();
    if (entry.reply_type == kClosed) {
      if (!lab.run_until([&] { return !session->is_open(); })) {
        FAIL_CHECK("still open\n" << lab.all_log());
        continue;
      }
      CAPTURE(lab.all_log());
      CHECK(session->close_reason().find(entry.reason) != std::string::npos);
      CHECK(lab.logged("usbredir connection closed: " + session->close_reason()));
    } else if (entry.reply_type == kNoReply) {
      check_peer_served(peer);
      CHECK(session->is_open());
      if (*entry.reason) CHECK(lab.logged(entry.reason));
    } else {
      const auto reply = peer.next(entry.reply_type);
      if (!reply) {
        FAIL_CHECK("no reply; session open: " << session->is_open() << ", reason: " << session->close_reason() << "\n"
                                              << lab.all_log());
        continue;
      }
      CHECK(reply->id == 77);
      const std::string reply_hex = to_hex(reply->payload);
      CAPTURE(reply_hex);
      const int status = reply->payload.at(status_offset(entry.reply_type));
      if (entry.status == kInvalOrStall) {
        CHECK((status == usb_redir_inval || status == usb_redir_stall));
      } else {
        CHECK(status == int(entry.status));
      }
      if (entry.data_length >= 0) {
        const std::size_t header = entry.reply_type == usb_redir_control_packet ? 10
                                   : entry.reply_type == usb_redir_bulk_packet  ? 10
                                                                                : 4;
        CHECK(reply->payload.size() == header + static_cast<std::size_t>(entry.data_length));
      }
      CHECK(session->is_open());
      check_peer_served(peer);
    }
    CHECK(lab.server.session_count() == (session->is_open() ? 2u : 1u));
    check_neighbour_served(*neighbour);
  }
}

TEST_CASE("mutated CCID messages over usbredir get the reader's error answer and the session stays") {
  for (const CcidEntry& entry : kCcid) {
    const std::string name = entry.name;
    CAPTURE(name);
    Lab lab(Transport::unix_socket);
    auto neighbour = lab.connect_client();
    REQUIRE(neighbour->set_configuration(1, kWait));
    RawRedirPeer peer(lab);
    auto session = usbredir::test::session_of_newest(lab, 1);
    hello_and_device(peer);
    const Bytes answer = peer.ccid_exchange(bytes_of(entry.message), 500);
    const std::string answer_hex = to_hex(answer);
    CAPTURE(answer_hex);
    REQUIRE(answer.size() >= ccid::kHeaderSize);
    CHECK(ccid::test::type_of(answer) == entry.type);
    CHECK((ccid::test::status_of(answer) & 0xC0) == 0x40);  // bmCommandStatus 1: failed, CCID 6.2.6
    CHECK(ccid::test::error_of(answer) == entry.error);
    check_peer_served(peer);
    CHECK(session->is_open());
    check_neighbour_served(*neighbour);
  }
}

}  // namespace readerlab::hostile
