// The interface device's half of T=1 (ISO 7816-3 11.6), the engine a reader or a host driver
// runs, fed the card's blocks from the input.
//   input: configuration (EDC, IFSC, IFSD, negotiation, tries), then per APDU: the APDU
//          (16-bit length + bytes) and the card's answers as block records (fuzz/t1_blocks.h)
//          until the transmit ends; an exhausted input is a card that says nothing more.
// Every transmit ends (bounded retries and card requests); what it returns is consistent.
#include "cards/t1/interface_side.h"
#include "fuzz/t1_blocks.h"

#include <cstddef>
#include <cstdint>

using namespace readerlab::cards::t1;
using readerlab::fuzz::FuzzInput;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const std::uint8_t config = input.byte();
  InterfaceParameters parameters;
  parameters.edc = (config & 0x01) ? EdcKind::crc : EdcKind::lrc;
  parameters.negotiate_ifsd = (config & 0x02) != 0;
  parameters.ifsc = input.byte();
  parameters.ifsd = input.byte();
  parameters.nad = (config & 0x04) ? 0x21 : 0x00;
  parameters.max_tries = 1 + ((config >> 3) & 0x03);
  parameters.max_response_length = 4096;
  parameters.max_command_length = 4096;
  parameters.max_card_requests = 64;
  InterfaceSide reader(parameters);
  unsigned wtx_seen = 0;
  reader.on_wtx([&](std::uint8_t) { ++wtx_seen; });

  for (unsigned apdus = 0; !input.empty() && apdus < 8; ++apdus) {
    const auto apdu = input.record16();
    std::size_t blocks_sent = 0;
    const auto channel = [&](std::span<const std::uint8_t> block) -> std::optional<Bytes> {
      // What the engine sends is always a well-formed block of at most IFSC bytes of INF.
      const auto parsed = parse_block(block, parameters.edc);
      READERLAB_FUZZ_CHECK(parsed.block.has_value());
      READERLAB_FUZZ_CHECK(parsed.block->inf.size() <= kMaxInfSize);
      ++blocks_sent;
      READERLAB_FUZZ_CHECK(blocks_sent < 100000);
      if (input.empty()) return std::nullopt;
      return readerlab::fuzz::next_t1_block(input, parameters.edc);
    };
    const auto result = reader.transmit(apdu, channel);
    (void)to_string(result.error);
    (void)to_string(result.last_fault);
    if (result.ok()) READERLAB_FUZZ_CHECK(result.response.size() <= parameters.max_response_length);
    if (result.error == TransmitError::deactivate_card) reader.reset();
  }
  return 0;
}
