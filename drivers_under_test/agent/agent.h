// readerlab-agent: shared declarations.
// agent_pcsc.cpp uses only the PC/SC API (winscard.h) so it ports to Windows WinSCard;
// agent_posix.cpp holds the platform bits (serial port, Exec, power off).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace agent {

// Executes one parsed request (anything but Cancel) and returns the reply (without id).
nlohmann::json handle_pcsc_request(const nlohmann::json& request);
// Cancel: performed immediately by the reading thread.
nlohmann::json handle_cancel(const nlohmann::json& request);
// Symbolic name of a PC/SC return code.
std::string rv_name(std::uint32_t rv);

// ---- platform part (agent_posix.cpp) ----
struct ExecResult {
  int exit_code = -1;
  std::string output;
  bool timed_out = false;
};
ExecResult exec_command(const std::string& command, std::uint32_t timeout_ms);

class Port {
 public:
  // Opens the port; empty path = find the virtio port named readerlab.agent.
  static std::optional<Port> open(const std::string& path, std::string& error);
  Port(Port&& other) noexcept;
  Port& operator=(Port&&) = delete;
  ~Port();
  // Reads some bytes; returns 0 when nothing is available (host not connected), -1 on error.
  long read_some(char* buffer, std::size_t size);
  bool write_all(const std::string& data);

 private:
  explicit Port(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace agent
