// The one form of a fault (scenarios/fault_spec.h) as cases, scenario files and readerlab fuzz
// write it: every kind parses, turns back into the same fields and the same Lua, and every
// malformed spec is an Error naming its field.
#include "scenarios/fault_spec.h"

#include <doctest/doctest.h>

#include <set>

using nlohmann::json;
using readerlab::scenarios::FaultSpec;
using readerlab::scenarios::parse_fault_spec;

namespace {

FaultSpec parsed(const json& fields) {
  auto spec = parse_fault_spec(fields);
  INFO(fields.dump());
  REQUIRE_MESSAGE(spec.has_value(), (spec ? std::string() : spec.error().message()));
  return *spec;
}

// The field an Error names and its text, "where: what".
std::string failure(const json& fields) {
  const auto spec = parse_fault_spec(fields);
  INFO(fields.dump());
  REQUIRE_FALSE(spec.has_value());
  return spec.error().message();
}

std::string field_of(const json& fields) {
  const auto spec = parse_fault_spec(fields);
  INFO(fields.dump());
  REQUIRE_FALSE(spec.has_value());
  return spec.error().where;
}

// One spec of every kind, with every field its kind takes set away from its default.
std::vector<json> one_of_each_kind() {
  return {
      {{"kind", "wrong-seq"}, {"command", "XfrBlock"}, {"after", 2}},
      {{"kind", "wrong-slot"}, {"reader", 2}},
      {{"kind", "wrong-slot"}, {"command", "XfrBlock"}, {"slot", 200}},
      {{"kind", "length-short"}, {"times", 3}},
      {{"kind", "length-long"}, {"probability", 0.25}, {"times", 0}},
      {{"kind", "unknown-type"}, {"command", "IccPowerOn"}},
      {{"kind", "error"}, {"error", "ICC_MUTE"}, {"command", "XfrBlock"}},
      {{"kind", "duplicate"}, {"from_ms", 100}, {"until_ms", 900}},
      {{"kind", "no-response"}, {"command", "GetSlotStatus"}},
      {{"kind", "late"}, {"delay_ms", 1500}},
      {{"kind", "time-extension-storm"}, {"count", 40}},
      {{"kind", "hardware-error"}},
      {{"kind", "spurious-slot-change"}, {"times", 5}},
      {{"kind", "missing-slot-change"}},
      {{"kind", "stall"}, {"endpoint", "bulk-in"}},
      {{"kind", "nak"}, {"endpoint", "bulk-out"}, {"duration_ms", 200}},
      {{"kind", "short-packet"}, {"sizes", json::array({5})}},
      {{"kind", "babble"}, {"endpoint", "interrupt-in"}},
      {{"kind", "missing-zlp"}},
      {{"kind", "split"}, {"sizes", {1, 7, 13}}},
      {{"kind", "control-fail"}, {"request", "GET_DESCRIPTOR"}},
      {{"kind", "needs-reset"}, {"after", 4}},
      {{"kind", "disconnect"}, {"duration_ms", 300}},
      {{"kind", "latency"}, {"delay_ms", 20}, {"times", 0}},
      {{"kind", "split-writes"}, {"chunk", 3}, {"times", 0}},
      {{"kind", "drop"}, {"after", 1}},
  };
}

}  // namespace

TEST_CASE("every fault kind parses, and to_json gives back the fields it was written with") {
  std::set<std::string> kinds;
  for (const auto& fields : one_of_each_kind()) {
    CAPTURE(fields.dump());
    const auto spec = parsed(fields);
    CHECK(spec.kind() == fields["kind"].get<std::string>());
    CHECK(readerlab::scenarios::to_json(spec) == fields);
    kinds.insert(spec.kind());
  }
  // Every kind the three levels declare is in fault_kind_names, and each was written above.
  const auto names = readerlab::scenarios::fault_kind_names();
  CHECK(names.size() == 25);
  CHECK(std::set<std::string>(names.begin(), names.end()) == kinds);
}

