#include "hosts/windows_model/port/rdf_port.h"

#include "hosts/windows_model/port/wire_format.h"
#include "hosts/windows_model/rdf/host_driver.h"
#include "hosts/windows_model/rdf/host_usb.h"
#include "hosts/windows_model/rdf/rdf_registry.h"

#include <utility>

namespace readerlab::windows_model {
namespace {

// Rounds of ready handlers to run before the loop counts as idle (a socket write, its read).
constexpr int kMaxIdleRounds = 100;
// How often the driver's interrupt pipe is read between calls (a USB interrupt endpoint's
// bInterval is a few ms for a CCID reader).
constexpr std::chrono::milliseconds kInterruptPollInterval{5};

// The transport suffix of a driver name (`--driver reference-rdf-usbredir`).
constexpr std::string_view kUsbredirSuffix = "-usbredir";

}  // namespace

Expected<RdfDriverChoice> choose_rdf_driver(std::string_view name) {
  if (const auto* driver = find_rdf_driver(name)) return RdfDriverChoice{driver, RdfTransport::in_process};
  if (name.size() > kUsbredirSuffix.size() && name.ends_with(kUsbredirSuffix)) {
    if (const auto* driver = find_rdf_driver(name.substr(0, name.size() - kUsbredirSuffix.size())))
      return RdfDriverChoice{driver, RdfTransport::usbredir};
  }
  const auto known = rdf_driver_names();
  return error(std::string(name), "no RDF driver of that name was built in (known: " +
                                      (known.empty() ? std::string("none") : known) + ")");
}

std::string rdf_driver_names() {
  std::string names;
  for (const auto& driver : registered_rdf_drivers()) {
    if (!names.empty()) names += ", ";
    names += std::string(driver.name) + ", " + driver.name + std::string(kUsbredirSuffix);
  }
  return names;
}

RdfPort::RdfPort(scenarios::Rig& rig, RdfTransport transport, const RegisteredRdfDriver& driver)
    : rig_(rig),
      transport_(transport),
      registered_(driver),
      resource_manager_({[this] { return current_driver(); }, [this](std::chrono::milliseconds time) { pump(time); }}),
      interrupt_timer_(std::make_shared<boost::asio::steady_timer>(rig.io())) {
  // The driver reads what the reader reported when the case next calls it (pump), and starts
  // on a replugged reader then too: the rig need not give it time of its own.
  rig_.set_driver_pace(scenarios::DriverPace::host_driver());
  arm_interrupt_poll();
}

RdfPort::~RdfPort() { interrupt_timer_->cancel(); }

void RdfPort::arm_interrupt_poll() {
  interrupt_timer_->expires_after(kInterruptPollInterval);
  std::weak_ptr<boost::asio::steady_timer> alive = interrupt_timer_;
  interrupt_timer_->async_wait([this, alive](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    // Only between calls: drivers serialize their own work, and the interrupt completion
    // makes no transfer of its own here (readerlab_rdf.h, InterruptIn).
    if (!busy_ && driver_ && !asleep_) driver_->poll_slot_change(0);
    arm_interrupt_poll();
  });
}

std::string RdfPort::name() const {
  return std::string(registered_.name) + (transport_ == RdfTransport::in_process ? " (in-process USB)" : " (usbredir)");
}

void RdfPort::begin_case() {
  // A fresh driver instance per case, as after a reader's AddDevice and StartDevice; the
  // usbredir connection of the last one is closed like an unplugged cable.
  queued_.clear();
  replies_.clear();
  start_failed_ = false;
  asleep_ = false;
  device_departed_ = false;
  stop_driver(false, "the case ended");
  resource_manager_.reset();
}

std::pair<HostDriver*, std::uint64_t> RdfPort::current_driver() {
  // An unplugged reader is a removed device: PnP stops its driver instance.
  if (!rig_.reader(0).plugged) {
    if (driver_) stop_driver(true, "the reader was unplugged");
    return {nullptr, driver_generation_};
  }
  if (!ensure_driver()) return {nullptr, driver_generation_};
  return {driver_.get(), driver_generation_};
}

void RdfPort::pump(std::chrono::milliseconds time) {
  // Over usbredir a notification the reader sent may still be in the socket: run what is
  // ready until the loop is idle.
  for (int round = 0; round < kMaxIdleRounds; ++round) {
    if (rig_.io().stopped()) rig_.io().restart();
    if (rig_.io().poll() == 0) break;
  }
  if (time.count() > 0) rig_.sleep(time);
  // Every notification that arrived, as the interrupt pipe's completion would have run; a
  // suspended device's interrupt pipe is not read.
  for (int round = 0; driver_ && !asleep_ && round < 16; ++round)
    if (driver_->poll_slot_change(0) != STATUS_SUCCESS) break;
}

void RdfPort::stop_driver(bool device_gone, const char* why) {
  auto* redir = dynamic_cast<UsbredirUsb*>(usb_.get());
  // An instance whose device is gone must not reach the next one as it stops: its transfers
  // fail at once.
  if (redir && device_gone) redir->client().close(why);
  driver_.reset();
  if (redir && !device_gone) redir->client().close(why);
  usb_.reset();
}

Status RdfPort::ensure_driver() {
  auto& entry = rig_.reader(0);
  // A reader plugged in again (e.g. reconfigured by the case) is a new device: PnP removes the
  // old driver instance and starts a new one on it.
  if (driver_ && entry.plugged && entry.plug_count != driver_plug_count_)
    stop_driver(true, "the reader was plugged in again");
  // A device that left the bus (a disconnect, a dropped connection) is a PnP removal too: the
  // instance stops, and a new one starts on the device once it is back, as Windows does.
  if (driver_ && usb_ && usb_->departures() != 0) {
    stop_driver(true, "the reader left the bus");
    device_departed_ = true;
  }
  if (driver_) return {};
  if (entry.reader->off_the_bus()) return error(registered_.name, "the reader is off the bus");
  // A driver that failed to start on this device stays failed until the device is plugged in
  // again, as PnP leaves it.
  if (start_failed_ && entry.plug_count == driver_plug_count_) return start_error_;
  start_failed_ = false;
  const bool plugged_again = entry.plug_count != driver_plug_count_;
  driver_plug_count_ = entry.plug_count;
  ++driver_generation_;
  if (transport_ == RdfTransport::in_process) {
    // Back on the bus, or plugged in again: the host resets the port as it enumerates the
    // device (which also ends a halt the device had: a replug powers it off and on).
    if (std::exchange(device_departed_, false) || plugged_again) entry.reader->bus_reset();
    auto in_process = std::make_unique<InProcessUsb>(*entry.reader);
    // One handler at most, so that the driver looks again as soon as something happened.
    in_process->set_wait([this](std::chrono::steady_clock::time_point until) {
      if (rig_.io().stopped()) rig_.io().restart();
      rig_.io().run_one_until(until);
    });
    usb_ = std::move(in_process);
  } else {
    auto connected = UsbredirUsb::connect(rig_.io(), entry.address);
    if (!connected) return connected.error();
    usb_ = std::move(*connected);
    // Back on the bus: the host resets the port as it enumerates the device again, which ends
    // what the device still held for the old connection.
    if (std::exchange(device_departed_, false)) usb_->reset_port();
  }
  driver_ = std::make_unique<HostDriver>(*usb_, *registered_.entry);
  const NTSTATUS started = driver_->start();
  if (started != STATUS_SUCCESS) {
    start_failed_ = true;
    start_error_ =
        error(registered_.name, "the driver did not start: " + ntstatus_name(static_cast<std::uint32_t>(started)));
    stop_driver(true, "the driver did not start");
    return start_error_;
  }
  return {};
}

std::uint64_t RdfPort::send(nlohmann::json request) {
  const auto id = next_id_++;
  queued_.push_back({id, std::move(request), std::chrono::steady_clock::now()});
  return id;
}

void RdfPort::run_queued_until(std::uint64_t id) {
  while (!queued_.empty() && queued_.front().id <= id) {
    Queued next = std::move(queued_.front());
    queued_.pop_front();
    const auto call_field = next.request.find("call");
    const std::string call =
        call_field != next.request.end() && call_field->is_string() ? call_field->get<std::string>() : "";
    // A wait for a change started at the send: only what is left of its timeout remains.
    if (call == "GetStatusChange" && next.request.contains("timeout_ms")) {
      if (const auto timeout = wire_u32(next.request, "timeout_ms"); timeout && *timeout != 0xFFFFFFFF) {
        const auto spent = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - next.sent)
                .count());
        next.request["timeout_ms"] = *timeout > spent ? *timeout - spent : 0;
      }
    }
    nlohmann::json reply;
    busy_ = true;
    if (call.empty()) {
      reply = error_reply(error("request", "no \"call\" string"));
    } else {
      try {
        reply = execute(next.request);
      } catch (const nlohmann::json::exception& e) {
        // A field of the case's request with the wrong JSON type (request.value(...) throws).
        reply = error_reply(error(call, e.what()));
      }
    }
    busy_ = false;
    if (driver_) {
      auto names = nlohmann::json::array();
      for (const ULONG code : driver_->take_issued()) names.push_back(ioctl_name(code));
      if (!names.empty()) reply["ioctls"] = std::move(names);
    }
    reply["id"] = next.id;
    replies_[next.id] = std::move(reply);
  }
}

