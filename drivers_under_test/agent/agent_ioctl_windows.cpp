// Windows only: the reader driver's own interface. The agent opens the reader's device
// interface (GUID_DEVINTERFACE_SMARTCARD_READER, found through SetupDi) and sends
// IOCTL_SMARTCARD_* with NtDeviceIoControlFile, so the reply carries the NTSTATUS the driver
// completed the IRP with and IO_STATUS_BLOCK.Information. The reply shapes are those of the
// host's RDF port (hosts/windows_model/port), so the same IOCTL cases run against both.
// Everything here runs on the agent's worker thread, one request at a time.
#include "agent.h"
#include "base/bytes.h"

// clang-format off
#include <windows.h>
#include <winternl.h>
#include <setupapi.h>
// clang-format on

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <cwchar>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

namespace agent {
namespace {

using nlohmann::json;

struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr std::size_t kMaxOutput = 1u << 20;  // PROTOCOL.md: no reply buffer above 1 MiB
// shared/spec/smclib.md §7: GUID_DEVINTERFACE_SMARTCARD_READER {50DD5230-BA8A-11D1-BF5D-0000F805F530}.
constexpr GUID kSmartcardReaderInterface = {
    0x50DD5230, 0xBA8A, 0x11D1, {0xBF, 0x5D, 0x00, 0x00, 0xF8, 0x05, 0xF5, 0x30}};
// shared/spec/smclib.md §1: SCARD_CTL_CODE(14) = 0x00310000 | (14 << 2).
constexpr ULONG kIoctlSmartcardGetState = 0x00310038;
constexpr NTSTATUS kStatusPending = 0x00000103;  // smclib.md: PENDING
constexpr DWORD kServiceWaitMs = 10000;          // how long SCardSvr gets to stop or start
constexpr DWORD kCancelWaitMs = 5000;            // how long a cancelled IRP gets to complete
constexpr const char* kResourceManager = "SCardSvr";

std::string utf8(const wchar_t* text, std::size_t length) {
  if (length == 0) return {};
  int n = WideCharToMultiByte(CP_UTF8, 0, text, static_cast<int>(length), nullptr, 0, nullptr, nullptr);
  if (n <= 0) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, text, static_cast<int>(length), out.data(), n, nullptr, nullptr);
  return out;
}

std::string ntstatus_name(std::uint32_t status) {
  // shared/spec/smclib.md "NTSTATUS values used below", plus what the I/O manager answers
  // before a driver sees the IRP (ACCESS_DENIED, INVALID_HANDLE, NO_SUCH_DEVICE).
  switch (status) {
    case 0x00000000: return "STATUS_SUCCESS";
    case 0x00000103: return "STATUS_PENDING";
    case 0x80000005: return "STATUS_BUFFER_OVERFLOW";
    case 0x80000011: return "STATUS_DEVICE_BUSY";
    case 0xC0000001: return "STATUS_UNSUCCESSFUL";
    case 0xC0000008: return "STATUS_INVALID_HANDLE";
    case 0xC000000D: return "STATUS_INVALID_PARAMETER";
    case 0xC000000E: return "STATUS_NO_SUCH_DEVICE";
    case 0xC0000010: return "STATUS_INVALID_DEVICE_REQUEST";
    case 0xC0000014: return "STATUS_UNRECOGNIZED_MEDIA";
    case 0xC0000016: return "STATUS_MORE_PROCESSING_REQUIRED";
    case 0xC0000022: return "STATUS_ACCESS_DENIED";
    case 0xC0000023: return "STATUS_BUFFER_TOO_SMALL";
    case 0xC0000056: return "STATUS_DELETE_PENDING";
    case 0xC000009A: return "STATUS_INSUFFICIENT_RESOURCES";
    case 0xC000009E: return "STATUS_DEVICE_POWER_FAILURE";
    case 0xC00000B5: return "STATUS_IO_TIMEOUT";
    case 0xC00000BB: return "STATUS_NOT_SUPPORTED";
    case 0xC00000E5: return "STATUS_INTERNAL_ERROR";
    case 0xC0000120: return "STATUS_CANCELLED";
    case 0xC0000178: return "STATUS_NO_MEDIA";
    case 0xC0000184: return "STATUS_INVALID_DEVICE_STATE";
    case 0xC0000186: return "STATUS_DEVICE_PROTOCOL_ERROR";
    default: {
      char text[16];
      std::snprintf(text, sizeof(text), "0x%08X", static_cast<unsigned>(status));
      return text;
    }
  }
}

json status_reply(NTSTATUS status) {
  auto value = static_cast<std::uint32_t>(status);
  return json{{"rv", value}, {"rv_name", ntstatus_name(value)}};
}

std::uint32_t get_u32(const json& request, const char* name, std::optional<std::uint32_t> fallback) {
  auto it = request.find(name);
  if (it == request.end()) {
    if (fallback) return *fallback;
    throw RequestError(std::string("missing field '") + name + "'");
  }
  if (it->is_number_unsigned() && it->get<std::uint64_t>() <= 0xFFFFFFFFu) return it->get<std::uint32_t>();
  if (it->is_number_integer() && it->get<std::int64_t>() >= 0 && it->get<std::int64_t>() <= 0xFFFFFFFF)
    return static_cast<std::uint32_t>(it->get<std::int64_t>());
  throw RequestError(std::string("field '") + name + "' must be an unsigned 32-bit integer");
}

std::vector<unsigned char> get_input(const json& request) {
  auto it = request.find("input");
  if (it == request.end()) return {};
  if (!it->is_string()) throw RequestError("field 'input' must be a hex string");
  auto bytes = readerlab::read_hex(it->get<std::string>());
  if (!bytes) throw RequestError("field 'input': " + bytes.error().message());
  if (bytes->size() > kMaxOutput) throw RequestError("field 'input' exceeds 1 MiB");
  return std::move(bytes).value();
}

std::string hex(const unsigned char* data, std::size_t size) {
  return readerlab::to_hex({data, size}, {}, readerlab::HexCase::lower);
}

// ---- device discovery ---------------------------------------------------------------

struct ReaderInterface {
  std::string path;
  std::string description;
  std::string friendly_name;
  std::vector<std::string> hardware_ids;
  std::string service;
};

std::vector<std::wstring> registry_strings(HDEVINFO set, SP_DEVINFO_DATA& info, DWORD property) {
  std::vector<BYTE> buffer(1024);
  DWORD needed = 0;
  DWORD type = 0;
  if (!SetupDiGetDeviceRegistryPropertyW(set, &info, property, &type, buffer.data(), static_cast<DWORD>(buffer.size()),
                                         &needed)) {
    if (GetLastError() != ERROR_INSUFFICIENT_BUFFER || needed > kMaxOutput) return {};
    buffer.resize(needed);
    if (!SetupDiGetDeviceRegistryPropertyW(set, &info, property, &type, buffer.data(),
                                           static_cast<DWORD>(buffer.size()), &needed))
      return {};
  }
  // REG_SZ or REG_MULTI_SZ: NUL-separated UTF-16 strings, cut at the bytes actually returned.
  std::size_t chars = std::min<std::size_t>(needed, buffer.size()) / sizeof(wchar_t);
  const auto* text = reinterpret_cast<const wchar_t*>(buffer.data());
  std::vector<std::wstring> strings;
  std::size_t i = 0;
  while (i < chars && text[i] != L'\0') {
    std::size_t start = i;
    while (i < chars && text[i] != L'\0') ++i;
    strings.emplace_back(text + start, i - start);
    ++i;
    if (type != REG_MULTI_SZ) break;
  }
  return strings;
}

std::string registry_string(HDEVINFO set, SP_DEVINFO_DATA& info, DWORD property) {
  auto strings = registry_strings(set, info, property);
  return strings.empty() ? std::string() : utf8(strings[0].data(), strings[0].size());
}

std::vector<ReaderInterface> list_reader_interfaces() {
  std::vector<ReaderInterface> readers;
  HDEVINFO set =
      SetupDiGetClassDevsW(&kSmartcardReaderInterface, nullptr, nullptr, DIGCF_PRESENT | DIGCF_DEVICEINTERFACE);
  if (set == INVALID_HANDLE_VALUE) throw RequestError("SetupDiGetClassDevs: " + win32_message(GetLastError()));
  for (DWORD index = 0;; ++index) {
    SP_DEVICE_INTERFACE_DATA interface_data{};
    interface_data.cbSize = sizeof(interface_data);
    if (!SetupDiEnumDeviceInterfaces(set, nullptr, &kSmartcardReaderInterface, index, &interface_data)) break;
    DWORD needed = 0;
    SetupDiGetDeviceInterfaceDetailW(set, &interface_data, nullptr, 0, &needed, nullptr);
    if (needed < sizeof(SP_DEVICE_INTERFACE_DETAIL_DATA_W) || needed > 65536) continue;
    std::vector<BYTE> detail_buffer(needed);
    auto* detail = reinterpret_cast<SP_DEVICE_INTERFACE_DETAIL_DATA_W*>(detail_buffer.data());
    detail->cbSize = sizeof(SP_DEVICE_INTERFACE_DETAIL_DATA_W);
    SP_DEVINFO_DATA info{};
    info.cbSize = sizeof(info);
    if (!SetupDiGetDeviceInterfaceDetailW(set, &interface_data, detail, needed, nullptr, &info)) continue;
    ReaderInterface reader;
    const wchar_t* path = detail->DevicePath;
    std::size_t path_chars = wcsnlen(path, (needed - offsetof(SP_DEVICE_INTERFACE_DETAIL_DATA_W, DevicePath)) / 2);
    reader.path = utf8(path, path_chars);
    reader.description = registry_string(set, info, SPDRP_DEVICEDESC);
    reader.friendly_name = registry_string(set, info, SPDRP_FRIENDLYNAME);
    for (const auto& id : registry_strings(set, info, SPDRP_HARDWAREID))
      reader.hardware_ids.push_back(utf8(id.data(), id.size()));
    reader.service = registry_string(set, info, SPDRP_SERVICE);
    readers.push_back(std::move(reader));
  }
  SetupDiDestroyDeviceInfoList(set);
  return readers;
}

// ---- SCardSvr, the resource manager that holds the reader open ----------------------

struct ServiceHandles {
  SC_HANDLE manager = nullptr;
  SC_HANDLE service = nullptr;
  ~ServiceHandles() {
    if (service != nullptr) CloseServiceHandle(service);
    if (manager != nullptr) CloseServiceHandle(manager);
  }
};

// Waits until the service reaches `wanted`; "" on success, else what went wrong.
std::string wait_for_service(SC_HANDLE service, DWORD wanted) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kServiceWaitMs);
  for (;;) {
    SERVICE_STATUS status{};
    if (!QueryServiceStatus(service, &status)) return "QueryServiceStatus: " + win32_message(GetLastError());
    if (status.dwCurrentState == wanted) return {};
    if (std::chrono::steady_clock::now() >= deadline)
      return "still in state " + std::to_string(status.dwCurrentState) + " after " + std::to_string(kServiceWaitMs) +
             " ms";
    Sleep(100);
  }
}

