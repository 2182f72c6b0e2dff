// readerlab-agent: shared declarations.
// agent_pcsc.cpp uses only the PC/SC API (winscard.h) so it builds against pcsc-lite and
// Windows WinSCard; agent_posix.cpp / agent_windows.cpp hold the platform bits (serial port,
// Exec, power off); agent_ioctl_windows.cpp the Windows-only IOCTL_SMARTCARD_* calls.
#pragma once

#include <cstdint>
#include <functional>
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

class Port;
// Writes the ready event, calls after_ready, then serves requests until the port's read
// fails (on Windows: or its stop event fires). Requests still running may outlive the call.
void serve(Port port, const std::function<void()>& after_ready);

#ifdef _WIN32
// FormatMessage's text for a Win32 error code, with the code: "... (Win32 error N)".
std::string win32_message(unsigned long code);
// UTF-8 to the UTF-16 Windows' W functions take.
std::wstring widen(const std::string& text);
// One log line: to stderr ("readerlab-agent: ..."), or in service mode to the service's log
// file with a UTC timestamp.
void log_message(const char* format, ...) __attribute__((format(printf, 1, 2)));

// ---- Windows service (agent_service_windows.cpp) ----
// `--service`: runs under the service control manager until SERVICE_CONTROL_STOP/SHUTDOWN;
// opens the port (retrying while it is missing), then reports SERVICE_RUNNING.
int run_service(const std::string& port_path);
// Poweroff in service mode: tells the SCM the service stopped before the process exits.
void report_service_stopped_on_exit();
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
#ifdef _WIN32
  // An event that, once set, makes read_some (pending or next) return -1.
  void set_stop_event(void* event) { stop_event_ = event; }
#endif

 private:
#ifdef _WIN32
  explicit Port(void* handle) : handle_(handle) {}
  void* handle_ = nullptr;  // a HANDLE opened for overlapped I/O
  void* stop_event_ = nullptr;
  unsigned long last_read_error_ = 0;
#else
  explicit Port(int fd) : fd_(fd) {}
  int fd_ = -1;
#endif
};

}  // namespace agent
