// A fault as cases, scenario files and `readerlab fuzz` write it: one table of named fields
// (Lua) or JSON object, turned into the fault of its level (emulator/ccid, emulator/usb,
// emulator/usbredir) and back. The fields, for every level:
//   kind          the fault's name, unique over the levels ("wrong-seq", "stall", "latency", ...)
//   level         "ccid", "usb" or "transport" (optional: the kind names it)
//   reader        1-based reader index (default 1)
//   after, times, from_ms, until_ms, probability   the trigger (base/fault_trigger.h)
// and the kind's own: command ("XfrBlock", ...), error ("ICC_MUTE", ...), count, delay_ms
// (ccid); endpoint ("bulk-out", "bulk-in", "interrupt-in"), request ("GET_DESCRIPTOR", ...),
// duration_ms, sizes (usb); delay_ms, chunk (transport).
#pragma once

#include "base/error.h"
#include "emulator/ccid/faults.h"
#include "emulator/usb/faults.h"
#include "emulator/usbredir/transport_faults.h"

#include <nlohmann/json.hpp>

#include <string>
#include <variant>
#include <vector>

namespace readerlab::scenarios {

struct FaultSpec {
  std::size_t reader = 0;  // 0-based
  std::variant<ccid::Fault, usb::Fault, usbredir::TransportFault> fault;

  std::string level() const;  // "ccid", "usb", "transport"
  std::string kind() const;   // "wrong-seq", ...
};

// An unknown field or name, a wrong type or an out-of-range value is an Error whose `where`
// names the field (the caller adds the file and line).
Expected<FaultSpec> parse_fault_spec(const nlohmann::json& fields);
// The fields back, with only the values that differ from the defaults: parse_fault_spec of
// the result gives the same fault.
nlohmann::json to_json(const FaultSpec& spec);
// The same as a Lua table constructor, for cases that `readerlab fuzz` writes.
std::string to_lua(const FaultSpec& spec);
// "ccid wrong-seq (command XfrBlock; after 2, once)" for reports.
std::string describe(const FaultSpec& spec);

// Every fault kind over the three levels with the parameters a hunt may choose from.
std::vector<std::string> fault_kind_names();

}  // namespace readerlab::scenarios
