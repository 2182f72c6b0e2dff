// A usbredir server serving CCID readers on a real socket, and what tests need around it:
// captured log lines, the readers the factory made, clients and raw peers.
#pragma once

#include "cards/profiles.h"
#include "emulator/ccid/messages.h"
#include "emulator/ccid/reader.h"
#include "emulator/usbredir/client.h"
#include "emulator/usbredir/server.h"

#include <doctest/doctest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <unistd.h>
#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace readerlab::usbredir::test {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

inline constexpr auto kWait = std::chrono::milliseconds(5000);

enum class Transport { tcp, unix_socket };

inline const char* name_of(Transport t) { return t == Transport::tcp ? "tcp" : "unix"; }

// A unix socket path unique to this process and call, short enough for sun_path.
inline std::string unique_socket_path() {
  static std::atomic<int> counter{0};
  return (std::filesystem::temp_directory_path() /
          ("rl-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".sock"))
      .string();
}

inline Bytes ccid_command(ccid::Command type, std::uint8_t seq, Bytes data = {}) {
  ccid::Message m;
  m.type = static_cast<std::uint8_t>(type);
  m.seq = seq;
  m.data = std::move(data);
  return ccid::encode(m);
}

inline Bytes data_of(const Bytes& answer) {
  return answer.size() < ccid::kHeaderSize ? Bytes{} : Bytes(answer.begin() + ccid::kHeaderSize, answer.end());
}

// SELECT by DF name of the readerlab application every file-system card carries, with Le.
inline Bytes select_readerlab_application() {
  return {0x00, 0xA4, 0x04, 0x00, 0x0B, 0xF0, 0x72, 0x65, 0x61, 0x64, 0x65, 0x72, 0x6C, 0x61, 0x62, 0x01, 0x00};
}

struct Lab {
  explicit Lab(Transport transport, std::string card = "t1-fs") : card_name(std::move(card)) {
    SocketAddress wanted;
    if (transport == Transport::unix_socket) {
      wanted.is_unix = true;
      wanted.path = unique_socket_path();
    } else {
      wanted.host = "127.0.0.1";
      wanted.port = 0;
    }
    address = server.listen(wanted, [this] {
      auto reader = std::make_shared<ccid::Reader>();
      if (!card_name.empty()) reader->insert(cards::make_builtin_card(card_name));
      readers.push_back(reader);
      return reader;
    });
  }

  Logger logger() {
    return [this](const std::string& line) { log.push_back(line); };
  }

  bool logged(const std::string& text) const {
    for (const auto& line : log)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }

  std::string all_log() const {
    std::string text;
    for (const auto& line : log) text += line + "\n";
    return text;
  }

  // A client that has seen device_connect; the reader the server made for it.
  std::shared_ptr<Client> connect_client() {
    const auto before = readers.size();
    auto client = Client::connect(io, address, [this](const std::string& line) { client_log.push_back(line); });
    REQUIRE(client->wait_for_device(kWait));
    REQUIRE(readers.size() == before + 1);
    return client;
  }

  bool run_until(const std::function<bool()>& done) { return usbredir::run_until(io, done, kWait); }

  std::string card_name;
  boost::asio::io_context io;
  std::vector<std::string> log, client_log;
  std::vector<std::shared_ptr<ccid::Reader>> readers;
  Server server{io, [this](const std::string& line) { log.push_back(line); }};
  SocketAddress address;
};

// A peer that writes raw bytes to the server, and reads what comes back once asked to.
class RawPeer {
 public:
  RawPeer(boost::asio::io_context& io, const SocketAddress& address) : tcp_(io), local_(io) {
    if (address.is_unix) {
      local_.connect(boost::asio::local::stream_protocol::endpoint(address.path));
    } else {
      tcp_.connect({boost::asio::ip::make_address(address.host), address.port});
    }
    is_unix_ = address.is_unix;
  }

  void send(const Bytes& bytes) {
    if (is_unix_)
      boost::asio::write(local_, boost::asio::buffer(bytes));
    else
      boost::asio::write(tcp_, boost::asio::buffer(bytes));
  }

  // Collects what the server sends while the io_context runs.
  void start_reading() {
    auto on_read = [this](boost::system::error_code ec, std::size_t n) {
      if (ec) {
        read_closed_ = true;
        return;
      }
      received_.insert(received_.end(), chunk_.begin(), chunk_.begin() + static_cast<std::ptrdiff_t>(n));
      start_reading();
    };
    if (is_unix_)
      local_.async_read_some(boost::asio::buffer(chunk_), on_read);
    else
      tcp_.async_read_some(boost::asio::buffer(chunk_), on_read);
  }
  bool read_closed() const { return read_closed_; }

  struct Packet {
    std::uint32_t type = 0, id = 0;
    Bytes body;  // type header and data
  };
  // The whole packets received so far, for a peer whose hello announced no capabilities
  // (headers of 12 bytes: type, length, 32-bit id; little endian).
  std::vector<Packet> packets() const {
    auto le32 = [this](std::size_t at) {
      return static_cast<std::uint32_t>(received_[at]) | static_cast<std::uint32_t>(received_[at + 1]) << 8 |
             static_cast<std::uint32_t>(received_[at + 2]) << 16 | static_cast<std::uint32_t>(received_[at + 3]) << 24;
    };
    std::vector<Packet> found;
    std::size_t at = 0;
    while (at + 12 <= received_.size()) {
      const std::uint32_t length = le32(at + 4);
      if (at + 12 + length > received_.size()) break;
      const auto body = received_.begin() + static_cast<std::ptrdiff_t>(at + 12);
      found.push_back({le32(at), le32(at + 8), Bytes(body, body + length)});
      at += 12 + length;
    }
    return found;
  }

  // Ends the peer's side of the stream (the server reads end of file) without resetting it.
  void close() {
    boost::system::error_code ignored;
    if (is_unix_)
      local_.shutdown(boost::asio::socket_base::shutdown_send, ignored);
    else
      tcp_.shutdown(boost::asio::socket_base::shutdown_send, ignored);
  }

 private:
  boost::asio::ip::tcp::socket tcp_;
  boost::asio::local::stream_protocol::socket local_;
  bool is_unix_ = false;
  std::array<std::uint8_t, 4096> chunk_{};
  Bytes received_;
  bool read_closed_ = false;
};

// usbredir integers are little endian.
inline void put32(Bytes& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// A packet header before 64-bit ids are negotiated: type, length, 32-bit id.
inline Bytes header32(std::uint32_t type, std::uint32_t length, std::uint32_t id) {
  Bytes out;
  put32(out, type);
  put32(out, length);
  put32(out, id);
  return out;
}

// A hello announcing no capabilities, so the peer keeps 32-bit ids and 16-bit bulk lengths.
inline Bytes plain_hello() {
  Bytes out = header32(usb_redir_hello, 64 + 4, 0);
  const std::string version = "raw test peer";
  Bytes text(64, 0);
  std::copy(version.begin(), version.end(), text.begin());
  out.insert(out.end(), text.begin(), text.end());
  put32(out, 0);  // capabilities
  return out;
}

// A whole packet of a peer that said plain_hello.
inline Bytes packet32(std::uint32_t type, std::uint32_t id, const Bytes& body) {
  Bytes out = header32(type, static_cast<std::uint32_t>(body.size()), id);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// PC_to_RDR out, RDR_to_PC in, as libccid does it.
inline Bytes ccid_exchange(Client& client, const Bytes& message) {
  const auto out = client.bulk_out(ccid::kBulkOut, message, kWait);
  REQUIRE(out.has_value());
  REQUIRE(*out == usb::TransferStatus::ok);
  const auto in = client.bulk_in(ccid::kBulkIn, 271, kWait);
  REQUIRE(in.has_value());
  REQUIRE(in->status == usb::TransferStatus::ok);
  return in->data;
}

inline void check_power_on_gives_atr(Client& client, std::uint8_t seq, const std::string& card) {
  const Bytes answer = ccid_exchange(client, ccid_command(ccid::Command::icc_power_on, seq));
  REQUIRE(answer.size() >= ccid::kHeaderSize);
  CHECK(answer[0] == 0x80);
  CHECK(answer[6] == seq);
  CHECK(answer[7] == 0x00);
  CHECK(data_of(answer) == *cards::builtin_atr(card));
}

inline void check_select_answers_9000(Client& client, std::uint8_t seq) {
  const Bytes answer =
      ccid_exchange(client, ccid_command(ccid::Command::xfr_block, seq, select_readerlab_application()));
  REQUIRE(answer.size() >= ccid::kHeaderSize + 2);
  CHECK(answer[6] == seq);
  CHECK(answer[7] == 0x00);
  CHECK(answer[ccid::kHeaderSize] == 0x6F);
  CHECK(answer[answer.size() - 2] == 0x90);
  CHECK(answer.back() == 0x00);
}

// The session of the peer that connected last: the one whose reader was made for it.
inline std::shared_ptr<HostSession> session_of_newest(Lab& lab, std::size_t readers_before) {
  REQUIRE(lab.run_until([&] { return lab.readers.size() == readers_before + 1; }));
  auto sessions = lab.server.sessions_for(lab.readers.back().get());
  REQUIRE(sessions.size() == 1);
  return sessions[0];
}

// The other client still does a full PowerOn + SELECT exchange.
inline void check_client_still_served(Client& client, std::uint8_t seq) {
  REQUIRE(client.is_open());
  check_power_on_gives_atr(client, seq, "t1-fs");
  check_select_answers_9000(client, static_cast<std::uint8_t>(seq + 1));
}

}  // namespace readerlab::usbredir::test
