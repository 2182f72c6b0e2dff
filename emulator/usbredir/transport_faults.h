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
  latency,       // each packet to the peer leaves `delay` late (event: each packet written)
  split_writes,  // each packet to the peer goes out in writes of `chunk` bytes
  drop,          // the connection is closed while a transfer is in flight (event: each bulk-OUT
                 // packet from the peer); the peer reconnects and finds the device again
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
