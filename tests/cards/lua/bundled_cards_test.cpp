// The Lua cards bundled in cards/profiles behave as their headers say.
#include <doctest/doctest.h>

#include "cards/atr/atr.h"
#include "cards/pps/pps.h"
#include "support.h"

using namespace readerlab::cards;
using namespace readerlab::cards::test_lua;

namespace {

std::unique_ptr<LuaCard> bundled(std::string_view name, std::vector<std::string>* log = nullptr) {
  const auto path = find_lua_card(name);
  REQUIRE(path);
  LuaCardOptions options;
  if (log) options.logger = [log](const std::string& line) { log->push_back(line); };
  auto loaded = load_lua_card(*path, options);
  INFO((loaded ? std::string() : loaded.error().message()));
  REQUIRE(loaded);
  return std::move(loaded).value();
}

constexpr const char* kSelectWallet = "00 A4 04 00 0B F0 72 65 61 64 65 72 6C 61 62 20 00";
constexpr const char* kGetBalance = "80 50 00 00 04";

}  // namespace

TEST_CASE("bundled Lua cards: all load, each named as its file") {
  const auto cards = list_lua_cards();
  std::vector<std::string> names;
  for (const auto& info : cards) {
    INFO(info.path.string(), ": ", info.error);
    CHECK(info.error.empty());
    CHECK(info.name == info.path.stem().string());
    CHECK_FALSE(info.description.empty());
    names.push_back(info.name);
  }
  CHECK(std::find(names.begin(), names.end(), "applet") != names.end());
  CHECK(std::find(names.begin(), names.end(), "hostile") != names.end());
}

TEST_CASE("find_lua_card and make_lua_card: names only, no paths") {
  CHECK(find_lua_card("applet") == bundled_lua_card_directory() / "applet.lua");
  CHECK_FALSE(find_lua_card("no-such-card"));
  CHECK_FALSE(find_lua_card("../profiles/applet"));
  CHECK_FALSE(find_lua_card("/etc/passwd"));
  CHECK_FALSE(find_lua_card(""));
  auto card = make_lua_card("hostile");
  REQUIRE(card);
  CHECK(card->name() == "hostile");
  CHECK_FALSE(make_lua_card("no-such-card"));
}

TEST_CASE("applet: the ATR built from fields is a T=1 ATR with TA1, IFSC and BWI/CWI") {
  auto card = bundled("applet");
  const auto atr_bytes = card->reset(ResetKind::cold);
  REQUIRE(atr_bytes);
  CHECK(*atr_bytes == card->declared_atr());
  const auto parsed = parse_atr(*atr_bytes);
  REQUIRE(parsed.error == AtrError::none);
  CHECK(parsed.atr->fi_di() == 0x13);
  CHECK(parsed.atr->supports(1));
  CHECK_FALSE(parsed.atr->supports(0));
  CHECK(parsed.atr->ifsc() == 254);
  CHECK(parsed.atr->bwi_cwi() == 0x45);
  CHECK_FALSE(parsed.atr->uses_crc());
  CHECK(to_hex(parsed.atr->historical) == "80566170706C6574");
  // 3B 98: TA1 TD1 and 8 historical bytes; 13; 81: TD2, T=1; 31: TA3 TB3, T=1; FE 45.
  CHECK(to_hex(*atr_bytes).rfind("3B98138131FE45", 0) == 0);
}

TEST_CASE("applet: the wallet commands are the script's, the rest is ISO 7816-4") {
  auto card = bundled("applet");
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(exchange(*card, kGetBalance) == "6985");  // the wallet is not selected yet
  const std::string fci = exchange(*card, kSelectWallet);
  CHECK(fci.substr(0, 2) == "6F");
  CHECK(fci.substr(fci.size() - 4) == "9000");
  CHECK(exchange(*card, kGetBalance) == "000000649000");
  CHECK(exchange(*card, "80 52 00 00 04 00 00 00 32") == "9000");  // CREDIT 50
  CHECK(exchange(*card, kGetBalance) == "000000969000");
  CHECK(exchange(*card, "80 54 00 00 04 00 00 00 14") == "6982");  // DEBIT needs the PIN
  CHECK(exchange(*card, "00 20 00 80 04 31 32 33 34") == "9000");  // VERIFY, built in
  CHECK(exchange(*card, "80 54 00 00 04 00 00 00 14") == "9000");  // DEBIT 20
  CHECK(exchange(*card, "80 54 00 00 04 00 00 01 00") == "6985");  // more than the balance
  CHECK(exchange(*card, kGetBalance) == "000000829000");
  CHECK(exchange(*card, "80 52 00 00 02 00 01") == "6700");
  // The log EF written through card.iso: the newest record of a cyclic EF is record 1.
  CHECK(exchange(*card, "00 B2 01 0C 05") == "02000000149000");
  CHECK(exchange(*card, "00 B2 02 0C 05") == "01000000329000");
  // Falls through: the built-in ECHO and the built-in answer to an unknown instruction.
  CHECK(exchange(*card, "80 10 00 00 03 0A 0B 0C 03") == "0A0B0C9000");
  CHECK(exchange(*card, "80 99 00 00") == "6D00");
  // Selecting the MF leaves the wallet; READ BINARY by SFI is built in.
  CHECK(exchange(*card, "00 A4 00 0C 02 3F 00") == "9000");
  CHECK(exchange(*card, kGetBalance) == "6985");
  CHECK(exchange(*card, "00 B0 81 00 09") == to_hex(Bytes{'r', 'e', 'a', 'd', 'e', 'r', 'l', 'a', 'b'}) + "9000");
  CHECK(card->iso_card().pin_tries_left() == 3);
  CHECK_FALSE(card->broken());
}

