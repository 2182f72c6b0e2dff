// What a host reads at enumeration: the reader's descriptors byte for byte (USB 2.0 9.6,
// CCID rev 1.1 section 5.1) and the CCID class requests of section 5.3.
#include "emulator/ccid/reader.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

namespace readerlab::ccid {
namespace {

using test::hex;

usb::ControlResult get_descriptor(Reader& reader, std::uint8_t type, std::uint8_t index, std::uint16_t length) {
  return reader.control({0x80, usb::kRequestGetDescriptor, static_cast<std::uint16_t>(type << 8 | index), 0, length},
                        {});
}

// CCID 5.3: class requests are addressed to the interface, bmRequestType 0xA1.
usb::ControlResult class_request(Reader& reader, std::uint8_t request, std::uint16_t length) {
  return reader.control({0xA1, request, 0, 0, length}, {});
}

// Derived by hand from CCID rev 1.1 Table 5.1-1 for the default ReaderConfig.
const Bytes kExpectedClassDescriptor =
    hex("36 21"        // bLength 54, bDescriptorType CCID functional
        "10 01"        // bcdCCID 1.10
        "00"           // bMaxSlotIndex: one slot
        "07"           // bVoltageSupport 5 V, 3 V, 1.8 V
        "03 00 00 00"  // dwProtocols T=0 and T=1
        "FC 0D 00 00"  // dwDefaultClock 3580 kHz
        "FC 0D 00 00"  // dwMaximumClock 3580 kHz
        "01"           // bNumClockSupported
        "97 25 00 00"  // dwDataRate 9623 bps (3.58 MHz / 372)
        "E9 65 09 00"  // dwMaxDataRate 615913 bps (Fi 372, Di 64)
        "2D"           // bNumDataRatesSupported: 45 (Fi/Di pairs of ISO 7816-3 Tables 7, 8 at or above Fd/Dd)
        "FE 00 00 00"  // dwMaxIFSD 254
        "00 00 00 00"  // dwSynchProtocols
        "00 00 00 00"  // dwMechanical
        "7A 00 02 00"  // dwFeatures: 02 | 08 | 10 | 20 | 40 | short APDU level 00020000
        "0F 01 00 00"  // dwMaxCCIDMessageLength 271
        "FF FF"        // bClassGetResponse, bClassEnvelope
        "00 00"        // wLcdLayout
        "00"           // bPINSupport
        "01");         // bMaxCCIDBusySlots

}  // namespace

TEST_CASE("reader device descriptor: USB 2.0, VID 1209 PID 0001, three strings") {
  Reader reader;
  const Bytes expected = hex("12 01 00 02 00 00 00 40 09 12 01 00 00 01 01 02 03 01");
  CHECK(usb::device_descriptor(reader.description()) == expected);
  const auto answer = get_descriptor(reader, usb::kDescriptorDevice, 0, 18);
  CHECK(answer.status == usb::TransferStatus::ok);
  CHECK(answer.data == expected);
}

TEST_CASE("reader CCID class descriptor is the 54 bytes of CCID 5.1") {
  Reader reader;
  REQUIRE(kExpectedClassDescriptor.size() == 54);
  CHECK(test::to_hex(reader.class_descriptor()) == test::to_hex(kExpectedClassDescriptor));
}

TEST_CASE("reader configuration descriptor byte for byte") {
  Reader reader;
  Bytes expected =
      hex("09 02 5D 00 01 01 00 80 32"    // CONFIGURATION: wTotalLength 93, one interface, bus powered, 100 mA
          "09 04 00 00 03 0B 00 00 00");  // INTERFACE 0: three endpoints, class 0B (CCID 4.3)
  expected.insert(expected.end(), kExpectedClassDescriptor.begin(), kExpectedClassDescriptor.end());
  const Bytes endpoints =
      hex("07 05 01 02 40 00 00"    // bulk OUT 0x01, 64 bytes
          "07 05 82 02 40 00 00"    // bulk IN 0x82, 64 bytes
          "07 05 83 03 08 00 0A");  // interrupt IN 0x83, 8 bytes, every 10 ms
  expected.insert(expected.end(), endpoints.begin(), endpoints.end());
  REQUIRE(expected.size() == 93);

  const auto answer = get_descriptor(reader, usb::kDescriptorConfiguration, 0, 0xFFFF);
  CHECK(answer.status == usb::TransferStatus::ok);
  CHECK(test::to_hex(answer.data) == test::to_hex(expected));
}

TEST_CASE("reader configuration descriptor read as a host does: header first, then wTotalLength") {
  Reader reader;
  const auto header = get_descriptor(reader, usb::kDescriptorConfiguration, 0, 9);
  REQUIRE(header.data.size() == 9);
  const std::uint16_t total = static_cast<std::uint16_t>(header.data[2] | header.data[3] << 8);
  CHECK(total == 93);
  const auto full = get_descriptor(reader, usb::kDescriptorConfiguration, 0, total);
  CHECK(full.data.size() == total);
  CHECK(Bytes(full.data.begin(), full.data.begin() + 9) == header.data);
}

TEST_CASE("reader string descriptors: US English, UTF-16LE manufacturer, product and serial") {
  Reader reader;
  CHECK(get_descriptor(reader, usb::kDescriptorString, 0, 255).data == hex("04 03 09 04"));
  auto utf16 = [](std::string_view text) {
    Bytes out{static_cast<std::uint8_t>(2 + 2 * text.size()), 0x03};
    for (char c : text) {
      out.push_back(static_cast<std::uint8_t>(c));
      out.push_back(0);
    }
    return out;
  };
  CHECK(get_descriptor(reader, usb::kDescriptorString, 1, 255).data == utf16("readerlab"));
  CHECK(get_descriptor(reader, usb::kDescriptorString, 2, 255).data == utf16("Virtual CCID Reader"));
  CHECK(get_descriptor(reader, usb::kDescriptorString, 3, 255).data == utf16("RL0001"));
  // Truncated to wLength, as Linux reads the first bytes of a string to learn its length.
  CHECK(get_descriptor(reader, usb::kDescriptorString, 2, 4).data == hex("28 03 56 00"));
  CHECK(get_descriptor(reader, usb::kDescriptorString, 4, 255).status == usb::TransferStatus::stall);
}

TEST_CASE("reader stalls descriptors it does not have") {
  Reader reader;
  CHECK(get_descriptor(reader, 0x06, 0, 10).status == usb::TransferStatus::stall);  // device qualifier
  CHECK(get_descriptor(reader, 0x0F, 0, 5).status == usb::TransferStatus::stall);   // BOS
  CHECK(get_descriptor(reader, 0x21, 0, 54).status == usb::TransferStatus::stall);  // class descriptor alone
}

TEST_CASE("GET_CLOCK_FREQUENCIES lists the one clock of dwDefaultClock") {
  Reader reader;
  const auto answer = class_request(reader, kRequestGetClockFrequencies, 256);
  CHECK(answer.status == usb::TransferStatus::ok);
  CHECK(answer.data == hex("FC 0D 00 00"));
}

TEST_CASE("GET_DATA_RATES lists bNumDataRatesSupported rates from dwDataRate to dwMaxDataRate, in order") {
  Reader reader;
  const auto answer = class_request(reader, kRequestGetDataRates, 256);
  CHECK(answer.status == usb::TransferStatus::ok);
  REQUIRE(answer.data.size() == 45 * 4);
  auto rate = [&](std::size_t i) {
    return static_cast<std::uint32_t>(answer.data[4 * i]) | static_cast<std::uint32_t>(answer.data[4 * i + 1]) << 8 |
           static_cast<std::uint32_t>(answer.data[4 * i + 2]) << 16 |
           static_cast<std::uint32_t>(answer.data[4 * i + 3]) << 24;
  };
  CHECK(rate(0) == 9623);
  CHECK(rate(44) == 615913);
  for (std::size_t i = 1; i < 45; ++i) CHECK(rate(i) > rate(i - 1));
  // TA1 = 96 (Fi 512, Di 32) is among them, so a host may negotiate it by PPS.
  bool has_ta1_96 = false;
  for (std::size_t i = 0; i < 45; ++i) has_ta1_96 = has_ta1_96 || rate(i) == 3580000u * 32 / 512;
  CHECK(has_ta1_96);
  // A host asking for fewer bytes gets the first rates only.
  CHECK(class_request(reader, kRequestGetDataRates, 8).data == Bytes(answer.data.begin(), answer.data.begin() + 8));
}

TEST_CASE("CCID ABORT class request is accepted; an unknown class request stalls") {
  Reader reader;
  CHECK(reader.control({0x21, kRequestAbort, 0x0100, 0, 0}, {}).status == usb::TransferStatus::ok);
  CHECK(class_request(reader, 0x7F, 8).status == usb::TransferStatus::stall);
  CHECK(reader.control({0xC0, 0x01, 0, 0, 8}, {}).status == usb::TransferStatus::stall);  // vendor
}

TEST_CASE("reader reports its interface and endpoints to a transport") {
  Reader reader;
  const auto interfaces = reader.interfaces();
  REQUIRE(interfaces.size() == 1);
  CHECK(interfaces[0].interface_class == 0x0B);
  const auto endpoints = reader.endpoints();
  REQUIRE(endpoints.size() == 3);
  CHECK(endpoints[0].address == kBulkOut);
  CHECK(endpoints[0].type == usb::TransferType::bulk);
  CHECK(endpoints[1].address == kBulkIn);
  CHECK(endpoints[1].type == usb::TransferType::bulk);
  CHECK(endpoints[2].address == kInterruptIn);
  CHECK(endpoints[2].type == usb::TransferType::interrupt);
  CHECK(reader.identity().vendor_id == 0x1209);
  CHECK(reader.identity().product_id == 0x0001);
}

TEST_CASE("SET_CONFIGURATION through control reaches the reader's configuration") {
  Reader reader;
  CHECK(reader.configuration() == 0);
  CHECK(reader.control({0x00, usb::kRequestSetConfiguration, 1, 0, 0}, {}).status == usb::TransferStatus::ok);
  CHECK(reader.configuration() == 1);
  CHECK(reader.control({0x80, usb::kRequestGetConfiguration, 0, 0, 1}, {}).data == Bytes{1});
}

}  // namespace readerlab::ccid
