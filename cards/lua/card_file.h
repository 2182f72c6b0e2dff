// The declarative part of a Lua card file: the globals its chunk leaves (name, atr, files,
// pin, ...) read into a CardProfile, with an error naming the file, line and field of the
// first value that is wrong. The format is documented in cards/lua/lua_card.h.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/error.h"
#include "cards/apdu/iso_card.h"
#include "cards/lua/sandbox.h"

struct lua_State;

namespace readerlab::cards::lua {

struct CardFile {
  // profile.mute stays false: the Lua card decides at each reset whether it answers.
  CardProfile profile;
  bool mute = false;  // `mute = true`: no ATR unless on_reset returns one
};

// Defines the constructors `ef{...}` and `df{...}` (they remember their line for messages).
// A lua_CFunction body: call it inside a protected call, it may raise.
int open_card_file_functions(lua_State* L);

// Reads the globals after the chunk (from `source`) ran; `default_name` names a card
// without `name`. The first wrong value is the Error: where "file:line: field 'files[2].fid'",
// what is wrong with it.
Expected<CardFile> read_card_file(Sandbox& sandbox, std::string_view source, std::string_view default_name);

}  // namespace readerlab::cards::lua