std::optional<nlohmann::json> RdfPort::wait(std::uint64_t id, std::chrono::milliseconds) {
  run_queued_until(id);
  const auto it = replies_.find(id);
  if (it == replies_.end()) return std::nullopt;
  auto reply = std::move(it->second);
  replies_.erase(it);
  return reply;
}

nlohmann::json RdfPort::execute(const nlohmann::json& request) {
  const std::string call = request.value("call", "");
  if (call == "SystemSleep" || call == "SystemResume") return system_power(call, request);
  // Nothing reaches a sleeping system's resource manager or drivers.
  if (asleep_) return error_reply(error(call, "the system is asleep (SystemSleep without SystemResume)"));
  if (call == "DriverHealth") return driver_health();
  if (call != "Ioctl" && call != "WaitPending" && call != "CancelPending" && call != "State") {
    pump(std::chrono::milliseconds(0));
    auto reply = resource_manager_.handle(call, request);
    if (!reply) return error_reply(error(call, "the host RDF port has no such call (a guest-only call?)"));
    return *reply;
  }
  if (const auto started = ensure_driver(); !started) return error_reply(started.error());
  auto status_reply = [](NTSTATUS status) {
    const auto value = static_cast<std::uint32_t>(status);
    return nlohmann::json{{"rv", value}, {"rv_name", ntstatus_name(value)}};
  };
  // Insertions and removals the reader reported reach the driver first, as its interrupt
  // completion would have run by now on a real system.
  pump(std::chrono::milliseconds(0));
  if (call == "Ioctl") {
    const auto code = wire_u32(request, "code");
    if (!code) return error_reply(code.error());
    const auto output_size = request.value("output_size", 0u);
    if (output_size > (1u << 20)) return error_reply(error("output_size", "above 1 MiB"));
    const auto input = wire_bytes(request, "input");
    if (!input) return error_reply(input.error());
    const auto result = driver_->ioctl(*code, *input, output_size);
    auto reply = status_reply(result.status);
    reply["pending"] = result.pending;
    reply["information"] = result.output.size();
    reply["output"] = wire_hex(result.output);
    reply["state"] = driver_->state();
    return reply;
  }
  if (call == "WaitPending") {
    if (!driver_->has_pending()) return error_reply(error(call, "no IRP is pending"));
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(request.value("timeout_ms", 5000));
    while (!driver_->pending_completed() && std::chrono::steady_clock::now() < deadline)
      pump(std::chrono::milliseconds(5));
    if (!driver_->pending_completed()) return {{"rv", nullptr}, {"completed", false}, {"pending", true}};
    auto reply = status_reply(driver_->pending_status());
    reply["completed"] = true;
    reply["state"] = driver_->state();
    driver_->release_pending();
    return reply;
  }
  if (call == "CancelPending") {
    if (!driver_->has_pending()) return error_reply(error(call, "no IRP is pending"));
    driver_->cancel_pending();
    auto reply = status_reply(driver_->pending_status());
    reply["completed"] = driver_->pending_completed();
    driver_->release_pending();
    return reply;
  }
  if (call == "State") return {{"rv", 0}, {"state", driver_->state()}};
  return error_reply(error(call, "the host RDF port has no such call"));
}

