#include "emulator/usbredir/connection.h"

#include <boost/asio/write.hpp>

#include <usbredirfilter.h>

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

// Every packet callback of libusbredirparser, set before a role installs its own: the library
// calls them without checking, so one unset is a crash a peer can trigger at will. A role
// replaces the ones it serves; the rest answer as the usbredir protocol lets a device that
// does not support a request answer (a status of usb_redir_inval), or are logged and dropped
// where the protocol has no answer (statuses, notifications).
struct Connection::Refusals {
  static Connection& of(void* priv) { return *static_cast<Connection*>(priv); }

  static void set_configuration(void* priv, uint64_t id, usb_redir_set_configuration_header*) {
    answer_configuration(priv, id, "set_configuration");
  }
  static void get_configuration(void* priv, uint64_t id) { answer_configuration(priv, id, "get_configuration"); }
  static void answer_configuration(void* priv, uint64_t id, const char* what) {
    auto& c = of(priv);
    c.log_refusal(what);
    usb_redir_configuration_status_header status{};
    status.status = usb_redir_inval;
    usbredirparser_send_configuration_status(c.parser(), id, &status);
  }
  static void set_alt_setting(void* priv, uint64_t id, usb_redir_set_alt_setting_header* header) {
    answer_alt_setting(priv, id, header->interface, "set_alt_setting");
  }
  static void get_alt_setting(void* priv, uint64_t id, usb_redir_get_alt_setting_header* header) {
    answer_alt_setting(priv, id, header->interface, "get_alt_setting");
  }
  static void answer_alt_setting(void* priv, uint64_t id, uint8_t interface, const char* what) {
    auto& c = of(priv);
    c.log_refusal(what);
    usb_redir_alt_setting_status_header status{};
    status.status = usb_redir_inval;
    status.interface = interface;
    usbredirparser_send_alt_setting_status(c.parser(), id, &status);
  }
  static void start_iso_stream(void* priv, uint64_t id, usb_redir_start_iso_stream_header* header) {
    answer_iso_stream(priv, id, header->endpoint, "start_iso_stream");
  }
  static void stop_iso_stream(void* priv, uint64_t id, usb_redir_stop_iso_stream_header* header) {
    answer_iso_stream(priv, id, header->endpoint, "stop_iso_stream");
  }
  static void answer_iso_stream(void* priv, uint64_t id, uint8_t endpoint, const char* what) {
    auto& c = of(priv);
    c.log_refusal(what);
    usb_redir_iso_stream_status_header status{};
    status.status = usb_redir_inval;
    status.endpoint = endpoint;
    usbredirparser_send_iso_stream_status(c.parser(), id, &status);
  }
  static void start_interrupt_receiving(void* priv, uint64_t id, usb_redir_start_interrupt_receiving_header* header) {
    answer_interrupt_receiving(priv, id, header->endpoint, "start_interrupt_receiving");
  }
  static void stop_interrupt_receiving(void* priv, uint64_t id, usb_redir_stop_interrupt_receiving_header* header) {
    answer_interrupt_receiving(priv, id, header->endpoint, "stop_interrupt_receiving");
  }
  static void answer_interrupt_receiving(void* priv, uint64_t id, uint8_t endpoint, const char* what) {
    auto& c = of(priv);
    c.log_refusal(what);
    usb_redir_interrupt_receiving_status_header status{};
    status.status = usb_redir_inval;
    status.endpoint = endpoint;
    usbredirparser_send_interrupt_receiving_status(c.parser(), id, &status);
  }
  static void alloc_bulk_streams(void* priv, uint64_t id, usb_redir_alloc_bulk_streams_header* header) {
    answer_bulk_streams(priv, id, header->endpoints, "alloc_bulk_streams");
  }
  static void free_bulk_streams(void* priv, uint64_t id, usb_redir_free_bulk_streams_header* header) {
    answer_bulk_streams(priv, id, header->endpoints, "free_bulk_streams");
  }
  static void answer_bulk_streams(void* priv, uint64_t id, uint32_t endpoints, const char* what) {
    auto& c = of(priv);
    c.log_refusal(what);
    usb_redir_bulk_streams_status_header status{};
    status.status = usb_redir_inval;
    status.endpoints = endpoints;
    usbredirparser_send_bulk_streams_status(c.parser(), id, &status);
  }
  static void start_bulk_receiving(void* priv, uint64_t id, usb_redir_start_bulk_receiving_header* header) {
    answer_bulk_receiving(priv, id, header->stream_id, header->endpoint, "start_bulk_receiving");
  }
  static void stop_bulk_receiving(void* priv, uint64_t id, usb_redir_stop_bulk_receiving_header* header) {
    answer_bulk_receiving(priv, id, header->stream_id, header->endpoint, "stop_bulk_receiving");
  }
  static void answer_bulk_receiving(void* priv, uint64_t id, uint32_t stream_id, uint8_t endpoint, const char* what) {
    auto& c = of(priv);
    c.log_refusal(what);
    usb_redir_bulk_receiving_status_header status{};
    status.status = usb_redir_inval;
    status.stream_id = stream_id;
    status.endpoint = endpoint;
    usbredirparser_send_bulk_receiving_status(c.parser(), id, &status);
  }

