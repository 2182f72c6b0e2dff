// The PC/SC half of the agent: only winscard.h calls, so the same file builds against
// pcsc-lite and Windows WinSCard. Requests arrive parsed; replies leave as JSON objects.
#include "agent.h"
#include "base/bytes.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#ifdef _WIN32
#include <windows.h>
#include <winscard.h>
#else
#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#endif

namespace agent {
namespace {

using nlohmann::json;

// A request field is missing or has the wrong type: reported as {"rv":null,"error":...}.
struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr std::size_t kMaxBuffer = 1u << 20;  // never allocate more than 1 MiB for a reply

std::uint64_t get_uint(const json& request, const char* name) {
  auto it = request.find(name);
  if (it == request.end()) throw RequestError(std::string("missing field '") + name + "'");
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer() && it->get<std::int64_t>() >= 0)
    return static_cast<std::uint64_t>(it->get<std::int64_t>());
  throw RequestError(std::string("field '") + name + "' must be a non-negative integer");
}

std::uint64_t get_uint(const json& request, const char* name, std::uint64_t fallback) {
  if (!request.contains(name)) return fallback;
  return get_uint(request, name);
}

std::string get_string(const json& request, const char* name) {
  auto it = request.find(name);
  if (it == request.end()) throw RequestError(std::string("missing field '") + name + "'");
  if (!it->is_string()) throw RequestError(std::string("field '") + name + "' must be a string");
  return it->get<std::string>();
}

std::vector<unsigned char> get_hex(const json& request, const char* name, bool required = true) {
  if (!required && !request.contains(name)) return {};
  auto bytes = readerlab::read_hex(get_string(request, name));
  if (!bytes) throw RequestError(std::string("field '") + name + "': " + bytes.error().message());
  return std::move(bytes).value();
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  return readerlab::to_hex({data, size}, {}, readerlab::HexCase::lower);
}

DWORD get_dword(const json& request, const char* name) {
  std::uint64_t v = get_uint(request, name);
  if (v > 0xFFFFFFFFu) throw RequestError(std::string("field '") + name + "' does not fit 32 bits");
  return static_cast<DWORD>(v);
}
DWORD get_dword(const json& request, const char* name, DWORD fallback) {
  if (!request.contains(name)) return fallback;
  return get_dword(request, name);
}

std::size_t get_size(const json& request, const char* name, std::size_t fallback) {
  std::uint64_t v = get_uint(request, name, fallback);
  if (v > kMaxBuffer) throw RequestError(std::string("field '") + name + "' exceeds 1 MiB");
  return static_cast<std::size_t>(v);
}

SCARDCONTEXT get_context(const json& request) { return static_cast<SCARDCONTEXT>(get_uint(request, "context")); }
SCARDHANDLE get_card(const json& request) { return static_cast<SCARDHANDLE>(get_uint(request, "card")); }

std::uint64_t handle_value(SCARDCONTEXT h) { return static_cast<std::uint64_t>(h); }

json result(LONG rv) {
  auto code = static_cast<std::uint32_t>(rv);
  return json{{"rv", code}, {"rv_name", rv_name(code)}};
}

// "readers" multi-string (NUL separated, double-NUL terminated) into an array.
json split_multistring(const char* data, std::size_t size) {
  json names = json::array();
  std::size_t i = 0;
  while (i < size && data[i] != '\0') {
    std::size_t len = strnlen(data + i, size - i);
    names.push_back(std::string(data + i, len));
    i += len + 1;
  }
  return names;
}

const SCARD_IO_REQUEST* send_pci(DWORD protocol, SCARD_IO_REQUEST& custom) {
  if (protocol == SCARD_PROTOCOL_T0) return SCARD_PCI_T0;
  if (protocol == SCARD_PROTOCOL_T1) return SCARD_PCI_T1;
  custom.dwProtocol = protocol;
  custom.cbPciLength = sizeof(SCARD_IO_REQUEST);
  return &custom;
}

json do_establish(const json& r) {
  DWORD scope = get_dword(r, "scope", SCARD_SCOPE_SYSTEM);
#ifdef _WIN32
  std::string scardsvr = before_pcsc_context();
#endif
  SCARDCONTEXT ctx = 0;
  LONG rv = SCardEstablishContext(scope, nullptr, nullptr, &ctx);
  json reply = result(rv);
  if (rv == SCARD_S_SUCCESS) reply["context"] = handle_value(ctx);
#ifdef _WIN32
  if (!scardsvr.empty()) reply["scardsvr"] = scardsvr;
#endif
  return reply;
}

json do_release(const json& r) { return result(SCardReleaseContext(get_context(r))); }

json do_list_readers(const json& r) {
  SCARDCONTEXT ctx = get_context(r);
  DWORD len = 0;
  LONG rv = SCardListReaders(ctx, nullptr, nullptr, &len);
  std::vector<char> buffer;
  if (rv == SCARD_S_SUCCESS) {
    buffer.resize(std::min<std::size_t>(std::max<DWORD>(len, 1), kMaxBuffer));
    len = static_cast<DWORD>(buffer.size());
    rv = SCardListReaders(ctx, nullptr, buffer.data(), &len);
  }
  json reply = result(rv);
  reply["readers"] = rv == SCARD_S_SUCCESS ? split_multistring(buffer.data(), std::min<std::size_t>(len, buffer.size()))
                                           : json::array();
  return reply;
}

json do_get_status_change(const json& r) {
  SCARDCONTEXT ctx = get_context(r);
  DWORD timeout = get_dword(r, "timeout_ms", 0);
  auto it = r.find("readers");
  if (it == r.end() || !it->is_array()) throw RequestError("field 'readers' must be an array");
  if (it->size() > 64) throw RequestError("at most 64 readers");
  std::vector<std::string> names;
  std::vector<SCARD_READERSTATE> states(it->size());
  names.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& entry = (*it)[i];
    if (!entry.is_object()) throw RequestError("each reader must be an object");
    names.push_back(get_string(entry, "name"));
    std::memset(&states[i], 0, sizeof(states[i]));
    states[i].dwCurrentState = get_dword(entry, "current_state", SCARD_STATE_UNAWARE);
  }
  for (std::size_t i = 0; i < states.size(); ++i) states[i].szReader = names[i].c_str();
  LONG rv = SCardGetStatusChange(ctx, timeout, states.data(), static_cast<DWORD>(states.size()));
  json reply = result(rv);
  json readers = json::array();
  for (std::size_t i = 0; i < states.size(); ++i) {
    std::size_t atr_len = std::min<std::size_t>(states[i].cbAtr, sizeof(states[i].rgbAtr));
    readers.push_back(json{{"name", names[i]},
                           {"current_state", static_cast<std::uint64_t>(states[i].dwCurrentState)},
                           {"event_state", static_cast<std::uint64_t>(states[i].dwEventState)},
                           {"atr", to_hex(states[i].rgbAtr, atr_len)}});
  }
  reply["readers"] = readers;
  return reply;
}