std::string open_resource_manager(ServiceHandles& handles, DWORD access) {
  handles.manager = OpenSCManagerA(nullptr, nullptr, SC_MANAGER_CONNECT);
  if (handles.manager == nullptr) return "OpenSCManager: " + win32_message(GetLastError());
  handles.service = OpenServiceA(handles.manager, kResourceManager, access | SERVICE_QUERY_STATUS);
  if (handles.service == nullptr)
    return std::string("OpenService ") + kResourceManager + ": " + win32_message(GetLastError());
  return {};
}

std::string stop_resource_manager() {
  ServiceHandles handles;
  if (auto failure = open_resource_manager(handles, SERVICE_STOP); !failure.empty()) return failure;
  SERVICE_STATUS status{};
  if (!ControlService(handles.service, SERVICE_CONTROL_STOP, &status) && GetLastError() != ERROR_SERVICE_NOT_ACTIVE)
    return std::string("stopping ") + kResourceManager + ": " + win32_message(GetLastError());
  return wait_for_service(handles.service, SERVICE_STOPPED);
}

std::string start_resource_manager() {
  ServiceHandles handles;
  if (auto failure = open_resource_manager(handles, SERVICE_START); !failure.empty()) return failure;
  if (!StartServiceA(handles.service, 0, nullptr) && GetLastError() != ERROR_SERVICE_ALREADY_RUNNING)
    return std::string("starting ") + kResourceManager + ": " + win32_message(GetLastError());
  return wait_for_service(handles.service, SERVICE_RUNNING);
}

