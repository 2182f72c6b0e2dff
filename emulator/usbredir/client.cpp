#include "emulator/usbredir/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <stdexcept>

namespace readerlab::usbredir {

bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
  }
  return true;
}

usb::TransferStatus transfer_status_from_redir(std::uint8_t status) {
  switch (status) {
    case usb_redir_success: return usb::TransferStatus::ok;
    case usb_redir_stall: return usb::TransferStatus::stall;
    case usb_redir_babble: return usb::TransferStatus::babble;
    case usb_redir_cancelled: return usb::TransferStatus::cancelled;
    case usb_redir_inval: return usb::TransferStatus::invalid;
    default: return usb::TransferStatus::io_error;
  }
}

std::shared_ptr<Client> Client::connect(boost::asio::io_context& io, const SocketAddress& address, Logger logger) {
  boost::system::error_code ec;
  std::optional<Socket> socket;
  if (address.is_unix) {
    boost::asio::local::stream_protocol::socket local(io);
    local.connect(boost::asio::local::stream_protocol::endpoint(address.path), ec);
    if (!ec) socket.emplace(io, boost::asio::generic::stream_protocol(AF_UNIX, 0), local.release());
  } else {
    boost::asio::ip::tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(address.host, std::to_string(address.port), ec);
    if (!ec) {
      boost::asio::ip::tcp::socket tcp(io);
      boost::asio::connect(tcp, endpoints, ec);
      if (!ec) {
        tcp.set_option(boost::asio::ip::tcp::no_delay(true), ec);
        const auto protocol = tcp.local_endpoint().protocol();
        socket.emplace(io, boost::asio::generic::stream_protocol(protocol.family(), protocol.protocol()),
                       tcp.release());
      }
    }
  }
  if (ec || !socket) throw std::runtime_error("cannot connect to " + address.to_string() + ": " + ec.message());
  auto client = std::make_shared<Client>(io, std::move(*socket), std::move(logger));
  client->start();
  return client;
}

Client::Client(boost::asio::io_context& io, Socket socket, Logger logger)
    : Connection(std::move(socket), Role::usb_guest, std::move(logger)), io_(io) {}