  // Transfers: a usb-host answers each with its status; a usb-guest has nobody to answer.
  template <typename Header, void (*send)(usbredirparser*, uint64_t, Header*, uint8_t*, int)>
  static void transfer(void* priv, uint64_t id, Header* header, uint8_t* data, int, const char* what) {
    auto& c = of(priv);
    c.log_refusal(what);
    if (data) usbredirparser_free_packet_data(c.parser(), data);
    if (c.role() != Role::usb_host) return;
    Header reply = *header;
    reply.status = usb_redir_inval;
    reply.length = 0;
    if constexpr (requires { reply.length_high; }) reply.length_high = 0;
    send(c.parser(), id, &reply, nullptr, 0);
  }
  static void control_packet(void* priv, uint64_t id, usb_redir_control_packet_header* header, uint8_t* data, int len) {
    transfer<usb_redir_control_packet_header, usbredirparser_send_control_packet>(priv, id, header, data, len,
                                                                                  "control packet");
  }
  static void bulk_packet(void* priv, uint64_t id, usb_redir_bulk_packet_header* header, uint8_t* data, int len) {
    transfer<usb_redir_bulk_packet_header, usbredirparser_send_bulk_packet>(priv, id, header, data, len, "bulk packet");
  }
  // Isochronous OUT data is never answered one packet at a time (it flows in a stream the
  // peer must start first), and the library refuses to send such an answer: dropped.
  static void iso_packet(void* priv, uint64_t, usb_redir_iso_packet_header*, uint8_t* data, int) {
    auto& c = of(priv);
    c.log_refusal("iso packet", "dropped");
    if (data) usbredirparser_free_packet_data(c.parser(), data);
  }
  static void interrupt_packet(void* priv, uint64_t id, usb_redir_interrupt_packet_header* header, uint8_t* data,
                               int len) {
    transfer<usb_redir_interrupt_packet_header, usbredirparser_send_interrupt_packet>(priv, id, header, data, len,
                                                                                      "interrupt packet");
  }
  static void buffered_bulk_packet(void* priv, uint64_t, usb_redir_buffered_bulk_packet_header*, uint8_t* data, int) {
    auto& c = of(priv);
    c.log_refusal("buffered bulk packet", "dropped");
    if (data) usbredirparser_free_packet_data(c.parser(), data);
  }

  // The ownership of the rules passes to the callback (usbredirparser.h).
  static void filter_filter(void* priv, usbredirfilter_rule* rules, int) {
    of(priv).log_refusal("filter_filter (device filters are not applied)");
    usbredirfilter_free(rules);
  }
  static void filter_reject(void* priv) { of(priv).log("usbredir: the peer's filter rejected the device"); }
  // It acknowledges our device_disconnect: nothing is owed.
  static void device_disconnect_ack(void*) {}

  template <const char* what, typename... Args>
  static void ignore(void* priv, Args...) {
    of(priv).log_refusal(what, "dropped");
  }
};

