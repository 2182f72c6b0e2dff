// The `lab` API that cases and scenarios see: readers, cards, waiting, checks, metrics and
// calls to the driver under test.
#pragma once

#include "scenarios/driver_port.h"
#include "scenarios/lua_sandbox.h"
#include "scenarios/rig.h"

#include "base/fault_trigger.h"

#include <map>
#include <string>
#include <utility>
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
  // Faults (issue 11): every fault the case armed (describe(), in arming order), what fired,
  // and what the driver did under each kind as the case wrote it down (lab.outcome).
  std::vector<std::string> faults_armed;
  std::vector<faults::Firing> firings;
  std::vector<std::pair<std::string, std::string>> outcomes;  // {fault kind, what the driver did}
};

// The rig's firings so far into the record, and its armed faults described: run_case calls it
// when the case ends, lab.firings() on the way.
void collect_faults(Rig& rig, CaseRecord& record);

// Installs the global `lab` table (and the Lua prelude) into the sandbox. The rig, port and
// record must outlive the sandbox's use.
void install_lab(LuaSandbox& sandbox, Rig& rig, DriverPort& port, CaseRecord& record);

}  // namespace readerlab::scenarios