json do_connect(const json& r) {
  SCARDHANDLE card = 0;
  DWORD protocol = 0;
  std::string reader = get_string(r, "reader");
  LONG rv = SCardConnect(get_context(r), reader.c_str(), get_dword(r, "share_mode", SCARD_SHARE_SHARED),
                         get_dword(r, "preferred_protocols", SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1), &card, &protocol);
  json reply = result(rv);
  if (rv == SCARD_S_SUCCESS) {
    reply["card"] = static_cast<std::uint64_t>(card);
    reply["active_protocol"] = static_cast<std::uint64_t>(protocol);
  }
  return reply;
}

json do_reconnect(const json& r) {
  DWORD protocol = 0;
  LONG rv = SCardReconnect(get_card(r), get_dword(r, "share_mode", SCARD_SHARE_SHARED),
                           get_dword(r, "preferred_protocols", SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1),
                           get_dword(r, "initialization", SCARD_LEAVE_CARD), &protocol);
  json reply = result(rv);
  if (rv == SCARD_S_SUCCESS) reply["active_protocol"] = static_cast<std::uint64_t>(protocol);
  return reply;
}

json do_disconnect(const json& r) {
  return result(SCardDisconnect(get_card(r), get_dword(r, "disposition", SCARD_LEAVE_CARD)));
}
json do_begin(const json& r) { return result(SCardBeginTransaction(get_card(r))); }
json do_end(const json& r) {
  return result(SCardEndTransaction(get_card(r), get_dword(r, "disposition", SCARD_LEAVE_CARD)));
}

