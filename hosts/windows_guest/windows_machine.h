// The QEMU machine a Windows guest runs on (q35, xHCI with the virtual readers on usb-redir,
// the agent on COM1) and its disposable disk: the user's image is never written.
#pragma once

#include "base/error.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace readerlab::windows_guest {

// A disk image as qemu-img sees it.
struct DiskImage {
  std::filesystem::path path;  // absolute
  std::string format;          // qcow2, raw, vmdk, vhdx, ...
  std::uint64_t virtual_size = 0;
  std::vector<std::string> snapshots;  // internal snapshots (qcow2), by name
};

// Asks qemu-img what the file is. The error names the file: missing, not a disk image, or one
// that is itself backed by a file that is gone.
Expected<DiskImage> inspect_image(const std::filesystem::path& image);

// The run's own disk in `folder`. Without a snapshot: a qcow2 overlay backed by the image, which
// QEMU then opens read-only (instant, whatever the image's size). With one: a copy of the image
// (a reflink where the file system has them), since QEMU's -loadvm reads the VM state from the
// disk it runs on, never from a backing file. The error names the snapshot when the image has
// no such one.
Expected<std::filesystem::path> make_run_disk(const DiskImage& image, const std::string& snapshot,
                                              const std::filesystem::path& folder);

enum class Firmware { uefi, bios };

// Where the agent talks: COM1 (a stock Windows has its driver), or the virtio-serial port named
// readerlab.agent (the image needs the virtio-serial driver, vioser).
enum class AgentPort { com1, virtio };

struct WindowsMachine {
  std::filesystem::path disk;         // make_run_disk's
  std::string disk_format = "qcow2";  // the run disk's: qcow2 for an overlay, the image's own for a copy
  std::string snapshot;               // started with -loadvm; empty: a cold boot
  Firmware firmware = Firmware::uefi;
  std::vector<std::filesystem::path> usbredir_sockets;  // readerlab listens; QEMU connects
  AgentPort agent_port = AgentPort::com1;
  std::filesystem::path agent_socket;    // the agent port's far end; readerlab listens
  std::filesystem::path monitor_socket;  // QEMU's human monitor; QEMU listens
  int memory_mb = 4096;
  int cpus = 2;
  bool kvm = false;
};

// OVMF's code and its empty variable store, as Debian's ovmf package installs them. The store is
// attached read-only: OVMF boots from it (Windows through the removable-media path
// \EFI\BOOT\BOOTX64.EFI that it installs), and a read-only device takes no part in QEMU's
// snapshots, so that a snapshot of the image alone is one -loadvm can start from.
inline constexpr const char* kOvmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd";
inline constexpr const char* kOvmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd";

// The error says which firmware file is missing and which package has it.
Status check_firmware(Firmware firmware);

// argv for qemu-system-x86_64 (argv[0] included).
std::vector<std::string> windows_command_line(const WindowsMachine& machine);

// Runs argv (qemu-img) to its end within the timeout; its standard output and error are
// returned together. The error names the program and says how it ended.
Expected<std::string> run_tool(const std::vector<std::string>& argv, const std::filesystem::path& log,
                               std::chrono::milliseconds timeout);

}  // namespace readerlab::windows_guest
