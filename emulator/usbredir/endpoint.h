// Socket addresses as the command line spells them: "HOST:PORT" or "unix:PATH".
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include <string>
#include <string_view>

#include "base/error.h"

namespace readerlab::usbredir {

struct SocketAddress {
  bool is_unix = false;
  std::string host;  // TCP host
  unsigned short port = 0;
  std::string path;  // unix socket path

  std::string to_string() const;
};

// Parses "unix:/path", "127.0.0.1:5555" or "[::1]:5555". An Error names the address
// ("socket address 'nohost'") and what is wrong with it.
Expected<SocketAddress> parse_socket_address(std::string_view text);

using Socket = boost::asio::generic::stream_protocol::socket;

}  // namespace readerlab::usbredir
