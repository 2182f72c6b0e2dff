#include "emulator/usbredir/endpoint.h"

#include <charconv>

namespace readerlab::usbredir {

std::string SocketAddress::to_string() const {
  if (is_unix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Expected<SocketAddress> parse_socket_address(std::string_view text) {
  auto fail = [&](const char* why) -> Expected<SocketAddress> {
    return error("socket address '" + std::string(text) + "'", why);
  };
  SocketAddress address;
  if (text.rfind("unix:", 0) == 0) {
    address.is_unix = true;
    address.path = std::string(text.substr(5));
    if (address.path.empty()) return fail("empty unix socket path");
    if (address.path.size() >= 108) return fail("unix socket path longer than 107 bytes");
    return address;
  }
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail("expected [IPv6]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("expected HOST:PORT or unix:PATH");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return fail("empty host");
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535) return fail("port is not 0..65535");
  address.host = std::string(host);
  address.port = static_cast<unsigned short>(value);
  return address;
}

}  // namespace readerlab::usbredir
