#include "emulator/trace/usbmon_pcap.h"

#include "base/bytes.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace readerlab::trace {
namespace {

// pcap file format (IETF draft-ietf-opsawg-pcap): microsecond timestamps, version 2.4.
constexpr std::uint32_t kPcapMagic = 0xA1B2C3D4;
constexpr std::uint16_t kPcapVersionMajor = 2;
constexpr std::uint16_t kPcapVersionMinor = 4;
// tcpdump.org link-layer types: USB packets with the Linux usbmon binary header, 64 bytes.
constexpr std::uint32_t kLinktypeUsbLinuxMmapped = 220;
constexpr std::size_t kUsbmonHeaderLength = 64;

// usbmon's xfer_type (Linux Documentation/usb/usbmon.rst): ISO 0, interrupt 1, control 2, bulk 3,
// not the USB descriptor coding.
std::uint8_t usbmon_transfer_type(usb::TransferType type) {
  switch (type) {
    case usb::TransferType::isochronous: return 0;
    case usb::TransferType::interrupt: return 1;
    case usb::TransferType::control: return 2;
    case usb::TransferType::bulk: return 3;
  }
  return 3;
}

// usbmon reports urb->status, a negative Linux errno: -EINPROGRESS (115) on every submission;
// on completion 0, -EPIPE (32) for a STALL, -EPROTO (71) for a bus error, -ENOENT (2) for a
// request killed, -EINVAL (22) for one the host controller refused, -EOVERFLOW (75) for babble.
std::int32_t usbmon_status(const usb::TransferEvent& event) {
  if (event.phase == usb::TransferEvent::Phase::submitted) return -115;
  switch (event.status) {
    case usb::TransferStatus::ok: return 0;
    case usb::TransferStatus::stall: return -32;
    case usb::TransferStatus::babble: return -75;
    case usb::TransferStatus::io_error: return -71;
    case usb::TransferStatus::cancelled: return -2;
    case usb::TransferStatus::invalid: return -22;
  }
  return -71;
}

// Linux include/linux/usb.h transfer_flags: URB_DIR_IN.
constexpr std::uint32_t kUrbDirIn = 0x0200;

}  // namespace

std::vector<std::uint8_t> pcap_file_header() {
  std::vector<std::uint8_t> out;
  append_le(out, kPcapMagic, 4);
  append_le(out, kPcapVersionMajor, 2);
  append_le(out, kPcapVersionMinor, 2);
  append_le(out, 0, 4);  // thiszone
  append_le(out, 0, 4);  // sigfigs
  append_le(out, static_cast<std::uint32_t>(kUsbmonHeaderLength) + kSnapshotLength, 4);
  append_le(out, kLinktypeUsbLinuxMmapped, 4);
  return out;
}

std::vector<std::uint8_t> usbmon_record(const usb::TransferEvent& event, UsbAddress address,
                                        std::chrono::system_clock::time_point when) {
  const bool submitted = event.phase == usb::TransferEvent::Phase::submitted;
  const auto captured = static_cast<std::uint32_t>(std::min<std::size_t>(event.data.size(), kSnapshotLength));
  const auto since_epoch = std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
  const auto seconds = since_epoch / 1000000;
  const auto microseconds = static_cast<std::uint32_t>(since_epoch % 1000000);

  std::vector<std::uint8_t> out;
  out.reserve(16 + kUsbmonHeaderLength + captured);
  // pcap record header: time, bytes included, bytes the packet had.
  append_le(out, static_cast<std::uint32_t>(seconds), 4);
  append_le(out, microseconds, 4);
  append_le(out, static_cast<std::uint32_t>(kUsbmonHeaderLength) + captured, 4);
  append_le(out, kUsbmonHeaderLength + std::min<std::size_t>(event.data.size(), UINT32_MAX - 64), 4);

  // The usbmon binary header (Linux Documentation/usb/usbmon.rst, struct usbmon_packet).
  append_le(out, event.id, 8);                      // 0: id, the same in 'S' and 'C'
  out.push_back(submitted ? 'S' : 'C');             // 8: type
  out.push_back(usbmon_transfer_type(event.type));  // 9: xfer_type
  out.push_back(event.endpoint);                    // 10: epnum, bit 7 = IN
  out.push_back(address.device);                    // 11: devnum
  append_le(out, address.bus, 2);                   // 12: busnum
  out.push_back(event.setup ? 0 : '-');             // 14: flag_setup: 0 when setup[] holds one
  const bool in = event.direction_in();
  std::uint8_t data_flag = 0;              // 15: flag_data: 0 when data follows,
  if (submitted && in) data_flag = '<';    //     '<' an IN request has none yet,
  if (!submitted && !in) data_flag = '>';  //     '>' an OUT completion carries none
  out.push_back(data_flag);
  append_le(out, static_cast<std::uint64_t>(seconds), 8);               // 16: ts_sec
  append_le(out, microseconds, 4);                                      // 24: ts_usec
  append_le(out, static_cast<std::uint32_t>(usbmon_status(event)), 4);  // 28: status
  append_le(out, event.length, 4);                                      // 32: length
  append_le(out, captured, 4);                                          // 36: len_cap
  if (event.setup) {                                                    // 40: setup (USB 2.0 9.3, little-endian)
    out.push_back(event.setup->request_type);
    out.push_back(event.setup->request);
    append_le(out, event.setup->value, 2);
    append_le(out, event.setup->index, 2);
    append_le(out, event.setup->length, 2);
  } else {
    append_le(out, 0, 8);
  }
  append_le(out, event.type == usb::TransferType::interrupt ? event.interval : 0, 4);  // 48: interval
  append_le(out, 0, 4);                                                                // 52: start_frame
  append_le(out, in ? kUrbDirIn : 0, 4);                                               // 56: xfer_flags
  append_le(out, 0, 4);                                                                // 60: ndesc
  out.insert(out.end(), event.data.begin(), event.data.begin() + captured);
  return out;
}

UsbmonPcapWriter::UsbmonPcapWriter(const std::filesystem::path& file, UsbAddress address, Warn warn)
    : file_(file), address_(address), warn_(std::move(warn)) {
  // O_NONBLOCK: opening a FIFO nobody reads fails at once instead of waiting for a reader.
  fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
  if (fd_ < 0) {
    fail(std::string("cannot create it: ") + std::strerror(errno));
    return;
  }
  write_all(pcap_file_header());
}

UsbmonPcapWriter::~UsbmonPcapWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void UsbmonPcapWriter::fail(const std::string& what) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  try {
    if (warn_) warn_("trace " + file_.string() + ": " + what + "; this trace stops here, the run goes on");
  } catch (...) {
    // A warning that cannot be given must not take the reader down with it.
  }
}

bool UsbmonPcapWriter::write_all(const std::vector<std::uint8_t>& bytes) {
  std::size_t done = 0;
  while (fd_ >= 0 && done < bytes.size()) {
    const auto written = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      fail(std::string("cannot write: ") + (written < 0 ? std::strerror(errno) : "nothing written"));
      return false;
    }
    done += static_cast<std::size_t>(written);
  }
  return fd_ >= 0;
}

void UsbmonPcapWriter::on_transfer(const usb::TransferEvent& event) noexcept {
  if (fd_ < 0) return;
  try {
    if (write_all(usbmon_record(event, address_, std::chrono::system_clock::now()))) ++records_;
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

}  // namespace readerlab::trace
