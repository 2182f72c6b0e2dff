// The driver port of an RDF driver on the host: the smclib model and an RDF driver under test
// (the reference driver or another one built with readerlab_add_rdf_driver) on the rig's
// reader, reached in-process or as a usbredir client over the rig's socket. Cases speak IOCTLs to it:
//   {"call":"Ioctl","code":N,"input":"hex","output_size":N}
//       -> {"rv":NTSTATUS,"rv_name":"STATUS_...","information":N,"output":"hex","pending":bool}
//   {"call":"WaitPending","timeout_ms":N} -> the pending IRP's status once it completed
//   {"call":"CancelPending"}                -> cancels it as a close would
//   {"call":"State"}                        -> {"state":N}
#pragma once

#include "scenarios/driver_port.h"
#include "scenarios/rig.h"

#include <map>
#include <memory>

namespace reference_rdf {
class HostDriver;
class UsbIo;
struct RegisteredRdfDriver;
}  // namespace reference_rdf

namespace readerlab::app {

enum class RdfTransport { in_process, usbredir };

class RdfPort : public scenarios::DriverPort {
 public:
  RdfPort(scenarios::Rig& rig, RdfTransport transport, const reference_rdf::RegisteredRdfDriver& driver);
  ~RdfPort() override;

  std::string name() const override;
  std::uint64_t send(nlohmann::json request) override;
  std::optional<nlohmann::json> wait(std::uint64_t id, std::chrono::milliseconds timeout) override;
  void begin_case() override;

 private:
  nlohmann::json execute(const nlohmann::json& request);
  bool ensure_driver(std::string& error);
  void stop_driver(bool device_replaced);

  scenarios::Rig& rig_;
  RdfTransport transport_;
  const reference_rdf::RegisteredRdfDriver& registered_;
  std::unique_ptr<reference_rdf::UsbIo> usb_;
  std::unique_ptr<reference_rdf::HostDriver> driver_;
  std::uint64_t driver_plug_count_ = 0;  // the reader's plug_count when the driver started
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, nlohmann::json> replies_;
};

// NTSTATUS names of the spec's table (shared/spec/smclib.md), "0x%08X" for others.
std::string ntstatus_name(std::uint32_t status);

}  // namespace readerlab::app
