// `--driver NAME` and `NAME-usbredir` resolved to a registered RDF driver and its transport, and
// the error a user reads for a name no driver was built under.
#include "hosts/windows_model/port/rdf_port.h"
#include "hosts/windows_model/rdf/rdf_registry.h"

#include <doctest/doctest.h>

#include <string>

namespace windows_model = readerlab::windows_model;

TEST_CASE("a registered driver's name runs it in-process; with -usbredir over a socket") {
  const auto in_process = windows_model::choose_rdf_driver("reference-rdf");
  REQUIRE(in_process.has_value());
  CHECK(in_process->driver == windows_model::find_rdf_driver("reference-rdf"));
  CHECK(in_process->transport == windows_model::RdfTransport::in_process);

  const auto redirected = windows_model::choose_rdf_driver("minimal-c-usbredir");
  REQUIRE(redirected.has_value());
  CHECK(std::string(redirected->driver->name) == "minimal-c");
  CHECK(redirected->transport == windows_model::RdfTransport::usbredir);
}

TEST_CASE("an unknown driver name is an error that names the name and the drivers there are") {
  for (const char* name : {"acme-rdf", "-usbredir", "reference-rdf-usbredir-usbredir", ""}) {
    const auto choice = windows_model::choose_rdf_driver(name);
    REQUIRE_FALSE(choice.has_value());
    CHECK(choice.error().where == name);
    CHECK(choice.error().what.find("no RDF driver of that name") != std::string::npos);
    CHECK(choice.error().what.find("reference-rdf-usbredir") != std::string::npos);
  }
  const auto names = windows_model::rdf_driver_names();
  CHECK(names.find("reference-rdf, reference-rdf-usbredir") != std::string::npos);
  CHECK(names.find("minimal-c, minimal-c-usbredir") != std::string::npos);
}
