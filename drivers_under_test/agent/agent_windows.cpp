// The Windows half of the agent: the serial port (virtio-serial or a COM port), Exec through
// cmd.exe in a job object, and Poweroff as a shutdown request. agent_posix.cpp is the Linux
// counterpart; agent.cpp and agent_pcsc.cpp are shared.
#include "agent.h"

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace agent {

const char* const kPcscApi = "winscard";

std::string win32_message(DWORD code) {
  char* text = nullptr;
  DWORD n = FormatMessageA(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                           nullptr, code, 0, reinterpret_cast<char*>(&text), 0, nullptr);
  std::string message = n != 0 && text != nullptr ? std::string(text, n) : std::string();
  if (text != nullptr) LocalFree(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r' || message.back() == ' '))
    message.pop_back();
  return message + " (Win32 error " + std::to_string(code) + ")";
}

std::wstring widen(const std::string& text) {
  if (text.empty()) return {};
  int n = MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
  if (n <= 0) return {};
  std::wstring wide(static_cast<std::size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), wide.data(), n);
  return wide;
}

namespace {

constexpr std::size_t kMaxOutput = 1u << 20;  // PROTOCOL.md: Exec output at most 1 MiB
// The virtio-serial driver (vioser) names a port after its QEMU name under \\.\Global\.
constexpr const char* kVirtioPort = "\\\\.\\Global\\readerlab.agent";
constexpr const char* kFallbackPort = "COM1";
// A COM port read completes this long after the last byte that arrived (COMMTIMEOUTS
// ReadIntervalTimeout, with no total timeout: the read itself waits for the first byte).
constexpr DWORD kReadIntervalMs = 10;
constexpr UINT kTimedOutExitCode = 1;  // the code TerminateJobObject gives the killed processes

// "COM12" must be opened as \\.\COM12 (only COM1-COM9 have the short DOS name); a path that
// already starts with \\ is used as it is.
std::string device_path(const std::string& name) {
  if (name.rfind("\\\\", 0) == 0) return name;
  return "\\\\.\\" + name;
}

HANDLE open_device(const std::string& path, DWORD& error) {
  HANDLE h =
      CreateFileA(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr);
  error = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
  return h;
}

// A COM port: raw 8N1, no flow control, and reads that wait for the first byte and return
// once the line goes quiet for kReadIntervalMs. (The "MAXDWORD, MAXDWORD, constant" mode that
// returns at the first byte is not honoured for overlapped reads by Wine 8, which the tests
// run under.) Not a COM port (virtio-serial): both calls fail and change nothing.
void make_raw(HANDLE h) {
  DCB dcb{};
  dcb.DCBlength = sizeof(dcb);
  if (GetCommState(h, &dcb)) {
    dcb.BaudRate = CBR_115200;
    dcb.ByteSize = 8;
    dcb.Parity = NOPARITY;
    dcb.StopBits = ONESTOPBIT;
    dcb.fBinary = TRUE;
    dcb.fParity = FALSE;
    dcb.fOutxCtsFlow = FALSE;
    dcb.fOutxDsrFlow = FALSE;
    dcb.fDtrControl = DTR_CONTROL_ENABLE;
    dcb.fDsrSensitivity = FALSE;
    dcb.fOutX = FALSE;
    dcb.fInX = FALSE;
    dcb.fErrorChar = FALSE;
    dcb.fNull = FALSE;
    dcb.fRtsControl = RTS_CONTROL_ENABLE;
    dcb.fAbortOnError = FALSE;
    SetCommState(h, &dcb);
  }
  COMMTIMEOUTS timeouts{};
  timeouts.ReadIntervalTimeout = kReadIntervalMs;
  SetCommTimeouts(h, &timeouts);
}

// Waits for an overlapped operation started on `h`; the byte count, or -1 on failure. The
// port is opened for overlapped I/O because Windows serialises synchronous I/O on one file
// object: a blocked read would hold back the worker thread's replies.
long finish_overlapped(HANDLE h, OVERLAPPED& overlapped, BOOL started, DWORD done) {
  if (!started) {
    if (GetLastError() != ERROR_IO_PENDING) return -1;
    if (!GetOverlappedResult(h, &overlapped, &done, TRUE)) return -1;
  }
  return static_cast<long>(done);
}

struct HandleCloser {
  HANDLE h;
  ~HandleCloser() {
    if (h != nullptr && h != INVALID_HANDLE_VALUE) CloseHandle(h);
  }
};

}  // namespace

std::optional<Port> Port::open(const std::string& path_in, std::string& error) {
  DWORD code = 0;
  std::string path;
  HANDLE h = INVALID_HANDLE_VALUE;
  if (path_in.empty()) {
    h = open_device(kVirtioPort, code);
    path = kVirtioPort;
    if (h == INVALID_HANDLE_VALUE) {
      std::string virtio_error = win32_message(code);
      path = device_path(kFallbackPort);
      h = open_device(path, code);
      if (h == INVALID_HANDLE_VALUE) {
        error = std::string(kVirtioPort) + ": " + virtio_error + "; " + path + ": " + win32_message(code);
        return std::nullopt;
      }
    }
  } else {
    path = device_path(path_in);
    h = open_device(path, code);
    if (h == INVALID_HANDLE_VALUE) {
      error = path + ": " + win32_message(code);
      return std::nullopt;
    }
  }
  make_raw(h);
  return Port(static_cast<void*>(h));
}

Port::Port(Port&& other) noexcept
    : handle_(other.handle_), stop_event_(other.stop_event_), last_read_error_(other.last_read_error_) {
  other.handle_ = nullptr;
}
Port::~Port() {
  if (handle_ != nullptr) CloseHandle(static_cast<HANDLE>(handle_));
}

long Port::read_some(char* buffer, std::size_t size) {
  HANDLE h = static_cast<HANDLE>(handle_);
  HANDLE stop = static_cast<HANDLE>(stop_event_);
  if (stop != nullptr && WaitForSingleObject(stop, 0) == WAIT_OBJECT_0) return -1;
  OVERLAPPED overlapped{};
  overlapped.hEvent = CreateEventA(nullptr, TRUE, FALSE, nullptr);
  if (overlapped.hEvent == nullptr) return -1;
  HandleCloser event{overlapped.hEvent};
  DWORD done = 0;
  DWORD want = static_cast<DWORD>(std::min<std::size_t>(size, 1u << 16));
  BOOL started = ReadFile(h, buffer, want, &done, &overlapped);
  if (!started && GetLastError() == ERROR_IO_PENDING && stop != nullptr) {
    HANDLE waits[2] = {overlapped.hEvent, stop};
    if (WaitForMultipleObjects(2, waits, FALSE, INFINITE) == WAIT_OBJECT_0 + 1) {
      CancelIoEx(h, &overlapped);
      GetOverlappedResult(h, &overlapped, &done, TRUE);  // the buffer is ours again once it returns
      return -1;
    }
    started = GetOverlappedResult(h, &overlapped, &done, FALSE);
  }
  long n = finish_overlapped(h, overlapped, started, done);
  if (n < 0) {
    // No init powers Windows off when the agent exits, so a failing port (a virtio-serial
    // port whose host end is not connected fails reads) is retried rather than given up.
    DWORD error = GetLastError();
    if (error != last_read_error_) log_message("port read: %s (retrying)", win32_message(error).c_str());
    last_read_error_ = error;
    return 0;
  }
  last_read_error_ = 0;
  return n;
}

bool Port::write_all(const std::string& data) {
  HANDLE h = static_cast<HANDLE>(handle_);
  OVERLAPPED overlapped{};
  overlapped.hEvent = CreateEventA(nullptr, TRUE, FALSE, nullptr);
  if (overlapped.hEvent == nullptr) return false;
  HandleCloser event{overlapped.hEvent};
  std::size_t written = 0;
  while (written < data.size()) {
    ResetEvent(overlapped.hEvent);
    DWORD done = 0;
    DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(data.size() - written, 1u << 16));
    BOOL started = WriteFile(h, data.data() + written, chunk, &done, &overlapped);
    long n = finish_overlapped(h, overlapped, started, done);
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}

ExecResult exec_command(const std::string& command, std::uint32_t timeout_ms) {
  ExecResult result;
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  HANDLE read_end = nullptr, write_end = nullptr;
  if (!CreatePipe(&read_end, &write_end, &inherit, 0)) {
    result.output = "CreatePipe: " + win32_message(GetLastError());
    return result;
  }
  HandleCloser read_closer{read_end};
  SetHandleInformation(read_end, HANDLE_FLAG_INHERIT, 0);
  HANDLE null_in =
      CreateFileA("NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit, OPEN_EXISTING, 0, nullptr);
  HandleCloser null_closer{null_in};

  // The job kills the whole tree at the deadline (a command's own children included). Without
  // JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: what a finished command left running keeps running,
  // as on Linux.
  HANDLE job = CreateJobObjectA(nullptr, nullptr);
  HandleCloser job_closer{job};

  wchar_t system_dir[MAX_PATH];
  UINT dir_len = GetSystemDirectoryW(system_dir, MAX_PATH);
  std::wstring shell =
      (dir_len > 0 && dir_len < MAX_PATH ? std::wstring(system_dir, dir_len) : L"C:\\Windows\\System32") + L"\\cmd.exe";
  std::wstring line = L"cmd.exe /c " + widen(command);
  std::vector<wchar_t> line_buffer(line.begin(), line.end());
  line_buffer.push_back(L'\0');

  STARTUPINFOW startup{};
  startup.cb = sizeof(startup);
  startup.dwFlags = STARTF_USESTDHANDLES;
  startup.hStdInput = null_in;
  startup.hStdOutput = write_end;
  startup.hStdError = write_end;
  PROCESS_INFORMATION process{};
  BOOL created = CreateProcessW(shell.c_str(), line_buffer.data(), nullptr, nullptr, TRUE,
                                CREATE_SUSPENDED | CREATE_NO_WINDOW, nullptr, nullptr, &startup, &process);
  DWORD create_error = GetLastError();
  CloseHandle(write_end);  // the child holds its copy: EOF on read_end once every writer exits
  if (!created) {
    result.output = "CreateProcess cmd.exe: " + win32_message(create_error);
    return result;
  }
  HandleCloser process_closer{process.hProcess};
  HandleCloser thread_closer{process.hThread};
  if (job != nullptr) AssignProcessToJobObject(job, process.hProcess);
  ResumeThread(process.hThread);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buffer[4096];
  for (;;) {
    DWORD available = 0;
    bool peeked = PeekNamedPipe(read_end, nullptr, 0, nullptr, &available, nullptr);
    if (!peeked || available > 0) {
      // A failed peek is a closed pipe: the read returns what is left, then fails (EOF).
      DWORD n = 0;
      DWORD want = peeked ? std::min<DWORD>(available, sizeof(buffer)) : sizeof(buffer);
      if (!ReadFile(read_end, buffer, want, &n, nullptr) || n == 0) break;
      std::size_t room = kMaxOutput - std::min(kMaxOutput, result.output.size());
      result.output.append(buffer, std::min<std::size_t>(room, n));
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      if (job != nullptr) TerminateJobObject(job, kTimedOutExitCode);
      TerminateProcess(process.hProcess, kTimedOutExitCode);
      break;
    }
    Sleep(5);
  }
  WaitForSingleObject(process.hProcess, result.timed_out ? 5000 : INFINITE);
  DWORD exit_code = 0;
  if (GetExitCodeProcess(process.hProcess, &exit_code) && exit_code != STILL_ACTIVE)
    result.exit_code = static_cast<int>(exit_code);
  return result;
}

void power_off() {
  // A shutdown needs SeShutdownPrivilege enabled in the agent's token (a service's has it).
  HANDLE token = nullptr;
  if (OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token)) {
    TOKEN_PRIVILEGES privileges{};
    privileges.PrivilegeCount = 1;
    privileges.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
    if (LookupPrivilegeValueA(nullptr, "SeShutdownPrivilege", &privileges.Privileges[0].Luid))
      AdjustTokenPrivileges(token, FALSE, &privileges, 0, nullptr, nullptr);
    CloseHandle(token);
  }
  DWORD rv = InitiateShutdownW(nullptr, nullptr, 0, SHUTDOWN_POWEROFF | SHUTDOWN_FORCE_OTHERS | SHUTDOWN_FORCE_SELF,
                               SHTDN_REASON_MAJOR_OTHER | SHTDN_REASON_FLAG_PLANNED);
  if (rv != ERROR_SUCCESS) log_message("InitiateShutdown: %s", win32_message(rv).c_str());
  report_service_stopped_on_exit();
}

}  // namespace agent
