#include "hosts/windows_model/rdf/rdf_registry.h"

namespace readerlab::windows_model {

const RegisteredRdfDriver* find_rdf_driver(std::string_view name) {
  for (const auto& driver : registered_rdf_drivers())
    if (name == driver.name) return &driver;
  return nullptr;
}

}  // namespace readerlab::windows_model