void Client::install_callbacks(usbredirparser& p) {
  p.device_connect_func = [](void* priv, usb_redir_device_connect_header* header) {
    auto& s = self(priv);
    s.device_info_ = *header;
    s.connected_ = true;
    ++s.connect_count_;
  };
  p.device_disconnect_func = [](void* priv) {
    auto& s = self(priv);
    s.connected_ = false;
    ++s.disconnect_count_;
    s.interrupts_.clear();
    s.interrupt_stopped_.clear();
  };
  p.interface_info_func = [](void* priv, usb_redir_interface_info_header* header) {
    self(priv).interface_info_ = *header;
  };
  p.ep_info_func = [](void* priv, usb_redir_ep_info_header* header) { self(priv).ep_info_ = *header; };
  p.configuration_status_func = [](void* priv, uint64_t id, usb_redir_configuration_status_header* header) {
    self(priv).keep_reply(id, {true, header->status, {}});
  };
  p.alt_setting_status_func = [](void* priv, uint64_t id, usb_redir_alt_setting_status_header* header) {
    self(priv).keep_reply(id, {true, header->status, {}});
  };
  p.interrupt_receiving_status_func = [](void* priv, uint64_t id, usb_redir_interrupt_receiving_status_header* header) {
    auto& s = self(priv);
    // The device stopped the stream on a halted endpoint, after the interrupt packet with the
    // STALL that a read gets: the read after that one starts receiving again, as QEMU's usb-redir
    // does.
    if (header->status == usb_redir_stall && (header->endpoint & 0x80)) s.interrupt_stopped_.insert(header->endpoint);
    s.keep_reply(id, {true, header->status, {}});
  };
  p.iso_stream_status_func = [](void* priv, uint64_t id, usb_redir_iso_stream_status_header* header) {
    self(priv).keep_reply(id, {true, header->status, {}});
  };
  p.bulk_streams_status_func = [](void* priv, uint64_t id, usb_redir_bulk_streams_status_header* header) {
    self(priv).keep_reply(id, {true, header->status, {}});
  };
  p.bulk_receiving_status_func = [](void* priv, uint64_t id, usb_redir_bulk_receiving_status_header* header) {
    self(priv).keep_reply(id, {true, header->status, {}});
  };
  p.control_packet_func = [](void* priv, uint64_t id, usb_redir_control_packet_header* header, uint8_t* data, int len) {
    auto& s = self(priv);
    s.keep_reply(id, {true, header->status, usb::Bytes(data, data + (data ? len : 0))});
    if (data) usbredirparser_free_packet_data(s.parser(), data);
  };
  p.bulk_packet_func = [](void* priv, uint64_t id, usb_redir_bulk_packet_header* header, uint8_t* data, int len) {
    auto& s = self(priv);
    s.keep_reply(id, {true, header->status, usb::Bytes(data, data + (data ? len : 0))});
    if (data) usbredirparser_free_packet_data(s.parser(), data);
  };
  p.iso_packet_func = [](void* priv, uint64_t id, usb_redir_iso_packet_header* header, uint8_t* data, int) {
    auto& s = self(priv);
    s.keep_reply(id, {true, header->status, {}});
    if (data) usbredirparser_free_packet_data(s.parser(), data);
  };
  p.interrupt_packet_func = [](void* priv, uint64_t id, usb_redir_interrupt_packet_header* header, uint8_t* data,
                               int len) {
    auto& s = self(priv);
    if (header->endpoint & 0x80) {
      auto& queue = s.interrupts_[header->endpoint];
      if (queue.size() >= kMaxQueuedInterrupts) queue.pop_front();
      queue.push_back({header->status, usb::Bytes(data, data + (data ? len : 0))});
    } else {
      s.keep_reply(id, {true, header->status, {}});  // the status of an interrupt OUT transfer
    }
    if (data) usbredirparser_free_packet_data(s.parser(), data);
  };
}

bool Client::wait_for_device(Ms timeout) {
  return run_until(
             io_, [this] { return connected_ || !is_open(); }, timeout) &&
         connected_;
}

bool Client::wait_for_disconnect(Ms timeout) {
  return run_until(
             io_, [this] { return !connected_ || !is_open(); }, timeout) &&
         !connected_;
}

void Client::keep_reply(std::uint64_t id, Reply reply) {
  if (awaited_.erase(id)) replies_[id] = std::move(reply);
}

std::optional<Client::Reply> Client::wait_reply(std::uint64_t id, Ms timeout) {
  awaited_.insert(id);
  flush();
  const bool answered = run_until(
      io_, [&] { return replies_.count(id) != 0 || !is_open(); }, timeout);
  awaited_.erase(id);
  if (!answered) return std::nullopt;
  auto it = replies_.find(id);
  if (it == replies_.end()) return std::nullopt;
  Reply reply = std::move(it->second);
  replies_.erase(it);
  return reply;
}

std::optional<usb::ControlResult> Client::control(const usb::SetupPacket& setup, std::span<const std::uint8_t> out_data,
                                                  Ms timeout) {
  usb_redir_control_packet_header header{};
  header.endpoint = setup.device_to_host() ? 0x80 : 0x00;
  header.request = setup.request;
  header.requesttype = setup.request_type;
  header.value = setup.value;
  header.index = setup.index;
  header.length = setup.length;
  const auto id = next_id_++;
  if (setup.device_to_host()) {
    usbredirparser_send_control_packet(parser(), id, &header, nullptr, 0);
  } else {
    header.length = static_cast<uint16_t>(out_data.size());
    usbredirparser_send_control_packet(parser(), id, &header, const_cast<uint8_t*>(out_data.data()),
                                       static_cast<int>(out_data.size()));
  }
  auto reply = wait_reply(id, timeout);
  if (!reply) return std::nullopt;
  return usb::ControlResult{transfer_status_from_redir(reply->status), std::move(reply->data)};
}

