// PPS (ISO 7816-3 9): a request parsed, answered by a card whose ATR also comes from the input,
// and the answer checked by the interface device's rules.
//   input: reaction byte, ATR (length byte + bytes), then the request bytes
#include "cards/pps/pps.h"
#include "fuzz/fuzz_input.h"

#include <cstddef>
#include <cstdint>

using namespace readerlab::cards;
using readerlab::fuzz::FuzzInput;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const auto reaction = static_cast<PpsReaction>(input.byte() % 3);
  const auto atr_bytes = input.record8();
  const auto request = input.rest();

  const auto parsed = parse_pps(request);
  READERLAB_FUZZ_CHECK(parsed.pps.has_value() == (parsed.error == PpsError::none));
  READERLAB_FUZZ_CHECK(parsed.offset <= request.size());
  if (parsed.pps) {
    // The codec is exact: a parsed request builds back to the same bytes.
    READERLAB_FUZZ_CHECK(build_pps(*parsed.pps) == Bytes(request.begin(), request.end()));
  }

  const auto atr = parse_atr(atr_bytes);
  if (!atr.atr) return 0;
  const auto answer = answer_pps_request(*atr.atr, reaction, request);
  READERLAB_FUZZ_CHECK(answer.response.has_value() == answer.agreed.has_value());
  if (answer.response && parsed.pps) {
    // What a card answers by the rules, the interface device accepts (ISO 7816-3 9.3).
    const auto outcome = pps_outcome(*parsed.pps, *answer.response);
    READERLAB_FUZZ_CHECK(outcome.has_value());
    READERLAB_FUZZ_CHECK(*outcome == *answer.agreed);
  }
  // The interface device's check of any bytes as an answer.
  if (parsed.pps) (void)pps_outcome(*parsed.pps, atr_bytes);
  return 0;
}
