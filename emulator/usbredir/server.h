// The usb-host side of usbredir for purely virtual devices: it offers a usb::Device to a
// usb-guest peer (QEMU's usb-redir, or readerlab's client) over a TCP or unix socket.
#pragma once

#include "emulator/usb/device.h"
#include "emulator/usbredir/connection.h"
#include "emulator/usbredir/transport_faults.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <list>
#include <map>
#include <memory>
#include <set>

namespace readerlab::usbredir {

class HostSession : public Connection {
 public:
  HostSession(Socket socket, std::shared_ptr<usb::Device> device, Logger logger);
  ~HostSession() override;

  usb::Device& device() { return *device_; }
  bool device_attached() const { return attached_; }

  // Unplug sends device_disconnect; replug resets the device and connects it again.
  void unplug();
  void replug();

  std::uint64_t packets_handled() const { return packets_handled_; }

  // The transport faults armed for this session's device (the server's, shared by every
  // session of the device); nullptr: none.
  void set_transport_faults(std::shared_ptr<ArmedTransportFaults> faults) { transport_faults_ = std::move(faults); }

  // Bulk IN requests a peer may queue on one endpoint while the device has nothing to send;
  // the ones beyond are answered usb_redir_inval at once.
  static constexpr std::size_t kMaxPendingIn = 64;
  // Bulk OUT transfers a peer may send while a NAK holds the first; the ones beyond are
  // answered usb_redir_inval at once.
  static constexpr std::size_t kMaxPendingOut = 64;

 private:
  void install_callbacks(usbredirparser& parser) override;
  void on_hello() override;
  void on_close() override;
  OutputShape shape_output(std::size_t packet_size) override;
  void attach();
  // Offers the bulk-OUT packets a NAK holds to the device again, oldest first.
  void offer_pending_out();
  // Shows the peer the device gone (an injected disconnect) and back after the time.
  void leave_bus_for(std::chrono::milliseconds back_after);
  void complete_pending_in(std::uint8_t endpoint);
  // Asks again when the device holds data back for time (a slow card's answer, a NAK).
  void wake_when_ready(std::uint8_t endpoint);
  void wake_at(std::uint8_t endpoint, std::chrono::steady_clock::time_point when);
  void send_interrupt_data();
  void report_interrupt_halt(std::uint8_t endpoint);

  static HostSession& self(void* priv) { return *static_cast<HostSession*>(static_cast<Connection*>(priv)); }
  static void reset_cb(void* priv);
  static void set_configuration_cb(void* priv, uint64_t id, usb_redir_set_configuration_header* header);
  static void get_configuration_cb(void* priv, uint64_t id);
  static void set_alt_setting_cb(void* priv, uint64_t id, usb_redir_set_alt_setting_header* header);
  static void get_alt_setting_cb(void* priv, uint64_t id, usb_redir_get_alt_setting_header* header);
  static void start_interrupt_cb(void* priv, uint64_t id, usb_redir_start_interrupt_receiving_header* header);
  static void stop_interrupt_cb(void* priv, uint64_t id, usb_redir_stop_interrupt_receiving_header* header);
  static void cancel_cb(void* priv, uint64_t id);
  static void control_cb(void* priv, uint64_t id, usb_redir_control_packet_header* header, uint8_t* data, int len);
  static void bulk_cb(void* priv, uint64_t id, usb_redir_bulk_packet_header* header, uint8_t* data, int len);
  static void interrupt_cb(void* priv, uint64_t id, usb_redir_interrupt_packet_header* header, uint8_t* data, int len);
  bool has_endpoint(std::uint8_t address, usb::TransferType type) const;
  void answer_alt_setting(std::uint64_t id, std::uint8_t interface, std::uint8_t wanted_alt);

  struct PendingIn {
    std::uint64_t id;
    std::uint32_t length;
  };
  struct PendingOut {
    std::uint64_t id;
    usb_redir_bulk_packet_header header;
    std::vector<std::uint8_t> data;
  };

  std::shared_ptr<usb::Device> device_;
  bool hello_received_ = false;
  bool attached_ = false;
  bool plugged_ = true;
  std::map<std::uint8_t, std::deque<PendingIn>> pending_in_;
  std::map<std::uint8_t, bool> interrupt_receiving_;
  std::uint64_t interrupt_packet_id_ = 0;
  std::deque<PendingOut> pending_out_;
  std::map<std::uint8_t, std::unique_ptr<boost::asio::steady_timer>> ready_timers_;
  std::unique_ptr<boost::asio::steady_timer> replug_timer_;
  std::shared_ptr<ArmedTransportFaults> transport_faults_;
  std::uint64_t packets_handled_ = 0;
};

// Serves devices on listening sockets; every accepted connection gets the device that the
// listener's factory makes (a new one, or a shared one for a reader that is replugged).
class Server {
 public:
  using DeviceFactory = std::function<std::shared_ptr<usb::Device>()>;

  Server(boost::asio::io_context& io, Logger logger);
  ~Server();

  // Returns the bound address (with the real port when 0 was asked), or throws
  // std::runtime_error naming the address and the reason.
  SocketAddress listen(const SocketAddress& address, DeviceFactory factory);

  // Transport faults for a device, armed here so that they outlive a dropped connection: the
  // sessions serving it now and later apply them; firings go to the log given. Throws
  // std::invalid_argument for a fault that cannot apply (split-writes of 0 bytes).
  void arm_transport_fault(const usb::Device* device, const TransportFault& fault, std::uint64_t seed,
                           std::size_t fault_index, std::shared_ptr<faults::FaultLog> log);
  void clear_transport_faults(const usb::Device* device);

  // Live sessions serving this device.
  std::vector<std::shared_ptr<HostSession>> sessions_for(const usb::Device* device) const;
  std::size_t session_count() const;
  void close_all();
  // What every session so far spent on what it read (see BusyTime).
  const BusyTime& busy_time() const { return *busy_; }

 private:
  struct Listener;
  void accept_next(const std::shared_ptr<Listener>& listener);
  void add_session(Socket socket, const std::shared_ptr<Listener>& listener);

  boost::asio::io_context& io_;
  Logger logger_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::list<std::weak_ptr<HostSession>> sessions_;
  std::map<const usb::Device*, std::shared_ptr<ArmedTransportFaults>> transport_faults_;
  std::shared_ptr<BusyTime> busy_ = std::make_shared<BusyTime>();
};

}  // namespace readerlab::usbredir
