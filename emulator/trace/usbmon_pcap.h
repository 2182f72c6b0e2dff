// A reader's USB traffic as a pcap file Wireshark and tshark open: one record per half of every
// transfer (submission 'S', completion 'C'), in the Linux usbmon binary format with its 64-byte
// header (link type LINKTYPE_USB_LINUX_MMAPPED, 220). Wireshark's usb dissector then hands bulk
// transfers of a CCID interface to its usbccid dissector, which decodes the CCID messages and the
// ISO 7816 APDUs inside.
//
// The writer is a usb::TransferTap: usb::Device reports every transfer to it whatever the
// transport (usbredir to QEMU or to the host RDF model, in-process), so one file holds everything
// one reader saw. Records stream to the file as they happen (memory stays bounded by one record),
// and each completion reaches the kernel at once, so a trace survives a crash of what drove it.
// Trace trouble never stops the reader: the first failure to open or write gives one warning, and
// the writer stops writing.
#pragma once

#include "emulator/usb/transfer_tap.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace readerlab::trace {

// The pcap global header (magic, version 2.4, snapshot length, link type 220), little-endian.
std::vector<std::uint8_t> pcap_file_header();

// Where a record says the device sits: the usbmon bus and device numbers (1-127, USB 2.0 9.4.6).
struct UsbAddress {
  std::uint16_t bus = 1;
  std::uint8_t device = 1;
};

// Data bytes a record carries at most (len_cap); the rest is counted in length but left out.
// Above the largest CCID message (extended APDU level: 65544 bytes of APDU and a 10-byte header).
inline constexpr std::uint32_t kSnapshotLength = 262144;

// One pcap record (16-byte record header, 64-byte usbmon header, data) for an event at the
// given wall-clock time.
std::vector<std::uint8_t> usbmon_record(const usb::TransferEvent& event, UsbAddress address,
                                        std::chrono::system_clock::time_point when);

class UsbmonPcapWriter : public usb::TransferTap {
 public:
  using Warn = std::function<void(const std::string&)>;

  // Creates (or truncates) the file; a failure is warned about and the writer writes nothing.
  // Never blocks: a FIFO with no reader is refused rather than waited on.
  UsbmonPcapWriter(const std::filesystem::path& file, UsbAddress address, Warn warn);
  ~UsbmonPcapWriter() override;
  UsbmonPcapWriter(const UsbmonPcapWriter&) = delete;
  UsbmonPcapWriter& operator=(const UsbmonPcapWriter&) = delete;

  void on_transfer(const usb::TransferEvent& event) noexcept override;

  // Whether everything so far reached the file.
  bool healthy() const { return fd_ >= 0; }
  std::uint64_t records_written() const { return records_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  bool write_all(const std::vector<std::uint8_t>& bytes);
  void fail(const std::string& what);

  std::filesystem::path file_;
  UsbAddress address_;
  Warn warn_;
  int fd_ = -1;
  std::uint64_t records_ = 0;
};

}  // namespace readerlab::trace
