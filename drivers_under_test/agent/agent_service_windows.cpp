// `readerlab-agent.exe --service`: the agent under Windows' service control manager, as
// install-agent.ps1 sets it up in a guest image. The port may appear late at boot (a COM or
// virtio-serial driver still starting), so opening it is retried until it works or the
// service is stopped; SERVICE_RUNNING is reported once the ready line is on the wire. A
// service has no console: the agent's log lines (log_message) go to readerlab-agent.log
// beside the executable.
#include "agent.h"

#include <windows.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace agent {

namespace {

// The name install-agent.ps1 registers (ignored by the SCM for a SERVICE_WIN32_OWN_PROCESS).
wchar_t kServiceName[] = L"readerlab-agent";
constexpr DWORD kPortRetryMs = 3000;
// START_PENDING's wait hint while the port is missing: the next checkpoint comes within it.
constexpr DWORD kStartWaitHintMs = 2 * kPortRetryMs;
constexpr DWORD kStopWaitHintMs = 5000;
// A log above this size is moved to readerlab-agent.log.old when the service starts.
constexpr long long kMaxLogBytes = 1ll << 20;

std::mutex g_status_mutex;
SERVICE_STATUS_HANDLE g_status_handle = nullptr;
SERVICE_STATUS g_status{};
bool g_stopping = false;
HANDLE g_stop_event = nullptr;
HANDLE g_log = nullptr;  // service mode: the log file; otherwise log_message writes to stderr
std::string g_port_path;

// Once a stop was asked for, only STOP_PENDING and STOPPED are reported: a late
// "running" from the starting thread must not undo it.
void report(DWORD state, DWORD wait_hint) {
  std::lock_guard<std::mutex> lock(g_status_mutex);
  if (g_status_handle == nullptr) return;
  if (g_stopping && state != SERVICE_STOP_PENDING && state != SERVICE_STOPPED) return;
  if (g_status.dwCurrentState == SERVICE_STOPPED) return;
  g_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  g_status.dwCurrentState = state;
  // Windows refuses controls to a START_PENDING service whatever this says; STOP is
  // declared throughout so the service is stoppable as soon as the SCM allows it.
  g_status.dwControlsAccepted = state == SERVICE_STOPPED ? 0 : SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN;
  g_status.dwWin32ExitCode = NO_ERROR;
  g_status.dwWaitHint = wait_hint;
  g_status.dwCheckPoint = state == SERVICE_RUNNING || state == SERVICE_STOPPED ? 0 : g_status.dwCheckPoint + 1;
  SetServiceStatus(g_status_handle, &g_status);
}

DWORD WINAPI control_handler(DWORD control, DWORD, void*, void*) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
      log_message("%s requested", control == SERVICE_CONTROL_STOP ? "stop" : "shutdown");
      {
        std::lock_guard<std::mutex> lock(g_status_mutex);
        g_stopping = true;
      }
      report(SERVICE_STOP_PENDING, kStopWaitHintMs);
      SetEvent(g_stop_event);
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE: return NO_ERROR;
    default: return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

// readerlab-agent.log beside the executable, appended to; a log above kMaxLogBytes is kept
// once as .old. (A service has no standard handles, and msvcrt's stderr then stays unusable
// even after fd 2 is redirected, so the log is a handle of its own.)
void open_log() {
  wchar_t exe[MAX_PATH];
  DWORD n = GetModuleFileNameW(nullptr, exe, MAX_PATH);
  if (n == 0 || n >= MAX_PATH) return;
  std::wstring path(exe, n);
  std::size_t slash = path.find_last_of(L"\\/");
  path = (slash == std::wstring::npos ? std::wstring() : path.substr(0, slash + 1)) + L"readerlab-agent.log";
  WIN32_FILE_ATTRIBUTE_DATA attributes;
  if (GetFileAttributesExW(path.c_str(), GetFileExInfoStandard, &attributes) &&
      ((static_cast<long long>(attributes.nFileSizeHigh) << 32) | attributes.nFileSizeLow) > kMaxLogBytes)
    MoveFileExW(path.c_str(), (path + L".old").c_str(), MOVEFILE_REPLACE_EXISTING);
  HANDLE file = CreateFileW(path.c_str(), FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                            nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file != INVALID_HANDLE_VALUE) g_log = file;
}

void WINAPI service_main(DWORD, LPWSTR*) {
  open_log();
  g_status_handle = RegisterServiceCtrlHandlerExW(kServiceName, control_handler, nullptr);
  if (g_status_handle == nullptr) {
    log_message("RegisterServiceCtrlHandlerEx: %s", win32_message(GetLastError()).c_str());
    return;
  }
  report(SERVICE_START_PENDING, kStartWaitHintMs);
  const std::string port_name = g_port_path.empty() ? "the virtio port, else COM1" : g_port_path;
  log_message("service starting (pid %lu), port %s", GetCurrentProcessId(), port_name.c_str());
  std::string last_error;
  for (unsigned attempt = 1;; ++attempt) {
    std::string error;
    auto port = Port::open(g_port_path, error);
    if (port) {
      port->set_stop_event(g_stop_event);
      serve(std::move(*port), [&] {
        report(SERVICE_RUNNING, 0);
        log_message("ready line written on %s (attempt %u): service running", port_name.c_str(), attempt);
      });
      break;
    }
    if (error != last_error)
      log_message("cannot open the port: %s (retrying every %lu s)", error.c_str(), kPortRetryMs / 1000);
    last_error = error;
    report(SERVICE_START_PENDING, kStartWaitHintMs);
    if (WaitForSingleObject(g_stop_event, kPortRetryMs) == WAIT_OBJECT_0) break;
  }
  log_message("service stopped");
  report(SERVICE_STOPPED, 0);
}

}  // namespace

void log_message(const char* format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  if (g_log == nullptr) {
    std::fprintf(stderr, "readerlab-agent: %s\n", text);
    return;
  }
  SYSTEMTIME now;
  GetSystemTime(&now);
  char line[1200];
  int n = std::snprintf(line, sizeof(line), "%04u-%02u-%02uT%02u:%02u:%02uZ %s\r\n", now.wYear, now.wMonth, now.wDay,
                        now.wHour, now.wMinute, now.wSecond, text);
  if (n <= 0) return;
  DWORD written = 0;
  // One WriteFile per line on an append handle: lines from several threads never interleave.
  WriteFile(g_log, line, static_cast<DWORD>(std::min<std::size_t>(static_cast<std::size_t>(n), sizeof(line) - 1)),
            &written, nullptr);
}

int run_service(const std::string& port_path) {
  g_port_path = port_path;
  g_stop_event = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (g_stop_event == nullptr) {
    std::fprintf(stderr, "readerlab-agent: CreateEvent: %s\n", win32_message(GetLastError()).c_str());
    return 1;
  }
  SERVICE_TABLE_ENTRYW table[] = {{kServiceName, service_main}, {nullptr, nullptr}};
  if (!StartServiceCtrlDispatcherW(table)) {
    DWORD error = GetLastError();
    std::fprintf(stderr, "readerlab-agent: --service: %s%s\n", win32_message(error).c_str(),
                 error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT
                     ? " (--service is for the service control manager; install-agent.ps1 registers it)"
                     : "");
    return 1;
  }
  return 0;
}

void report_service_stopped_on_exit() {
  if (g_status_handle == nullptr) return;
  log_message("Poweroff: exiting");
  {
    std::lock_guard<std::mutex> lock(g_status_mutex);
    g_stopping = true;
  }
  report(SERVICE_STOPPED, 0);
}

}  // namespace agent
