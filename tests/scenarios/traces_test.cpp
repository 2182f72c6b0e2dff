// The rig's traces: a pcap file per reader, each naming its reader's device number, and trace
// trouble that is one warning for the rig's whole life while the readers keep answering.
#include "scenarios/rig.h"

#include "emulator/ccid/messages.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <unistd.h>

namespace readerlab {
namespace {

struct TempFolder {
  std::filesystem::path path;
  TempFolder() {
    char pattern[] = "/tmp/readerlab-rig-traces-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// Captures what the rig writes on standard error while it lives.
struct StandardErrorCapture {
  std::ostringstream text;
  std::streambuf* saved = std::cerr.rdbuf(text.rdbuf());
  ~StandardErrorCapture() { std::cerr.rdbuf(saved); }
};

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_CASE("the rig writes one trace per reader, each with its own device number") {
  TempFolder folder;
  boost::asio::io_context io;
  scenarios::Rig rig(io, nullptr);
  usbredir::SocketAddress address;
  address.host = "127.0.0.1";
  rig.add_reader(address);
  rig.add_reader(address);
  const auto files = rig.start_traces(folder.path / "pcsc" / "a-case");
  REQUIRE(files.size() == 2);
  CHECK(files[0] == folder.path / "pcsc" / "a-case" / "reader1.pcap");
  CHECK(files[1] == folder.path / "pcsc" / "a-case" / "reader2.pcap");
  // Reader 2 answers a PC_to_RDR_GetSlotStatus; only its file holds the bulk transfers.
  ccid::Message status;
  status.type = static_cast<std::uint8_t>(ccid::Command::get_slot_status);
  CHECK(rig.reader(1).reader->transfer_out(ccid::kBulkOut, ccid::encode(status)) == usb::TransferStatus::ok);
  rig.stop_traces();
  const auto first = read_bytes(files[0]);
  const auto second = read_bytes(files[1]);
  // After the 24-byte file header, the first record's 16-byte pcap header, then usbmon's devnum
  // at byte 11 of its header.
  REQUIRE(first.size() > 24 + 16 + 11);
  CHECK(first[24 + 16 + 11] == 1);   // devnum of reader 1
  CHECK(second[24 + 16 + 11] == 2);  // devnum of reader 2
  CHECK(second.size() > first.size());
  const auto message = ccid::encode(status);
  CHECK(std::search(second.begin(), second.end(), message.begin(), message.end()) != second.end());
  CHECK(std::search(first.begin(), first.end(), message.begin(), message.end()) == first.end());
}

TEST_CASE("a trace folder that cannot be made is one warning for the rig's life, and the readers go on") {
  TempFolder folder;
  std::ofstream(folder.path / "not-a-folder") << "a file where the traces would go";
  StandardErrorCapture captured;
  boost::asio::io_context io;
  scenarios::Rig rig(io, nullptr);
  usbredir::SocketAddress address;
  address.host = "127.0.0.1";
  rig.add_reader(address);
  CHECK(rig.start_traces(folder.path / "not-a-folder" / "case-1").empty());
  CHECK(rig.start_traces(folder.path / "not-a-folder" / "case-2").empty());
  const auto text = captured.text.str();
  CHECK(text.find("warning") != std::string::npos);
  CHECK(text.find("warning") == text.rfind("warning"));
  ccid::Message status;
  status.type = static_cast<std::uint8_t>(ccid::Command::get_slot_status);
  CHECK(rig.reader(0).reader->transfer_out(ccid::kBulkOut, ccid::encode(status)) == usb::TransferStatus::ok);
  CHECK(rig.reader(0).reader->transfer_in(ccid::kBulkIn, 64).has_value());
}

}  // namespace
}  // namespace readerlab