// ---- the open reader and its IRPs ---------------------------------------------------

// One IRP sent with NtDeviceIoControlFile. The I/O manager writes `iosb` and `output` until
// the IRP completes, so an Irp is never freed before its event is signalled.
struct Irp {
  IO_STATUS_BLOCK iosb{};
  std::vector<unsigned char> output;
  HANDLE event = nullptr;
  Irp() { event = CreateEventA(nullptr, TRUE, FALSE, nullptr); }
  ~Irp() {
    if (event != nullptr) CloseHandle(event);
  }
  Irp(const Irp&) = delete;
  Irp& operator=(const Irp&) = delete;
  bool completed() const { return WaitForSingleObject(event, 0) == WAIT_OBJECT_0; }
};

class ReaderSession {
 public:
  json ioctl(const json& request) {
    std::uint32_t code = get_u32(request, "code", std::nullopt);
    std::vector<unsigned char> input = get_input(request);
    std::uint32_t output_size = get_u32(request, "output_size", 0u);
    if (output_size > kMaxOutput) throw RequestError("field 'output_size' is above 1 MiB");
    json notes = open_for(request);
    reap();
    auto irp = std::make_unique<Irp>();
    if (irp->event == nullptr) throw RequestError("CreateEvent: " + win32_message(GetLastError()));
    irp->output.resize(output_size);
    NTSTATUS status = NtDeviceIoControlFile(device_, irp->event, nullptr, nullptr, &irp->iosb, code,
                                            input.empty() ? nullptr : input.data(), static_cast<ULONG>(input.size()),
                                            irp->output.empty() ? nullptr : irp->output.data(), output_size);
    json reply = status_reply(status);
    bool pending = status == kStatusPending;
    reply["pending"] = pending;
    if (pending) {
      reply["information"] = 0;
      reply["output"] = "";
      if (pending_) in_flight_.push_back(std::move(pending_));  // kept alive until it completes
      pending_ = std::move(irp);
    } else {
      std::size_t information = std::min<std::size_t>(irp->iosb.Information, irp->output.size());
      reply["information"] = information;
      reply["output"] = hex(irp->output.data(), information);
    }
    reply["state"] = current_state();
    merge(reply, notes);
    return reply;
  }

