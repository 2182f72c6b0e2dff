// The catalogue's size, area by area: issue 8 asks for at least 100 hostile inputs.
#include "tests/hostile/hostile_support.h"

namespace readerlab::hostile {

TEST_CASE("the malformed-input catalogue holds at least 100 hostile inputs") {
  const struct {
    const char* area;
    std::size_t rows;
  } areas[] = {
      {"usbredir", usbredir_catalogue_size()},
      {"ccid", ccid_catalogue_size() + ccid_extended_catalogue_size()},
      {"t1", t1_catalogue_size()},
      {"atr", atr_catalogue_size()},
      {"apdu", apdu_catalogue_size()},
      {"lua", lua_catalogue_size()},
      {"agent", agent_catalogue_size()},
  };
  std::size_t total = 0;
  std::string counts;
  for (const auto& area : areas) {
    CHECK(area.rows > 0);
    total += area.rows;
    counts += std::string(area.area) + " " + std::to_string(area.rows) + ", ";
  }
  MESSAGE(counts << "total " << total);
  CHECK(total >= 100);
}

}  // namespace readerlab::hostile
