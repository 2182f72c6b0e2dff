// A model of the Windows smart card resource manager over one RDF driver on the host: the
// PC/SC calls of the guest agent's protocol (drivers_under_test/agent/PROTOCOL.md) answered
// with IOCTL_SMARTCARD_* requests, so that the PC/SC cases run on an RDF driver too and the
// report shows the IOCTLs each call really caused.
//
// What it does, as the Windows service does it:
//  - keeps a card-tracking IRP pending at all times (IS_PRESENT with no card, IS_ABSENT with
//    one) and counts the events it completes with;
//  - powers a newly inserted card (cold reset) to read its ATR, and reports an unresponsive
//    one as MUTE;
//  - names the reader "<VENDOR_NAME> <VENDOR_IFD_TYPE> <DEVICE_UNIT>" from the driver's
//    attributes;
//  - Connect: cold reset when the card is not powered, then SET_PROTOCOL with the preferred
//    protocols; Disconnect/Reconnect dispositions by POWER (warm reset, power down) and EJECT.
// Handles of a card that was removed since the connect get SCARD_W_REMOVED_CARD.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace readerlab::windows_model {

class HostDriver;

class ResourceManager {
 public:
  struct Device {
    // The driver instance on the reader now and its generation (a new one after a replug);
    // nullptr while the reader is unplugged or its driver did not start.
    std::function<std::pair<HostDriver*, std::uint64_t>()> driver;
    // Lets time pass: the rig's loop runs and the driver's interrupt pipe is read.
    std::function<void(std::chrono::milliseconds)> wait;
  };

  explicit ResourceManager(Device device);

  // The reply to one agent-protocol call, or nullopt when `call` is not a PC/SC call.
  std::optional<nlohmann::json> handle(const std::string& call, const nlohmann::json& request);
  // Forgets contexts, handles and the reader's state (a new case).
  void reset();

 private:
  struct ReaderView {
    bool available = false;
    std::uint64_t generation = 0;
    std::string name;
    bool present = false;
    bool mute = false;
    std::uint32_t events = 0;  // card events seen, the high word of a PC/SC reader state
    std::vector<std::uint8_t> atr;
  };
  struct Connection {
    std::uint64_t context = 0;
    std::uint32_t share_mode = 0;
    std::uint32_t protocol = 0;
    std::uint32_t events_at_connect = 0;
    std::uint64_t generation = 0;
  };

  void refresh();
  // A card came or went: count the event and read the new card's ATR.
  void card_event(HostDriver& driver, bool present);
  void take_tracking_result(HostDriver& driver);
  void arm_tracking(HostDriver& driver);
  void read_atr(HostDriver& driver);
  std::uint32_t reader_state_bits() const;
  // 0 when the handle's card is still the one it connected to, else the PC/SC error.
  std::uint32_t check_card(std::uint64_t card, Connection*& connection);
  // Cold reset when the card is not powered, then SET_PROTOCOL: 0 and the protocol, or an error.
  std::pair<std::uint32_t, std::uint32_t> activate(HostDriver& driver, std::uint32_t preferred, bool reset_first);
  std::uint32_t dispose(HostDriver& driver, std::uint32_t disposition);

  nlohmann::json get_status_change(const nlohmann::json& request);
  nlohmann::json connect(const nlohmann::json& request);
  nlohmann::json reconnect(const nlohmann::json& request);
  nlohmann::json disconnect(const nlohmann::json& request);
  nlohmann::json transmit(const nlohmann::json& request, bool repeat);
  nlohmann::json status(const nlohmann::json& request);
  nlohmann::json get_attrib(const nlohmann::json& request);
  nlohmann::json control(const nlohmann::json& request);

  Device device_;
  ReaderView reader_;
  std::set<std::uint64_t> contexts_;
  std::map<std::uint64_t, Connection> connections_;
  std::uint64_t next_handle_ = 0x1000;
};

// The PC/SC error a Windows resource manager gives for an IOCTL's NTSTATUS (readerlab's table;
// see resource_manager.cpp).
std::uint32_t scard_error_of(std::uint32_t ntstatus);
std::string scard_name(std::uint32_t rv);

}  // namespace readerlab::windows_model
