// A rig with no driver attached, for the runner's tests: every driver call goes unanswered.
#pragma once

#include "scenarios/driver_port.h"

namespace readerlab::test {

class NoDriver : public scenarios::DriverPort {
 public:
  std::string name() const override { return "none"; }
  std::uint64_t send(nlohmann::json) override { return ++last_id_; }
  std::optional<nlohmann::json> wait(std::uint64_t, std::chrono::milliseconds) override { return std::nullopt; }

 private:
  std::uint64_t last_id_ = 0;
};

}  // namespace readerlab::test