  json wait_pending(const json& request) {
    std::uint32_t timeout = get_u32(request, "timeout_ms", 5000u);
    if (!pending_) throw RequestError("WaitPending: no IRP is pending");
    if (WaitForSingleObject(pending_->event, timeout) != WAIT_OBJECT_0)
      return json{{"rv", nullptr}, {"completed", false}, {"pending", true}};
    return release_pending();
  }

  json cancel_pending() {
    if (!pending_) throw RequestError("CancelPending: no IRP is pending");
    // CancelIoEx finds the IRP by its user IO_STATUS_BLOCK, the "overlapped" of an NT call.
    CancelIoEx(device_, reinterpret_cast<LPOVERLAPPED>(&pending_->iosb));
    if (WaitForSingleObject(pending_->event, kCancelWaitMs) != WAIT_OBJECT_0) {
      json reply = status_reply(kStatusPending);
      reply["completed"] = false;
      return reply;  // the driver has not completed it: it stays pending
    }
    json reply = release_pending();
    return reply;
  }

  json state(const json& request) {
    json notes = open_for(request);
    ULONG value = 0;
    NTSTATUS status = get_state(value);
    json reply = status_reply(status);
    reply["state"] = status == 0 ? json(value) : json(nullptr);
    merge(reply, notes);
    return reply;
  }