namespace {
constexpr char kReset[] = "reset", kCancel[] = "cancel_data_packet", kDeviceConnect[] = "device_connect",
               kDeviceDisconnect[] = "device_disconnect", kInterfaceInfo[] = "interface_info", kEpInfo[] = "ep_info",
               kConfigurationStatus[] = "configuration_status", kAltSettingStatus[] = "alt_setting_status",
               kIsoStreamStatus[] = "iso_stream_status", kInterruptReceivingStatus[] = "interrupt_receiving_status",
               kBulkStreamsStatus[] = "bulk_streams_status", kBulkReceivingStatus[] = "bulk_receiving_status";

// The packet callbacks of struct usbredirparser, by name, for unset_callbacks().
std::vector<std::pair<const char*, bool>> packet_callbacks(const usbredirparser& p) {
  return {{"device_connect", p.device_connect_func != nullptr},
          {"device_disconnect", p.device_disconnect_func != nullptr},
          {"reset", p.reset_func != nullptr},
          {"interface_info", p.interface_info_func != nullptr},
          {"ep_info", p.ep_info_func != nullptr},
          {"set_configuration", p.set_configuration_func != nullptr},
          {"get_configuration", p.get_configuration_func != nullptr},
          {"configuration_status", p.configuration_status_func != nullptr},
          {"set_alt_setting", p.set_alt_setting_func != nullptr},
          {"get_alt_setting", p.get_alt_setting_func != nullptr},
          {"alt_setting_status", p.alt_setting_status_func != nullptr},
          {"start_iso_stream", p.start_iso_stream_func != nullptr},
          {"stop_iso_stream", p.stop_iso_stream_func != nullptr},
          {"iso_stream_status", p.iso_stream_status_func != nullptr},
          {"start_interrupt_receiving", p.start_interrupt_receiving_func != nullptr},
          {"stop_interrupt_receiving", p.stop_interrupt_receiving_func != nullptr},
          {"interrupt_receiving_status", p.interrupt_receiving_status_func != nullptr},
          {"alloc_bulk_streams", p.alloc_bulk_streams_func != nullptr},
          {"free_bulk_streams", p.free_bulk_streams_func != nullptr},
          {"bulk_streams_status", p.bulk_streams_status_func != nullptr},
          {"cancel_data_packet", p.cancel_data_packet_func != nullptr},
          {"control_packet", p.control_packet_func != nullptr},
          {"bulk_packet", p.bulk_packet_func != nullptr},
          {"iso_packet", p.iso_packet_func != nullptr},
          {"interrupt_packet", p.interrupt_packet_func != nullptr},
          {"hello", p.hello_func != nullptr},
          {"filter_reject", p.filter_reject_func != nullptr},
          {"filter_filter", p.filter_filter_func != nullptr},
          {"device_disconnect_ack", p.device_disconnect_ack_func != nullptr},
          {"start_bulk_receiving", p.start_bulk_receiving_func != nullptr},
          {"stop_bulk_receiving", p.stop_bulk_receiving_func != nullptr},
          {"bulk_receiving_status", p.bulk_receiving_status_func != nullptr},
          {"buffered_bulk_packet", p.buffered_bulk_packet_func != nullptr}};
}
}  // namespace

Connection::Connection(Socket socket, Role role, Logger logger)
    : socket_(std::move(socket)),
      role_(role),
      logger_(std::move(logger)),
      read_buffer_(kReadChunk),
      write_timer_(socket_.get_executor()) {
  parser_ = usbredirparser_create();
  parser_->priv = this;
  parser_->log_func = &Connection::log_callback;
  parser_->read_func = &Connection::read_callback;
  parser_->write_func = &Connection::write_callback;
  parser_->hello_func = &Connection::hello_callback;

  using R = Refusals;
  parser_->reset_func = &R::ignore<kReset>;
  parser_->cancel_data_packet_func = &R::ignore<kCancel, uint64_t>;
  parser_->set_configuration_func = &R::set_configuration;
  parser_->get_configuration_func = &R::get_configuration;
  parser_->set_alt_setting_func = &R::set_alt_setting;
  parser_->get_alt_setting_func = &R::get_alt_setting;
  parser_->start_iso_stream_func = &R::start_iso_stream;
  parser_->stop_iso_stream_func = &R::stop_iso_stream;
  parser_->start_interrupt_receiving_func = &R::start_interrupt_receiving;
  parser_->stop_interrupt_receiving_func = &R::stop_interrupt_receiving;
  parser_->alloc_bulk_streams_func = &R::alloc_bulk_streams;
  parser_->free_bulk_streams_func = &R::free_bulk_streams;
  parser_->start_bulk_receiving_func = &R::start_bulk_receiving;
  parser_->stop_bulk_receiving_func = &R::stop_bulk_receiving;
  parser_->control_packet_func = &R::control_packet;
  parser_->bulk_packet_func = &R::bulk_packet;
  parser_->iso_packet_func = &R::iso_packet;
  parser_->interrupt_packet_func = &R::interrupt_packet;
  parser_->buffered_bulk_packet_func = &R::buffered_bulk_packet;
  parser_->filter_filter_func = &R::filter_filter;
  parser_->filter_reject_func = &R::filter_reject;
  parser_->device_disconnect_ack_func = &R::device_disconnect_ack;
  parser_->device_connect_func = &R::ignore<kDeviceConnect, usb_redir_device_connect_header*>;
  parser_->device_disconnect_func = &R::ignore<kDeviceDisconnect>;
  parser_->interface_info_func = &R::ignore<kInterfaceInfo, usb_redir_interface_info_header*>;
  parser_->ep_info_func = &R::ignore<kEpInfo, usb_redir_ep_info_header*>;
  parser_->configuration_status_func =
      &R::ignore<kConfigurationStatus, uint64_t, usb_redir_configuration_status_header*>;
  parser_->alt_setting_status_func = &R::ignore<kAltSettingStatus, uint64_t, usb_redir_alt_setting_status_header*>;
  parser_->iso_stream_status_func = &R::ignore<kIsoStreamStatus, uint64_t, usb_redir_iso_stream_status_header*>;
  parser_->interrupt_receiving_status_func =
      &R::ignore<kInterruptReceivingStatus, uint64_t, usb_redir_interrupt_receiving_status_header*>;
  parser_->bulk_streams_status_func = &R::ignore<kBulkStreamsStatus, uint64_t, usb_redir_bulk_streams_status_header*>;
  parser_->bulk_receiving_status_func =
      &R::ignore<kBulkReceivingStatus, uint64_t, usb_redir_bulk_receiving_status_header*>;
}

