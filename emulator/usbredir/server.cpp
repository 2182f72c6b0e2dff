#include "emulator/usbredir/server.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include <filesystem>
#include <stdexcept>

namespace readerlab::usbredir {
namespace {

uint8_t redir_status(usb::TransferStatus status) {
  switch (status) {
    case usb::TransferStatus::ok: return usb_redir_success;
    case usb::TransferStatus::stall: return usb_redir_stall;
    case usb::TransferStatus::babble: return usb_redir_babble;
    case usb::TransferStatus::io_error: return usb_redir_ioerror;
    case usb::TransferStatus::cancelled: return usb_redir_cancelled;
    case usb::TransferStatus::invalid: return usb_redir_inval;
  }
  return usb_redir_ioerror;
}

uint8_t redir_speed(usb::Speed speed) {
  switch (speed) {
    case usb::Speed::low: return usb_redir_speed_low;
    case usb::Speed::full: return usb_redir_speed_full;
    case usb::Speed::high: return usb_redir_speed_high;
  }
  return usb_redir_speed_unknown;
}

std::uint32_t bulk_length(const usb_redir_bulk_packet_header& header) {
  return static_cast<std::uint32_t>(header.length_high) << 16 | header.length;
}

// Bounds a guest's IN request: a CCID message is far below this, and a peer must not make
// us reserve gigabytes.
constexpr std::uint32_t kMaxInLength = 1u << 20;

// A socket file left behind by a server that is gone is replaced. A live server's socket, or
// a path that is no socket at all (a user's file), stays, and bind then reports it in use.
void remove_stale_socket(boost::asio::io_context& io, const std::string& path) {
  std::error_code not_a_socket;
  if (!std::filesystem::is_socket(path, not_a_socket)) return;
  boost::asio::local::stream_protocol::socket probe(io);
  boost::system::error_code refused;
  probe.connect(boost::asio::local::stream_protocol::endpoint(path), refused);
  if (refused != boost::asio::error::connection_refused) return;
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

}  // namespace

HostSession::HostSession(Socket socket, std::shared_ptr<usb::Device> device, Logger logger)
    : Connection(std::move(socket), Role::usb_host, std::move(logger)), device_(std::move(device)) {}

// The device may outlive this session and serve a later one, which installs its own handler;
// the handler installed here checks that the session is still alive.
HostSession::~HostSession() = default;

void HostSession::install_callbacks(usbredirparser& p) {
  p.reset_func = &HostSession::reset_cb;
  p.set_configuration_func = &HostSession::set_configuration_cb;
  p.get_configuration_func = &HostSession::get_configuration_cb;
  p.set_alt_setting_func = &HostSession::set_alt_setting_cb;
  p.get_alt_setting_func = &HostSession::get_alt_setting_cb;
  p.start_interrupt_receiving_func = &HostSession::start_interrupt_cb;
  p.stop_interrupt_receiving_func = &HostSession::stop_interrupt_cb;
  p.cancel_data_packet_func = &HostSession::cancel_cb;
  p.control_packet_func = &HostSession::control_cb;
  p.bulk_packet_func = &HostSession::bulk_cb;
  p.interrupt_packet_func = &HostSession::interrupt_cb;
  // Isochronous transfers, bulk streams and bulk receiving: a CCID reader has no such
  // endpoints, and Connection answers them usb_redir_inval.
  std::weak_ptr<Connection> weak = weak_from_this();
  device_->on_in_data_ready([this, weak](std::uint8_t endpoint) {
    if (weak.expired() || !is_open()) return;
    complete_pending_in(endpoint);
    flush();
  });
  device_->on_disconnect_request([this, weak](std::chrono::milliseconds back_after) {
    if (weak.expired() || !is_open()) return;
    leave_bus_for(back_after);
  });
}

void HostSession::on_close() {
  // The transfers this session had waiting on the device end with it; the device and what it
  // holds (a queued answer) stay for the next session.
  for (const auto& ep : device_->endpoints()) {
    if (ep.address & 0x80)
      device_->cancel_in(ep.address);
    else
      device_->cancel_out(ep.address);
  }
  pending_in_.clear();
  pending_out_.clear();
  for (auto& [endpoint, timer] : ready_timers_) timer->cancel();
  if (replug_timer_) replug_timer_->cancel();
}

Connection::OutputShape HostSession::shape_output(std::size_t packet_size) {
  if (!transport_faults_ || transport_faults_->empty()) return {};
  const auto shape = transport_faults_->shape_packet(packet_size);
  return {shape.delay, shape.chunk};
}

void HostSession::leave_bus_for(std::chrono::milliseconds back_after) {
  // Asked from inside a transfer: the unplug waits until that transfer is answered.
  std::weak_ptr<Connection> weak = weak_from_this();
  boost::asio::post(executor(), [this, weak, back_after] {
    if (weak.expired() || !is_open()) return;
    unplug();
    if (!replug_timer_) replug_timer_ = std::make_unique<boost::asio::steady_timer>(executor());
    replug_timer_->expires_after(back_after);
    replug_timer_->async_wait([this, weak](boost::system::error_code ec) {
      if (ec || weak.expired() || !is_open()) return;
      replug();
    });
  });
}

void HostSession::on_hello() {
  hello_received_ = true;
  if (plugged_) attach();
}

void HostSession::attach() {
  usb_redir_interface_info_header interfaces{};
  const auto infos = device_->interfaces();
  interfaces.interface_count = static_cast<uint32_t>(infos.size());
  for (std::size_t i = 0; i < infos.size() && i < 32; ++i) {
    interfaces.interface[i] = infos[i].number;
    interfaces.interface_class[i] = infos[i].interface_class;
    interfaces.interface_subclass[i] = infos[i].interface_subclass;
    interfaces.interface_protocol[i] = infos[i].interface_protocol;
  }
  usbredirparser_send_interface_info(parser(), &interfaces);

  // usbredir indexes endpoints as ((address & 0x80) >> 3) | (address & 0x0F); unused ones are
  // marked invalid. Endpoint 0 is the control pipe in both directions.
  usb_redir_ep_info_header endpoints{};
  for (int i = 0; i < 32; ++i) endpoints.type[i] = usb_redir_type_invalid;
  endpoints.type[0] = endpoints.type[16] = usb_redir_type_control;
  endpoints.max_packet_size[0] = endpoints.max_packet_size[16] = 64;
  for (const auto& ep : device_->endpoints()) {
    const int index = ((ep.address & 0x80) >> 3) | (ep.address & 0x0F);
    endpoints.type[index] = static_cast<uint8_t>(ep.type);
    endpoints.interval[index] = ep.interval;
    endpoints.interface[index] = ep.interface_number;
    endpoints.max_packet_size[index] = ep.max_packet_size;
  }
  usbredirparser_send_ep_info(parser(), &endpoints);

  const auto identity = device_->identity();
  usb_redir_device_connect_header connect{};
  connect.speed = redir_speed(identity.speed);
  connect.device_class = identity.device_class;
  connect.device_subclass = identity.device_subclass;
  connect.device_protocol = identity.device_protocol;
  connect.vendor_id = identity.vendor_id;
  connect.product_id = identity.product_id;
  connect.device_version_bcd = identity.device_version_bcd;
  usbredirparser_send_device_connect(parser(), &connect);
  attached_ = true;
  flush();
}

void HostSession::unplug() {
  plugged_ = false;
  if (!attached_ || !is_open()) return;
  attached_ = false;
  pending_in_.clear();
  pending_out_.clear();
  interrupt_receiving_.clear();
  usbredirparser_send_device_disconnect(parser());
  flush();
}

void HostSession::replug() {
  plugged_ = true;
  if (attached_ || !is_open()) return;
  device_->bus_reset();
  if (hello_received_) attach();
}

void HostSession::complete_pending_in(std::uint8_t endpoint) {
  if (!attached_) return;
  const bool is_interrupt = interrupt_receiving_.count(endpoint) != 0;
  if (is_interrupt) {
    if (interrupt_receiving_[endpoint]) send_interrupt_data();
    return;
  }
  auto& queue = pending_in_[endpoint];
  while (!queue.empty()) {
    auto result = device_->transfer_in(endpoint, queue.front().length);
    if (!result) {
      wake_when_ready(endpoint);
      return;
    }
    const PendingIn request = queue.front();
    queue.pop_front();
    usb_redir_bulk_packet_header header{};
    header.endpoint = endpoint;
    header.status = redir_status(result->status);
    header.length = static_cast<uint16_t>(result->data.size() & 0xFFFF);
    header.length_high = static_cast<uint16_t>(result->data.size() >> 16);
    usbredirparser_send_bulk_packet(parser(), request.id, &header, result->data.data(),
                                    static_cast<int>(result->data.size()));
  }
}

void HostSession::wake_when_ready(std::uint8_t endpoint) {
  if (const auto ready_at = device_->next_attempt_at(endpoint)) wake_at(endpoint, *ready_at);
}

void HostSession::wake_at(std::uint8_t endpoint, std::chrono::steady_clock::time_point when) {
  auto& timer = ready_timers_[endpoint];
  if (!timer) timer = std::make_unique<boost::asio::steady_timer>(executor());
  timer->expires_at(when);
  std::weak_ptr<Connection> weak = weak_from_this();
  timer->async_wait([this, weak, endpoint](boost::system::error_code ec) {
    if (ec || weak.expired() || !is_open()) return;
    if (endpoint & 0x80)
      complete_pending_in(endpoint);
    else
      offer_pending_out();
    flush();
  });
}

void HostSession::offer_pending_out() {
  while (!pending_out_.empty()) {
    auto& front = pending_out_.front();
    std::optional<usb::TransferStatus> status = usb::TransferStatus::io_error;
    if (attached_) status = device_->try_transfer_out(front.header.endpoint, front.data);
    if (!status) {
      wake_when_ready(front.header.endpoint);
      return;
    }
    const PendingOut taken = std::move(front);
    pending_out_.pop_front();
    usb_redir_bulk_packet_header reply = taken.header;
    reply.status = redir_status(*status);
    if (*status == usb::TransferStatus::ok && transport_faults_ &&
        transport_faults_->drop_on_bulk_out(taken.header.endpoint, taken.data.size())) {
      close("transport fault: connection dropped in the middle of a transfer");
      return;
    }
    usbredirparser_send_bulk_packet(parser(), taken.id, &reply, nullptr, 0);
  }
}

// A halted endpoint answers every IN token with a STALL until the host clears the halt (USB 2.0
// 9.4.5). Over usbredir the device side does not see the tokens, so a halt is reported as an
// interrupt packet with a stall status (QEMU's usb-redir wakes the endpoint and fails the
// transfer waiting there) followed by the stream stopped with a stall status
// (interrupt_receiving_status): the usb-guest then fails its next transfer at once and starts
// receiving again for the one after, which meets this again while the halt lasts. Each transfer
// the guest's driver makes on a halted endpoint thus fails with a STALL, as on a bus, and the
// stream comes back once the driver cleared the halt.
void HostSession::report_interrupt_halt(std::uint8_t endpoint) {
  usb_redir_interrupt_packet_header packet{};
  packet.endpoint = endpoint;
  packet.status = usb_redir_stall;
  usbredirparser_send_interrupt_packet(parser(), interrupt_packet_id_++, &packet, nullptr, 0);
  interrupt_receiving_[endpoint] = false;
  usb_redir_interrupt_receiving_status_header status{};
  status.endpoint = endpoint;
  status.status = usb_redir_stall;
  usbredirparser_send_interrupt_receiving_status(parser(), 0, &status);
}

void HostSession::send_interrupt_data() {
  for (auto& [endpoint, receiving] : interrupt_receiving_) {
    if (!receiving) continue;
    if (device_->endpoint_halted(endpoint)) {
      report_interrupt_halt(endpoint);
      continue;
    }
    std::size_t max_size = 64;
    for (const auto& ep : device_->endpoints())
      if (ep.address == endpoint) max_size = ep.max_packet_size;
    bool answered = true;
    while (auto result = device_->transfer_in(endpoint, max_size)) {
      if (result->status == usb::TransferStatus::stall) {
        report_interrupt_halt(endpoint);
        answered = false;
        break;
      }
      usb_redir_interrupt_packet_header header{};
      header.endpoint = endpoint;
      header.status = redir_status(result->status);
      header.length = static_cast<uint16_t>(result->data.size());
      usbredirparser_send_interrupt_packet(parser(), interrupt_packet_id_++, &header, result->data.data(),
                                           static_cast<int>(result->data.size()));
      if (result->status != usb::TransferStatus::ok) {
        answered = false;
        break;
      }
    }
    // Data held back for time (a NAK): ask again then.
    if (answered) wake_when_ready(endpoint);
  }
}

bool HostSession::has_endpoint(std::uint8_t address, usb::TransferType type) const {
  for (const auto& ep : device_->endpoints())
    if (ep.address == address && ep.type == type) return true;
  return false;
}

void HostSession::reset_cb(void* priv) {
  auto& s = self(priv);
  s.pending_in_.clear();
  s.pending_out_.clear();
  s.device_->bus_reset();
}

void HostSession::set_configuration_cb(void* priv, uint64_t id, usb_redir_set_configuration_header* header) {
  auto& s = self(priv);
  s.device_->set_configuration(header->configuration);
  usb_redir_configuration_status_header status{};
  status.status = header->configuration <= 1 ? usb_redir_success : usb_redir_stall;
  status.configuration = s.device_->configuration();
  usbredirparser_send_configuration_status(s.parser(), id, &status);
  s.flush();
}

void HostSession::get_configuration_cb(void* priv, uint64_t id) {
  auto& s = self(priv);
  usb_redir_configuration_status_header status{};
  status.status = usb_redir_success;
  status.configuration = s.device_->configuration();
  usbredirparser_send_configuration_status(s.parser(), id, &status);
  s.flush();
}

// Every interface of the device has the one alternate setting 0; an interface the device lacks
// is a Request Error, a STALL (USB 2.0 9.4.4, 9.4.10).
void HostSession::answer_alt_setting(std::uint64_t id, std::uint8_t interface, std::uint8_t wanted_alt) {
  bool known = false;
  for (const auto& info : device_->interfaces()) known = known || info.number == interface;
  usb_redir_alt_setting_status_header status{};
  status.status = known && wanted_alt == 0 ? usb_redir_success : usb_redir_stall;
  status.interface = interface;
  status.alt = 0;
  usbredirparser_send_alt_setting_status(parser(), id, &status);
  flush();
}

void HostSession::set_alt_setting_cb(void* priv, uint64_t id, usb_redir_set_alt_setting_header* header) {
  self(priv).answer_alt_setting(id, header->interface, header->alt);
}

void HostSession::get_alt_setting_cb(void* priv, uint64_t id, usb_redir_get_alt_setting_header* header) {
  self(priv).answer_alt_setting(id, header->interface, 0);
}

void HostSession::start_interrupt_cb(void* priv, uint64_t id, usb_redir_start_interrupt_receiving_header* header) {
  auto& s = self(priv);
  const bool known = s.has_endpoint(header->endpoint, usb::TransferType::interrupt) && (header->endpoint & 0x80);
  usb_redir_interrupt_receiving_status_header status{};
  status.endpoint = header->endpoint;
  status.status = known && s.attached_ ? usb_redir_success : usb_redir_inval;
  usbredirparser_send_interrupt_receiving_status(s.parser(), id, &status);
  if (known && s.attached_) {
    s.interrupt_receiving_[header->endpoint] = true;
    s.send_interrupt_data();
  }
  s.flush();
}

void HostSession::stop_interrupt_cb(void* priv, uint64_t id, usb_redir_stop_interrupt_receiving_header* header) {
  auto& s = self(priv);
  // Only an interrupt IN endpoint has receiving to stop: marking another one would make its
  // bulk IN requests wait for interrupt data that never comes.
  const bool known = s.has_endpoint(header->endpoint, usb::TransferType::interrupt) && (header->endpoint & 0x80);
  if (known) s.interrupt_receiving_[header->endpoint] = false;
  usb_redir_interrupt_receiving_status_header status{};
  status.endpoint = header->endpoint;
  status.status = known ? usb_redir_success : usb_redir_inval;
  usbredirparser_send_interrupt_receiving_status(s.parser(), id, &status);
  s.flush();
}

void HostSession::cancel_cb(void* priv, uint64_t id) {
  auto& s = self(priv);
  for (auto& [endpoint, queue] : s.pending_in_) {
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (it->id != id) continue;
      // The first request waiting is the one the device was asked for.
      if (it == queue.begin()) s.device_->cancel_in(endpoint);
      usb_redir_bulk_packet_header header{};
      header.endpoint = endpoint;
      header.status = usb_redir_cancelled;
      usbredirparser_send_bulk_packet(s.parser(), id, &header, nullptr, 0);
      queue.erase(it);
      s.flush();
      return;
    }
  }
}

void HostSession::control_cb(void* priv, uint64_t id, usb_redir_control_packet_header* header, uint8_t* data, int len) {
  auto& s = self(priv);
  ++s.packets_handled_;
  usb_redir_control_packet_header reply = *header;
  usb::ControlResult result;
  if (!s.attached_) {
    result.status = usb::TransferStatus::io_error;
  } else {
    usb::SetupPacket setup{header->requesttype, header->request, header->value, header->index, header->length};
    result = s.device_->control(setup, std::span<const std::uint8_t>(data, data ? static_cast<std::size_t>(len) : 0));
    if (setup.device_to_host() && result.data.size() > header->length) result.data.resize(header->length);
  }
  reply.status = redir_status(result.status);
  if (header->requesttype & 0x80) {
    reply.length = static_cast<uint16_t>(result.data.size());
    usbredirparser_send_control_packet(s.parser(), id, &reply, result.data.data(),
                                       static_cast<int>(result.data.size()));
  } else {
    usbredirparser_send_control_packet(s.parser(), id, &reply, nullptr, 0);
  }
  if (data) usbredirparser_free_packet_data(s.parser(), data);
  s.flush();
}

void HostSession::bulk_cb(void* priv, uint64_t id, usb_redir_bulk_packet_header* header, uint8_t* data, int len) {
  auto& s = self(priv);
  ++s.packets_handled_;
  usb_redir_bulk_packet_header reply = *header;
  if (!s.attached_) {
    reply.status = usb_redir_ioerror;
    reply.length = reply.length_high = 0;
    usbredirparser_send_bulk_packet(s.parser(), id, &reply, nullptr, 0);
  } else if (header->endpoint & 0x80) {
    const std::uint32_t length = bulk_length(*header);
    auto& queue = s.pending_in_[header->endpoint];
    const bool bulk_in = s.has_endpoint(header->endpoint, usb::TransferType::bulk);
    if (!bulk_in || length == 0 || length > kMaxInLength || queue.size() >= kMaxPendingIn) {
      if (bulk_in && queue.size() >= kMaxPendingIn)
        s.log_refusal("more than " + std::to_string(kMaxPendingIn) + " bulk IN requests waiting on one endpoint");
      reply.status = usb_redir_inval;
      reply.length = reply.length_high = 0;
      usbredirparser_send_bulk_packet(s.parser(), id, &reply, nullptr, 0);
    } else {
      queue.push_back({id, length});
      s.complete_pending_in(header->endpoint);
    }
  } else {
    // OUT transfers are taken in order: one a NAK holds keeps the later ones behind it.
    const std::span<const std::uint8_t> out(data, data ? static_cast<std::size_t>(len) : 0);
    if (s.pending_out_.size() >= kMaxPendingOut) {
      s.log_refusal("more than " + std::to_string(kMaxPendingOut) + " bulk OUT transfers held by a NAK");
      reply.status = usb_redir_inval;
      usbredirparser_send_bulk_packet(s.parser(), id, &reply, nullptr, 0);
      if (data) usbredirparser_free_packet_data(s.parser(), data);
      s.flush();
      return;
    }
    s.pending_out_.push_back({id, *header, std::vector<std::uint8_t>(out.begin(), out.end())});
    if (s.pending_out_.size() == 1) s.offer_pending_out();
  }
  if (data) usbredirparser_free_packet_data(s.parser(), data);
  s.flush();
}

void HostSession::interrupt_cb(void* priv, uint64_t id, usb_redir_interrupt_packet_header* header, uint8_t* data,
                               int len) {
  auto& s = self(priv);
  usb_redir_interrupt_packet_header reply = *header;
  const auto status =
      s.attached_ ? s.device_->transfer_out(
                        header->endpoint, std::span<const std::uint8_t>(data, data ? static_cast<std::size_t>(len) : 0))
                  : usb::TransferStatus::io_error;
  reply.status = redir_status(status);
  usbredirparser_send_interrupt_packet(s.parser(), id, &reply, nullptr, 0);
  if (data) usbredirparser_free_packet_data(s.parser(), data);
  s.flush();
}

struct Server::Listener {
  SocketAddress address;
  DeviceFactory factory;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> tcp;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> local;
};

Server::Server(boost::asio::io_context& io, Logger logger) : io_(io), logger_(std::move(logger)) {}

Server::~Server() { close_all(); }

SocketAddress Server::listen(const SocketAddress& address, DeviceFactory factory) {
  auto listener = std::make_shared<Listener>();
  listener->address = address;
  listener->factory = std::move(factory);
  boost::system::error_code ec;
  if (address.is_unix) {
    remove_stale_socket(io_, address.path);
    listener->local = std::make_unique<boost::asio::local::stream_protocol::acceptor>(io_);
    boost::asio::local::stream_protocol::endpoint endpoint(address.path);
    listener->local->open(endpoint.protocol(), ec);
    if (!ec) listener->local->bind(endpoint, ec);
    if (!ec) listener->local->listen(boost::asio::socket_base::max_listen_connections, ec);
  } else {
    const auto ip = boost::asio::ip::make_address(address.host, ec);
    if (!ec) {
      boost::asio::ip::tcp::endpoint endpoint(ip, address.port);
      listener->tcp = std::make_unique<boost::asio::ip::tcp::acceptor>(io_);
      listener->tcp->open(endpoint.protocol(), ec);
      if (!ec) listener->tcp->set_option(boost::asio::socket_base::reuse_address(true), ec);
      if (!ec) listener->tcp->bind(endpoint, ec);
      if (!ec) listener->tcp->listen(boost::asio::socket_base::max_listen_connections, ec);
      if (!ec) listener->address.port = listener->tcp->local_endpoint().port();
    }
  }
  if (ec) throw std::runtime_error("cannot listen on " + address.to_string() + ": " + ec.message());
  listeners_.push_back(listener);
  accept_next(listener);
  return listener->address;
}

void Server::accept_next(const std::shared_ptr<Listener>& listener) {
  if (listener->tcp) {
    listener->tcp->async_accept([this, listener](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
      if (ec == boost::asio::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
        const auto protocol = socket.local_endpoint().protocol();
        Socket generic(io_, boost::asio::generic::stream_protocol(protocol.family(), protocol.protocol()),
                       socket.release());
        add_session(std::move(generic), listener);
      }
      accept_next(listener);
    });
  } else if (listener->local) {
    listener->local->async_accept(
        [this, listener](boost::system::error_code ec, boost::asio::local::stream_protocol::socket socket) {
          if (ec == boost::asio::error::operation_aborted) return;
          if (!ec) {
            Socket generic(io_, boost::asio::generic::stream_protocol(AF_UNIX, 0), socket.release());
            add_session(std::move(generic), listener);
          }
          accept_next(listener);
        });
  }
}

void Server::add_session(Socket socket, const std::shared_ptr<Listener>& listener) {
  auto device = listener->factory();
  if (!device) return;
  const auto faults = transport_faults_.find(device.get());
  auto session = std::make_shared<HostSession>(std::move(socket), std::move(device), logger_);
  if (faults != transport_faults_.end()) session->set_transport_faults(faults->second);
  session->count_busy_time(busy_);
  sessions_.push_back(session);
  // A closed session is forgotten at once: nothing stays behind per connection.
  session->on_closed([this, closed = session.get()](const std::string&) {
    sessions_.remove_if([closed](const auto& weak) {
      const auto live = weak.lock();
      return !live || live.get() == closed;
    });
  });
  if (logger_) logger_("usbredir: peer connected on " + listener->address.to_string());
  session->start();
}

void Server::arm_transport_fault(const usb::Device* device, const TransportFault& fault, std::uint64_t seed,
                                 std::size_t fault_index, std::shared_ptr<faults::FaultLog> log) {
  auto& armed = transport_faults_[device];
  if (!armed) armed = std::make_shared<ArmedTransportFaults>();
  armed->arm(fault, seed, fault_index, std::move(log));
  for (auto& session : sessions_for(device)) session->set_transport_faults(armed);
}

void Server::clear_transport_faults(const usb::Device* device) {
  if (const auto armed = transport_faults_.find(device); armed != transport_faults_.end()) armed->second->clear();
}

std::vector<std::shared_ptr<HostSession>> Server::sessions_for(const usb::Device* device) const {
  std::vector<std::shared_ptr<HostSession>> found;
  for (const auto& weak : sessions_)
    if (auto session = weak.lock(); session && session->is_open() && &session->device() == device)
      found.push_back(session);
  return found;
}

std::size_t Server::session_count() const {
  std::size_t count = 0;
  for (const auto& weak : sessions_)
    if (auto session = weak.lock(); session && session->is_open()) ++count;
  return count;
}

void Server::close_all() {
  for (auto& listener : listeners_) {
    boost::system::error_code ignored;
    if (listener->tcp) listener->tcp->close(ignored);
    if (listener->local) {
      listener->local->close(ignored);
      std::error_code not_there;
      std::filesystem::remove(listener->address.path, not_there);
    }
  }
  listeners_.clear();
  std::vector<std::shared_ptr<HostSession>> open_sessions;
  for (auto& weak : sessions_)
    if (auto session = weak.lock()) open_sessions.push_back(session);
  sessions_.clear();
  for (auto& session : open_sessions) session->close("server shutting down");
}

}  // namespace readerlab::usbredir
