// The usb-guest side of usbredir (the role QEMU plays): connects to a usb-host server and
// performs transfers on the device it offers. Used by tests and by host-side drivers.
// Calls block by running the io_context until their answer arrives or the timeout passes.
#pragma once

#include "emulator/usb/device.h"
#include "emulator/usbredir/connection.h"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <set>

namespace readerlab::usbredir {

// Runs io until done() or the timeout; returns done().
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout);

class Client : public Connection {
 public:
  using Ms = std::chrono::milliseconds;

  // Connects (blocking) and sends hello; throws std::runtime_error on failure.
  static std::shared_ptr<Client> connect(boost::asio::io_context& io, const SocketAddress& address, Logger logger);

  Client(boost::asio::io_context& io, Socket socket, Logger logger);

  boost::asio::io_context& io() { return io_; }
  bool wait_for_device(Ms timeout);
  bool wait_for_disconnect(Ms timeout);
  bool device_connected() const { return connected_; }
  const usb_redir_device_connect_header& device_info() const { return device_info_; }
  const usb_redir_interface_info_header& interface_info() const { return interface_info_; }
  const usb_redir_ep_info_header& ep_info() const { return ep_info_; }
  int connect_count() const { return connect_count_; }
  int disconnect_count() const { return disconnect_count_; }

  std::optional<usb::ControlResult> control(const usb::SetupPacket& setup, std::span<const std::uint8_t> out_data,
                                            Ms timeout);
  std::optional<usb::TransferStatus> bulk_out(std::uint8_t endpoint, std::span<const std::uint8_t> data, Ms timeout);
  std::optional<usb::Device::InResult> bulk_in(std::uint8_t endpoint, std::uint32_t length, Ms timeout);
  bool set_configuration(std::uint8_t value, Ms timeout);
  bool start_interrupt_receiving(std::uint8_t endpoint, Ms timeout);
  // The next interrupt-IN packet the device sent, waiting up to the timeout: its usbredir status
  // (usb_redir_stall for a halted endpoint) and its data; next_interrupt gives the data alone.
  struct InterruptPacket {
    std::uint8_t status = 0;  // usb_redir_success
    usb::Bytes data;
  };
  std::optional<InterruptPacket> next_interrupt_packet(std::uint8_t endpoint, Ms timeout);
  std::optional<usb::Bytes> next_interrupt(std::uint8_t endpoint, Ms timeout);
  void send_reset();
  // Sends a request the caller builds with the id given and waits for the status answering it;
  // for the packets no method above sends (tests of what a server refuses).
  std::optional<std::uint8_t> raw_request(const std::function<void(usbredirparser*, std::uint64_t id)>& send,
                                          Ms timeout);

  // Interrupt packets kept per endpoint until read; older ones go first.
  static constexpr std::size_t kMaxQueuedInterrupts = 256;

 private:
  void install_callbacks(usbredirparser& parser) override;
  static Client& self(void* priv) { return *static_cast<Client*>(static_cast<Connection*>(priv)); }

  struct Reply {
    bool done = false;
    std::uint8_t status = 0;
    usb::Bytes data;
  };
  std::optional<Reply> wait_reply(std::uint64_t id, Ms timeout);

  boost::asio::io_context& io_;
  std::uint64_t next_id_ = 1;
  // A reply is kept only for a request still waited for: a server cannot grow the map.
  std::map<std::uint64_t, Reply> replies_;
  std::set<std::uint64_t> awaited_;
  void keep_reply(std::uint64_t id, Reply reply);
  std::map<std::uint8_t, std::deque<InterruptPacket>> interrupts_;
  std::set<std::uint8_t> interrupt_stopped_;  // streams the device stopped with a stall
  bool connected_ = false;
  int connect_count_ = 0, disconnect_count_ = 0;
  usb_redir_device_connect_header device_info_{};
  usb_redir_interface_info_header interface_info_{};
  usb_redir_ep_info_header ep_info_{};
};

usb::TransferStatus transfer_status_from_redir(std::uint8_t status);

}  // namespace readerlab::usbredir
