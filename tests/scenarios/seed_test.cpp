// The run's seed (readerlab run --seed) drives every random choice: the GET CHALLENGE bytes
// of the cards the rig inserts, math.random in Lua cards and math.random in the cases. The
// same seed gives the same bytes, another seed other bytes.
#include "base/bytes.h"
#include "cards/lua/lua_card.h"
#include "cards/profiles.h"
#include "scenarios/lab.h"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

using namespace readerlab;

namespace {

// A run's failure as the user reads it, or "" when the chunk ran.
std::string run(readerlab::scenarios::LuaSandbox& sandbox, const std::string& source, const std::string& chunk_name,
                std::chrono::milliseconds budget) {
  const auto ran = sandbox.run(source, chunk_name, budget);
  return ran ? std::string() : ran.error().message();
}

// The case under test never calls the driver.
class UnusedDriver : public scenarios::DriverPort {
 public:
  std::string name() const override { return "unused"; }
  std::uint64_t send(nlohmann::json) override { return 0; }
  std::optional<nlohmann::json> wait(std::uint64_t, std::chrono::milliseconds) override { return std::nullopt; }
};

// What math.random gives a case run on a rig with this seed: three draws, as the case logs them.
std::vector<std::string> case_draws(std::uint64_t seed) {
  boost::asio::io_context io;
  scenarios::Rig rig(io, nullptr);
  rig.set_seed(seed);
  UnusedDriver port;
  scenarios::CaseRecord record;
  scenarios::LuaSandbox sandbox({}, "cases/seed.lua");
  scenarios::install_lab(sandbox, rig, port, record);
  const auto error = run(sandbox, "for i = 1, 3 do lab.log(string.format('%d', math.random(0, 1 << 50))) end",
                         "cases/seed.lua", std::chrono::seconds(10));
  REQUIRE(error.empty());
  return record.log;
}

// The card's answer to GET CHALLENGE for 8 bytes (ISO 7816-4 11.5.3: INS 84), twice.
std::string challenges(cards::Card& card) {
  REQUIRE(card.reset(cards::ResetKind::cold));
  const Bytes get_challenge = {0x00, 0x84, 0x00, 0x00, 0x08};
  std::string answers;
  for (int i = 0; i < 2; ++i) {
    const auto response = card.transmit_apdu(get_challenge);
    REQUIRE(response.status == cards::CardStatus::ok);
    REQUIRE(response.data.size() == 10);
    CHECK(response.data[8] == 0x90);
    answers += to_hex(response.data) + " ";
  }
  return answers;
}

std::string builtin_challenges(const char* profile, std::uint64_t seed) {
  auto card = cards::make_builtin_card(profile, seed);
  REQUIRE(card);
  return challenges(*card);
}

// A Lua card whose applet answers INS 52 with two math.random draws.
std::string lua_card_draws(std::uint64_t seed) {
  cards::LuaCardOptions options;
  options.seed = seed;
  auto loaded = cards::load_lua_card_text(
      "atr = '3B 00'\n"
      "function on_apdu(apdu)\n"
      "  if apdu.ins ~= 0x52 then return nil end\n"
      "  return string.pack('>i8i8', math.random(0, 1 << 50), math.random(0, 1 << 50)), 0x9000\n"
      "end\n",
      "random-applet.lua", options);
  REQUIRE(loaded);
  REQUIRE(loaded.value()->reset(cards::ResetKind::cold));
  const Bytes draw = {0x80, 0x52, 0x00, 0x00, 0x00};
  const auto response = loaded.value()->transmit_apdu(draw);
  REQUIRE(response.status == cards::CardStatus::ok);
  REQUIRE(response.data.size() == 18);
  return to_hex(response.data) + " " + challenges(*loaded.value());
}

}  // namespace

TEST_CASE("a case's math.random gives the same numbers for the same seed and others for another") {
  const auto first = case_draws(7);
  REQUIRE(first.size() == 3);
  CHECK(case_draws(7) == first);
  CHECK(case_draws(8) != first);
  // Not the clock: Lua seeds math.random from the time unless the run's seed is set.
  CHECK(case_draws(1) == case_draws(1));
}

TEST_CASE("the cards the rig inserts answer GET CHALLENGE from the run's seed") {
  for (const char* profile : {"t1-fs", "t0-basic"}) {
    CAPTURE(profile);
    const auto first = builtin_challenges(profile, 7);
    CHECK(builtin_challenges(profile, 7) == first);
    CHECK(builtin_challenges(profile, 8) != first);
  }
  // Without a run's seed a card keeps its profile's own (a fresh card answers as it always did).
  auto unseeded = cards::make_builtin_card("t1-fs");
  auto profile = cards::builtin_profile("t1-fs");
  REQUIRE(profile);
  auto with_profile_seed = cards::make_builtin_card("t1-fs", profile->challenge_seed);
  CHECK(challenges(*unseeded) == challenges(*with_profile_seed));
}

TEST_CASE("a Lua card's math.random and GET CHALLENGE follow the run's seed") {
  const auto first = lua_card_draws(7);
  CHECK(lua_card_draws(7) == first);
  CHECK(lua_card_draws(8) != first);
}
