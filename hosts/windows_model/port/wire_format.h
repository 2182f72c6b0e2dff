// What the host port and the resource manager model put on the agent protocol's wire
// (drivers_under_test/agent/PROTOCOL.md): byte strings as lowercase hex, as the guest agent
// writes them, and the names of IOCTL codes and NTSTATUS values for the reports.
#pragma once

#include "base/bytes.h"
#include "base/error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace readerlab::windows_model {

// Lowercase hex, no separator: "9000".
std::string wire_hex(ByteView bytes);
// The hex string in request[field] (absent: no bytes); the Error names the field.
Expected<Bytes> wire_bytes(const nlohmann::json& request, const char* field);
// The 32-bit value in request[field] (a Lua number: integer, or a float with an integral value);
// the Error names the field.
Expected<std::uint32_t> wire_u32(const nlohmann::json& request, const char* field);
// The reply of a call that could not be made: {"rv": null, "error": "where: what"}.
nlohmann::json error_reply(const Error& failure);

// IOCTL_SMARTCARD_* names, "SCARD_CTL_CODE(n)" for other smart card codes, "0x%08X" else.
std::string ioctl_name(std::uint32_t code);
// NTSTATUS names of the spec's table (shared/spec/smclib.md), "0x%08X" for others.
std::string ntstatus_name(std::uint32_t status);

}  // namespace readerlab::windows_model
