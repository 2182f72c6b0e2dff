// Socket addresses as the command line spells them: "HOST:PORT" or "unix:PATH".
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include <optional>
#include <string>

namespace readerlab::usbredir {

struct SocketAddress {
  bool is_unix = false;
  std::string host;  // TCP host
  unsigned short port = 0;
  std::string path;  // unix socket path

  std::string to_string() const;
};

// Parses "unix:/path", "127.0.0.1:5555" or "[::1]:5555"; nullopt with a reason on failure.
std::optional<SocketAddress> parse_socket_address(const std::string& text, std::string* error = nullptr);

using Socket = boost::asio::generic::stream_protocol::socket;

}  // namespace readerlab::usbredir
