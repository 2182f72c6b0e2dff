#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "hosts/linux_guest/qemu_launcher.h"
#include "tests/support/command_line.h"

using readerlab::qemu::GuestOptions;
using readerlab::qemu::qemu_command_line;
using readerlab::test::values_of;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

GuestOptions sample() {
  GuestOptions o;
  o.kernel = "/g/vmlinuz";
  o.initrd = "/g/initrd.img";
  o.console_log = "/w/console.log";
  o.pcscd_log = "/w/pcscd.log";
  o.agent_socket = "/w/agent.sock";
  o.usbredir_sockets = {"/w/reader0.sock", "/w/reader1.sock"};
  o.probe_kvm = false;
  return o;
}

}  // namespace

TEST_CASE("qemu command line boots the guest kernel under TCG with the spec's CPU model") {
  auto argv = qemu_command_line(sample());
  REQUIRE_FALSE(argv.empty());
  CHECK(argv[0] == "qemu-system-x86_64");
  CHECK(values_of(argv, "-accel") == std::vector<std::string>{"tcg"});
  CHECK(values_of(argv, "-cpu") == std::vector<std::string>{"qemu64,+rdrand"});
  CHECK(values_of(argv, "-smp") == std::vector<std::string>{"1"});
  CHECK(values_of(argv, "-m") == std::vector<std::string>{"512"});
  CHECK(values_of(argv, "-kernel") == std::vector<std::string>{"/g/vmlinuz"});
  CHECK(values_of(argv, "-initrd") == std::vector<std::string>{"/g/initrd.img"});
  CHECK(values_of(argv, "-append").at(0).find("console=ttyS0") != std::string::npos);
  CHECK(values_of(argv, "-serial") == std::vector<std::string>{"file:/w/console.log"});
  for (const char* flag : {"-nographic", "-no-reboot"}) CHECK(contains(argv, flag));
  CHECK(values_of(argv, "-nic") == std::vector<std::string>{"none"});
}

TEST_CASE("qemu command line attaches one usb-redir device per socket, QEMU as the client") {
  auto argv = qemu_command_line(sample());
  auto chardevs = values_of(argv, "-chardev");
  auto devices = values_of(argv, "-device");
  CHECK(contains(devices, "qemu-xhci,id=xhci"));
  CHECK(contains(chardevs, "socket,id=usbredir0,path=/w/reader0.sock,reconnect=1"));
  CHECK(contains(chardevs, "socket,id=usbredir1,path=/w/reader1.sock,reconnect=1"));
  CHECK(contains(devices, "usb-redir,id=usbredir0dev,chardev=usbredir0,bus=xhci.0"));
  CHECK(contains(devices, "usb-redir,id=usbredir1dev,chardev=usbredir1,bus=xhci.0"));
  for (const auto& c : chardevs) CHECK(c.find("server") == std::string::npos);
}

TEST_CASE("qemu command line names the agent and log virtio-serial ports") {
  auto argv = qemu_command_line(sample());
  auto chardevs = values_of(argv, "-chardev");
  auto devices = values_of(argv, "-device");
  CHECK(contains(devices, "virtio-serial-pci,id=vser"));
  CHECK(contains(chardevs, "socket,id=agent,path=/w/agent.sock"));
  CHECK(contains(devices, "virtserialport,bus=vser.0,chardev=agent,name=readerlab.agent"));
  CHECK(contains(chardevs, "file,id=pcscdlog,path=/w/pcscd.log"));
  CHECK(contains(devices, "virtserialport,bus=vser.0,chardev=pcscdlog,name=readerlab.log"));
}

TEST_CASE("qemu command line honours memory, kernel options and extra arguments") {
  auto o = sample();
  o.memory_mb = 256;
  o.kernel_cmdline = "console=ttyS0 readerlab.apdu=1";
  o.extra_args = {"-device", "usb-ccid"};
  o.usbredir_sockets.clear();
  auto argv = qemu_command_line(o);
  CHECK(values_of(argv, "-m") == std::vector<std::string>{"256"});
  CHECK(values_of(argv, "-append") == std::vector<std::string>{"console=ttyS0 readerlab.apdu=1"});
  REQUIRE(argv.size() >= 2);
  CHECK(argv[argv.size() - 2] == "-device");
  CHECK(argv.back() == "usb-ccid");
  for (const auto& d : values_of(argv, "-device")) CHECK(d.find("usb-redir") == std::string::npos);
}

TEST_CASE("qemu command line stays on TCG when KVM is not wanted") {
  auto o = sample();
  o.try_kvm = false;
  o.probe_kvm = true;
  CHECK(values_of(qemu_command_line(o), "-accel") == std::vector<std::string>{"tcg"});
}

TEST_CASE("qemu process that cannot start says which program and why, in the one error shape") {
  readerlab::qemu::QemuProcess process;
  const auto started = process.start({"readerlab-no-such-qemu", "-version"}, {});
  REQUIRE_FALSE(started);
  CHECK(started.error().where == "readerlab-no-such-qemu");
  CHECK(started.error().message().find("cannot start") != std::string::npos);
  CHECK_FALSE(process.running());

  const auto empty = process.start({}, {});
  REQUIRE_FALSE(empty);
  CHECK(empty.error().message() == "qemu: empty command line");
}

TEST_CASE("qemu process runs a program and reports its exit status") {
  readerlab::qemu::QemuProcess process;
  REQUIRE(process.start({"/bin/sh", "-c", "exit 3"}, {}));
  CHECK(process.wait(std::chrono::milliseconds(5000)) == 3);
}
