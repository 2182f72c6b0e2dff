#include "app/rdf_port.h"

#include "app/paths.h"
#include "drivers_under_test/reference_rdf/host_driver.h"
#include "drivers_under_test/reference_rdf/host_usb.h"
#include "drivers_under_test/reference_rdf/rdf_registry.h"

#include <cstdio>

namespace readerlab::app {
namespace {

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string text;
  for (auto b : bytes) {
    text += digits[b >> 4];
    text += digits[b & 0x0F];
  }
  return text;
}

// Rounds of ready handlers to run before the loop counts as idle (a socket write, its read).
constexpr int kMaxIdleRounds = 100;

}  // namespace

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
    : rig_(rig), transport_(transport), registered_(driver) {}

RdfPort::~RdfPort() = default;

std::string RdfPort::name() const {
  return std::string(registered_.name) +
         (transport_ == RdfTransport::in_process ? " (in-process USB)" : " (usbredir)");
}

void RdfPort::begin_case() {
  // A fresh driver instance per case, as after a reader's AddDevice and StartDevice; the
  // usbredir connection of the last one is closed like an unplugged cable.
  stop_driver(false);
}

void RdfPort::stop_driver(bool device_replaced) {
  auto* redir = dynamic_cast<reference_rdf::UsbredirUsb*>(usb_.get());
  // The old instance must not reach the new device as it stops: its transfers fail at once.
  if (redir && device_replaced) redir->client().close("the reader was plugged in again");
  driver_.reset();
  if (redir && !device_replaced) redir->client().close("the case ended");
  usb_.reset();
}

bool RdfPort::ensure_driver(std::string& error) {
  auto& entry = rig_.reader(0);
  // A reader plugged in again (e.g. reconfigured by the case) is a new device: PnP removes the
  // old driver instance and starts a new one on it.
  if (driver_ && entry.plugged && entry.plug_count != driver_plug_count_) stop_driver(true);
  if (driver_) return true;
  driver_plug_count_ = entry.plug_count;
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
    driver_.reset();
    usb_.reset();
    return false;
  }
  return true;
}

std::uint64_t RdfPort::send(nlohmann::json request) {
  const auto id = next_id_++;
  nlohmann::json reply;
  try {
    reply = execute(request);
  } catch (const std::exception& e) {
    reply = {{"rv", nullptr}, {"error", e.what()}};
  }
  reply["id"] = id;
  replies_[id] = std::move(reply);
  return id;
}

std::optional<nlohmann::json> RdfPort::wait(std::uint64_t id, std::chrono::milliseconds) {
  const auto it = replies_.find(id);
  if (it == replies_.end()) return std::nullopt;
  auto reply = std::move(it->second);
  replies_.erase(it);
  return reply;
}

nlohmann::json RdfPort::execute(const nlohmann::json& request) {
  std::string error;
  if (!ensure_driver(error)) return {{"rv", nullptr}, {"error", error}};
  const std::string call = request.value("call", "");
  auto status_reply = [](NTSTATUS status) {
    const auto value = static_cast<std::uint32_t>(status);
    return nlohmann::json{{"rv", value}, {"rv_name", ntstatus_name(value)}};
  };
  // Insertions and removals the reader reported reach the driver first, as its interrupt
  // completion would have run by now on a real system. Over usbredir a notification the
  // reader sent may still be in the socket: run what is ready until the loop is idle.
  if (transport_ == RdfTransport::usbredir) {
    for (int round = 0; round < kMaxIdleRounds; ++round) {
      if (rig_.io().stopped()) rig_.io().restart();
      if (rig_.io().poll() == 0) break;
    }
  }
  driver_->poll_slot_change(0);
  if (call == "Ioctl") {
    const auto code = request.at("code").get<std::uint32_t>();
    const auto output_size = request.value("output_size", 0u);
    if (output_size > (1u << 20)) throw std::invalid_argument("output_size above 1 MiB");
    const auto input_hex = request.value("input", std::string());
    std::vector<std::uint8_t> input;
    if (input_hex.size() % 2 != 0) throw std::invalid_argument("input is not hex");
    for (std::size_t i = 0; i < input_hex.size(); i += 2)
      input.push_back(static_cast<std::uint8_t>(std::stoi(input_hex.substr(i, 2), nullptr, 16)));
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
    while (!driver_->pending_completed() && std::chrono::steady_clock::now() < deadline) {
      rig_.sleep(std::chrono::milliseconds(5));
      driver_->poll_slot_change(0);
    }
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
