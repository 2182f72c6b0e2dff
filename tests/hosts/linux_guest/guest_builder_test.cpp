#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "hosts/linux_guest/guest_builder.h"

using readerlab::qemu::guest_out_of_date;
using readerlab::qemu::GuestBuildOptions;
using readerlab::qemu::readers_to_register;
using readerlab::qemu::write_build_options;
namespace fs = std::filesystem;

namespace {

// A folder laid out like a built guest (the files' contents do not matter to the check).
struct FakeGuest {
  fs::path dir;
  fs::path agent;
  FakeGuest() {
    dir = fs::temp_directory_path() / ("readerlab-guest-builder-test-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    agent = dir / "agent";
    for (const auto& name : {"vmlinuz", "initrd.img", "agent"}) std::ofstream(dir / name) << name;
    GuestBuildOptions options;
    options.agent = agent;
    options.with_packages = {"pcsc-tools"};
    REQUIRE(write_build_options(dir, options, readers_to_register()));
    // Built after everything it is made of: the sources' and the agent's times are in the past.
    set_time("initrd.img", std::chrono::hours(1));
    set_time("agent", -std::chrono::hours(1));
  }
  ~FakeGuest() { fs::remove_all(dir); }
  void set_time(const std::string& name, std::chrono::seconds from_now) const {
    fs::last_write_time(dir / name, fs::file_time_type::clock::now() + from_now);
  }
};

}  // namespace

TEST_CASE("a built guest is up to date until the builder, the agent or the readers to register change") {
  FakeGuest guest;
  CHECK_FALSE(guest_out_of_date(guest.dir).has_value());

  SUBCASE("the agent is newer than the initramfs") {
    guest.set_time("agent", std::chrono::hours(2));
    const auto reason = guest_out_of_date(guest.dir);
    REQUIRE(reason.has_value());
    CHECK(reason->find(guest.agent.string() + " changed since it was built") != std::string::npos);
  }
  SUBCASE("build-guest.sh is newer than the initramfs (an initramfs from 1970)") {
    fs::last_write_time(guest.dir / "initrd.img", fs::file_time_type::clock::now() - std::chrono::hours(24 * 365 * 30));
    const auto reason = guest_out_of_date(guest.dir);
    REQUIRE(reason.has_value());
    CHECK(reason->find("build-guest.sh changed since it was built") != std::string::npos);
  }
  SUBCASE("a reader profile to register is not in the guest") {
    auto registered = readers_to_register();
    REQUIRE(registered.size() > 1);
    registered.pop_back();
    GuestBuildOptions options;
    options.agent = guest.agent;
    REQUIRE(write_build_options(guest.dir, options, registered));
    CHECK(guest_out_of_date(guest.dir) ==
          std::optional<std::string>("the reader profiles to register in its driver changed"));
  }
  SUBCASE("no initramfs") {
    fs::remove(guest.dir / "initrd.img");
    CHECK(guest_out_of_date(guest.dir) == std::optional<std::string>("it has no vmlinuz or initrd.img"));
  }
  SUBCASE("a guest of an older readerlab: no build-options") {
    fs::remove(guest.dir / "build-options");
    const auto reason = guest_out_of_date(guest.dir);
    REQUIRE(reason.has_value());
    CHECK(*reason == "it has no build-options: an older readerlab built it");
  }
  SUBCASE("a build-options line readerlab does not know") {
    std::ofstream(guest.dir / "build-options", std::ios::app) << "colour blue\n";
    const auto reason = guest_out_of_date(guest.dir);
    REQUIRE(reason.has_value());
    CHECK(reason->find("build-options:") != std::string::npos);
    CHECK(reason->find("unknown key 'colour'") != std::string::npos);
  }
}

TEST_CASE("build-options keeps what guest build was given, paths made absolute") {
  FakeGuest guest;
  std::ifstream in(guest.dir / "build-options");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("\nagent " + guest.agent.string() + "\n") != std::string::npos);
  CHECK(text.find("\nwith pcsc-tools\n") != std::string::npos);
  CHECK(text.find("\nregister-reader 0x1209:0x0001:") != std::string::npos);
}
