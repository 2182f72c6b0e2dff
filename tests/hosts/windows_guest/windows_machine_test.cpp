#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "hosts/windows_guest/windows_machine.h"
#include "tests/support/command_line.h"

using readerlab::test::values_of;
using readerlab::windows_guest::DiskImage;
using readerlab::windows_guest::Firmware;
using readerlab::windows_guest::inspect_image;
using readerlab::windows_guest::make_run_disk;
using readerlab::windows_guest::run_tool;
using readerlab::windows_guest::windows_command_line;
using readerlab::windows_guest::WindowsMachine;

namespace {

WindowsMachine sample() {
  WindowsMachine m;
  m.disk = "/run/windows-disk.qcow2";
  m.usbredir_sockets = {"/s/reader1.sock", "/s/reader2.sock"};
  m.agent_socket = "/s/agent.sock";
  m.monitor_socket = "/s/monitor.sock";
  return m;
}

// A scratch folder of its own under /tmp, removed with it.
struct Scratch {
  std::filesystem::path path;
  Scratch() {
    char pattern[] = "/tmp/readerlab-windows-test-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::string md5_of(const std::filesystem::path& file) {
  auto sum = run_tool({"md5sum", file.string()}, file.parent_path() / "md5.log", std::chrono::seconds(30));
  REQUIRE(sum);
  return sum->substr(0, 32);
}

}  // namespace

TEST_CASE("the Windows machine: q35 under TCG, the readers on xHCI through usb-redir, the agent on COM1") {
  const auto argv = windows_command_line(sample());
  REQUIRE_FALSE(argv.empty());
  CHECK(argv[0] == "qemu-system-x86_64");
  CHECK(values_of(argv, "-machine") == std::vector<std::string>{"q35"});
  CHECK(values_of(argv, "-accel") == std::vector<std::string>{"tcg"});
  CHECK(values_of(argv, "-cpu") == std::vector<std::string>{"max"});
  CHECK(values_of(argv, "-m") == std::vector<std::string>{"4096"});
  CHECK(values_of(argv, "-nic") == std::vector<std::string>{"none"});
  const auto devices = values_of(argv, "-device");
  CHECK(std::count(devices.begin(), devices.end(), "qemu-xhci,id=xhci") == 1);
  CHECK(std::count(devices.begin(), devices.end(), "usb-redir,id=usbredir0dev,chardev=usbredir0,bus=xhci.0") == 1);
  CHECK(std::count(devices.begin(), devices.end(), "usb-redir,id=usbredir1dev,chardev=usbredir1,bus=xhci.0") == 1);
  CHECK(std::count(devices.begin(), devices.end(), "ide-hd,drive=system,bus=ide.0") == 1);
  const auto chardevs = values_of(argv, "-chardev");
  CHECK(std::count(chardevs.begin(), chardevs.end(), "socket,id=usbredir1,path=/s/reader2.sock,reconnect=1") == 1);
  CHECK(std::count(chardevs.begin(), chardevs.end(), "socket,id=agent,path=/s/agent.sock") == 1);
  CHECK(values_of(argv, "-serial") == std::vector<std::string>{"chardev:agent"});
  CHECK(values_of(argv, "-monitor") == std::vector<std::string>{"unix:/s/monitor.sock,server=on,wait=off"});
  CHECK(values_of(argv, "-loadvm").empty());
}

TEST_CASE("the Windows machine: the agent on the virtio-serial port readerlab.agent instead of COM1") {
  auto machine = sample();
  machine.agent_port = readerlab::windows_guest::AgentPort::virtio;
  const auto argv = windows_command_line(machine);
  CHECK(values_of(argv, "-serial").empty());
  const auto devices = values_of(argv, "-device");
  CHECK(std::count(devices.begin(), devices.end(), "virtio-serial-pci,id=vser") == 1);
  CHECK(std::count(devices.begin(), devices.end(), "virtserialport,bus=vser.0,chardev=agent,name=readerlab.agent") ==
        1);
}

TEST_CASE("the Windows machine: UEFI from OVMF with both flash images read-only, or a legacy BIOS") {
  auto machine = sample();
  auto drives = values_of(windows_command_line(machine), "-drive");
  REQUIRE(drives.size() == 3);
  CHECK(drives[0].find("if=pflash") != std::string::npos);
  CHECK(drives[0].find("readonly=on") != std::string::npos);
  CHECK(drives[1].find("unit=1,readonly=on,file=/usr/share/OVMF/OVMF_VARS_4M.fd") != std::string::npos);
  CHECK(drives[2] == "if=none,id=system,format=qcow2,file=/run/windows-disk.qcow2");
  machine.firmware = Firmware::bios;
  drives = values_of(windows_command_line(machine), "-drive");
  REQUIRE(drives.size() == 1);
  CHECK(drives[0].find("id=system") != std::string::npos);
}

TEST_CASE("the Windows machine: a snapshot is loaded with -loadvm; a comma in a path is doubled for QEMU") {
  auto machine = sample();
  machine.snapshot = "readerlab";
  machine.disk = "/run/a,b/disk.qcow2";
  const auto argv = windows_command_line(machine);
  CHECK(values_of(argv, "-loadvm") == std::vector<std::string>{"readerlab"});
  CHECK(values_of(argv, "-drive").back() == "if=none,id=system,format=qcow2,file=/run/a,,b/disk.qcow2");
}

TEST_CASE("an image qemu-img cannot use is refused with its name; a missing one too") {
  Scratch scratch;
  const auto missing = inspect_image(scratch.path / "no-such.qcow2");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().where == (scratch.path / "no-such.qcow2").string());
  CHECK(missing.error().what.find("no such disk image") != std::string::npos);
  // A qcow2 whose backing file is gone: qemu-img refuses to open it.
  const auto base = scratch.path / "base.qcow2";
  REQUIRE(run_tool({"qemu-img", "create", "-q", "-f", "qcow2", base.string(), "16M"}, scratch.path / "log",
                   std::chrono::seconds(30)));
  const auto orphan = scratch.path / "orphan.qcow2";
  REQUIRE(run_tool({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base.string(), orphan.string()},
                   scratch.path / "log", std::chrono::seconds(30)));
  std::filesystem::remove(base);
  const auto broken = inspect_image(orphan);
  REQUIRE_FALSE(broken);
  CHECK(broken.error().what.find("qemu-img cannot read it") != std::string::npos);
}

