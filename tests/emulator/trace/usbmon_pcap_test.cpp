// The usbmon pcap writer: the record layout byte for byte, the file a real reader's transfers
// make (read back here the way Wireshark reads it), and trace trouble that must not stop a reader.
#include "emulator/trace/usbmon_pcap.h"

#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "emulator/usb/descriptors.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <sys/stat.h>
#include <unistd.h>

namespace readerlab::trace {
namespace {

using ccid::test::command;

std::string to_hex(ByteView bytes) { return readerlab::to_hex(bytes, "", HexCase::lower); }

std::chrono::system_clock::time_point at(std::int64_t seconds, std::int64_t microseconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds) + std::chrono::microseconds(microseconds));
}

std::uint32_t le32(const std::vector<std::uint8_t>& bytes, std::size_t offset) {
  return static_cast<std::uint32_t>(bytes.at(offset) | bytes.at(offset + 1) << 8 | bytes.at(offset + 2) << 16 |
                                    bytes.at(offset + 3) << 24);
}

// One record as read back: the usbmon header fields a test looks at, and the data.
struct Record {
  std::uint64_t id = 0;
  char type = 0;
  std::uint8_t transfer_type = 0, endpoint = 0, device = 0, flag_setup = 0, flag_data = 0;
  std::int32_t status = 0;
  std::uint32_t length = 0;
  std::vector<std::uint8_t> setup, data;
};

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<Record> read_records(const std::filesystem::path& file) {
  const auto bytes = read_bytes(file);
  REQUIRE(bytes.size() >= 24);
  CHECK(le32(bytes, 20) == 220);  // the file's link type
  std::vector<Record> records;
  std::size_t at_byte = 24;
  while (at_byte < bytes.size()) {
    const auto included = le32(bytes, at_byte + 8);
    const std::size_t header = at_byte + 16;
    REQUIRE(header + included <= bytes.size());
    Record r;
    for (int i = 7; i >= 0; --i) r.id = r.id << 8 | bytes[header + static_cast<std::size_t>(i)];
    r.type = static_cast<char>(bytes[header + 8]);
    r.transfer_type = bytes[header + 9];
    r.endpoint = bytes[header + 10];
    r.device = bytes[header + 11];
    r.flag_setup = bytes[header + 14];
    r.flag_data = bytes[header + 15];
    r.status = static_cast<std::int32_t>(le32(bytes, header + 28));
    r.length = le32(bytes, header + 32);
    const auto captured = le32(bytes, header + 36);
    CHECK(captured + 64 == included);
    r.setup.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header + 40),
                   bytes.begin() + static_cast<std::ptrdiff_t>(header + 48));
    r.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header + 64),
                  bytes.begin() + static_cast<std::ptrdiff_t>(header + 64 + captured));
    records.push_back(r);
    at_byte = header + included;
  }
  return records;
}

