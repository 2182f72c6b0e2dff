#include "hosts/windows_model/port/wire_format.h"

#include "smclib.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

namespace readerlab::windows_model {

std::string wire_hex(ByteView bytes) { return to_hex(bytes, {}, HexCase::lower); }

Expected<Bytes> wire_bytes(const nlohmann::json& request, const char* field) {
  const auto it = request.find(field);
  if (it == request.end()) return Bytes{};
  if (!it->is_string()) return error(field, "not a hex string");
  auto bytes = read_hex(it->get<std::string>());
  if (!bytes) return bytes.error().within(field);
  return bytes;
}

Expected<std::uint32_t> wire_u32(const nlohmann::json& request, const char* field) {
  const auto it = request.find(field);
  if (it == request.end()) return error(field, "missing");
  if (it->is_number_unsigned() && it->get<std::uint64_t>() <= 0xFFFFFFFFu) return it->get<std::uint32_t>();
  if (it->is_number_integer() && it->get<std::int64_t>() >= 0 && it->get<std::int64_t>() <= 0xFFFFFFFF)
    return static_cast<std::uint32_t>(it->get<std::int64_t>());
  if (it->is_number_float()) {
    const double value = it->get<double>();
    if (value >= 0 && value <= 4294967295.0 && value == static_cast<double>(static_cast<std::uint32_t>(value)))
      return static_cast<std::uint32_t>(value);
  }
  return error(field, "not a 32-bit unsigned number: " + it->dump());
}

nlohmann::json error_reply(const Error& failure) { return {{"rv", nullptr}, {"error", failure.message()}}; }

std::string ioctl_name(std::uint32_t code) {
  static const std::map<std::uint32_t, const char*> names = {
      {IOCTL_SMARTCARD_POWER, "IOCTL_SMARTCARD_POWER"},
      {IOCTL_SMARTCARD_GET_ATTRIBUTE, "IOCTL_SMARTCARD_GET_ATTRIBUTE"},
      {IOCTL_SMARTCARD_SET_ATTRIBUTE, "IOCTL_SMARTCARD_SET_ATTRIBUTE"},
      {IOCTL_SMARTCARD_CONFISCATE, "IOCTL_SMARTCARD_CONFISCATE"},
      {IOCTL_SMARTCARD_TRANSMIT, "IOCTL_SMARTCARD_TRANSMIT"},
      {IOCTL_SMARTCARD_EJECT, "IOCTL_SMARTCARD_EJECT"},
      {IOCTL_SMARTCARD_SWALLOW, "IOCTL_SMARTCARD_SWALLOW"},
      {IOCTL_SMARTCARD_IS_PRESENT, "IOCTL_SMARTCARD_IS_PRESENT"},
      {IOCTL_SMARTCARD_IS_ABSENT, "IOCTL_SMARTCARD_IS_ABSENT"},
      {IOCTL_SMARTCARD_SET_PROTOCOL, "IOCTL_SMARTCARD_SET_PROTOCOL"},
      {IOCTL_SMARTCARD_GET_STATE, "IOCTL_SMARTCARD_GET_STATE"},
  };
  const auto it = names.find(code);
  if (it != names.end()) return it->second;
  if ((code & 0xFFFF0003) == 0x00310000) return "SCARD_CTL_CODE(" + std::to_string((code >> 2) & 0xFFF) + ")";
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", code);
  return text;
}

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

}  // namespace readerlab::windows_model
