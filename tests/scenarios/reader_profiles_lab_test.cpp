// The lab API over reader profiles and slots, as a case uses them: configure{profile = NAME} with
// fields on top, a card per slot (slots numbered from 1), and the errors a case gets for an
// unknown profile or a slot the reader does not have.
#include "scenarios/lab.h"
#include "scenarios/reader_profiles.h"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

using namespace readerlab;
using namespace std::chrono_literals;

namespace {

class NoDriver : public scenarios::DriverPort {
 public:
  std::string name() const override { return "none"; }
  std::uint64_t send(nlohmann::json) override { return 1; }
  std::optional<nlohmann::json> wait(std::uint64_t, std::chrono::milliseconds) override { return std::nullopt; }
};

struct Lab {
  boost::asio::io_context io;
  scenarios::Rig rig{io, nullptr};
  NoDriver port;
  scenarios::CaseRecord record;
  scenarios::LuaSandbox sandbox{{}, "cases/profiles.lua"};

  Lab() {
    usbredir::SocketAddress address;
    address.host = "127.0.0.1";
    rig.add_reader(address);
    scenarios::install_lab(sandbox, rig, port, record);
  }
  std::string run(const std::string& source) {
    const auto ran = sandbox.run(source, "cases/profiles.lua", 10s);
    return ran ? std::string() : ran.error().message();
  }
  const ccid::ReaderConfig& config() { return rig.reader(0).reader->config(); }
};

}  // namespace

TEST_CASE("lab: configure{profile = NAME} turns the reader into that model, other fields on top") {
  Lab lab;
  REQUIRE(lab.run("lab.reader(1):configure{profile = 'gempc-pinpad'}") == "");
  auto expected = scenarios::find_reader_profile("gempc-pinpad")->config;
  expected.seed = lab.config().seed;
  CHECK(lab.config() == expected);
  REQUIRE(lab.run("lab.reader(1):configure{profile = 'omnikey-3x21', serial = 'X42', max_message_length = 1034}") ==
          "");
  CHECK(lab.config().vendor_id == 0x076B);
  CHECK(lab.config().serial_number == "X42");
  CHECK(lab.config().max_message_length == 1034);
  CHECK(lab.config().exchange_level() == ccid::ExchangeLevel::extended_apdu);
  // The next case starts from the first model again.
  lab.rig.reset_to_baseline();
  CHECK(lab.config().vendor_id == 0x1209);
}

TEST_CASE("lab: an unknown profile is a case error listing the known ones") {
  Lab lab;
  const std::string error = lab.run("lab.reader(1):configure{profile = 'nope'}");
  CHECK(error.find("cases/profiles.lua:1:") == 0);
  CHECK(error.find("nope") != std::string::npos);
  CHECK(error.find("covadis-auriga") != std::string::npos);
  CHECK(lab.run("lab.reader(1):configure{profile = 7}").find("profile:") != std::string::npos);
}

TEST_CASE("lab: a card per slot on a multi-slot profile, slots numbered from 1") {
  Lab lab;
  REQUIRE(lab.run("lab.reader(1):configure{profile = 'covadis-auriga'}") == "");
  REQUIRE(lab.run("local r = lab.reader(1)\n"
                  "r:insert('t1-fs', 1)\n"
                  "r:insert('t0-basic', 3)\n"
                  "local info = r:info()\n"
                  "lab.check(#info.slots == 3, 'three slots')\n"
                  "lab.check(info.slots[1].card == 't1-fs', 'slot 1')\n"
                  "lab.check(info.slots[2].present == false, 'slot 2 empty')\n"
                  "lab.check(info.slots[3].card == 't0-basic', 'slot 3')\n"
                  "r:remove(1)\n"
                  "lab.check(r:info().slots[1].present == false, 'slot 1 emptied')\n"
                  "lab.check(r:info().slots[3].present, 'slot 3 kept its card')\n") == "");
  CHECK(lab.record.failed_checks.empty());
  for (const auto& failed : lab.record.failed_checks) MESSAGE(failed);
  CHECK(lab.rig.reader(0).reader->card_present(2));
  CHECK_FALSE(lab.rig.reader(0).reader->card_present(0));
  // Slot 0 and slots past the reader's are errors naming the slot count.
  CHECK(lab.run("lab.reader(1):insert('t1-fs', 4)").find("no slot 4 (reader 1 has 3, numbered from 1)") !=
        std::string::npos);
  CHECK(lab.run("lab.reader(1):remove(0)").find("no slot 0") != std::string::npos);
  // Back to the one-slot reader: every slot emptied.
  lab.rig.reset_to_baseline();
  CHECK(lab.config().slot_count == 1);
  CHECK(lab.run("lab.reader(1):insert('t1-fs', 2)").find("no slot 2 (reader 1 has 1") != std::string::npos);
}
