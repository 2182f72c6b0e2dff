// Faults at the transport level: which packets to the peer leave late or in pieces, and on
// which bulk-OUT packet from the peer the connection drops. The sessions (server.cpp) and the
// connection's writer (connection.cpp) carry them out.
#include "emulator/usbredir/transport_faults.h"

#include <array>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace readerlab::usbredir {
namespace {

struct KindName {
  TransportFaultKind kind;
  const char* name;
};

constexpr std::array<KindName, 3> kKindNames{{{TransportFaultKind::latency, "latency"},
                                              {TransportFaultKind::split_writes, "split-writes"},
                                              {TransportFaultKind::drop, "drop"}}};

}  // namespace

const char* to_string(TransportFaultKind kind) {
  for (const auto& entry : kKindNames)
    if (entry.kind == kind) return entry.name;
  return "unknown";
}

std::optional<TransportFaultKind> transport_fault_kind_from_string(const std::string& name) {
  for (const auto& entry : kKindNames)
    if (name == entry.name) return entry.kind;
  return std::nullopt;
}

void ArmedTransportFaults::arm(const TransportFault& fault, std::uint64_t seed, std::size_t fault_index,
                               std::shared_ptr<faults::FaultLog> log) {
  if (fault.kind == TransportFaultKind::split_writes && fault.chunk == 0)
    throw std::invalid_argument("transport fault split-writes: chunk: a write of 0 bytes carries nothing");
  if (fault.delay.count() < 0)
    throw std::invalid_argument(std::string("transport fault ") + to_string(fault.kind) + ": delay: negative");
  armed_.push_back(Armed{fault, faults::ArmedTrigger(fault.trigger, seed), fault_index, std::move(log)});
}

void ArmedTransportFaults::note(const Armed& armed, std::string detail) {
  if (!armed.log) return;
  faults::Firing firing;
  firing.level = "transport";
  firing.kind = to_string(armed.fault.kind);
  firing.detail = std::move(detail);
  firing.event = armed.trigger.events_seen();
  firing.at_ms =
      std::chrono::duration<double, std::milli>(faults::ArmedTrigger::Clock::now() - armed.trigger.armed_at()).count();
  firing.fault_index = armed.index;
  armed.log->firings.push_back(std::move(firing));
}

ArmedTransportFaults::PacketShape ArmedTransportFaults::shape_packet(std::size_t size) {
  PacketShape shape;
  const auto now = faults::ArmedTrigger::Clock::now();
  // Latency and split-writes shape the same packet together; each counts it as its event.
  for (auto& armed : armed_) {
    if (armed.fault.kind == TransportFaultKind::latency && armed.trigger.fire(now)) {
      shape.delay += armed.fault.delay;
      note(armed, "a packet of " + std::to_string(size) + " bytes to the peer left " +
                      std::to_string(armed.fault.delay.count()) + " ms late");
    } else if (armed.fault.kind == TransportFaultKind::split_writes && armed.trigger.fire(now)) {
      shape.chunk = shape.chunk == 0 ? armed.fault.chunk : std::min(shape.chunk, armed.fault.chunk);
      note(armed, "a packet of " + std::to_string(size) + " bytes to the peer went out in writes of " +
                      std::to_string(armed.fault.chunk) + " bytes");
    }
  }
  return shape;
}

bool ArmedTransportFaults::drop_on_bulk_out(std::uint8_t endpoint, std::size_t size) {
  const auto now = faults::ArmedTrigger::Clock::now();
  for (auto& armed : armed_) {
    if (armed.fault.kind != TransportFaultKind::drop || !armed.trigger.fire(now)) continue;
    char ep[8];
    std::snprintf(ep, sizeof ep, "0x%02X", endpoint);
    note(armed, std::string("the connection dropped after a bulk-OUT of ") + std::to_string(size) + " bytes on EP " +
                    ep + " reached the device, before its answer");
    return true;
  }
  return false;
}

}  // namespace readerlab::usbredir
