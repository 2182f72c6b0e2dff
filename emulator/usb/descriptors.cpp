#include "emulator/usb/descriptors.h"

#include <algorithm>

namespace readerlab::usb {
namespace {

void put16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value & 0xFF));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
}

std::uint8_t string_index_if(const std::string& text, std::uint8_t index) { return text.empty() ? 0 : index; }

ControlResult answer(Bytes data, std::uint16_t max_length) {
  if (data.size() > max_length) data.resize(max_length);
  return {TransferStatus::ok, std::move(data)};
}

ControlResult stall() { return {TransferStatus::stall, {}}; }

}  // namespace

Bytes device_descriptor(const DeviceDescription& d) {
  Bytes out;
  out.push_back(18);  // bLength, USB 2.0 Table 9-8
  out.push_back(kDescriptorDevice);
  put16(out, d.usb_version_bcd);
  out.push_back(d.identity.device_class);
  out.push_back(d.identity.device_subclass);
  out.push_back(d.identity.device_protocol);
  out.push_back(d.max_packet_size0);
  put16(out, d.identity.vendor_id);
  put16(out, d.identity.product_id);
  put16(out, d.identity.device_version_bcd);
  out.push_back(string_index_if(d.manufacturer, kStringManufacturer));
  out.push_back(string_index_if(d.product, kStringProduct));
  out.push_back(string_index_if(d.serial_number, kStringSerial));
  out.push_back(1);  // bNumConfigurations
  return out;
}

Bytes configuration_descriptor(const DeviceDescription& d) {
  Bytes out;
  out.push_back(9);  // bLength, USB 2.0 Table 9-10
  out.push_back(kDescriptorConfiguration);
  put16(out, 0);  // wTotalLength, patched below
  out.push_back(static_cast<std::uint8_t>(d.interfaces.size()));
  out.push_back(1);  // bConfigurationValue
  out.push_back(string_index_if(d.configuration_name, kStringConfiguration));
  // USB 2.0 9.6.3 bmAttributes: bit 7 reserved (set to one), bit 6 self-powered, bit 5 remote wakeup.
  out.push_back(static_cast<std::uint8_t>(0x80 | (d.self_powered ? 0x40 : 0) | (d.remote_wakeup ? 0x20 : 0)));
  out.push_back(d.max_power_2ma);
  for (const auto& iface : d.interfaces) {
    out.push_back(9);  // bLength, USB 2.0 Table 9-12
    out.push_back(kDescriptorInterface);
    out.push_back(iface.info.number);
    out.push_back(0);  // bAlternateSetting
    out.push_back(static_cast<std::uint8_t>(iface.endpoints.size()));
    out.push_back(iface.info.interface_class);
    out.push_back(iface.info.interface_subclass);
    out.push_back(iface.info.interface_protocol);
    out.push_back(iface.string_index);
    out.insert(out.end(), iface.class_descriptor.begin(), iface.class_descriptor.end());
    for (const auto& ep : iface.endpoints) {
      out.push_back(7);  // bLength, USB 2.0 Table 9-13
      out.push_back(kDescriptorEndpoint);
      out.push_back(ep.address);
      out.push_back(static_cast<std::uint8_t>(ep.type));
      put16(out, ep.max_packet_size);
      out.push_back(ep.interval);
    }
  }
  out[2] = static_cast<std::uint8_t>(out.size() & 0xFF);
  out[3] = static_cast<std::uint8_t>(out.size() >> 8);
  return out;
}

std::optional<Bytes> string_descriptor(const DeviceDescription& d, std::uint8_t index) {
  if (index == 0) return Bytes{4, kDescriptorString, 0x09, 0x04};  // LANGID 0x0409, USB 2.0 9.6.7
  const std::string* text = nullptr;
  switch (index) {
    case kStringManufacturer: text = &d.manufacturer; break;
    case kStringProduct: text = &d.product; break;
    case kStringSerial: text = &d.serial_number; break;
    case kStringConfiguration: text = &d.configuration_name; break;
    default: return std::nullopt;
  }
  if (text->empty()) return std::nullopt;
  // UTF-16LE of an ASCII string; bLength is one byte, so at most 126 characters.
  const std::size_t chars = std::min<std::size_t>(text->size(), 126);
  Bytes out;
  out.push_back(static_cast<std::uint8_t>(2 + 2 * chars));
  out.push_back(kDescriptorString);
  for (std::size_t i = 0; i < chars; ++i) {
    out.push_back(static_cast<std::uint8_t>((*text)[i] & 0x7F));
    out.push_back(0);
  }
  return out;
}

std::optional<ControlResult> standard_request(const DeviceDescription& d, const SetupPacket& setup,
                                              std::uint8_t& current_configuration) {
  if (setup.type() != 0) return std::nullopt;
  const auto recipient = setup.recipient();
  switch (setup.request) {
    case kRequestGetDescriptor: {
      if (!setup.device_to_host() || recipient != 0) return stall();
      const auto type = static_cast<std::uint8_t>(setup.value >> 8);
      const auto index = static_cast<std::uint8_t>(setup.value & 0xFF);
      if (type == kDescriptorDevice) return answer(device_descriptor(d), setup.length);
      if (type == kDescriptorConfiguration) {
        if (index != 0) return stall();
        return answer(configuration_descriptor(d), setup.length);
      }
      if (type == kDescriptorString) {
        auto text = string_descriptor(d, index);
        if (!text) return stall();
        return answer(std::move(*text), setup.length);
      }
      return stall();  // device qualifier and others: a full-speed device stalls, USB 2.0 9.6.2
    }
    case kRequestGetConfiguration:
      if (recipient != 0) return stall();
      return answer({current_configuration}, setup.length);
    case kRequestSetConfiguration: {
      if (recipient != 0) return stall();
      const auto value = static_cast<std::uint8_t>(setup.value & 0xFF);
      if (value > 1) return stall();
      current_configuration = value;
      return ControlResult{};
    }
    case kRequestSetAddress: return ControlResult{};
    case kRequestGetStatus:
      if (recipient == 0) return answer({static_cast<std::uint8_t>(d.self_powered ? 1 : 0), 0}, setup.length);
      if (recipient == 1) return answer({0, 0}, setup.length);
      return std::nullopt;  // endpoint status belongs to the function, which knows halts
    case kRequestGetInterface:
      if (recipient != 1) return stall();
      return answer({0}, setup.length);
    case kRequestSetInterface:
      if (recipient != 1 || setup.value != 0) return stall();
      return ControlResult{};
    case kRequestClearFeature:
    case kRequestSetFeature:
      if (recipient == 2) return std::nullopt;
      return ControlResult{};
    default: return stall();
  }
}

}  // namespace readerlab::usb
