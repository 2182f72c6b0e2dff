// The card's half of T=1 (ISO 7816-3 11.6) fed the interface device's blocks.
//   input: configuration (EDC, IFSC, WTX, S(IFS) request, faults), then block records
//          (fuzz/t1_blocks.h); a record with flags 0x20 resets the card instead.
// The card answers with at most one block, always one that parses with its EDC.
#include "cards/t1/card_side.h"
#include "fuzz/t1_blocks.h"

#include <cstddef>
#include <cstdint>

using namespace readerlab::cards::t1;
using readerlab::fuzz::FuzzInput;

namespace {

// An application whose answer length the command chooses (first two bytes), so answers need
// chaining; a command starting with FF gets no answer (the application stays silent).
Bytes application(std::span<const std::uint8_t> command) {
  if (command.empty() || command[0] == 0xFF) return {};
  const std::size_t length = (command[0] | (command.size() > 1 ? command[1] << 8 : 0)) % 1200;
  Bytes answer(length);
  for (std::size_t i = 0; i < length; ++i) answer[i] = static_cast<std::uint8_t>(i);
  answer.push_back(0x90);
  answer.push_back(0x00);
  return answer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const std::uint8_t config = input.byte();
  const EdcKind edc = (config & 0x01) ? EdcKind::crc : EdcKind::lrc;
  const std::uint8_t ifsc = input.byte();
  CardParameters parameters;
  parameters.wtx_before_every_answer = static_cast<std::uint8_t>((config >> 1) & 0x03);
  if (config & 0x08) parameters.request_ifsc = input.byte();
  parameters.max_command_length = 4096;
  CardSide card(application, ifsc, edc, parameters);
  if (config & 0x10) {
    CardFaults& faults = card.faults();
    const std::uint8_t fault_bits = input.byte();
    faults.corrupt_edc_blocks = fault_bits & 0x03;
    faults.garbage_blocks = (fault_bits >> 2) & 0x03;
    faults.mute_blocks = (fault_bits >> 4) & 0x03;
    if (fault_bits & 0x40) faults.wtx_before_next_answer = input.byte();
    if (fault_bits & 0x80) faults.drop_off_after_blocks = input.byte() % 8u;
  }

  for (unsigned blocks = 0; !input.empty() && blocks < 256; ++blocks) {
    if (input.peek() & 0x20) {
      input.byte();
      card.reset();
      continue;
    }
    const auto block = readerlab::fuzz::next_t1_block(input, edc);
    const auto answer = card.receive(block ? *block : Bytes{});
    if (!answer) continue;
    // Garbage on purpose is the one answer that need not parse.
    if (card.faults().garbage_blocks == 0 && (config & 0x10) == 0) {
      const auto parsed = parse_block(*answer, edc);
      READERLAB_FUZZ_CHECK(parsed.block.has_value());
      READERLAB_FUZZ_CHECK(parsed.block->inf.size() <= kMaxInfSize);
    }
  }
  return 0;
}
