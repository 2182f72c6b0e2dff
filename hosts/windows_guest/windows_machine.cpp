#include "hosts/windows_guest/windows_machine.h"

#include "hosts/linux_guest/qemu_launcher.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace readerlab::windows_guest {

namespace {

// QEMU's option syntax splits values at commas; a comma in a path is written twice.
std::string option_value(const std::filesystem::path& path) {
  std::string text;
  for (char c : path.string()) {
    text += c;
    if (c == ',') text += ',';
  }
  return text;
}

std::string read_whole(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string first_line(const std::string& text) {
  const auto start = text.find_first_not_of(" \n");
  if (start == std::string::npos) return {};
  return text.substr(start, text.find('\n', start) - start);
}

}  // namespace

Expected<std::string> run_tool(const std::vector<std::string>& argv, const std::filesystem::path& log,
                               std::chrono::milliseconds timeout) {
  std::error_code ignored;
  std::filesystem::remove(log, ignored);
  qemu::QemuProcess tool;
  if (auto started = tool.start(argv, log); !started) return started.error();
  const auto status = tool.wait(timeout);
  if (!status) {
    tool.terminate();
    return error(argv.front(), "did not finish within " + std::to_string(timeout.count() / 1000) + " s");
  }
  std::string output = read_whole(log);
  if (*status != 0)
    return error(argv.front(), "failed (exit status " + std::to_string(*status) + "): " + first_line(output));
  return output;
}

Expected<DiskImage> inspect_image(const std::filesystem::path& image) {
  std::error_code failure;
  if (!std::filesystem::is_regular_file(image, failure))
    return error(image.string(), "no such disk image (a file readable by QEMU: qcow2, raw, vhdx, vmdk ...)");
  DiskImage disk;
  disk.path = std::filesystem::absolute(image, failure);
  const auto log = std::filesystem::temp_directory_path() / ("readerlab-qemu-img-" + std::to_string(::getpid()));
  // -U: other runs may have the image open at the same time (read-only, as a backing file).
  // --backing-chain: an image whose backing file is gone is refused here, not by QEMU later.
  auto info = run_tool({"qemu-img", "info", "-U", "--backing-chain", "--output=json", disk.path.string()}, log,
                       std::chrono::seconds(60));
  std::filesystem::remove(log, failure);
  if (!info) return error(image.string(), "qemu-img cannot read it as a disk image: " + info.error().what);
  const auto chain = nlohmann::json::parse(*info, nullptr, false);
  const auto json = chain.is_array() && !chain.empty() ? chain[0] : chain;
  if (!json.is_object() || !json.contains("format") || !json["format"].is_string())
    return error(image.string(), "qemu-img info gave no format for it");
  disk.format = json["format"].get<std::string>();
  if (json.contains("virtual-size") && json["virtual-size"].is_number_unsigned())
    disk.virtual_size = json["virtual-size"].get<std::uint64_t>();
  if (json.contains("snapshots") && json["snapshots"].is_array())
    for (const auto& snapshot : json["snapshots"])
      if (snapshot.is_object() && snapshot.contains("name") && snapshot["name"].is_string())
        disk.snapshots.push_back(snapshot["name"].get<std::string>());
  return disk;
}

Expected<std::filesystem::path> make_run_disk(const DiskImage& image, const std::string& snapshot,
                                              const std::filesystem::path& folder) {
  std::error_code failure;
  std::filesystem::create_directories(folder, failure);
  if (failure) return error(folder.string(), "cannot create the run's folder: " + failure.message());
  const auto log = folder / "qemu-img.log";
  if (snapshot.empty()) {
    const auto overlay = folder / "windows-disk.qcow2";
    std::filesystem::remove(overlay, failure);
    auto made = run_tool(
        {"qemu-img", "create", "-q", "-f", "qcow2", "-F", image.format, "-b", image.path.string(), overlay.string()},
        log, std::chrono::seconds(60));
    if (!made) return error(overlay.string(), "cannot create the overlay: " + made.error().what);
    return overlay;
  }
  if (std::find(image.snapshots.begin(), image.snapshots.end(), snapshot) == image.snapshots.end()) {
    std::string names;
    for (const auto& name : image.snapshots) names += (names.empty() ? "" : ", ") + name;
    return error("--snapshot", "the image " + image.path.string() + " has no snapshot '" + snapshot + "' (" +
                                   (names.empty() ? std::string("it has none") : "it has: " + names) + ")");
  }
  const auto copy = folder / ("windows-disk." + image.format);
  std::filesystem::remove(copy, failure);
  auto copied = run_tool({"cp", "--reflink=auto", "--sparse=always", image.path.string(), copy.string()}, log,
                         std::chrono::minutes(30));
  if (!copied) return error(copy.string(), "cannot copy the image to start from its snapshot: " + copied.error().what);
  return copy;
}

Status check_firmware(Firmware firmware) {
  if (firmware == Firmware::bios) return {};
  std::error_code failure;
  for (const char* file : {kOvmfCode, kOvmfVars})
    if (!std::filesystem::is_regular_file(file, failure))
      return error(file, "UEFI firmware missing (Debian package ovmf; tools/install-deps.sh windows)");
  return {};
}

std::vector<std::string> windows_command_line(const WindowsMachine& m) {
  std::vector<std::string> a = {
      "qemu-system-x86_64",
      "-machine",
      "q35",
      "-accel",
      m.kvm ? "kvm" : "tcg",
      // Windows 11 wants SSE4.2 and POPCNT, which qemu64 lacks; TCG's "max" has them.
      "-cpu",
      m.kvm ? "host" : "max",
      "-smp",
      std::to_string(m.cpus),
      "-m",
      std::to_string(m.memory_mb),
      "-rtc",
      "base=localtime",
      "-display",
      "none",
      "-vga",
      "std",
      "-nic",
      "none",
      "-monitor",
      m.monitor_socket.empty() ? std::string("none") : "unix:" + option_value(m.monitor_socket) + ",server=on,wait=off",
  };
  if (m.firmware == Firmware::uefi) {
    a.insert(a.end(), {"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + option_value(kOvmfCode), "-drive",
                       "if=pflash,format=raw,unit=1,readonly=on,file=" + option_value(kOvmfVars)});
  }
  // q35's own AHCI controller (ide.0): Windows has its driver inbox, virtio-blk it has not.
  a.insert(a.end(), {"-drive", "if=none,id=system,format=" + m.disk_format + ",file=" + option_value(m.disk), "-device",
                     "ide-hd,drive=system,bus=ide.0", "-device", "qemu-xhci,id=xhci"});
  for (std::size_t i = 0; i < m.usbredir_sockets.size(); ++i) {
    const std::string id = "usbredir" + std::to_string(i);
    a.insert(a.end(), {"-chardev", "socket,id=" + id + ",path=" + option_value(m.usbredir_sockets[i]) + ",reconnect=1",
                       "-device", "usb-redir,id=" + id + "dev,chardev=" + id + ",bus=xhci.0"});
  }
  a.insert(a.end(), {"-chardev", "socket,id=agent,path=" + option_value(m.agent_socket)});
  if (m.agent_port == AgentPort::com1) {
    // COM1, isa-serial at 0x3F8: a stock Windows has its driver.
    a.insert(a.end(), {"-serial", "chardev:agent"});
  } else {
    a.insert(a.end(), {"-device", "virtio-serial-pci,id=vser", "-device",
                       "virtserialport,bus=vser.0,chardev=agent,name=readerlab.agent"});
  }
  if (!m.snapshot.empty()) a.insert(a.end(), {"-loadvm", m.snapshot});
  return a;
}

}  // namespace readerlab::windows_guest
