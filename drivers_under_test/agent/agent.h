// readerlab-agent: shared declarations.
// agent_pcsc.cpp uses only the PC/SC API (winscard.h) so it builds against pcsc-lite and
// Windows WinSCard; agent_posix.cpp / agent_windows.cpp hold the platform bits (serial port,
// Exec, power off); agent_ioctl_windows.cpp the Windows-only IOCTL_SMARTCARD_* calls.
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

// ---- platform part (agent_posix.cpp, agent_windows.cpp) ----
// The PC/SC implementation the ready event names: "pcsc-lite" or "winscard".
extern const char* const kPcscApi;
struct ExecResult {
  int exit_code = -1;
  std::string output;
  bool timed_out = false;
};
ExecResult exec_command(const std::string& command, std::uint32_t timeout_ms);
// After Poweroff's reply: what brings the machine down besides the agent's exit (nothing on
// Linux, where the guest's init powers off; a shutdown request on Windows).
void power_off();

#ifdef _WIN32
// ---- Windows only (agent_ioctl_windows.cpp) ----
// Ioctl, WaitPending, CancelPending, State, ListDevices: true for those call names.
bool is_ioctl_call(const std::string& call);
nlohmann::json handle_ioctl_request(const nlohmann::json& request);
// Before EstablishContext: gives the reader back to SCardSvr if the agent stopped it.
// Returns what it did ("" when nothing), for the reply's "scardsvr" field.
std::string before_pcsc_context();
#endif

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
#ifdef _WIN32
  explicit Port(void* handle) : handle_(handle) {}
  void* handle_ = nullptr;  // a HANDLE opened for overlapped I/O
  unsigned long last_read_error_ = 0;
#else
  explicit Port(int fd) : fd_(fd) {}
  int fd_ = -1;
#endif
};

}  // namespace agent
