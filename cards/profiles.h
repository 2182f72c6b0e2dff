// The cards readerlab ships with, ready to insert into a virtual reader by name.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cards/apdu/iso_card.h"
#include "cards/card.h"

namespace readerlab::cards {

struct ProfileInfo {
  std::string name, description;
};

// Every built-in profile, in a stable order (for `readerlab cards`).
std::vector<ProfileInfo> builtin_profiles();

// A fresh card in its factory state (files, PIN counter, challenge generator): a built-in
// profile, else a bundled Lua card (cards/profiles/<name>.lua); nullptr when the name is unknown.
// With a seed (the run's), GET CHALLENGE and a Lua card's math.random start from it, else from
// the profile's own challenge seed.
std::unique_ptr<Card> make_builtin_card(std::string_view name, std::optional<std::uint64_t> seed = std::nullopt);

// The profile behind a built-in card, for tests or to derive a variant; nullopt if unknown.
std::optional<CardProfile> builtin_profile(std::string_view name);

// The exact ATR a built-in card answers; nullopt for an unknown name and for `mute`.
std::optional<Bytes> builtin_atr(std::string_view name);

// `readerlab cards --describe NAME`: what a loaded card holds, read from the card model (the
// built-in profile, or the Lua card's declarations under its script): the ATR it answers to a
// cold reset with the protocols it offers, its file tree (FIDs, SFIs, AIDs, structures, sizes,
// access conditions), its data objects, and its PIN and PUK with their retry counters. An
// error for an unknown name, or naming the file and line of a Lua card that does not load.
Expected<std::string> describe_card(std::string_view name);

}  // namespace readerlab::cards