std::vector<std::string> Connection::unset_callbacks() const {
  std::vector<std::string> unset;
  for (const auto& [name, set] : packet_callbacks(*parser_))
    if (!set) unset.emplace_back(name);
  return unset;
}

void Connection::log_refusal(const std::string& what, const char* outcome) {
  if (std::find(refused_kinds_.begin(), refused_kinds_.end(), what) != refused_kinds_.end()) return;
  refused_kinds_.push_back(what);
  log("usbredir: " + what + " from the peer is not served here; " + outcome + " (logged once per kind)");
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
  write_timer_.cancel();
  on_close();
  if (closed_handler_) closed_handler_(reason);
}

void Connection::read_more() {
  if (!open_) return;
  auto self = shared_from_this();
  socket_.async_read_some(boost::asio::buffer(read_buffer_), [this, self](boost::system::error_code ec, std::size_t n) {
    if (!open_) return;
    if (ec) {
      std::string reason;
      if (ec == boost::asio::error::eof)
        reason = "peer closed the connection";
      else if (ec == boost::asio::error::connection_reset)
        reason = "peer reset the connection";
      else
        reason = "read failed: " + ec.message();
      if (inside_packet()) reason += " in the middle of a packet";
      closed_by_peer_ = true;
      close(reason);
      return;
    }
    const auto began = std::chrono::steady_clock::now();
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
    if (busy_) {
      busy_->handling += std::chrono::steady_clock::now() - began;
      ++busy_->reads;
    }
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
    if (busy_) ++busy_->packets_received;
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
  const auto size = static_cast<std::size_t>(count);
  if (self->queued_output_ + size > kMaxQueuedOutput) {
    self->close("the peer does not read what it asked for: " + std::to_string(self->queued_output_ + size) +
                " bytes of replies queued, over the limit of " + std::to_string(kMaxQueuedOutput));
    return -1;
  }
  const auto shape = self->shape_output(size);
  auto not_before = std::chrono::steady_clock::now() + shape.delay;
  self->write_queue_.push_back(Outgoing{std::vector<std::uint8_t>(data, data + count), not_before, shape.chunk, 0});
  self->queued_output_ += size;
  if (self->busy_) ++self->busy_->packets_sent;
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
  auto& front = write_queue_.front();
  if (std::chrono::steady_clock::now() < front.not_before) {
    // A packet held back (transport latency): the ones behind it wait too, so order is kept.
    write_timer_.expires_at(front.not_before);
    write_timer_.async_wait([this, self](boost::system::error_code) {
      writing_ = false;
      if (!open_) return;
      write_queue_.front().not_before = {};
      write_more();
    });
    return;
  }
  const std::size_t left = front.bytes.size() - front.written;
  const std::size_t piece = front.chunk == 0 ? left : std::min(front.chunk, left);
  if (busy_) ++busy_->writes;
  boost::asio::async_write(socket_, boost::asio::buffer(front.bytes.data() + front.written, piece),
                           [this, self, piece](boost::system::error_code ec, std::size_t) {
                             writing_ = false;
                             if (!open_) return;
                             if (ec) {
                               close("write failed: " + ec.message());
                               return;
                             }
                             auto& sent = write_queue_.front();
                             sent.written += piece;
                             if (sent.written == sent.bytes.size()) {
                               queued_output_ -= sent.bytes.size();
                               write_queue_.pop_front();
                             }
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
