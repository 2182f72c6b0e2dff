// An RDF driver under test: the cases through the smclib model and the driver on the host,
// its USB transfers in-process (NAME) or over a usbredir socket (NAME-usbredir).
#include "conformance/runners/runners.h"

#include "hosts/windows_model/port/rdf_port.h"
#include "hosts/windows_model/rdf/rdf_registry.h"

#include <boost/asio/io_context.hpp>

#include <cstdlib>

namespace readerlab::conformance::runners {

RunSummary run_rdf_driver(const SuiteRun& run, const std::vector<CaseInfo>& cases, const std::string& driver_name,
                          const std::filesystem::path& out_dir) {
  RunSummary summary;
  summary.driver = driver_name;
  summary.seed = run.seed;
  const auto choice = windows_model::choose_rdf_driver(driver_name);
  if (!choice) {
    fail_all(summary, cases, choice.error().message());
    return summary;
  }
  const auto* driver = choice->driver;
  const auto transport = choice->transport;
  char pattern[] = "/tmp/readerlab-XXXXXX";
  if (!::mkdtemp(pattern)) {
    fail_all(summary, cases, "cannot create a folder for the reader's socket in /tmp");
    return summary;
  }
  const std::filesystem::path socket_dir = pattern;
  {
    boost::asio::io_context io;
    scenarios::Rig rig(io, nullptr);
    rig.set_seed(run.seed);
    usbredir::SocketAddress address;
    address.is_unix = true;
    address.path = (socket_dir / "reader1.sock").string();
    rig.add_reader(address);
    windows_model::RdfPort port(rig, transport, *driver);
    // One known-failures file per driver, for both transports: its own, or <expectations>/NAME.txt.
    const std::string own_file = driver->expectations;
    auto expectations = load_expectations(own_file.empty() ? run.expectations_dir / (std::string(driver->name) + ".txt")
                                                           : std::filesystem::path(own_file));
    // Known failures kept with the suite add to the driver's own list: <expectations>/NAME.txt
    // for a driver with a file of its own (what the suite's fault cases found in it), and
    // <expectations>/NAME-usbredir.txt for what fails over the socket only.
    auto add = [&expectations](const std::filesystem::path& file) {
      const auto more = load_expectations(file);
      for (const auto& [id, reason] : more.expected_failures) expectations.expected_failures[id] = reason;
      for (const auto& [id, text] : more.failure_must_contain) expectations.failure_must_contain[id] = text;
    };
    if (!own_file.empty()) add(run.expectations_dir / (std::string(driver->name) + ".txt"));
    if (transport == windows_model::RdfTransport::usbredir)
      add(run.expectations_dir / (std::string(driver->name) + "-usbredir.txt"));
    for (std::size_t index = 0; index < cases.size(); ++index) {
      if (!take_run(summary.driver, cases[index])) continue;
      auto result = run_case(cases[index], rig, port, expectations, trace_folder(run, out_dir));
      print_progress(index + 1, cases.size(), result);
      summary.results.push_back(std::move(result));
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(socket_dir, ignored);
  return summary;
}

}  // namespace readerlab::conformance::runners
