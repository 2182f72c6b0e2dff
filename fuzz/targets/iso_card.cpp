// The ISO 7816-4 card's command handling (cards/apdu/iso_card): a session of resets, PPS
// requests, protocol selections and command APDUs against a built-in profile.
//   input: profile index, then operations: 0 APDU (16-bit length + bytes), 1 reset (warm or
//          cold), 2 PPS request (length byte + bytes), 3 protocol selection
// Every answer carries a status word and never more data than Le asks for (ISO 7816-4 5.1.3).
#include "cards/apdu/iso_card.h"
#include "cards/profiles.h"
#include "fuzz/fuzz_input.h"

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace readerlab::cards;
using readerlab::fuzz::FuzzInput;

namespace {

const std::vector<CardProfile>& profiles() {
  static const std::vector<CardProfile> loaded = [] {
    std::vector<CardProfile> all;
    for (const char* name : {"t1-fs", "t0-basic", "t0-t1", "specific-ta2", "inverse", "extended", "slow"})
      all.push_back(*builtin_profile(name));
    return all;
  }();
  return loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const auto& all = profiles();
  IsoCard card(all[input.byte() % all.size()], 1);
  (void)card.reset(ResetKind::cold);

  for (unsigned operations = 0; !input.empty() && operations < 64; ++operations) {
    switch (input.byte() % 4) {
      case 0: {
        const auto command = input.record16();
        const auto answer = card.transmit_apdu(command);
        if (answer.status != CardStatus::ok) break;
        READERLAB_FUZZ_CHECK(answer.data.size() >= 2);
        const auto parsed = parse_command_apdu(command);
        if (parsed && parsed->ne) READERLAB_FUZZ_CHECK(answer.data.size() - 2 <= *parsed->ne);
        break;
      }
      case 1: (void)card.reset(input.flag() ? ResetKind::warm : ResetKind::cold); break;
      case 2: {
        const auto request = input.record8();
        const auto answer = card.answer_pps(request);
        if (answer) READERLAB_FUZZ_CHECK(parse_pps(*answer).pps.has_value());
        break;
      }
      case 3: card.select_protocol(input.flag() ? Protocol::t1 : Protocol::t0); break;
    }
  }
  (void)card.pin_tries_left();
  (void)card.puk_tries_left();
  card.deactivate();
  return 0;
}
