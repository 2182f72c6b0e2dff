// The driver port of an RDF driver on the host: the smclib model and an RDF driver under test
// (the reference driver or another one built with readerlab_add_rdf_driver) on the rig's
// reader, reached in-process or as a usbredir client over the rig's socket. Cases speak IOCTLs to it:
//   {"call":"Ioctl","code":N,"input":"hex","output_size":N}
//       -> {"rv":NTSTATUS,"rv_name":"STATUS_...","information":N,"output":"hex","pending":bool}
//   {"call":"WaitPending","timeout_ms":N} -> the pending IRP's status once it completed
//   {"call":"CancelPending"}                -> cancels it as a close would
//   {"call":"State"}                        -> {"state":N}
//   {"call":"SystemSleep","how":"sleep"|"hibernate"}, {"call":"SystemResume"}
//                                           -> the device power IRP's {"rv":NTSTATUS,"state":N}
//   {"call":"DriverHealth"}                 -> {"running":bool,"state":N,"tracking":"none"|"pending"|"completed",
//                                               "remove_lock_references":N,"remove_lock_idle":1}
// and the PC/SC calls of the guest agent's protocol through a model of the Windows resource
// manager (resource_manager.h). Every reply lists the IOCTLs it caused ("ioctls"). A call that
// could not be made at all answers {"rv": null, "error": "..."} (wire_format.h).
//
// Calls run in order when the case waits for them (lab.send then lab.wait), so what the case
// does in between (a removal, say) happens while the call is outstanding; a GetStatusChange's
// timeout counts from its send. Between calls the driver reads its interrupt pipe every few
// milliseconds of the rig's loop, as a Windows driver keeps an interrupt transfer pending.
#pragma once

#include "base/error.h"
#include "hosts/windows_model/port/resource_manager.h"
#include "hosts/windows_model/rdf/rdf_registry.h"
#include "scenarios/driver_port.h"
#include "scenarios/rig.h"

#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace readerlab::windows_model {

class HostDriver;
class UsbIo;

enum class RdfTransport { in_process, usbredir };

// An RDF driver under test as `readerlab run --driver` names it: NAME runs it on the in-process
// USB transport, NAME-usbredir as a usbredir client over a socket.
struct RdfDriverChoice {
  const RegisteredRdfDriver* driver = nullptr;
  RdfTransport transport = RdfTransport::in_process;
};
// The registered driver `name` stands for; the Error names the drivers there are.
Expected<RdfDriverChoice> choose_rdf_driver(std::string_view name);
// Every name choose_rdf_driver takes: "reference-rdf, reference-rdf-usbredir, ...".
std::string rdf_driver_names();

class RdfPort : public scenarios::DriverPort {
 public:
  RdfPort(scenarios::Rig& rig, RdfTransport transport, const RegisteredRdfDriver& driver);
  ~RdfPort() override;

  std::string name() const override;
  std::uint64_t send(nlohmann::json request) override;
  std::optional<nlohmann::json> wait(std::uint64_t id, std::chrono::milliseconds timeout) override;
  void begin_case() override;

 private:
  nlohmann::json execute(const nlohmann::json& request);
  nlohmann::json system_power(const std::string& call, const nlohmann::json& request);
  // {"call":"DriverHealth"}: the driver instance's state, its tracking IRP ("none", "pending",
  // "completed") and its remove lock's references, for the invariants readerlab fuzz checks.
  nlohmann::json driver_health();
  // The driver instance on the reader now, started if need be; why not when it cannot run.
  Status ensure_driver();
  void stop_driver(bool device_gone, const char* why);
  // Runs what is ready on the rig's loop, waits up to `time` on it, then lets the driver read
  // its interrupt pipe: the insertions and removals reported by then reach it.
  void pump(std::chrono::milliseconds time);
  std::pair<HostDriver*, std::uint64_t> current_driver();

  scenarios::Rig& rig_;
  RdfTransport transport_;
  const RegisteredRdfDriver& registered_;
  std::unique_ptr<UsbIo> usb_;
  std::unique_ptr<HostDriver> driver_;
  std::uint64_t driver_plug_count_ = 0;  // the reader's plug_count when the driver started
  std::uint64_t driver_generation_ = 0;  // driver instances started so far
  bool start_failed_ = false;            // on the device of driver_plug_count_
  bool asleep_ = false;                  // between SystemSleep and SystemResume
  bool device_departed_ = false;         // the last instance stopped because the device left the bus
  Error start_error_;
  ResourceManager resource_manager_;
  void run_queued_until(std::uint64_t id);
  void arm_interrupt_poll();

  std::uint64_t next_id_ = 1;
  struct Queued {
    std::uint64_t id;
    nlohmann::json request;
    std::chrono::steady_clock::time_point sent;
  };
  std::deque<Queued> queued_;
  std::map<std::uint64_t, nlohmann::json> replies_;
  bool busy_ = false;  // a call is running: the interrupt poll keeps off the driver
  std::shared_ptr<boost::asio::steady_timer> interrupt_timer_;
};

}  // namespace readerlab::windows_model
