// Standard USB descriptors (USB 2.0 section 9.6) built as bytes, and the standard
// requests that read them.
#pragma once

#include "emulator/usb/device.h"

#include <string>
#include <vector>

namespace readerlab::usb {

// USB 2.0 Table 9-5 descriptor types.
inline constexpr std::uint8_t kDescriptorDevice = 0x01;
inline constexpr std::uint8_t kDescriptorConfiguration = 0x02;
inline constexpr std::uint8_t kDescriptorString = 0x03;
inline constexpr std::uint8_t kDescriptorInterface = 0x04;
inline constexpr std::uint8_t kDescriptorEndpoint = 0x05;

// USB 2.0 Table 9-4 standard request codes.
inline constexpr std::uint8_t kRequestGetStatus = 0x00;
inline constexpr std::uint8_t kRequestClearFeature = 0x01;
inline constexpr std::uint8_t kRequestSetFeature = 0x03;
inline constexpr std::uint8_t kRequestSetAddress = 0x05;
inline constexpr std::uint8_t kRequestGetDescriptor = 0x06;
inline constexpr std::uint8_t kRequestGetConfiguration = 0x08;
inline constexpr std::uint8_t kRequestSetConfiguration = 0x09;
inline constexpr std::uint8_t kRequestGetInterface = 0x0A;
inline constexpr std::uint8_t kRequestSetInterface = 0x0B;

struct InterfaceDescription {
  InterfaceInfo info;
  std::uint8_t string_index = 0;
  Bytes class_descriptor;  // class-specific descriptor placed after the interface descriptor
  std::vector<EndpointInfo> endpoints;
};

struct DeviceDescription {
  DeviceIdentity identity;
  std::uint16_t usb_version_bcd = 0x0200;
  std::uint8_t max_packet_size0 = 64;
  std::string manufacturer, product, serial_number, configuration_name;
  std::uint8_t max_power_2ma = 50;  // bMaxPower in 2 mA units
  bool self_powered = false;
  bool remote_wakeup = false;
  std::vector<InterfaceDescription> interfaces;
};

// String descriptor indexes this builder assigns.
inline constexpr std::uint8_t kStringManufacturer = 1;
inline constexpr std::uint8_t kStringProduct = 2;
inline constexpr std::uint8_t kStringSerial = 3;
inline constexpr std::uint8_t kStringConfiguration = 4;

Bytes device_descriptor(const DeviceDescription& description);
Bytes configuration_descriptor(const DeviceDescription& description);
// Index 0 is the language list (0x0409, US English); nullopt for an unknown index.
std::optional<Bytes> string_descriptor(const DeviceDescription& description, std::uint8_t index);

// Answers the standard requests of USB 2.0 9.4 addressed to the device. Returns nullopt for
// requests it does not own (class or vendor requests, interface-specific ones).
std::optional<ControlResult> standard_request(const DeviceDescription& description, const SetupPacket& setup,
                                              std::uint8_t& current_configuration);

}  // namespace readerlab::usb