  json list_devices() {
    json devices = json::array();
    std::size_t index = 0;
    for (auto& reader : list_reader_interfaces()) {
      devices.push_back(json{{"index", index++},
                             {"path", reader.path},
                             {"description", reader.description},
                             {"friendly_name", reader.friendly_name},
                             {"hardware_ids", reader.hardware_ids},
                             {"service", reader.service},
                             {"open", device_ != INVALID_HANDLE_VALUE && reader.path == path_}});
    }
    return json{{"rv", 0}, {"devices", devices}};
  }

  std::string give_back_to_resource_manager() {
    if (!stopped_resource_manager_) return {};
    close();
    stopped_resource_manager_ = false;
    std::string failure = start_resource_manager();
    return failure.empty() ? "restarted" : "restart failed: " + failure;
  }

 private:
  static void merge(json& reply, const json& notes) {
    for (auto it = notes.begin(); it != notes.end(); ++it) reply[it.key()] = it.value();
  }

  json release_pending() {
    NTSTATUS status = pending_->iosb.Status;
    json reply = status_reply(status);
    reply["completed"] = true;
    std::size_t information = std::min<std::size_t>(pending_->iosb.Information, pending_->output.size());
    reply["information"] = information;
    reply["output"] = hex(pending_->output.data(), information);
    pending_.reset();
    reply["state"] = current_state();
    return reply;
  }

  // IOCTL_SMARTCARD_GET_STATE on the open handle (smclib answers it without the driver).
  NTSTATUS get_state(ULONG& value) {
    Irp irp;
    if (irp.event == nullptr) return static_cast<NTSTATUS>(0xC000009A);  // INSUFFICIENT_RESOURCES
    irp.output.resize(sizeof(ULONG));
    NTSTATUS status = NtDeviceIoControlFile(device_, irp.event, nullptr, nullptr, &irp.iosb, kIoctlSmartcardGetState,
                                            nullptr, 0, irp.output.data(), sizeof(ULONG));
    if (status == kStatusPending) {
      if (WaitForSingleObject(irp.event, kCancelWaitMs) != WAIT_OBJECT_0) {
        CancelIoEx(device_, reinterpret_cast<LPOVERLAPPED>(&irp.iosb));
        WaitForSingleObject(irp.event, INFINITE);  // the Irp lives on this stack frame
      }
      status = irp.iosb.Status;
    }
    if (status == 0 && irp.iosb.Information >= sizeof(ULONG)) std::memcpy(&value, irp.output.data(), sizeof(ULONG));
    return status;
  }

  json current_state() {
    ULONG value = 0;
    return get_state(value) == 0 ? json(value) : json(nullptr);
  }

  // Frees the IRPs that were replaced while pending, once they completed.
  void reap() {
    in_flight_.remove_if([](const std::unique_ptr<Irp>& irp) { return irp->completed(); });
  }

  // Closing the handle sends IRP_MJ_CLEANUP, which cancels what is pending (smclib.md §7);
  // an IRP that still does not complete is leaked on purpose rather than freed under the
  // I/O manager's feet.
  void close() {
    if (device_ == INVALID_HANDLE_VALUE) return;
    CancelIoEx(device_, nullptr);
    if (pending_) in_flight_.push_back(std::move(pending_));
    for (auto& irp : in_flight_) WaitForSingleObject(irp->event, kCancelWaitMs);
    CloseHandle(device_);
    device_ = INVALID_HANDLE_VALUE;
    path_.clear();
    for (auto& irp : in_flight_)
      if (!irp->completed()) static_cast<void>(irp.release());
    in_flight_.clear();
  }