json do_status(const json& r) {
  char name[2048];
  DWORD name_len = sizeof(name);
  DWORD state = 0, protocol = 0;
  unsigned char atr[64];
  DWORD atr_len = sizeof(atr);
  LONG rv = SCardStatus(get_card(r), name, &name_len, &state, &protocol, atr, &atr_len);
  json reply = result(rv);
  if (rv == SCARD_S_SUCCESS) {
    json names = split_multistring(name, std::min<std::size_t>(name_len, sizeof(name)));
    reply["reader"] = names.empty() ? json("") : names[0];
    reply["state"] = static_cast<std::uint64_t>(state);
    reply["protocol"] = static_cast<std::uint64_t>(protocol);
    reply["atr"] = to_hex(atr, std::min<std::size_t>(atr_len, sizeof(atr)));
  }
  return reply;
}

json do_transmit(const json& r) {
  SCARD_IO_REQUEST custom{};
  const SCARD_IO_REQUEST* pci = send_pci(get_dword(r, "protocol", SCARD_PROTOCOL_T1), custom);
  std::vector<unsigned char> apdu = get_hex(r, "apdu");
  std::vector<unsigned char> response(std::max<std::size_t>(get_size(r, "max_response", 65538), 1));
  DWORD len = static_cast<DWORD>(response.size());
  LONG rv =
      SCardTransmit(get_card(r), pci, apdu.data(), static_cast<DWORD>(apdu.size()), nullptr, response.data(), &len);
  json reply = result(rv);
  if (rv == SCARD_S_SUCCESS) reply["response"] = to_hex(response.data(), std::min<std::size_t>(len, response.size()));
  return reply;
}

json do_transmit_repeat(const json& r) {
  SCARD_IO_REQUEST custom{};
  SCARDHANDLE card = get_card(r);
  const SCARD_IO_REQUEST* pci = send_pci(get_dword(r, "protocol", SCARD_PROTOCOL_T1), custom);
  std::vector<unsigned char> apdu = get_hex(r, "apdu");
  bool have_expect = r.contains("expect");
  std::vector<unsigned char> expect = get_hex(r, "expect", false);
  std::uint64_t count = get_uint(r, "count", 1);
  std::vector<unsigned char> response(std::max<std::size_t>(get_size(r, "max_response", 65538), 1));
  std::uint64_t done = 0, ok = 0;
  std::optional<std::string> first_bad;
  LONG rv = SCARD_S_SUCCESS;
  auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    DWORD len = static_cast<DWORD>(response.size());
    rv = SCardTransmit(card, pci, apdu.data(), static_cast<DWORD>(apdu.size()), nullptr, response.data(), &len);
    if (rv != SCARD_S_SUCCESS) break;
    ++done;
    std::size_t n = std::min<std::size_t>(len, response.size());
    if (!have_expect || (n == expect.size() && std::equal(expect.begin(), expect.end(), response.begin()))) {
      ++ok;
    } else if (!first_bad) {
      first_bad = to_hex(response.data(), n);
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  json reply = result(rv);
  reply["count_ok"] = ok;
  reply["count_done"] = done;
  reply["elapsed_us"] =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  if (first_bad) reply["first_bad_response"] = *first_bad;
  return reply;
}

json do_control(const json& r) {
  std::vector<unsigned char> data = get_hex(r, "data", false);
  std::vector<unsigned char> response(std::max<std::size_t>(get_size(r, "max_response", 1024), 1));
  DWORD returned = 0;
  LONG rv = SCardControl(get_card(r), get_dword(r, "code"), data.data(), static_cast<DWORD>(data.size()),
                         response.data(), static_cast<DWORD>(response.size()), &returned);
  json reply = result(rv);
  if (rv == SCARD_S_SUCCESS)
    reply["response"] = to_hex(response.data(), std::min<std::size_t>(returned, response.size()));
  return reply;
}

json do_get_attrib(const json& r) {
  std::vector<unsigned char> value(std::max<std::size_t>(get_size(r, "max_len", 264), 1));
  DWORD len = static_cast<DWORD>(get_size(r, "max_len", 264));
  LONG rv = SCardGetAttrib(get_card(r), get_dword(r, "attr"), value.data(), &len);
  json reply = result(rv);
  if (rv == SCARD_S_SUCCESS) reply["value"] = to_hex(value.data(), std::min<std::size_t>(len, value.size()));
  return reply;
}

json do_exec(const json& r) {
  std::string command = get_string(r, "command");
  ExecResult res = exec_command(command, static_cast<std::uint32_t>(get_dword(r, "timeout_ms", 30000)));
  json reply = result(SCARD_S_SUCCESS);
  reply["exit_code"] = res.exit_code;
  reply["output"] = res.output;  // invalid UTF-8 is replaced when the reply is serialised
  if (res.timed_out) reply["timed_out"] = true;
  return reply;
}

}  // namespace