TEST_CASE("a fault's level, reader and parameters are what its fields say") {
  const auto ccid = parsed({{"kind", "error"}, {"error", "CMD_SLOT_BUSY"}, {"command", "PC_to_RDR_IccPowerOn"}});
  CHECK(ccid.level() == "ccid");
  CHECK(ccid.reader == 0);
  const auto& fault = std::get<readerlab::ccid::Fault>(ccid.fault);
  CHECK(fault.error == 0xE0);    // CCID 6.2.6 Table 6.2-2: CMD_SLOT_BUSY
  CHECK(fault.command == 0x62);  // CCID 6.1.1: PC_to_RDR_IccPowerOn
  const auto usb = parsed({{"kind", "stall"}, {"level", "usb"}, {"reader", 3}, {"endpoint", "bulk-in"}, {"after", 1}});
  CHECK(usb.level() == "usb");
  CHECK(usb.reader == 2);
  CHECK(std::get<readerlab::usb::Fault>(usb.fault).endpoint == 0x82);
  CHECK(std::get<readerlab::usb::Fault>(usb.fault).trigger.after == 1);
  const auto transport = parsed({{"kind", "latency"}, {"delay_ms", 25}, {"until_ms", 5000}});
  CHECK(transport.level() == "transport");
  const auto& latency = std::get<readerlab::usbredir::TransportFault>(transport.fault);
  CHECK(latency.delay == std::chrono::milliseconds(25));
  CHECK(latency.trigger.until == std::chrono::milliseconds(5000));
  // A whole Lua float is a whole number (Lua writes 1e3 as 1000.0).
  CHECK(std::get<readerlab::ccid::Fault>(parsed({{"kind", "late"}, {"delay_ms", 1000.0}}).fault).delay ==
        std::chrono::milliseconds(1000));
  // A storm nobody sized has a size.
  CHECK(std::get<readerlab::ccid::Fault>(parsed({{"kind", "time-extension-storm"}}).fault).count > 0);
}

TEST_CASE("every bError name of CCID 6.2.6 parses and comes back by name") {
  for (const char* name :
       {"ICC_MUTE", "XFR_PARITY_ERROR", "XFR_OVERRUN", "HW_ERROR", "BAD_ATR_TS", "BAD_ATR_TCK",
        "ICC_PROTOCOL_NOT_SUPPORTED", "ICC_CLASS_NOT_SUPPORTED", "PROCEDURE_BYTE_CONFLICT", "DEACTIVATED_PROTOCOL",
        "BUSY_WITH_AUTO_SEQUENCE", "PIN_TIMEOUT", "PIN_CANCELLED", "CMD_SLOT_BUSY"}) {
    CAPTURE(name);
    const json fields = {{"kind", "error"}, {"error", name}};
    CHECK(readerlab::scenarios::to_json(parsed(fields)) == fields);
  }
}

TEST_CASE("to_lua writes a table that names the same fault, kind first") {
  const auto spec = parsed({{"kind", "split"}, {"sizes", {1, 7}}, {"after", 2}, {"reader", 2}});
  CHECK(readerlab::scenarios::to_lua(spec) == "{kind = \"split\", reader = 2, sizes = {1, 7}, after = 2}");
  const auto probability = parsed({{"kind", "wrong-seq"}, {"probability", 0.5}, {"times", 0}});
  CHECK(readerlab::scenarios::to_lua(probability) == "{kind = \"wrong-seq\", times = 0, probability = 0.5}");
  CHECK(readerlab::scenarios::to_lua(parsed({{"kind", "error"}, {"error", "PIN_TIMEOUT"}})) ==
        "{kind = \"error\", error = \"PIN_TIMEOUT\"}");
}

TEST_CASE("describe says level, kind, parameters and trigger in one line") {
  CHECK(readerlab::scenarios::describe(parsed({{"kind", "wrong-seq"}, {"command", "XfrBlock"}, {"after", 2}})) ==
        "ccid wrong-seq (command XfrBlock; after 2, once)");
  CHECK(readerlab::scenarios::describe(parsed({{"kind", "nak"}, {"duration_ms", 200}, {"reader", 2}})) ==
        "usb nak (duration 200 ms; once) on reader 2");
  CHECK(readerlab::scenarios::describe(parsed({{"kind", "drop"}, {"probability", 0.5}, {"times", 0}})) ==
        "transport drop (every time, p=0.5)");
}

