// Faults at the transport level (issue 11): the usbredir socket between readerlab and its peer.
// Armed per device on the server (Server::arm_transport_fault), so that they outlive a
// connection that one of them drops; a firing goes to the device's fault log.
#pragma once

#include "base/fault_trigger.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::usbredir {

enum class TransportFaultKind {
  // Event: each packet written to the peer. It leaves `delay` late (an asio timer on the
  // connection's writer); the packets behind it wait, so the order is kept.
  latency,
  // Event: each packet written to the peer. It goes out in socket writes of `chunk` bytes.
  split_writes,
  // Event: each bulk-OUT packet from the peer. The device takes it (the command reaches the
  // reader), then the connection closes before its status is sent. The device, its card and the
  // answer it queued stay: a peer that connects again reads that answer first (a stale bSeq).
  drop,
};

const char* to_string(TransportFaultKind kind);  // "latency", "split-writes", "drop"
std::optional<TransportFaultKind> transport_fault_kind_from_string(const std::string& name);

struct TransportFault {
  TransportFaultKind kind = TransportFaultKind::latency;
  std::chrono::milliseconds delay{0};
  std::size_t chunk = 1;
  faults::Trigger trigger;
};

// The transport faults armed for one device: the server keeps them per device and every session
// serving the device asks them, so they outlive a connection that one of them drops.
class ArmedTransportFaults {
 public:
  void arm(const TransportFault& fault, std::uint64_t seed, std::size_t fault_index,
           std::shared_ptr<faults::FaultLog> log);
  void clear() { armed_.clear(); }
  bool empty() const { return armed_.empty(); }

  // One packet to the peer (an event for latency and split-writes): how late it leaves and the
  // size of its socket writes (0: one write).
  struct PacketShape {
    std::chrono::milliseconds delay{0};
    std::size_t chunk = 0;
  };
  PacketShape shape_packet(std::size_t size);
  // One bulk-OUT packet from the peer, already handed to the device (an event for drop):
  // whether the connection drops now, before the transfer is answered.
  bool drop_on_bulk_out(std::uint8_t endpoint, std::size_t size);

 private:
  struct Armed {
    TransportFault fault;
    faults::ArmedTrigger trigger;
    std::size_t index = 0;
    std::shared_ptr<faults::FaultLog> log;
  };
  static void note(const Armed& armed, std::string detail);
  std::vector<Armed> armed_;
};

}  // namespace readerlab::usbredir
