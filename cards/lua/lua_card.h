// Cards written in Lua: a card file declares a card (ATR, protocols, file tree, PINs) and
// may script it (on_reset, on_apdu, misbehaviour hooks). What the script leaves unanswered
// falls through to an embedded IsoCard, the built-in ISO 7816-4 behaviour (iso_card.h).
//
// A card file is Lua 5.4 source that sets globals (cards/profiles/README.md has examples):
//
//   name        = "applet"                   -- default: the file name without .lua
//   description = "what a test engineer gets"
//   atr = "3B 8A 81 31 FE 45 80 58 ..."      -- the bytes, as hex (any ATR, even a bad one)
//   atr = { convention = "direct" | "inverse", protocols = {1}, ta1 = 0x13, tc1 = 0,
//           ta2 = 0x81 (specific mode), tc2 = 10 (WI), ifsc = 254, bwi = 4, cwi = 5,
//           crc = false, historical = "80 56 ..." }   -- or fields, built with build_atr
//   mute = true                  -- no ATR (a dead card) unless on_reset returns one
//   protocols = {0, 1}           -- offered protocols, the first is the default; from the ATR
//                                   when absent
//   files = {                    -- the MF's children
//     ef{ fid = 0x0101, sfi = 1, contents = "00 01 02" | text = "hello", size = 64, fill = 0xFF,
//         read_needs_pin = false, update_needs_pin = true },
//     ef{ fid = 0x0201, sfi = 2, structure = "linear_fixed" | "linear_variable" | "cyclic",
//         records = {"0102", "0304"}, record_size = 2, max_records = 10 },
//     df{ aid = "F0 72 65 61 64", fid = 0x5000, label = "wallet", fci_proprietary = "87 01 01",
//         files = { ... } },
//   }
//   pin = "1234"  or  { value = "1234" | hex = "31 32 33 34", reference = 0x80, tries = 3 }
//   puk = "12345678"  or  { ..., reference = 0x81, tries = 10 }
//   data_objects = { { tag = 0x9F7F, value = "01 02" | text = "...", read_only = true,
//                      put_needs_pin = false } }
//   challenge_seed = 42, implicit_ef = 0x0101, logical_channels = 4
//   pps = "accept" | "decline" | "silent"
//   t0_null_bytes = 5, wtx_multiplier = 10, processing_ms = 1500   -- a slow card, every time
//   t0_envelope = true        -- T=0: extended APDUs arrive in ENVELOPE chains (cards/t0/t0.h)
//
//   function on_reset(kind)   -- kind: "cold" or "warm"
//     return nil              -- the declared ATR;  "3B 00": this ATR (hex);  false: no ATR
//   end
//   function on_apdu(apdu)    -- apdu.cla .ins .p1 .p2, .data (bytes as a Lua string),
//                             -- .ne (nil without Le), .extended, .case (1..4), .bytes (the
//                             -- whole command), .hex; .malformed = true (and no .case) when
//                             -- the encoding is wrong (the built-in behaviour answers 6700)
//     return nil              -- fall through to the built-in ISO 7816-4 behaviour
//     return 0x6A82           -- a status word alone
//     return "01 02 90 00"    -- the whole response as hex
//     return "\1\2", 0x9000   -- data as bytes, then the status word
//     return false            -- say nothing: this exchange times out
//   end
//
// Functions for handlers: card.iso(bytes) -> the built-in behaviour's response bytes;
// card.protocol() -> 0, 1 or nil; card.pin_verified(); card.log(...) and print(...) write to
// the card's log; hex.encode(bytes) -> "0A1B", hex.decode("0A 1B") -> bytes.
// Misbehaviour (fills the card's ProtocolFaults, which the reader takes before each exchange,
// so it shows from the next exchange on): card.delay_ms(n), card.wait_etu(n) (converted at
// the Fi/Di in force and a 4 MHz clock), card.wtx(multiplier), card.mute(n = 1),
// card.wrong_edc(n = 1), card.bad_procedure_byte(b), card.garbage(n = 1), card.drop_off().
// A reset forgets misbehaviour asked before it.
//
// The sandbox (cards/lua/sandbox.h, the one cases and scenarios run in too): base (without
// dofile, loadfile, load, collectgarbage; pcall and xpcall cannot catch the limits;
// setmetatable refuses __gc), string (without dump), table, math (seeded), utf8. No io, os,
// package, require, debug, coroutine; source text only, never bytecode. Every call into the
// script (the chunk, each handler) has an instruction budget (C functions that build or scan
// strings or move table elements are charged for their bytes and elements) and a wall-clock
// deadline; the card's Lua state has a memory cap. A script that breaks a limit, or raises an
// error, breaks the card for good as a real card's firmware fault would: reset answers
// nothing, exchanges are mute, last_error() and the log say "file:line: what happened".
// Errors never escape. Patterns whose backtracking could take too long are refused; print
// lines are cut at 16 KiB; card.delay_ms and card.wait_etu add up to 30 s at most (the log
// says when a delay was cut).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cards/apdu/iso_card.h"
#include "cards/card.h"

