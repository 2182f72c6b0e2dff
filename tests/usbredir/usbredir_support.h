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

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <unistd.h>
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

// A peer that speaks no usbredir: it writes raw bytes to the server.
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
    if (is_unix_) boost::asio::write(local_, boost::asio::buffer(bytes));
    else boost::asio::write(tcp_, boost::asio::buffer(bytes));
  }

  // Ends the peer's side of the stream (the server reads end of file) without resetting it.
  void close() {
    boost::system::error_code ignored;
    if (is_unix_) local_.shutdown(boost::asio::socket_base::shutdown_send, ignored);
    else tcp_.shutdown(boost::asio::socket_base::shutdown_send, ignored);
  }

 private:
  boost::asio::ip::tcp::socket tcp_;
  boost::asio::local::stream_protocol::socket local_;
  bool is_unix_ = false;
};

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
  const Bytes answer = ccid_exchange(client, ccid_command(ccid::Command::xfr_block, seq, select_readerlab_application()));
  REQUIRE(answer.size() >= ccid::kHeaderSize + 2);
  CHECK(answer[6] == seq);
  CHECK(answer[7] == 0x00);
  CHECK(answer[ccid::kHeaderSize] == 0x6F);
  CHECK(answer[answer.size() - 2] == 0x90);
  CHECK(answer.back() == 0x00);
}

}  // namespace readerlab::usbredir::test
