// Faults at the transport level (issue 11): the usbredir socket between readerlab and its peer.
// Armed per device on the server (Server::arm_transport_fault), so that they outlive a
// connection that one of them drops; a firing goes to the device's fault log.
#pragma once

#include "base/fault_trigger.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

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

}  // namespace readerlab::usbredir
