// The `lab` API that cases and scenarios see: readers, cards, waiting, checks, metrics and
// calls to the driver under test.
#pragma once

#include "scenarios/driver_port.h"
#include "scenarios/lua_sandbox.h"
#include "scenarios/rig.h"

#include <map>
#include <string>
#include <vector>

namespace readerlab::scenarios {

struct Metric {
  std::string name;
  double value = 0;
  std::string unit;
};

// What one case run produced besides pass or fail.
struct CaseRecord {
  std::vector<std::string> failed_checks;  // each "file:line: message"
  std::vector<std::string> log;
  std::vector<Metric> metrics;
  std::vector<std::string> calls_made;  // driver calls in order, for the coverage matrix
};

// Installs the global `lab` table (and the Lua prelude) into the sandbox. The rig, port and
// record must outlive the sandbox's use.
void install_lab(LuaSandbox& sandbox, Rig& rig, DriverPort& port, CaseRecord& record);

}  // namespace readerlab::scenarios