TEST_CASE("a malformed fault spec is an Error naming the field") {
  struct Row {
    json fields;
    std::string field;
    std::string says;
  };
  const std::vector<Row> rows = {
      {json::array(), "fault", "table"},
      {json::object(), "kind", "missing"},
      {{{"kind", 3}}, "kind", "must be a string"},
      {{{"kind", "melt"}}, "kind", "unknown fault kind 'melt'"},
      {{{"kind", "stall"}, {"level", "ccid"}}, "level", "usb fault"},
      {{{"kind", "stall"}, {"level", "pci"}}, "level", "unknown level"},
      {{{"kind", "stall"}, {"colour", "red"}}, "colour", "unknown field"},
      {{{"kind", "stall"}, {"error", "ICC_MUTE"}}, "error", "does not apply to kind stall"},
      {{{"kind", "wrong-seq"}, {"count", 3}}, "count", "does not apply"},
      {{{"kind", "stall"}, {"reader", 0}}, "reader", "outside 1..127"},
      {{{"kind", "stall"}, {"reader", "one"}}, "reader", "whole number"},
      {{{"kind", "stall"}, {"after", -1}}, "after", "outside"},
      {{{"kind", "stall"}, {"after", 1.5}}, "after", "whole number"},
      {{{"kind", "stall"}, {"times", -2}}, "times", "outside"},
      {{{"kind", "stall"}, {"times", true}}, "times", "not a boolean"},
      {{{"kind", "stall"}, {"probability", 1.5}}, "probability", "outside 0..1"},
      {{{"kind", "stall"}, {"probability", -0.1}}, "probability", "outside 0..1"},
      {{{"kind", "stall"}, {"probability", "often"}}, "probability", "must be a number"},
      {{{"kind", "stall"}, {"from_ms", 600001}}, "from_ms", "outside"},
      {{{"kind", "stall"}, {"until_ms", 700000}}, "until_ms", "outside"},
      {{{"kind", "stall"}, {"from_ms", 500}, {"until_ms", 400}}, "until_ms", "after from_ms"},
      {{{"kind", "error"}}, "error", "needs the bError name"},
      {{{"kind", "error"}, {"error", "ICC_ON_FIRE"}}, "error", "unknown bError name 'ICC_ON_FIRE'"},
      {{{"kind", "error"}, {"error", 0xFE}}, "error", "must be a string"},
      {{{"kind", "wrong-seq"}, {"command", "Dance"}}, "command", "unknown command 'Dance'"},
      {{{"kind", "wrong-seq"}, {"command", 0x6F}}, "command", "PC_to_RDR message name"},
      {{{"kind", "wrong-slot"}, {"slot", 256}}, "slot", "outside 0..255"},
      {{{"kind", "wrong-slot"}, {"slot", "two"}}, "slot", "whole number"},
      {{{"kind", "wrong-seq"}, {"slot", 2}}, "slot", "does not apply"},
      {{{"kind", "late"}}, "delay_ms", "needs delay_ms"},
      {{{"kind", "late"}, {"delay_ms", 600001}}, "delay_ms", "outside 1..600000"},
      {{{"kind", "late"}, {"delay_ms", 0}}, "delay_ms", "outside"},
      {{{"kind", "time-extension-storm"}, {"count", 0}}, "count", "outside 1..1000"},
      {{{"kind", "time-extension-storm"}, {"count", 1000001}}, "count", "outside 1..1000"},
      {{{"kind", "time-extension-storm"}, {"count", -5}}, "count", "outside"},
      {{{"kind", "stall"}, {"endpoint", "bulk-sideways"}}, "endpoint", "unknown endpoint"},
      {{{"kind", "babble"}, {"endpoint", "bulk-out"}}, "endpoint", "IN endpoints"},
      {{{"kind", "control-fail"}, {"request", "MAKE_COFFEE"}}, "request", "unknown request"},
      {{{"kind", "control-fail"}, {"request", 256}}, "request", "outside 0..255"},
      {{{"kind", "nak"}}, "duration_ms", "needs duration_ms"},
      {{{"kind", "nak"}, {"duration_ms", 0}}, "duration_ms", "outside 1..600000"},
      {{{"kind", "disconnect"}, {"duration_ms", 600001}}, "duration_ms", "outside"},
      {{{"kind", "split"}, {"sizes", 5}}, "sizes", "list"},
      {{{"kind", "split"}, {"sizes", json::array()}}, "sizes", "1 to 64"},
      {{{"kind", "split"}, {"sizes", {3, 0}}}, "sizes[2]", "outside 1..65554"},
      {{{"kind", "short-packet"}, {"sizes", json::array({"big"})}}, "sizes[1]", "whole number"},
      {{{"kind", "latency"}}, "delay_ms", "needs delay_ms"},
      {{{"kind", "latency"}, {"delay_ms", 900000}}, "delay_ms", "outside"},
      {{{"kind", "split-writes"}, {"chunk", 0}}, "chunk", "outside 1..65536"},
      {{{"kind", "drop"}, {"chunk", 4}}, "chunk", "does not apply to kind drop"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.fields.dump());
    CHECK(field_of(row.fields) == row.field);
    const auto message = failure(row.fields);
    CHECK_MESSAGE(message.find(row.says) != std::string::npos, message);
  }
}