std::optional<usb::TransferStatus> Client::bulk_out(std::uint8_t endpoint, std::span<const std::uint8_t> data,
                                                    Ms timeout) {
  usb_redir_bulk_packet_header header{};
  header.endpoint = endpoint;
  header.length = static_cast<uint16_t>(data.size() & 0xFFFF);
  header.length_high = static_cast<uint16_t>(data.size() >> 16);
  const auto id = next_id_++;
  usbredirparser_send_bulk_packet(parser(), id, &header, const_cast<uint8_t*>(data.data()),
                                  static_cast<int>(data.size()));
  auto reply = wait_reply(id, timeout);
  if (!reply) return std::nullopt;
  return transfer_status_from_redir(reply->status);
}

std::optional<usb::Device::InResult> Client::bulk_in(std::uint8_t endpoint, std::uint32_t length, Ms timeout) {
  usb_redir_bulk_packet_header header{};
  header.endpoint = endpoint;
  header.length = static_cast<uint16_t>(length & 0xFFFF);
  header.length_high = static_cast<uint16_t>(length >> 16);
  const auto id = next_id_++;
  usbredirparser_send_bulk_packet(parser(), id, &header, nullptr, 0);
  auto reply = wait_reply(id, timeout);
  if (!reply) {
    usbredirparser_send_cancel_data_packet(parser(), id);
    flush();
    return std::nullopt;
  }
  return usb::Device::InResult{transfer_status_from_redir(reply->status), std::move(reply->data)};
}

bool Client::set_configuration(std::uint8_t value, Ms timeout) {
  usb_redir_set_configuration_header header{value};
  const auto id = next_id_++;
  usbredirparser_send_set_configuration(parser(), id, &header);
  auto reply = wait_reply(id, timeout);
  return reply && reply->status == usb_redir_success;
}

bool Client::start_interrupt_receiving(std::uint8_t endpoint, Ms timeout) {
  usb_redir_start_interrupt_receiving_header header{endpoint};
  const auto id = next_id_++;
  usbredirparser_send_start_interrupt_receiving(parser(), id, &header);
  auto reply = wait_reply(id, timeout);
  return reply && reply->status == usb_redir_success;
}

std::optional<Client::InterruptPacket> Client::next_interrupt_packet(std::uint8_t endpoint, Ms timeout) {
  if (interrupt_stopped_.count(endpoint) && interrupts_[endpoint].empty()) {
    interrupt_stopped_.erase(endpoint);
    usb_redir_start_interrupt_receiving_header header{endpoint};
    usbredirparser_send_start_interrupt_receiving(parser(), next_id_++, &header);
    flush();
  }
  if (!run_until(
          io_, [&] { return !interrupts_[endpoint].empty() || !is_open(); }, timeout))
    return std::nullopt;
  auto& queue = interrupts_[endpoint];
  if (queue.empty()) return std::nullopt;
  auto packet = std::move(queue.front());
  queue.pop_front();
  return packet;
}

std::optional<usb::Bytes> Client::next_interrupt(std::uint8_t endpoint, Ms timeout) {
  auto packet = next_interrupt_packet(endpoint, timeout);
  if (!packet) return std::nullopt;
  return std::move(packet->data);
}

std::optional<std::uint8_t> Client::raw_request(const std::function<void(usbredirparser*, std::uint64_t)>& send,
                                                Ms timeout) {
  const auto id = next_id_++;
  send(parser(), id);
  auto reply = wait_reply(id, timeout);
  if (!reply) return std::nullopt;
  return reply->status;
}

void Client::send_reset() {
  usbredirparser_send_reset(parser());
  flush();
}

}  // namespace readerlab::usbredir
