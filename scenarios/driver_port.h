// The driver port: how scenarios reach the driver under test. A request names a call
// (PC/SC or IOCTL level) with its arguments; the reply carries the result code.
// The guest agent (JSON lines over virtio-serial) is one implementation.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace readerlab::scenarios {

class DriverPort {
 public:
  virtual ~DriverPort() = default;
  virtual std::string name() const = 0;  // e.g. "libccid"
  // Sends a request ({"call": ..., args}) and returns its id; the reply is collected by wait.
  virtual std::uint64_t send(nlohmann::json request) = 0;
  // Runs the event loop until the reply with this id arrives; nullopt on timeout.
  virtual std::optional<nlohmann::json> wait(std::uint64_t id, std::chrono::milliseconds timeout) = 0;
  // Called before each case: a port that can give the case a fresh driver does it here.
  virtual void begin_case() {}
};

}  // namespace readerlab::scenarios
