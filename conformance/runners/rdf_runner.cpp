// An RDF driver under test: the cases through the smclib model and the driver on the host,
// its USB transfers in-process (NAME) or over a usbredir socket (NAME-usbredir).
#include "conformance/runners/runners.h"

#include "app/rdf_port.h"
#include "drivers_under_test/reference_rdf/rdf_registry.h"

#include <boost/asio/io_context.hpp>

#include <cstdlib>

namespace readerlab::conformance::runners {

RunSummary run_rdf_driver(const SuiteRun& run, const std::vector<CaseInfo>& cases, const std::string& driver_name) {
  RunSummary summary;
  summary.driver = driver_name;
  summary.seed = run.seed;
  constexpr std::string_view suffix = "-usbredir";
  const auto* driver = reference_rdf::find_rdf_driver(driver_name);
  auto transport = app::RdfTransport::in_process;
  if (!driver && driver_name.ends_with(suffix)) {
    driver = reference_rdf::find_rdf_driver(driver_name.substr(0, driver_name.size() - suffix.size()));
    transport = app::RdfTransport::usbredir;
  }
  if (!driver) {
    fail_all(summary, cases, "no RDF driver '" + driver_name + "' is registered in this build");
    return summary;
  }
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
    app::RdfPort port(rig, transport, *driver);
    // One known-failures file per driver, for both transports: its own, or <expectations>/NAME.txt.
    const std::string own_file = driver->expectations;
    const auto expectations = load_expectations(
        own_file.empty() ? run.expectations_dir / (std::string(driver->name) + ".txt") : std::filesystem::path(own_file));
    std::size_t number = 0;
    for (const auto& info : cases) {
      auto result = run_case(info, rig, port, expectations);
      print_progress(++number, cases.size(), result);
      summary.results.push_back(std::move(result));
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(socket_dir, ignored);
  return summary;
}

}  // namespace readerlab::conformance::runners
