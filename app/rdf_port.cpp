#include "app/rdf_port.h"

#include "drivers_under_test/reference_rdf/host_driver.h"
#include "drivers_under_test/reference_rdf/host_usb.h"
#include "drivers_under_test/reference_rdf/rdf_registry.h"

#include <cstdio>

namespace readerlab::app {
std::string to_hex(std::span<const std::uint8_t> bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string text;
  for (auto b : bytes) {
    text += digits[b >> 4];
    text += digits[b & 0x0F];
  }
  return text;
}

std::vector<std::uint8_t> from_hex(const std::string& text) {
  if (text.size() % 2 != 0) throw std::invalid_argument("odd number of hex digits");
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("not a hex digit");
  };
  std::vector<std::uint8_t> bytes;
  bytes.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2)
    bytes.push_back(static_cast<std::uint8_t>(digit(text[i]) << 4 | digit(text[i + 1])));
  return bytes;
}

namespace {

// Rounds of ready handlers to run before the loop counts as idle (a socket write, its read).
constexpr int kMaxIdleRounds = 100;
// How often the driver's interrupt pipe is read between calls (a USB interrupt endpoint's
// bInterval is a few ms for a CCID reader).
constexpr std::chrono::milliseconds kInterruptPollInterval{5};

}  // namespace

std::string ioctl_name(std::uint32_t code) {
  static const std::map<std::uint32_t, const char*> names = {
      {IOCTL_SMARTCARD_POWER, "IOCTL_SMARTCARD_POWER"},
      {IOCTL_SMARTCARD_GET_ATTRIBUTE, "IOCTL_SMARTCARD_GET_ATTRIBUTE"},
      {IOCTL_SMARTCARD_SET_ATTRIBUTE, "IOCTL_SMARTCARD_SET_ATTRIBUTE"},
      {IOCTL_SMARTCARD_CONFISCATE, "IOCTL_SMARTCARD_CONFISCATE"},
      {IOCTL_SMARTCARD_TRANSMIT, "IOCTL_SMARTCARD_TRANSMIT"},
      {IOCTL_SMARTCARD_EJECT, "IOCTL_SMARTCARD_EJECT"},
      {IOCTL_SMARTCARD_SWALLOW, "IOCTL_SMARTCARD_SWALLOW"},
      {IOCTL_SMARTCARD_IS_PRESENT, "IOCTL_SMARTCARD_IS_PRESENT"},
      {IOCTL_SMARTCARD_IS_ABSENT, "IOCTL_SMARTCARD_IS_ABSENT"},
      {IOCTL_SMARTCARD_SET_PROTOCOL, "IOCTL_SMARTCARD_SET_PROTOCOL"},
      {IOCTL_SMARTCARD_GET_STATE, "IOCTL_SMARTCARD_GET_STATE"},
  };
  const auto it = names.find(code);
  if (it != names.end()) return it->second;
  if ((code & 0xFFFF0003) == 0x00310000) return "SCARD_CTL_CODE(" + std::to_string((code >> 2) & 0xFFF) + ")";
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", code);
  return text;
}

std::string ntstatus_name(std::uint32_t status) {
  static const std::map<std::uint32_t, const char*> names = {
      {0x00000000, "STATUS_SUCCESS"},
      {0x00000103, "STATUS_PENDING"},
      {0x80000005, "STATUS_BUFFER_OVERFLOW"},
      {0x80000011, "STATUS_DEVICE_BUSY"},
      {0xC0000001, "STATUS_UNSUCCESSFUL"},
      {0xC000000D, "STATUS_INVALID_PARAMETER"},
      {0xC0000010, "STATUS_INVALID_DEVICE_REQUEST"},
      {0xC0000014, "STATUS_UNRECOGNIZED_MEDIA"},
      {0xC0000016, "STATUS_MORE_PROCESSING_REQUIRED"},
      {0xC0000023, "STATUS_BUFFER_TOO_SMALL"},
      {0xC0000056, "STATUS_DELETE_PENDING"},
      {0xC000009A, "STATUS_INSUFFICIENT_RESOURCES"},
      {0xC000009E, "STATUS_DEVICE_POWER_FAILURE"},
      {0xC00000B5, "STATUS_IO_TIMEOUT"},
      {0xC00000BB, "STATUS_NOT_SUPPORTED"},
      {0xC00000E5, "STATUS_INTERNAL_ERROR"},
      {0xC0000120, "STATUS_CANCELLED"},
      {0xC0000178, "STATUS_NO_MEDIA"},
      {0xC0000184, "STATUS_INVALID_DEVICE_STATE"},
      {0xC0000186, "STATUS_DEVICE_PROTOCOL_ERROR"},
  };
  const auto it = names.find(status);
  if (it != names.end()) return it->second;
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", status);
  return text;
}

RdfPort::RdfPort(scenarios::Rig& rig, RdfTransport transport, const reference_rdf::RegisteredRdfDriver& driver)
    : rig_(rig),
      transport_(transport),
      registered_(driver),
      resource_manager_({[this] { return current_driver(); }, [this](std::chrono::milliseconds time) { pump(time); }}),
      interrupt_timer_(std::make_shared<boost::asio::steady_timer>(rig.io())) {
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
    if (!busy_ && driver_) driver_->poll_slot_change(0);
    arm_interrupt_poll();
  });
}

std::string RdfPort::name() const {
  return std::string(registered_.name) +
         (transport_ == RdfTransport::in_process ? " (in-process USB)" : " (usbredir)");
}

void RdfPort::begin_case() {
  // A fresh driver instance per case, as after a reader's AddDevice and StartDevice; the
  // usbredir connection of the last one is closed like an unplugged cable.
  queued_.clear();
  replies_.clear();
  start_failed_ = false;
  stop_driver(false, "the case ended");
  resource_manager_.reset();
}

