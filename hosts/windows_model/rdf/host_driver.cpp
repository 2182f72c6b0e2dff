#include "hosts/windows_model/rdf/host_driver.h"

#include <algorithm>
#include <cstring>

namespace readerlab::windows_model {

HostDriver::HostDriver(UsbIo& usb, const READERLAB_RDF_DRIVER& driver)
    : usb_(usb),
      driver_(driver),
      // new[] of std::byte is aligned for any fundamental type, as pool memory is.
      extension_(std::make_unique<std::byte[]>(std::max<std::size_t>(
          driver.DeviceExtensionSize, driver.SmartcardExtensionOffset + sizeof(SMARTCARD_EXTENSION)))) {
  device_.DeviceExtension = extension_.get();
  device_.DeviceType = FILE_DEVICE_SMARTCARD;
  device_.Flags = DO_BUFFERED_IO | DO_EXCLUSIVE;
}

HostDriver::~HostDriver() {
  if (pending_ && pending_->irp.ReaderlabCompleteCount == 0) cancel_pending();
  if (started_ && driver_.StopDevice) driver_.StopDevice(&device_);
}

NTSTATUS HostDriver::start() {
  if (!driver_.StartDevice || !driver_.DeviceControl) return STATUS_INVALID_DEVICE_REQUEST;
  const NTSTATUS status = driver_.StartDevice(&device_, readerlab_usb_of(&usb_));
  started_ = status == STATUS_SUCCESS;
  return status;
}

IoctlResult HostDriver::ioctl(ULONG code, std::span<const std::uint8_t> input, ULONG output_length) {
  if (issued_.size() < 100000) issued_.push_back(code);  // bounded: a repeat loop of a million transmits
  auto request = std::make_unique<Request>();
  const std::size_t size = std::max<std::size_t>(input.size(), output_length);
  request->buffer.assign(std::max<std::size_t>(size, 1), 0);
  if (!input.empty()) std::memcpy(request->buffer.data(), input.data(), input.size());
  ReaderlabBuildDeviceControlIrp(&request->irp, &device_, code, size ? request->buffer.data() : nullptr,
                                 static_cast<ULONG>(input.size()), output_length);
  IoctlResult result;
  result.status = driver_.DeviceControl(&device_, &request->irp);
  if (result.status == STATUS_PENDING && request->irp.ReaderlabCompleteCount == 0) {
    result.pending = true;
    pending_ = std::move(request);
    return result;
  }
  const auto information = std::min<std::size_t>(request->irp.IoStatus.Information, size);
  result.output.assign(request->buffer.begin(), request->buffer.begin() + static_cast<std::ptrdiff_t>(information));
  return result;
}

IoctlResult HostDriver::ioctl_ulong(ULONG code, ULONG value, ULONG output_length) {
  std::uint8_t bytes[sizeof(ULONG)];
  std::memcpy(bytes, &value, sizeof(value));
  return ioctl(code, bytes, output_length);
}

bool HostDriver::pending_completed() const { return pending_ && pending_->irp.ReaderlabCompleteCount > 0; }

NTSTATUS HostDriver::pending_status() const {
  if (!pending_) return STATUS_UNSUCCESSFUL;
  return pending_completed() ? pending_->irp.IoStatus.Status : STATUS_PENDING;
}

void HostDriver::cancel_pending() {
  if (pending_ && pending_->irp.ReaderlabCompleteCount == 0) IoCancelIrp(&pending_->irp);
}

void HostDriver::release_pending() {
  if (pending_completed()) pending_.reset();
}

NTSTATUS HostDriver::set_device_power(DEVICE_POWER_STATE state, POWER_ACTION action) {
  if (!started_) return STATUS_INVALID_DEVICE_STATE;
  if (!driver_.Power) return STATUS_INVALID_DEVICE_REQUEST;
  // Kept until the next one: a driver that pends it may still hold it.
  power_irp_ = std::make_unique<IRP>();
  ReaderlabBuildSetDevicePowerIrp(power_irp_.get(), &device_, state, action);
  const NTSTATUS status = driver_.Power(&device_, power_irp_.get());
  if (power_irp_->ReaderlabCompleteCount == 0) return STATUS_PENDING;
  return status == STATUS_PENDING ? power_irp_->IoStatus.Status : status;
}

NTSTATUS HostDriver::poll_slot_change(ULONG timeout_ms) {
  if (!started_) return STATUS_INVALID_DEVICE_STATE;
  if (!driver_.InterruptIn) return STATUS_NOT_SUPPORTED;
  return driver_.InterruptIn(&device_, timeout_ms);
}

}  // namespace readerlab::windows_model