TEST_CASE("the run's disk is an overlay backed by the image, which stays as it was") {
  Scratch scratch;
  const auto image_file = scratch.path / "windows.qcow2";
  REQUIRE(run_tool({"qemu-img", "create", "-q", "-f", "qcow2", image_file.string(), "32M"}, scratch.path / "log",
                   std::chrono::seconds(30)));
  REQUIRE(run_tool({"qemu-img", "snapshot", "-c", "ready", image_file.string()}, scratch.path / "log",
                   std::chrono::seconds(30)));
  const auto image = inspect_image(image_file);
  REQUIRE(image);
  CHECK(image->format == "qcow2");
  CHECK(image->virtual_size == 32u * 1024 * 1024);
  CHECK(image->snapshots == std::vector<std::string>{"ready"});
  const auto before = md5_of(image_file);

  const auto overlay = make_run_disk(*image, "", scratch.path / "run");
  REQUIRE(overlay);
  const auto info = inspect_image(*overlay);
  REQUIRE(info);
  CHECK(info->format == "qcow2");
  auto backing =
      run_tool({"qemu-img", "info", "-U", overlay->string()}, scratch.path / "log", std::chrono::seconds(30));
  REQUIRE(backing);
  CHECK(backing->find("backing file: " + image_file.string()) != std::string::npos);
  // Something written through the overlay lands in the overlay.
  REQUIRE(run_tool({"qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", overlay->string()}, scratch.path / "log",
                   std::chrono::seconds(30)));
  CHECK(md5_of(image_file) == before);

  SUBCASE("from a snapshot: a copy of the image holding it") {
    const auto copy = make_run_disk(*image, "ready", scratch.path / "run2");
    REQUIRE(copy);
    const auto copied = inspect_image(*copy);
    REQUIRE(copied);
    CHECK(copied->snapshots == std::vector<std::string>{"ready"});
    CHECK(*copy != image_file);
  }
  SUBCASE("a snapshot the image does not have is named, with those it has") {
    const auto none = make_run_disk(*image, "booted", scratch.path / "run3");
    REQUIRE_FALSE(none);
    CHECK(none.error().where == "--snapshot");
    CHECK(none.error().what.find("no snapshot 'booted'") != std::string::npos);
    CHECK(none.error().what.find("it has: ready") != std::string::npos);
  }
}