std::pair<reference_rdf::HostDriver*, std::uint64_t> RdfPort::current_driver() {
  // An unplugged reader is a removed device: PnP stops its driver instance.
  if (!rig_.reader(0).plugged) {
    if (driver_) stop_driver(true, "the reader was unplugged");
    return {nullptr, driver_generation_};
  }
  std::string error;
  if (!ensure_driver(error)) return {nullptr, driver_generation_};
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
  // Every notification that arrived, as the interrupt pipe's completion would have run.
  for (int round = 0; driver_ && round < 16; ++round)
    if (driver_->poll_slot_change(0) != STATUS_SUCCESS) break;
}

void RdfPort::stop_driver(bool device_gone, const char* why) {
  auto* redir = dynamic_cast<reference_rdf::UsbredirUsb*>(usb_.get());
  // An instance whose device is gone must not reach the next one as it stops: its transfers
  // fail at once.
  if (redir && device_gone) redir->client().close(why);
  driver_.reset();
  if (redir && !device_gone) redir->client().close(why);
  usb_.reset();
}

bool RdfPort::ensure_driver(std::string& error) {
  auto& entry = rig_.reader(0);
  // A reader plugged in again (e.g. reconfigured by the case) is a new device: PnP removes the
  // old driver instance and starts a new one on it.
  if (driver_ && entry.plugged && entry.plug_count != driver_plug_count_)
    stop_driver(true, "the reader was plugged in again");
  if (driver_) return true;
  // A driver that failed to start on this device stays failed until the device is plugged in
  // again, as PnP leaves it.
  if (start_failed_ && entry.plug_count == driver_plug_count_) {
    error = start_error_;
    return false;
  }
  start_failed_ = false;
  driver_plug_count_ = entry.plug_count;
  ++driver_generation_;
  if (transport_ == RdfTransport::in_process) {
    auto in_process = std::make_unique<reference_rdf::InProcessUsb>(*entry.reader);
    // One handler at most, so that the driver looks again as soon as something happened.
    in_process->set_wait([this](std::chrono::steady_clock::time_point until) {
      if (rig_.io().stopped()) rig_.io().restart();
      rig_.io().run_one_until(until);
    });
    usb_ = std::move(in_process);
  } else {
    auto connected = reference_rdf::UsbredirUsb::connect(rig_.io(), entry.address, &error);
    if (!connected) return false;
    usb_ = std::move(connected);
  }
  driver_ = std::make_unique<reference_rdf::HostDriver>(*usb_, *registered_.entry);
  const NTSTATUS started = driver_->start();
  if (started != STATUS_SUCCESS) {
    error = "the driver did not start: " + ntstatus_name(static_cast<std::uint32_t>(started));
    start_failed_ = true;
    start_error_ = error;
    stop_driver(true, "the driver did not start");
    return false;
  }
  return true;
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
    // A wait for a change started at the send: only what is left of its timeout remains.
    if (next.request.value("call", "") == "GetStatusChange" && next.request.contains("timeout_ms")) {
      const auto timeout = next.request["timeout_ms"].get<std::uint32_t>();
      const auto spent = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - next.sent).count());
      if (timeout != 0xFFFFFFFF) next.request["timeout_ms"] = timeout > spent ? timeout - spent : 0;
    }
    nlohmann::json reply;
    busy_ = true;
    try {
      reply = execute(next.request);
    } catch (const std::exception& e) {
      reply = {{"rv", nullptr}, {"error", e.what()}};
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
  if (call != "Ioctl" && call != "WaitPending" && call != "CancelPending" && call != "State") {
    pump(std::chrono::milliseconds(0));
    auto reply = resource_manager_.handle(call, request);
    if (!reply) return {{"rv", nullptr}, {"error", "the host RDF port has no call '" + call + "' (a guest-only call?)"}};
    return *reply;
  }
  std::string error;
  if (!ensure_driver(error)) return {{"rv", nullptr}, {"error", error}};
  auto status_reply = [](NTSTATUS status) {
    const auto value = static_cast<std::uint32_t>(status);
    return nlohmann::json{{"rv", value}, {"rv_name", ntstatus_name(value)}};
  };
  // Insertions and removals the reader reported reach the driver first, as its interrupt
  // completion would have run by now on a real system.
  pump(std::chrono::milliseconds(0));
  if (call == "Ioctl") {
    const auto code = request.at("code").get<std::uint32_t>();
    const auto output_size = request.value("output_size", 0u);
    if (output_size > (1u << 20)) throw std::invalid_argument("output_size above 1 MiB");
    const auto input = from_hex(request.value("input", std::string()));
    const auto result = driver_->ioctl(code, input, output_size);
    auto reply = status_reply(result.status);
    reply["pending"] = result.pending;
    reply["information"] = result.output.size();
    reply["output"] = to_hex(result.output);
    reply["state"] = driver_->state();
    return reply;
  }
  if (call == "WaitPending") {
    if (!driver_->has_pending()) return {{"rv", nullptr}, {"error", "no IRP is pending"}};
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
    if (!driver_->has_pending()) return {{"rv", nullptr}, {"error", "no IRP is pending"}};
    driver_->cancel_pending();
    auto reply = status_reply(driver_->pending_status());
    reply["completed"] = driver_->pending_completed();
    driver_->release_pending();
    return reply;
  }
  if (call == "State") return {{"rv", 0}, {"state", driver_->state()}};
  return {{"rv", nullptr}, {"error", "the host RDF port has no call '" + call + "'"}};
}

}  // namespace readerlab::app
