// The RDF drivers under test this readerlab was built with (readerlab_add_rdf_driver with an
// ENTRY): `readerlab run --driver NAME` and `NAME-usbredir` find them here.
#pragma once

#include "hosts/windows_model/rdf/readerlab_rdf.h"

#include <span>
#include <string_view>

namespace readerlab::windows_model {

struct RegisteredRdfDriver {
  const char* name;  // e.g. "reference-rdf"
  const READERLAB_RDF_DRIVER* entry;
  const char* expectations;  // the driver's known-failures file, "" when it has none
};

// Generated at configure time from every readerlab_add_rdf_driver(... ENTRY ...).
std::span<const RegisteredRdfDriver> registered_rdf_drivers();

// nullptr for a name no driver was registered under.
const RegisteredRdfDriver* find_rdf_driver(std::string_view name);

}  // namespace readerlab::windows_model
