// One usbredir stream over a socket: owns the libusbredirparser instance, feeds it what the
// socket reads and writes what it queues. The usb-host side (server) and the usb-guest side
// (client) both build on it. Single-threaded: everything runs on the socket's io_context.
#pragma once

#include "emulator/usbredir/endpoint.h"

#include <usbredirparser.h>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace readerlab::usbredir {

using Logger = std::function<void(const std::string&)>;

// The time connections spent on what they read: from a read's completion to the answers it
// caused queued for writing (the parser, the device, the card). The emulator's own share of a
// round trip; the rest is the peer's and the kernel's.
struct BusyTime {
  std::chrono::nanoseconds handling{0};
  std::uint64_t reads = 0;
  // usbredir packets each way (hello included), and the socket writes the ones sent took.
  std::uint64_t packets_received = 0, packets_sent = 0, writes = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Role { usb_host, usb_guest };

  Connection(Socket socket, Role role, Logger logger);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends hello and starts reading. Call once, after construction through make_shared.
  void start();
  // Closes the socket; the reason is logged once.
  void close(const std::string& reason);
  bool is_open() const { return open_; }
  const std::string& close_reason() const { return close_reason_; }
  // Closed because the peer closed or reset its end (not by close() on this side).
  bool closed_by_peer() const { return closed_by_peer_; }

  void on_closed(std::function<void(const std::string&)> handler) { closed_handler_ = std::move(handler); }
  // Where this connection adds the time it spends on each read (none: not counted).
  void count_busy_time(std::shared_ptr<BusyTime> busy) { busy_ = std::move(busy); }

  // The parser callbacks left unset: libusbredirparser calls them unchecked, so a peer's
  // packet of such a type would jump to address 0. Empty for every connection that started.
  std::vector<std::string> unset_callbacks() const;

  // What a peer can make a connection hold: replies it does not read, and requests it queues.
  static constexpr std::size_t kMaxQueuedOutput = 8u << 20;
  std::size_t queued_output() const { return queued_output_; }

 protected:
  usbredirparser* parser() { return parser_; }
  Socket::executor_type executor() { return socket_.get_executor(); }
  void flush();  // writes what the parser queued
  void log(const std::string& text) const;
  Role role() const { return role_; }
  // Logs the first packet of a kind this connection refuses; later ones are handled alike,
  // without filling the log.
  void log_refusal(const std::string& what, const char* outcome = "answered with usb_redir_inval");

  // Hooks for the roles; the parser callbacks land here.
  virtual void install_callbacks(usbredirparser& parser) = 0;
  virtual void on_hello() {}
  // Called once when the connection closes, before the closed handler.
  virtual void on_close() {}

  // How one packet to the peer leaves: `delay` late, in socket writes of at most `chunk` bytes
  // (0: one write). Packets keep their order whatever their delays. Transport faults shape it.
  struct OutputShape {
    std::chrono::steady_clock::duration delay{};
    std::size_t chunk = 0;
  };
  virtual OutputShape shape_output(std::size_t packet_size) {
    (void)packet_size;
    return {};
  }

 private:
  struct Refusals;  // the answers to every packet a role does not serve (connection.cpp)
  void read_more();
  void write_more();
  static int read_callback(void* priv, uint8_t* data, int count);
  static int write_callback(void* priv, uint8_t* data, int count);
  static void log_callback(void* priv, int level, const char* message);
  static void hello_callback(void* priv, usb_redir_hello_header* hello);
  // Follows the packet framing of the bytes the parser pulls; false (and framing_error_ set)
  // for a stream the parser would accept but this connection refuses.
  bool follow_framing(const std::uint8_t* data, std::size_t count);
  bool inside_packet() const { return framing_.header_read > 0 || framing_.body_left > 0; }

  Socket socket_;
  Role role_;
  Logger logger_;
  usbredirparser* parser_ = nullptr;
  std::vector<std::uint8_t> read_buffer_;
  std::size_t read_offset_ = 0, read_length_ = 0;
  std::shared_ptr<BusyTime> busy_;
  struct Outgoing {
    std::vector<std::uint8_t> bytes;
    std::chrono::steady_clock::time_point not_before;
    std::size_t chunk = 0;
    std::size_t written = 0;
  };
  std::deque<Outgoing> write_queue_;
  boost::asio::steady_timer write_timer_;
  std::size_t queued_output_ = 0;
  std::vector<std::string> refused_kinds_;
  bool writing_ = false;
  bool open_ = true;
  bool closed_by_peer_ = false;
  std::string close_reason_;
  std::string last_parser_error_;
  struct Framing {
    std::uint8_t header[sizeof(usb_redir_header)] = {};
    std::size_t header_read = 0;
    std::size_t header_length = 0;  // of the header being read: 12 or 16 bytes
    std::uint64_t body_left = 0;    // type header and data of the current packet
    bool hello_seen = false;
  } framing_;
  std::string framing_error_;
  std::function<void(const std::string&)> closed_handler_;
};

}  // namespace readerlab::usbredir