// System sleep and resume as the power manager runs them for a function driver: IRP_MN_SET_POWER
// D3 before the system sleeps (the device is suspended after it), D0 after it resumes; the
// driver's interrupt pipe is not read in between, so whatever happened to the card while asleep
// reaches the driver only through what it does at D0 and the notifications it reads after.
nlohmann::json RdfPort::system_power(const std::string& call, const nlohmann::json& request) {
  const bool sleep = call == "SystemSleep";
  if (sleep == asleep_)
    return error_reply(error(call, sleep ? "the system is asleep already" : "the system is not asleep"));
  if (sleep) {
    pump(std::chrono::milliseconds(0));
    if (const auto started = ensure_driver(); !started) return error_reply(started.error());
  }
  if (!driver_) return error_reply(error(call, "no driver instance to power"));
  const std::string how = request.value("how", "sleep");
  if (how != "sleep" && how != "hibernate") return error_reply(error("how", "must be \"sleep\" or \"hibernate\""));
  const POWER_ACTION action = !sleep ? PowerActionNone : how == "sleep" ? PowerActionSleep : PowerActionHibernate;
  const NTSTATUS status = driver_->set_device_power(sleep ? PowerDeviceD3 : PowerDeviceD0, action);
  asleep_ = sleep;
  if (!sleep) pump(std::chrono::milliseconds(0));
  const auto value = static_cast<std::uint32_t>(status);
  return {{"rv", value}, {"rv_name", ntstatus_name(value)}, {"state", driver_ ? driver_->state() : 0}};
}

nlohmann::json RdfPort::driver_health() {
  // The driver instance as it is: none is started for the question.
  pump(std::chrono::milliseconds(0));
  nlohmann::json reply = {{"rv", 0}, {"running", driver_ != nullptr}};
  if (!driver_) return reply;
  reply["state"] = driver_->state();
  reply["tracking"] = !driver_->has_pending() ? "none" : driver_->pending_completed() ? "completed" : "pending";
  if (const auto* os = driver_->extension()->OsData) {
    reply["remove_lock_references"] = os->RemoveLock.RefCount;
    reply["remove_lock_idle"] = 1;  // smcnt.h: SmartcardInitialize's own reference, nothing in flight
  }
  return reply;
}

}  // namespace readerlab::windows_model