struct TempFolder {
  std::filesystem::path path;
  TempFolder() {
    char pattern[] = "/tmp/readerlab-trace-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::shared_ptr<ccid::Reader> reader_with_card() {
  auto reader = std::make_shared<ccid::Reader>();
  reader->insert(cards::make_builtin_card("t1-fs"));
  reader->set_configuration(1);
  return reader;
}

TEST_CASE("the pcap file header says version 2.4 and link type 220, USB with the usbmon 64-byte header") {
  CHECK(to_hex(pcap_file_header()) ==
        "d4c3b2a1"
        "0200"
        "0400"
        "00000000"
        "00000000"
        "40000400"
        "dc000000");
}

TEST_CASE("a bulk-OUT submission record, byte for byte") {
  const std::vector<std::uint8_t> data{0xAA, 0xBB, 0xCC};
  usb::TransferEvent event;
  event.id = 7;
  event.phase = usb::TransferEvent::Phase::submitted;
  event.type = usb::TransferType::bulk;
  event.endpoint = 0x01;
  event.length = 3;
  event.data = data;
  const auto record = usbmon_record(event, UsbAddress{2, 5}, at(1700000000, 123456));
  CHECK(to_hex(record) ==
        // pcap record header: ts_sec, ts_usec, 67 bytes included, 67 bytes long
        "00f15365"
        "40e20100"
        "43000000"
        "43000000"
        // id 7, 'S', bulk (3), endpoint 1 OUT, device 5, bus 2, no setup ('-'), data follows (0)
        "0700000000000000"
        "53"
        "03"
        "01"
        "05"
        "0200"
        "2d"
        "00"
        // ts_sec (64 bits), ts_usec, status -EINPROGRESS, length 3, len_cap 3
        "00f1536500000000"
        "40e20100"
        "8dffffff"
        "03000000"
        "03000000"
        // setup (none), interval, start_frame, xfer_flags, ndesc, then the data
        "0000000000000000"
        "00000000"
        "00000000"
        "00000000"
        "00000000"
        "aabbcc");
}

TEST_CASE("control and IN records: setup bytes, the data flags, a STALL status and the IN flag") {
  usb::TransferEvent request;
  request.id = 1;
  request.type = usb::TransferType::control;
  request.endpoint = 0x80;
  request.setup = usb::SetupPacket{0x80, 0x06, 0x0200, 0, 0x5D};
  request.length = 0x5D;
  const auto submitted = usbmon_record(request, {}, at(0, 0));
  CHECK(submitted.size() == 16 + 64);
  CHECK(submitted[16 + 14] == 0);    // flag_setup: a setup follows
  CHECK(submitted[16 + 15] == '<');  // an IN request carries no data yet
  CHECK(to_hex({submitted.begin() + 16 + 40, submitted.begin() + 16 + 48}) ==
        "800600020000"
        "5d00");
  CHECK(le32(submitted, 16 + 56) == 0x0200);  // URB_DIR_IN

  usb::TransferEvent stalled = request;
  stalled.phase = usb::TransferEvent::Phase::completed;
  stalled.setup.reset();
  stalled.status = usb::TransferStatus::stall;
  stalled.length = 0;
  const auto completed = usbmon_record(stalled, {}, at(0, 0));
  CHECK(completed[16 + 8] == 'C');
  CHECK(completed[16 + 14] == '-');
  CHECK(static_cast<std::int32_t>(le32(completed, 16 + 28)) == -32);  // -EPIPE

  usb::TransferEvent interrupt;
  interrupt.phase = usb::TransferEvent::Phase::completed;
  interrupt.type = usb::TransferType::interrupt;
  interrupt.endpoint = 0x83;
  interrupt.interval = 16;
  const std::vector<std::uint8_t> change{0x50, 0x03};
  interrupt.data = change;
  interrupt.length = 2;
  const auto notification = usbmon_record(interrupt, {}, at(0, 0));
  CHECK(notification[16 + 9] == 1);  // usbmon's interrupt type
  CHECK(le32(notification, 16 + 48) == 16);
  CHECK(to_hex({notification.begin() + 16 + 64, notification.end()}) == "5003");
}

TEST_CASE("a reader's trace starts with its descriptors, then pairs each submission with its completion") {
  TempFolder folder;
  const auto file = folder.path / "reader1.pcap";
  auto reader = reader_with_card();
  std::vector<std::string> warnings;
  auto writer = std::make_shared<UsbmonPcapWriter>(file, UsbAddress{1, 3},
                                                   [&](const std::string& what) { warnings.push_back(what); });
  reader->set_transfer_tap(writer);
  // A bulk-IN request waits (nothing to send yet): asked twice, it is one transfer.
  CHECK_FALSE(reader->transfer_in(ccid::kBulkIn, 512).has_value());
  CHECK_FALSE(reader->transfer_in(ccid::kBulkIn, 512).has_value());
  const auto power_on = command(ccid::Command::icc_power_on, 9);
  CHECK(reader->transfer_out(ccid::kBulkOut, power_on) == usb::TransferStatus::ok);
  const auto answer = reader->transfer_in(ccid::kBulkIn, 512);
  REQUIRE(answer.has_value());
  reader->set_transfer_tap(nullptr);
  CHECK(warnings.empty());
  CHECK(writer->healthy());

  const auto records = read_records(file);
  REQUIRE(records.size() == 8);
  // GET_DESCRIPTOR(device), then GET_DESCRIPTOR(configuration) for wTotalLength bytes.
  CHECK(records[0].type == 'S');
  CHECK(to_hex(records[0].setup) == "8006000100001200");
  CHECK(records[1].type == 'C');
  CHECK(records[1].id == records[0].id);
  CHECK(records[1].data == usb::device_descriptor(reader->description()));
  CHECK(records[3].data == usb::configuration_descriptor(reader->description()));
  // The interface class Wireshark needs: smart card (0x0B, CCID 4.0 Table 4.3-1).
  CHECK(records[3].data[9 + 5] == 0x0B);
  // The waiting bulk-IN request, then the PC_to_RDR_IccPowerOn and its completion.
  CHECK(records[4].type == 'S');
  CHECK(records[4].endpoint == ccid::kBulkIn);
  CHECK(records[4].length == 512);
  CHECK(records[4].flag_data == '<');
  CHECK(records[5].type == 'S');
  CHECK(records[5].endpoint == ccid::kBulkOut);
  CHECK(records[5].data == power_on);
  CHECK(records[6].type == 'C');
  CHECK(records[6].id == records[5].id);
  CHECK(records[6].status == 0);
  CHECK(records[6].flag_data == '>');
  // The answer completes the request submitted first: same id, the RDR_to_PC_DataBlock with the ATR.
  CHECK(records[7].type == 'C');
  CHECK(records[7].id == records[4].id);
  CHECK(records[7].transfer_type == 3);
  CHECK(records[7].device == 3);
  CHECK(records[7].data == answer->data);
  CHECK(records[7].data.at(0) == 0x80);
  CHECK(records[7].length == answer->data.size());
}

TEST_CASE("an IN request given up, or ended by a bus reset, is completed in the trace as killed (-ENOENT)") {
  TempFolder folder;
  const auto file = folder.path / "reader1.pcap";
  auto reader = reader_with_card();
  reader->set_transfer_tap(std::make_shared<UsbmonPcapWriter>(file, UsbAddress{}, nullptr));
  CHECK_FALSE(reader->transfer_in(ccid::kBulkIn, 64).has_value());
  reader->cancel_in(ccid::kBulkIn);
  CHECK_FALSE(reader->transfer_in(ccid::kBulkIn, 64).has_value());
  reader->bus_reset();
  reader->set_transfer_tap(nullptr);
  const auto records = read_records(file);
  REQUIRE(records.size() == 8);  // 4 of descriptors, then two requests, each submitted and killed
  CHECK(records[4].type == 'S');
  CHECK(records[5].type == 'C');
  CHECK(records[5].id == records[4].id);
  CHECK(records[5].status == -2);
  CHECK(records[6].type == 'S');
  CHECK(records[6].id != records[4].id);  // the request after a cancel is a transfer of its own
  CHECK(records[7].type == 'C');
  CHECK(records[7].id == records[6].id);
  CHECK(records[7].status == -2);
}

TEST_CASE("a full disk gives one warning, the reader goes on answering") {
  auto reader = reader_with_card();
  std::vector<std::string> warnings;
  // /dev/full takes the open and fails every write with ENOSPC.
  auto writer = std::make_shared<UsbmonPcapWriter>("/dev/full", UsbAddress{},
                                                   [&](const std::string& what) { warnings.push_back(what); });
  reader->set_transfer_tap(writer);
  for (std::uint8_t seq = 0; seq < 3; ++seq) {
    CHECK(reader->transfer_out(ccid::kBulkOut, command(ccid::Command::icc_power_on, seq)) == usb::TransferStatus::ok);
    const auto answer = reader->transfer_in(ccid::kBulkIn, 512);
    REQUIRE(answer.has_value());
    CHECK(answer->data.at(6) == seq);  // bSeq
  }
  CHECK_FALSE(writer->healthy());
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("/dev/full") != std::string::npos);
  CHECK(warnings[0].find("No space left") != std::string::npos);
}

TEST_CASE("a trace file that cannot be created, or a FIFO nobody reads, gives one warning and never blocks") {
  TempFolder folder;
  const auto fifo = folder.path / "fifo.pcap";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const auto& file : {folder.path / "no-such-folder" / "reader1.pcap", fifo}) {
    CAPTURE(file);
    auto reader = reader_with_card();
    std::vector<std::string> warnings;
    auto writer = std::make_shared<UsbmonPcapWriter>(file, UsbAddress{},
                                                     [&](const std::string& what) { warnings.push_back(what); });
    reader->set_transfer_tap(writer);
    CHECK(reader->transfer_out(ccid::kBulkOut, command(ccid::Command::icc_power_on, 1)) == usb::TransferStatus::ok);
    CHECK(reader->transfer_in(ccid::kBulkIn, 512).has_value());
    CHECK_FALSE(writer->healthy());
    CHECK(writer->records_written() == 0);
    CHECK(warnings.size() == 1);
  }
}

}  // namespace
}  // namespace readerlab::trace
