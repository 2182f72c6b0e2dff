#include "emulator/usbredir/connection.h"

#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <string>

namespace readerlab::usbredir {
namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr char kVersion[] = "readerlab 0.1";

// The longest packet (type header and data) accepted from a peer. The largest transfers on
// these connections are bulk IN answers bounded to 1 MiB in server.cpp; control data is at
// most 64 KiB (wLength, USB 2.0 9.3.5). libusbredirparser alone allows 128 MiB, which it
// allocates as soon as a header announces it, per connection, while waiting for the data.
constexpr std::uint64_t kMaxPacketLength = (1u << 20) + 1024;

// usbredir protocol: header fields are little endian.
std::uint32_t le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

constexpr char kParserPrefix[] = "usbredirparser: ";
}  // namespace

Connection::Connection(Socket socket, Role role, Logger logger)
    : socket_(std::move(socket)), role_(role), logger_(std::move(logger)), read_buffer_(kReadChunk) {
  parser_ = usbredirparser_create();
  parser_->priv = this;
  parser_->log_func = &Connection::log_callback;
  parser_->read_func = &Connection::read_callback;
  parser_->write_func = &Connection::write_callback;
  parser_->hello_func = &Connection::hello_callback;
}

Connection::~Connection() {
  if (parser_) usbredirparser_destroy(parser_);
}

void Connection::start() {
  install_callbacks(*parser_);
  uint32_t caps[USB_REDIR_CAPS_SIZE] = {};
  usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
  usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
  usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
  usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
  const int flags = role_ == Role::usb_host ? usbredirparser_fl_usb_host : 0;
  usbredirparser_init(parser_, kVersion, caps, USB_REDIR_CAPS_SIZE, flags);
  flush();
  read_more();
}

void Connection::log(const std::string& text) const {
  if (logger_) logger_(text);
}

void Connection::close(const std::string& reason) {
  if (!open_) return;
  open_ = false;
  close_reason_ = reason;
  log("usbredir connection closed: " + reason);
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (closed_handler_) closed_handler_(reason);
}

void Connection::read_more() {
  if (!open_) return;
  auto self = shared_from_this();
  socket_.async_read_some(boost::asio::buffer(read_buffer_), [this, self](boost::system::error_code ec, std::size_t n) {
    if (!open_) return;
    if (ec) {
      std::string reason;
      if (ec == boost::asio::error::eof) reason = "peer closed the connection";
      else if (ec == boost::asio::error::connection_reset) reason = "peer reset the connection";
      else reason = "read failed: " + ec.message();
      if (inside_packet()) reason += " in the middle of a packet";
      close(reason);
      return;
    }
    read_offset_ = 0;
    read_length_ = n;
    // The parser pulls bytes through read_callback until the chunk is used up.
    while (open_ && read_offset_ < read_length_) {
      const int result = usbredirparser_do_read(parser_);
      if (!framing_error_.empty()) {
        close("malformed usbredir stream: " + framing_error_);
        return;
      }
      if (result == usbredirparser_read_parse_error) {
        close("malformed usbredir stream" + (last_parser_error_.empty() ? std::string() : ": " + last_parser_error_));
        return;
      }
      if (result != 0) break;
    }
    if (!open_) return;
    flush();
    read_more();
  });
}

int Connection::read_callback(void* priv, uint8_t* data, int count) {
  auto* self = static_cast<Connection*>(priv);
  const std::size_t available = self->read_length_ - self->read_offset_;
  const std::size_t n = std::min<std::size_t>(available, static_cast<std::size_t>(count));
  if (n == 0) return 0;
  // Refused bytes never reach the parser: it reports an I/O error and read_more closes.
  if (!self->follow_framing(self->read_buffer_.data() + self->read_offset_, n)) return -1;
  std::memcpy(data, self->read_buffer_.data() + self->read_offset_, n);
  self->read_offset_ += n;
  return static_cast<int>(n);
}

bool Connection::follow_framing(const std::uint8_t* data, std::size_t count) {
  Framing& f = framing_;
  std::size_t i = 0;
  while (i < count) {
    if (f.body_left > 0) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(f.body_left, count - i));
      f.body_left -= take;
      i += take;
      continue;
    }
    if (f.header_read == 0) {
      // Ids are 64-bit once both hellos announced usb_redir_cap_64bits_ids; the parser has
      // handled every earlier packet by the time it pulls the next header.
      const bool ids64 = usbredirparser_have_cap(parser_, usb_redir_cap_64bits_ids) &&
                         usbredirparser_peer_has_cap(parser_, usb_redir_cap_64bits_ids);
      f.header_length = ids64 ? sizeof(usb_redir_header) : sizeof(usb_redir_header) - 4;
    }
    f.header[f.header_read++] = data[i++];
    if (f.header_read < f.header_length) continue;
    f.header_read = 0;
    const std::uint32_t type = le32(f.header);
    const std::uint32_t length = le32(f.header + 4);
    if (!f.hello_seen && type != usb_redir_hello) {
      framing_error_ = "first packet is of type " + std::to_string(type) + ", not hello";
      return false;
    }
    f.hello_seen = true;
    if (length > kMaxPacketLength) {
      framing_error_ = "packet of type " + std::to_string(type) + " announces a length of " + std::to_string(length) +
                       " bytes, over the limit of " + std::to_string(kMaxPacketLength);
      return false;
    }
    f.body_left = length;
  }
  return true;
}

int Connection::write_callback(void* priv, uint8_t* data, int count) {
  auto* self = static_cast<Connection*>(priv);
  if (!self->open_) return -1;
  self->write_queue_.emplace_back(data, data + count);
  self->write_more();
  return count;
}

void Connection::flush() {
  if (open_) usbredirparser_do_write(parser_);
}

void Connection::write_more() {
  if (writing_ || write_queue_.empty() || !open_) return;
  writing_ = true;
  auto self = shared_from_this();
  boost::asio::async_write(socket_, boost::asio::buffer(write_queue_.front()),
                           [this, self](boost::system::error_code ec, std::size_t) {
                             writing_ = false;
                             if (!open_) return;
                             if (ec) {
                               close("write failed: " + ec.message());
                               return;
                             }
                             write_queue_.pop_front();
                             write_more();
                           });
}

void Connection::log_callback(void* priv, int level, const char* message) {
  auto* self = static_cast<Connection*>(priv);
  if (level == usbredirparser_error) {
    // The library starts its messages with its own name; say it once.
    std::string text = message;
    if (text.rfind(kParserPrefix, 0) != 0) text = kParserPrefix + text;
    self->last_parser_error_ = text;
    self->log(text);
  }
}

void Connection::hello_callback(void* priv, usb_redir_hello_header*) { static_cast<Connection*>(priv)->on_hello(); }

}  // namespace readerlab::usbredir