TEST_CASE("applet: a reset forgets the selection - the balance lives on") {
  auto card = bundled("applet");
  REQUIRE(card->reset(ResetKind::cold));
  exchange(*card, kSelectWallet);
  CHECK(exchange(*card, "80 52 00 00 04 00 00 00 01") == "9000");
  REQUIRE(card->reset(ResetKind::warm));
  CHECK(exchange(*card, kGetBalance) == "6985");
  exchange(*card, kSelectWallet);
  CHECK(exchange(*card, kGetBalance) == "000000659000");
}

TEST_CASE("applet: PPS is answered from the ATR's TA1") {
  auto card = bundled("applet");
  REQUIRE(card->reset(ResetKind::cold));
  const Bytes request = build_pps(Pps{1, 0x13, std::nullopt, std::nullopt});
  const auto response = card->answer_pps(request);
  REQUIRE(response);
  CHECK(*response == request);
  CHECK_FALSE(card->answer_pps(request));  // only once, right after the ATR
  CHECK(card->iso_card().selected_protocol() == Protocol::t1);
}

TEST_CASE("hostile: each arming command fills the ProtocolFaults the reader takes") {
  std::vector<std::string> log;
  auto card = bundled("hostile", &log);
  REQUIRE(card->reset(ResetKind::cold));
  CHECK_FALSE(card->take_protocol_faults().any());

  CHECK(exchange(*card, "80 F0 03 00") == "9000");
  auto faults = card->take_protocol_faults();
  CHECK(faults.mute_exchanges == 3);
  CHECK_FALSE(card->take_protocol_faults().any());  // taken means cleared

  exchange(*card, "80 F1 02 00");
  exchange(*card, "80 F2 07 00");
  exchange(*card, "80 F3 6D 00");
  exchange(*card, "80 F4 00 00");
  exchange(*card, "80 F5 00 00");
  faults = card->take_protocol_faults();
  CHECK(faults.corrupt_edc_blocks == 2);
  CHECK(faults.wtx_request == std::optional<std::uint8_t>(7));
  CHECK(faults.bad_procedure_byte == std::optional<std::uint8_t>(0x6D));
  CHECK(faults.garbage_answers == 1);
  CHECK(faults.drop_off);

  exchange(*card, "80 F6 05 00");  // 50 ms
  CHECK(card->take_protocol_faults().delay == std::chrono::milliseconds(50));
  // 1000 ETU at Fd=372, Dd=1 and 4 MHz: 93 ms.
  exchange(*card, "80 F7 03 E8");
  CHECK(card->take_protocol_faults().delay == std::chrono::milliseconds(93));

  CHECK(log.size() == 8);
  CHECK(log.front() == "[hostile] armed F0 03 00");
}

TEST_CASE("hostile: a swallowed command times out, the card goes on") {
  auto card = bundled("hostile");
  REQUIRE(card->reset(ResetKind::cold));
  CHECK(card->transmit_apdu(hex("80 F8 00 00")).status == CardStatus::mute);
  CHECK_FALSE(card->broken());
  CHECK(exchange(*card, "00 B0 81 00 02") == "55559000");  // READ BINARY of SFI 1, built in
}

TEST_CASE("hostile: a warm reset answers another ATR and forgets armed faults") {
  auto card = bundled("hostile");
  const auto cold = card->reset(ResetKind::cold);
  REQUIRE(cold);
  CHECK(*cold == card->declared_atr());
  const auto parsed = parse_atr(*cold);
  REQUIRE(parsed.atr);
  CHECK(parsed.atr->supports(0));
  CHECK(parsed.atr->supports(1));
  CHECK(parsed.atr->first_protocol() == 0);
  CHECK(parsed.atr->ifsc() == 32);

  exchange(*card, "80 F0 01 00");
  const auto warm = card->reset(ResetKind::warm);
  REQUIRE(warm);
  CHECK(to_hex(*warm) == "3B047761726D");
  CHECK_FALSE(card->take_protocol_faults().any());
  // A PPS request for T=1 gets no answer: the warm ATR offers T=0 only.
  CHECK_FALSE(card->answer_pps(build_pps(Pps{1, std::nullopt, std::nullopt, std::nullopt})));
}
