#include "emulator/usbredir/connection.h"

#include <boost/asio/write.hpp>

#include <cstring>

namespace readerlab::usbredir {
namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr char kVersion[] = "readerlab 0.1";
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
      close(ec == boost::asio::error::eof ? "peer closed the connection" : "read failed: " + ec.message());
      return;
    }
    read_offset_ = 0;
    read_length_ = n;
    // The parser pulls bytes through read_callback until the chunk is used up.
    while (open_ && read_offset_ < read_length_) {
      const int result = usbredirparser_do_read(parser_);
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
  std::memcpy(data, self->read_buffer_.data() + self->read_offset_, n);
  self->read_offset_ += n;
  return static_cast<int>(n);
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
    self->last_parser_error_ = message;
    self->log(std::string("usbredirparser: ") + message);
  }
}

void Connection::hello_callback(void* priv, usb_redir_hello_header*) { static_cast<Connection*>(priv)->on_hello(); }

}  // namespace readerlab::usbredir
