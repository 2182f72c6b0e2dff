// Command APDU codec (ISO 7816-4 5.1): any bytes parse to an APDU or to nothing, and an APDU
// that parses builds back to one with the same fields.
#include "cards/apdu/apdu.h"
#include "fuzz/fuzz_input.h"

#include <cstddef>
#include <cstdint>

using namespace readerlab::cards;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  (void)status_of(bytes);
  const auto apdu = parse_command_apdu(bytes);
  if (!apdu) return 0;
  READERLAB_FUZZ_CHECK(apdu->data.size() <= kExtendedMaxNc);
  READERLAB_FUZZ_CHECK(!apdu->ne || *apdu->ne <= kExtendedMaxNe);
  const int apdu_case = apdu->apdu_case();
  READERLAB_FUZZ_CHECK(apdu_case >= 1 && apdu_case <= 4);

  const auto rebuilt = build_command_apdu(*apdu);
  const auto again = parse_command_apdu(rebuilt);
  READERLAB_FUZZ_CHECK(again.has_value());
  READERLAB_FUZZ_CHECK(again->cla == apdu->cla && again->ins == apdu->ins && again->p1 == apdu->p1 &&
                       again->p2 == apdu->p2);
  READERLAB_FUZZ_CHECK(again->data == apdu->data);
  READERLAB_FUZZ_CHECK(again->ne == apdu->ne);
  return 0;
}