std::string rv_name(std::uint32_t rv) {
  // PC/SC Workgroup part 5 / winerror.h SCARD_* codes.
  switch (rv) {
    case 0x00000000: return "SCARD_S_SUCCESS";
    case 0x80100001: return "SCARD_F_INTERNAL_ERROR";
    case 0x80100002: return "SCARD_E_CANCELLED";
    case 0x80100003: return "SCARD_E_INVALID_HANDLE";
    case 0x80100004: return "SCARD_E_INVALID_PARAMETER";
    case 0x80100005: return "SCARD_E_INVALID_TARGET";
    case 0x80100006: return "SCARD_E_NO_MEMORY";
    case 0x80100007: return "SCARD_F_WAITED_TOO_LONG";
    case 0x80100008: return "SCARD_E_INSUFFICIENT_BUFFER";
    case 0x80100009: return "SCARD_E_UNKNOWN_READER";
    case 0x8010000A: return "SCARD_E_TIMEOUT";
    case 0x8010000B: return "SCARD_E_SHARING_VIOLATION";
    case 0x8010000C: return "SCARD_E_NO_SMARTCARD";
    case 0x8010000D: return "SCARD_E_UNKNOWN_CARD";
    case 0x8010000E: return "SCARD_E_CANT_DISPOSE";
    case 0x8010000F: return "SCARD_E_PROTO_MISMATCH";
    case 0x80100010: return "SCARD_E_NOT_READY";
    case 0x80100011: return "SCARD_E_INVALID_VALUE";
    case 0x80100012: return "SCARD_E_SYSTEM_CANCELLED";
    case 0x80100013: return "SCARD_F_COMM_ERROR";
    case 0x80100014: return "SCARD_F_UNKNOWN_ERROR";
    case 0x80100015: return "SCARD_E_INVALID_ATR";
    case 0x80100016: return "SCARD_E_NOT_TRANSACTED";
    case 0x80100017: return "SCARD_E_READER_UNAVAILABLE";
    case 0x80100018: return "SCARD_P_SHUTDOWN";
    case 0x80100019: return "SCARD_E_PCI_TOO_SMALL";
    case 0x8010001A: return "SCARD_E_READER_UNSUPPORTED";
    case 0x8010001B: return "SCARD_E_DUPLICATE_READER";
    case 0x8010001C: return "SCARD_E_CARD_UNSUPPORTED";
    case 0x8010001D: return "SCARD_E_NO_SERVICE";
    case 0x8010001E: return "SCARD_E_SERVICE_STOPPED";
    case 0x8010001F: return "SCARD_E_UNEXPECTED";
    case 0x80100020: return "SCARD_E_ICC_INSTALLATION";
    case 0x80100021: return "SCARD_E_ICC_CREATEORDER";
    case 0x80100022: return "SCARD_E_UNSUPPORTED_FEATURE";
    case 0x80100023: return "SCARD_E_DIR_NOT_FOUND";
    case 0x80100024: return "SCARD_E_FILE_NOT_FOUND";
    case 0x80100025: return "SCARD_E_NO_DIR";
    case 0x80100026: return "SCARD_E_NO_FILE";
    case 0x80100027: return "SCARD_E_NO_ACCESS";
    case 0x80100028: return "SCARD_E_WRITE_TOO_MANY";
    case 0x80100029: return "SCARD_E_BAD_SEEK";
    case 0x8010002A: return "SCARD_E_INVALID_CHV";
    case 0x8010002B: return "SCARD_E_UNKNOWN_RES_MNG";
    case 0x8010002C: return "SCARD_E_NO_SUCH_CERTIFICATE";
    case 0x8010002D: return "SCARD_E_CERTIFICATE_UNAVAILABLE";
    case 0x8010002E: return "SCARD_E_NO_READERS_AVAILABLE";
    case 0x8010002F: return "SCARD_E_COMM_DATA_LOST";
    case 0x80100030: return "SCARD_E_NO_KEY_CONTAINER";
    case 0x80100031: return "SCARD_E_SERVER_TOO_BUSY";
    case 0x80100065: return "SCARD_W_UNSUPPORTED_CARD";
    case 0x80100066: return "SCARD_W_UNRESPONSIVE_CARD";
    case 0x80100067: return "SCARD_W_UNPOWERED_CARD";
    case 0x80100068: return "SCARD_W_RESET_CARD";
    case 0x80100069: return "SCARD_W_REMOVED_CARD";
    case 0x8010006A: return "SCARD_W_SECURITY_VIOLATION";
    case 0x8010006B: return "SCARD_W_WRONG_CHV";
    case 0x8010006C: return "SCARD_W_CHV_BLOCKED";
    case 0x8010006D: return "SCARD_W_EOF";
    case 0x8010006E: return "SCARD_W_CANCELLED_BY_USER";
    case 0x8010006F: return "SCARD_W_CARD_NOT_AUTHENTICATED";
    default: {
      char text[32];
      std::snprintf(text, sizeof(text), "0x%08X", static_cast<unsigned>(rv));
      return text;
    }
  }
}

