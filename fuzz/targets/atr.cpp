// ATR parsing (ISO 7816-3 8): any byte string as the characters a reader decoded after a
// reset. The parser must return an error value, never read past the bytes, and what it
// accepts must survive build_atr and a second parse unchanged.
#include "cards/atr/atr.h"
#include "cards/atr/convention.h"
#include "fuzz/fuzz_input.h"

#include <cstddef>
#include <cstdint>

using namespace readerlab::cards;

namespace {

bool same_structure(const Atr& a, const Atr& b) {
  if (a.inverse_convention != b.inverse_convention || a.t0 != b.t0 || a.historical != b.historical ||
      a.groups.size() != b.groups.size())
    return false;
  for (std::size_t i = 0; i < a.groups.size(); ++i) {
    const auto& x = a.groups[i];
    const auto& y = b.groups[i];
    if (x.ta != y.ta || x.tb != y.tb || x.tc != y.tc || x.td != y.td) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  (void)describe_atr_bytes(bytes);
  (void)convention_of_atr(bytes);

  // The line transform is its own inverse (ISO 7816-3 8.1).
  const auto wire = to_wire(bytes, Convention::inverse);
  READERLAB_FUZZ_CHECK(from_wire(wire, Convention::inverse) == Bytes(bytes.begin(), bytes.end()));
  if (size > 0) (void)convention_of_wire_ts(data[0]);

  const auto parsed = parse_atr(bytes);
  READERLAB_FUZZ_CHECK(parsed.atr.has_value() == (parsed.error == AtrError::none));
  READERLAB_FUZZ_CHECK(parsed.offset <= size);
  if (!parsed.atr) return 0;

  const Atr& atr = *parsed.atr;
  (void)describe_atr(atr);
  (void)clock_rate_conversion_factor(static_cast<std::uint8_t>(atr.fi_di() >> 4));
  (void)baud_rate_adjustment_factor(atr.fi_di());
  (void)atr.extra_guard_time();
  (void)atr.waiting_integer();
  (void)atr.first_protocol();
  (void)atr.specific_mode();
  (void)atr.ifsc();
  (void)atr.bwi_cwi();
  (void)atr.uses_crc();
  for (std::uint8_t protocol = 0; protocol < 16; ++protocol) (void)atr.supports(protocol);

  const auto rebuilt = build_atr(atr);
  const auto reparsed = parse_atr(rebuilt);
  READERLAB_FUZZ_CHECK(reparsed.atr.has_value());
  READERLAB_FUZZ_CHECK(same_structure(atr, *reparsed.atr));
  return 0;
}
