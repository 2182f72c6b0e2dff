// The T=1 block codec (ISO 7816-3 11.3): any bytes as a block with an LRC and with a CRC
// epilogue. A block that parses encodes back to the same bytes.
#include "cards/t1/block.h"
#include "fuzz/fuzz_input.h"

#include <cstddef>
#include <cstdint>

using namespace readerlab::cards::t1;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  (void)crc16(bytes);
  (void)lrc(bytes);
  for (const EdcKind edc : {EdcKind::lrc, EdcKind::crc}) {
    (void)describe(bytes, edc);
    const auto parsed = parse_block(bytes, edc);
    READERLAB_FUZZ_CHECK(parsed.block.has_value() == (parsed.error == BlockError::none));
    if (!parsed.block) {
      (void)to_string(parsed.error);
      continue;
    }
    const BlockView& block = *parsed.block;
    READERLAB_FUZZ_CHECK(block.inf.size() <= kMaxInfSize);
    (void)describe(block);
    (void)block.kind();
    (void)block.sequence();
    (void)block.more();
    (void)block.receive_error();
    (void)block.supervisory_type();
    (void)block.is_response();
    (void)block.parameter();
    (void)answer_nad(block.nad);
    READERLAB_FUZZ_CHECK(encode_block(block.nad, block.pcb, block.inf, edc) == Bytes(bytes.begin(), bytes.end()));
  }
  return 0;
}