namespace readerlab::cards {

struct LuaCardOptions {
  std::size_t memory_limit = 8u * 1024u * 1024u;   // the card's whole Lua state
  std::uint64_t instruction_budget = 10'000'000;   // each call into the script
  std::chrono::milliseconds time_per_call{2000};   // wall clock of each call into the script
  std::optional<std::uint64_t> seed;               // the run's seed: GET CHALLENGE, math.random
  std::function<void(const std::string&)> logger;  // print, card.log, and why the card broke
};

class LuaCard final : public Card {
 public:
  struct Impl;
  explicit LuaCard(std::unique_ptr<Impl> impl);
  ~LuaCard() override;

  std::string name() const override;
  std::optional<Bytes> reset(ResetKind kind) override;
  void deactivate() override;
  void select_protocol(Protocol protocol) override;
  CardResponse transmit_apdu(std::span<const std::uint8_t> command) override;
  std::optional<Bytes> answer_pps(std::span<const std::uint8_t> request) override;
  ProtocolBehaviour protocol_behaviour() const override;
  ProtocolFaults take_protocol_faults() override;

  const std::string& description() const;
  const std::string& file() const;  // the path or chunk name messages use
  // Set once a script failure broke the card: "file:line: what happened".
  bool broken() const;
  const std::string& last_error() const;
  // The declared ATR (on_reset may answer another one); empty for a mute card.
  const Bytes& declared_atr() const;
  // The built-in behaviour under the script, for inspection (files, PIN counter).
  const IsoCard& iso_card() const;
  std::size_t memory_in_use() const;

 private:
  std::unique_ptr<Impl> impl_;
};

// The card, or where its file is wrong and what is wrong there: where "file:line: field 'atr'",
// what "not hex ..." and the like (message() gives "file:line: field 'atr': not hex ...").
using LuaCardLoad = Expected<std::unique_ptr<LuaCard>>;

// A card file from disk (at most 1 MiB); messages name `path` as given.
LuaCardLoad load_lua_card(const std::filesystem::path& path, LuaCardOptions options = {});
// A card from text; messages name `chunk_name` (a card without `name` is called by it, less
// any directory and ".lua").
LuaCardLoad load_lua_card_text(std::string_view text, std::string chunk_name, LuaCardOptions options = {});

// The bundled Lua cards: READERLAB_SOURCE_DIR "/cards/profiles".
std::filesystem::path bundled_lua_card_directory();

// `directory`/`name`.lua when it exists; nullopt otherwise or when `name` is not a plain card
// name (letters, digits, '-', '_', '.').
std::optional<std::filesystem::path> find_lua_card(
    std::string_view name, const std::filesystem::path& directory = bundled_lua_card_directory());

// find_lua_card, then load_lua_card; nullptr when not found or it does not load (the error
// goes to options.logger). For make_builtin_card's fall-back.
std::unique_ptr<Card> make_lua_card(std::string_view name, LuaCardOptions options = {},
                                    const std::filesystem::path& directory = bundled_lua_card_directory());

struct LuaCardInfo {
  std::string name, description;
  std::filesystem::path path;
  std::string error;  // the load error of a card file that does not load
};
// Every *.lua card in `directory`, by file name; each is loaded to read its name and description.
std::vector<LuaCardInfo> list_lua_cards(const std::filesystem::path& directory = bundled_lua_card_directory());

}  // namespace readerlab::cards
