// The standard descriptors and requests of emulator/usb, checked byte for byte against
// USB 2.0 chapter 9 for a small made-up device.
#include "emulator/usb/descriptors.h"

#include <doctest/doctest.h>

namespace readerlab::usb {
namespace {

DeviceDescription example_device() {
  DeviceDescription d;
  d.identity = {Speed::full, 0xEF, 0x02, 0x01, 0x1234, 0x5678, 0x0102};
  d.manufacturer = "Maker";
  d.product = "Gadget";
  d.serial_number = "S1";
  d.max_power_2ma = 25;
  InterfaceDescription iface;
  iface.info = {0, 0xFF, 0x01, 0x02};
  iface.string_index = 0;
  iface.class_descriptor = {0x04, 0x24, 0xAA, 0xBB};
  iface.endpoints = {{0x81, TransferType::interrupt, 16, 4, 0}, {0x02, TransferType::bulk, 512, 0, 0}};
  d.interfaces.push_back(iface);
  return d;
}

SetupPacket get_descriptor(std::uint8_t type, std::uint8_t index, std::uint16_t length) {
  return {0x80, kRequestGetDescriptor, static_cast<std::uint16_t>(type << 8 | index), 0, length};
}

ControlResult request(const DeviceDescription& d, const SetupPacket& setup) {
  std::uint8_t configuration = 0;
  auto result = standard_request(d, setup, configuration);
  REQUIRE(result.has_value());
  return *result;
}

}  // namespace

TEST_CASE("device descriptor is the 18 bytes of USB 2.0 Table 9-8") {
  const Bytes expected = {18,   0x01,  // bLength, DEVICE
                          0x00, 0x02,  // bcdUSB 2.00
                          0xEF, 0x02, 0x01,
                          64,             // bMaxPacketSize0
                          0x34, 0x12,     // idVendor
                          0x78, 0x56,     // idProduct
                          0x02, 0x01,     // bcdDevice
                          1,    2,    3,  // iManufacturer, iProduct, iSerialNumber
                          1};             // bNumConfigurations
  CHECK(device_descriptor(example_device()) == expected);
}

TEST_CASE("device descriptor leaves string indexes at zero for absent strings") {
  auto d = example_device();
  d.manufacturer.clear();
  d.serial_number.clear();
  const auto bytes = device_descriptor(d);
  REQUIRE(bytes.size() == 18);
  CHECK(bytes[14] == 0);
  CHECK(bytes[15] == kStringProduct);
  CHECK(bytes[16] == 0);
}

TEST_CASE("configuration descriptor carries interface, class descriptor and endpoints in order") {
  const Bytes expected = {9,    0x02, 36,   0,         // CONFIGURATION, wTotalLength 9 + 9 + 4 + 7 + 7
                          1,    1,    0,    0x80, 25,  // one interface, value 1, no string, bus powered, 50 mA
                          9,    0x04, 0,    0,    2,    0xFF, 0x01, 0x02, 0,  // INTERFACE 0, two endpoints
                          0x04, 0x24, 0xAA, 0xBB,                             // class-specific descriptor, verbatim
                          7,    0x05, 0x81, 0x03, 16,   0,    4,              // interrupt IN
                          7,    0x05, 0x02, 0x02, 0x00, 0x02, 0};             // bulk OUT, 512 bytes
  CHECK(configuration_descriptor(example_device()) == expected);
}

TEST_CASE("configuration descriptor attributes reflect self power and remote wakeup") {
  auto d = example_device();
  d.self_powered = true;
  d.remote_wakeup = true;
  CHECK(configuration_descriptor(d)[7] == 0xE0);
}

TEST_CASE("string descriptor 0 lists US English and others are UTF-16LE") {
  const auto d = example_device();
  CHECK(string_descriptor(d, 0) == Bytes{4, 0x03, 0x09, 0x04});
  CHECK(string_descriptor(d, kStringManufacturer) == Bytes{12, 0x03, 'M', 0, 'a', 0, 'k', 0, 'e', 0, 'r', 0});
  CHECK(string_descriptor(d, kStringSerial) == Bytes{6, 0x03, 'S', 0, '1', 0});
  CHECK_FALSE(string_descriptor(d, kStringConfiguration).has_value());  // no configuration name
  CHECK_FALSE(string_descriptor(d, 9).has_value());
}

TEST_CASE("a long string is cut to fit the one-byte bLength") {
  auto d = example_device();
  d.product = std::string(300, 'x');
  const auto text = string_descriptor(d, kStringProduct);
  REQUIRE(text.has_value());
  CHECK(text->size() == 254);
  CHECK((*text)[0] == 254);
}

TEST_CASE("GET_DESCRIPTOR answers at most wLength bytes") {
  const auto d = example_device();
  SUBCASE("device descriptor, first 8 bytes as an enumerating host asks") {
    const auto result = request(d, get_descriptor(kDescriptorDevice, 0, 8));
    CHECK(result.status == TransferStatus::ok);
    const Bytes full = device_descriptor(d);
    CHECK(result.data == Bytes(full.begin(), full.begin() + 8));
  }
  SUBCASE("configuration header only, to learn wTotalLength") {
    const auto result = request(d, get_descriptor(kDescriptorConfiguration, 0, 9));
    REQUIRE(result.data.size() == 9);
    CHECK(result.data[2] == 36);
  }
  SUBCASE("a longer wLength returns the descriptor, not more") {
    const auto result = request(d, get_descriptor(kDescriptorConfiguration, 0, 255));
    CHECK(result.data == configuration_descriptor(d));
  }
  SUBCASE("string with wLength 2 gives bLength and type") {
    const auto result = request(d, get_descriptor(kDescriptorString, kStringProduct, 2));
    CHECK(result.data == Bytes{14, 0x03});
  }
}

TEST_CASE("GET_DESCRIPTOR of an unknown descriptor stalls") {
  const auto d = example_device();
  CHECK(request(d, get_descriptor(0x06, 0, 10)).status == TransferStatus::stall);  // device qualifier
  CHECK(request(d, get_descriptor(0x0F, 0, 10)).status == TransferStatus::stall);  // BOS
  CHECK(request(d, get_descriptor(kDescriptorString, 7, 10)).status == TransferStatus::stall);
  CHECK(request(d, get_descriptor(kDescriptorConfiguration, 1, 10)).status == TransferStatus::stall);
}

TEST_CASE("SET_CONFIGURATION and GET_CONFIGURATION agree; an unknown configuration stalls") {
  const auto d = example_device();
  std::uint8_t configuration = 0;
  auto set = standard_request(d, {0x00, kRequestSetConfiguration, 1, 0, 0}, configuration);
  REQUIRE(set.has_value());
  CHECK(set->status == TransferStatus::ok);
  CHECK(configuration == 1);
  auto get = standard_request(d, {0x80, kRequestGetConfiguration, 0, 0, 1}, configuration);
  REQUIRE(get.has_value());
  CHECK(get->data == Bytes{1});
  auto bad = standard_request(d, {0x00, kRequestSetConfiguration, 2, 0, 0}, configuration);
  REQUIRE(bad.has_value());
  CHECK(bad->status == TransferStatus::stall);
  CHECK(configuration == 1);
}

TEST_CASE("class and vendor requests are left to the function") {
  const auto d = example_device();
  std::uint8_t configuration = 0;
  CHECK_FALSE(standard_request(d, {0xA1, 0x03, 0, 0, 64}, configuration).has_value());
  CHECK_FALSE(standard_request(d, {0xC0, 0x01, 0, 0, 64}, configuration).has_value());
}

}  // namespace readerlab::usb
