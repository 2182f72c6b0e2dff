// Small helpers shared by the card tests.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "cards/apdu/iso_card.h"
#include "cards/card.h"
#include "cards/profiles.h"
#include "tests/support/hex.h"

namespace readerlab::cards::test {

using readerlab::test::hex;
using readerlab::test::to_hex;

// A bundled profile's IsoCard after a cold reset.
inline IsoCard powered_card(std::string_view name) {
  auto profile = builtin_profile(name);
  REQUIRE(profile.has_value());
  IsoCard card(std::move(*profile));
  REQUIRE(card.reset(ResetKind::cold).has_value());
  return card;
}

// Sends an APDU written in hex and returns the response (data + SW) in hex.
inline std::string send(Card& card, std::string_view apdu) {
  const auto response = card.transmit_apdu(hex(apdu));
  REQUIRE(response.status == CardStatus::ok);
  REQUIRE(response.data.size() >= 2);
  return to_hex(response.data);
}

// The "SW1 SW2" end of a hex response.
inline std::string sw_of(const std::string& response) { return response.substr(response.size() - 5); }

}  // namespace readerlab::cards::test