nlohmann::json handle_cancel(const nlohmann::json& request) {
  try {
    return result(SCardCancel(get_context(request)));
  } catch (const RequestError& e) {
    return json{{"rv", nullptr}, {"error", e.what()}};
  }
}

nlohmann::json handle_pcsc_request(const nlohmann::json& request) {
  try {
    std::string call = get_string(request, "call");
#ifdef _WIN32
    if (is_ioctl_call(call)) return handle_ioctl_request(request);
#endif
    if (call == "EstablishContext") return do_establish(request);
    if (call == "ReleaseContext") return do_release(request);
    if (call == "ListReaders") return do_list_readers(request);
    if (call == "GetStatusChange") return do_get_status_change(request);
    if (call == "Cancel") return handle_cancel(request);
    if (call == "Connect") return do_connect(request);
    if (call == "Reconnect") return do_reconnect(request);
    if (call == "Disconnect") return do_disconnect(request);
    if (call == "BeginTransaction") return do_begin(request);
    if (call == "EndTransaction") return do_end(request);
    if (call == "Status") return do_status(request);
    if (call == "Transmit") return do_transmit(request);
    if (call == "TransmitRepeat") return do_transmit_repeat(request);
    if (call == "Control") return do_control(request);
    if (call == "GetAttrib") return do_get_attrib(request);
    if (call == "Exec") return do_exec(request);
    throw RequestError("unknown call '" + call + "'");
  } catch (const RequestError& e) {
    return json{{"rv", nullptr}, {"error", e.what()}};
  } catch (const std::exception& e) {
    return json{{"rv", nullptr}, {"error", std::string("internal error: ") + e.what()}};
  }
}

}  // namespace agent
