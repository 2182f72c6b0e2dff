// APDUs per second through the T=1 engines: InterfaceSide -> CardSide -> the card's
// application, with IFSC = IFSD = 254 and LRC. Items are APDUs (command and response).
//   t1_short_echo_iso_card   ECHO (CLA 80 INS 10) of 16 bytes through the built-in "t1-fs"
//                            ISO 7816-4 card
//   t1_4k_echo_iso_card      ECHO of 4096 bytes as an extended APDU (17 blocks each way)
//   t1_4k_echo_handler       the same 4 KB exchange with a plain echo handler, to show the
//                            cost of the protocol alone
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>

#include "cards/profiles.h"
#include "cards/t1/card_side.h"
#include "cards/t1/interface_side.h"

namespace {

using readerlab::cards::Bytes;
using readerlab::cards::Card;
namespace t1 = readerlab::cards::t1;

constexpr std::uint8_t kEchoCla = 0x80;  // readerlab's proprietary class, cards/apdu/iso_card.h
constexpr std::uint8_t kEchoIns = 0x10;

std::unique_ptr<Card> powered_t1_card() {
  auto card = readerlab::cards::make_builtin_card("t1-fs");
  if (!card) return card;
  card->reset(readerlab::cards::ResetKind::cold);
  card->select_protocol(readerlab::cards::Protocol::t1);
  return card;
}

// Case 4 ECHO: short Lc/Le up to 255 bytes, extended (00 Lc1 Lc2 ... Le1 Le2) beyond.
Bytes echo_command(std::size_t size) {
  const bool extended = size > 255;
  Bytes apdu(4 + (extended ? 3 : 1) + size + (extended ? 2 : 1));
  std::size_t at = 0;
  apdu[at++] = kEchoCla;
  apdu[at++] = kEchoIns;
  apdu[at++] = 0x00;
  apdu[at++] = 0x00;
  if (extended) apdu[at++] = 0x00;
  if (extended) apdu[at++] = static_cast<std::uint8_t>(size >> 8);
  apdu[at++] = static_cast<std::uint8_t>(size & 0xFF);
  for (std::size_t i = 0; i < size; ++i) apdu[at++] = static_cast<std::uint8_t>(i);
  if (extended) apdu[at++] = static_cast<std::uint8_t>(size >> 8);
  apdu[at] = static_cast<std::uint8_t>(size & 0xFF);  // Le = Nc
  return apdu;
}

t1::InterfaceParameters fast_reader() {
  t1::InterfaceParameters parameters;
  parameters.ifsc = t1::kMaxInfSize;
  parameters.ifsd = t1::kMaxInfSize;
  return parameters;
}

void run(benchmark::State& state, const t1::CardSide::ApduHandler& handler, const Bytes& apdu) {
  t1::CardSide card_side(handler, t1::kMaxInfSize, t1::EdcKind::lrc);
  t1::InterfaceSide reader(fast_reader());
  const t1::InterfaceSide::Channel channel = [&card_side](std::span<const std::uint8_t> block) {
    return card_side.receive(block);
  };
  const auto first = reader.transmit(apdu, channel);
  if (!first.ok() || first.response.size() < 2) {
    state.SkipWithError(("T=1 exchange failed: " + t1::to_string(first.error)).c_str());
    return;
  }
  const auto sw1 = first.response[first.response.size() - 2];
  const auto sw2 = first.response.back();
  std::size_t response_bytes = 0;
  for (auto _ : state) {
    auto result = reader.transmit(apdu, channel);
    response_bytes += result.response.size();
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * apdu.size() + response_bytes));
  char label[48];
  std::snprintf(label, sizeof label, "SW %02X%02X, %zu-byte response", sw1, sw2, first.response.size());
  state.SetLabel(label);
}

// ECHO through the t1-fs card of state.range(0) data bytes: 16 (a short APDU) and 4096.
void t1_echo_iso_card(benchmark::State& state) {
  auto card = powered_t1_card();
  if (!card) {
    state.SkipWithError("no built-in card t1-fs");
    return;
  }
  run(
      state, [&card](std::span<const std::uint8_t> command) { return card->transmit_apdu(command).data; },
      echo_command(static_cast<std::size_t>(state.range(0))));
}
BENCHMARK(t1_echo_iso_card)->Arg(16)->Arg(4096);

void t1_4k_echo_handler(benchmark::State& state) {
  // Answers the command data (after the 7-byte extended header, before the 2-byte Le)
  // with 90 00, as a READ BINARY of a 4 KB file would.
  run(
      state,
      [](std::span<const std::uint8_t> command) {
        Bytes response(command.begin() + 7, command.end() - 2);
        response.push_back(0x90);
        response.push_back(0x00);
        return response;
      },
      echo_command(4096));
}
BENCHMARK(t1_4k_echo_handler);

}  // namespace