  // The interface the request names (`device`: a path, or an index in ListDevices; default
  // the open one, else the first), opened if it is not the open one. Notes for the reply.
  json open_for(const json& request) {
    auto it = request.find("device");
    std::string wanted;
    if (it == request.end() && device_ != INVALID_HANDLE_VALUE) return json::object();
    if (it != request.end() && it->is_string()) {
      wanted = it->get<std::string>();
      if (wanted.empty()) throw RequestError("field 'device' must not be empty");
    } else {
      std::uint64_t index = 0;
      if (it != request.end()) {
        if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<std::int64_t>() < 0))
          throw RequestError("field 'device' must be an interface path or a non-negative index");
        index = it->get<std::uint64_t>();
      }
      auto readers = list_reader_interfaces();
      if (readers.empty())
        throw RequestError(
            "no smart card reader device interface is present (SetupDi found none of "
            "GUID_DEVINTERFACE_SMARTCARD_READER {50DD5230-BA8A-11D1-BF5D-0000F805F530})");
      if (index >= readers.size())
        throw RequestError("field 'device': index " + std::to_string(index) + " but only " +
                           std::to_string(readers.size()) + " reader interface(s) are present");
      wanted = readers[index].path;
    }
    if (device_ != INVALID_HANDLE_VALUE && wanted == path_) return json::object();
    if (pending_ && !pending_->completed())
      throw RequestError("an IRP is pending on " + path_ + ": WaitPending or CancelPending before switching device");
    close();
    json notes = json::object();
    std::wstring path = widen(wanted);
    HANDLE h = CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                           OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr);
    DWORD error = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    if (h == INVALID_HANDLE_VALUE && (error == ERROR_SHARING_VIOLATION || error == ERROR_ACCESS_DENIED)) {
      // SCardSvr holds the reader open and smclib drivers commonly refuse a second open.
      std::string first = win32_message(error);
      std::string stopped = stop_resource_manager();
      if (!stopped.empty())
        throw RequestError("opening " + wanted + ": " + first + "; could not stop " + kResourceManager + ": " +
                           stopped);
      stopped_resource_manager_ = true;
      notes["scardsvr"] = "stopped";
      h = CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                      OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr);
      error = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    }
    if (h == INVALID_HANDLE_VALUE) throw RequestError("opening " + wanted + ": " + win32_message(error));
    device_ = h;
    path_ = wanted;
    notes["device"] = wanted;
    return notes;
  }

  HANDLE device_ = INVALID_HANDLE_VALUE;
  std::string path_;
  std::unique_ptr<Irp> pending_;
  std::list<std::unique_ptr<Irp>> in_flight_;
  bool stopped_resource_manager_ = false;
};

ReaderSession& session() {
  static ReaderSession instance;
  return instance;
}

}  // namespace

bool is_ioctl_call(const std::string& call) {
  return call == "Ioctl" || call == "WaitPending" || call == "CancelPending" || call == "State" ||
         call == "ListDevices";
}

nlohmann::json handle_ioctl_request(const nlohmann::json& request) {
  try {
    const std::string call = request.at("call").get<std::string>();
    if (call == "Ioctl") return session().ioctl(request);
    if (call == "WaitPending") return session().wait_pending(request);
    if (call == "CancelPending") return session().cancel_pending();
    if (call == "State") return session().state(request);
    if (call == "ListDevices") return session().list_devices();
    throw RequestError("unknown call '" + call + "'");
  } catch (const RequestError& e) {
    return json{{"rv", nullptr}, {"error", e.what()}};
  } catch (const std::exception& e) {
    return json{{"rv", nullptr}, {"error", std::string("internal error: ") + e.what()}};
  }
}

std::string before_pcsc_context() { return session().give_back_to_resource_manager(); }

}  // namespace agent
