#include "drivers_under_test/reference_rdf/rdf_registry.h"

namespace reference_rdf {

const RegisteredRdfDriver* find_rdf_driver(std::string_view name) {
  for (const auto& driver : registered_rdf_drivers())
    if (name == driver.name) return &driver;
  return nullptr;
}

}  // namespace reference_rdf
