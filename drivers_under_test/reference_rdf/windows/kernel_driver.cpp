// The reference RDF driver as a WDM kernel driver for Windows: DriverEntry, AddDevice and the
// dispatch routines around the same driver code readerlab runs on its host model
// (../reference_rdf.cpp, ../ccid.cpp), with its USB I/O over URBs (usb_urb.cpp) and the real
// smclib.sys underneath. What readerlab's host does for a driver (readerlab_rdf.h: StartDevice,
// DeviceControl, InterruptIn between calls, StopDevice, Power) this file does with IRPs.
#include <new>

#include "drivers_under_test/reference_rdf/windows/kernel_headers.h"
// kernel_headers.h first: <wdm.h> before the smclib headers see it.
#include "drivers_under_test/reference_rdf/reference_rdf.h"
#include "drivers_under_test/reference_rdf/windows/usb_urb.h"
#include "smclib_layout.h"

// ntifs.h's, exported by ntoskrnl.exe; ntifs.h itself would bring in the file system kit.
extern "C" NTSYSAPI NTSTATUS NTAPI ZwWaitForSingleObject(HANDLE Handle, BOOLEAN Alertable, PLARGE_INTEGER Timeout);

namespace reference_rdf::kernel {
namespace {

constexpr ULONG kPoolTag = 0x4B726466;  // 'fdrK' as the WDK spells pool tags
constexpr ULONG kControlTimeoutMs = 5000;
// The interrupt pipe is read in slices this long, the driver lock held (the host model's
// "between calls" rule: one callback at a time); an IOCTL waits at most one slice for it.
constexpr ULONG kPollSliceMs = 50;
// How long the polling thread rests when the pipe failed or the device sleeps.
constexpr ULONG kPollPauseMs = 100;
constexpr UCHAR kCcidInterfaceClass = 0x0B;  // CCID 4.1 bInterfaceClass
// USBD_ValidateConfigurationDescriptor level 2: every descriptor's bLength within the buffer.
constexpr USHORT kDescriptorCheckLevel = 2;
// GUID_DEVINTERFACE_SMARTCARD_READER (SmartCardReaderGuid), spec smclib.md §7 [W][H].
const GUID kSmartcardReaderInterface = {0x50DD5230, 0xBA8A, 0x11D1, {0xBF, 0x5D, 0x00, 0x00, 0xF8, 0x05, 0xF5, 0x30}};

struct DeviceExtension {
  RDF_DEVICE_EXTENSION Rdf;  // first: the driver code takes DeviceExtension as RDF_DEVICE_EXTENSION
  PDEVICE_OBJECT Self;
  PDEVICE_OBJECT Lower;
  PDEVICE_OBJECT Pdo;
  IO_REMOVE_LOCK RemoveLock;
  UNICODE_STRING InterfaceName;
  KMUTEX DriverLock;  // one driver callback at a time (KMUTEX, not a fast mutex: URBs wait under it)
  KEVENT StopPolling;
  PVOID PollThread;            // referenced KTHREAD of the interrupt pipe's thread
  PIRP PendingSystemPowerIrp;  // the S-IRP waiting for the D-IRP it asked for
  bool Started;
  bool Asleep;
  bool UsbConstructed;
  alignas(UrbUsbIo) unsigned char UsbStorage[sizeof(UrbUsbIo)];
};

DeviceExtension* extension_of(PDEVICE_OBJECT device) { return static_cast<DeviceExtension*>(device->DeviceExtension); }
UrbUsbIo* usb_of(DeviceExtension* dx) { return reinterpret_cast<UrbUsbIo*>(dx->UsbStorage); }
PSMARTCARD_EXTENSION smartcard_of(DeviceExtension* dx) { return &dx->Rdf.SmartcardExtension; }

void lock(DeviceExtension* dx) { KeWaitForSingleObject(&dx->DriverLock, Executive, KernelMode, FALSE, nullptr); }
void unlock(DeviceExtension* dx) { KeReleaseMutex(&dx->DriverLock, FALSE); }

NTSTATUS complete(PIRP irp, NTSTATUS status, ULONG_PTR information = 0) {
  irp->IoStatus.Status = status;
  irp->IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

NTSTATUS NTAPI signal_event(PDEVICE_OBJECT, PIRP, PVOID context) {
  KeSetEvent(static_cast<PKEVENT>(context), IO_NO_INCREMENT, FALSE);
  return STATUS_MORE_PROCESSING_REQUIRED;  // the dispatch routine completes it after the wait
}

// Passes the IRP down and waits until the lower drivers are done with it (START_DEVICE, D0).
NTSTATUS forward_and_wait(DeviceExtension* dx, PIRP irp, bool power) {
  KEVENT done;
  KeInitializeEvent(&done, NotificationEvent, FALSE);
  IoCopyCurrentIrpStackLocationToNext(irp);
  IoSetCompletionRoutine(irp, signal_event, &done, TRUE, TRUE, TRUE);
  NTSTATUS status = power ? PoCallDriver(dx->Lower, irp) : IoCallDriver(dx->Lower, irp);
  if (status == STATUS_PENDING) {
    KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, nullptr);
    status = irp->IoStatus.Status;
  }
  return status;
}

NTSTATUS get_configuration_descriptor(DeviceExtension* dx, PVOID buffer, ULONG length, ULONG* received) {
  URB urb;
  RtlZeroMemory(&urb, sizeof(urb));
  UsbBuildGetDescriptorRequest(&urb, sizeof(struct _URB_CONTROL_DESCRIPTOR_REQUEST), USB_CONFIGURATION_DESCRIPTOR_TYPE,
                               0, 0, buffer, nullptr, length, nullptr);
  bool timed_out = false;
  const NTSTATUS status = submit_urb(dx->Lower, &urb, kControlTimeoutMs, &timed_out);
  if (!NT_SUCCESS(status)) return status;
  if (!USBD_SUCCESS(urb.UrbHeader.Status)) return STATUS_DEVICE_DATA_ERROR;
  *received = urb.UrbControlDescriptorRequest.TransferBufferLength;
  return STATUS_SUCCESS;
}

// USB 2.0 9.4.3 / 9.4.7: reads the configuration descriptor (the 9-byte header for
// wTotalLength, then all of it), selects configuration 1 with the CCID interface and returns
// its pipes. The descriptor is the device's: checked before it is parsed.
NTSTATUS select_configuration(DeviceExtension* dx, UrbPipes* pipes) {
  USB_CONFIGURATION_DESCRIPTOR header;
  ULONG got = 0;
  NTSTATUS status = get_configuration_descriptor(dx, &header, sizeof(header), &got);
  if (!NT_SUCCESS(status)) return status;
  if (got < sizeof(header) || header.bLength < sizeof(header) || header.wTotalLength < sizeof(header))
    return STATUS_DEVICE_DATA_ERROR;
  const ULONG total = header.wTotalLength;
  auto* config = static_cast<PUSB_CONFIGURATION_DESCRIPTOR>(ExAllocatePoolWithTag(NonPagedPool, total, kPoolTag));
  if (config == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  status = get_configuration_descriptor(dx, config, total, &got);
  PUCHAR bad_at = nullptr;
  if (NT_SUCCESS(status) &&
      (got != total || config->wTotalLength != total ||
       !USBD_SUCCESS(USBD_ValidateConfigurationDescriptor(config, total, kDescriptorCheckLevel, &bad_at, kPoolTag))))
    status = STATUS_DEVICE_DATA_ERROR;
  PUSB_INTERFACE_DESCRIPTOR iface = nullptr;
  if (NT_SUCCESS(status)) {
    iface = USBD_ParseConfigurationDescriptorEx(config, config, -1, -1, kCcidInterfaceClass, -1, -1);
    if (iface == nullptr) status = STATUS_NOT_SUPPORTED;  // no CCID interface
  }
  PURB select = nullptr;
  USBD_INTERFACE_LIST_ENTRY interfaces[2];
  RtlZeroMemory(interfaces, sizeof(interfaces));
  if (NT_SUCCESS(status)) {
    interfaces[0].InterfaceDescriptor = iface;
    select = USBD_CreateConfigurationRequestEx(config, interfaces);
    if (select == nullptr) status = STATUS_INSUFFICIENT_RESOURCES;
  }
  if (NT_SUCCESS(status)) {
    bool timed_out = false;
    status = submit_urb(dx->Lower, select, kControlTimeoutMs, &timed_out);
    if (NT_SUCCESS(status) && !USBD_SUCCESS(select->UrbHeader.Status)) status = STATUS_DEVICE_DATA_ERROR;
  }
  if (NT_SUCCESS(status)) {
    const PUSBD_INTERFACE_INFORMATION info = interfaces[0].Interface;
    for (ULONG i = 0; i < info->NumberOfPipes; ++i) {
      const USBD_PIPE_INFORMATION& pipe = info->Pipes[i];
      const bool in = (pipe.EndpointAddress & 0x80) != 0;  // USB 2.0 9.6.6 bEndpointAddress bit 7
      if (pipe.PipeType == UsbdPipeTypeBulk && !in && pipes->bulk_out == nullptr) {
        pipes->bulk_out = pipe.PipeHandle;
        pipes->bulk_out_address = pipe.EndpointAddress;
      } else if (pipe.PipeType == UsbdPipeTypeBulk && in && pipes->bulk_in == nullptr) {
        pipes->bulk_in = pipe.PipeHandle;
        pipes->bulk_in_address = pipe.EndpointAddress;
      } else if (pipe.PipeType == UsbdPipeTypeInterrupt && in && pipes->interrupt_in == nullptr) {
        pipes->interrupt_in = pipe.PipeHandle;
        pipes->interrupt_in_address = pipe.EndpointAddress;
      }
    }
    if (pipes->bulk_out == nullptr || pipes->bulk_in == nullptr) status = STATUS_NOT_SUPPORTED;  // CCID 4.2
  }
  if (select) ExFreePool(select);
  ExFreePoolWithTag(config, kPoolTag);
  return status;
}

// The interrupt pipe's reader (CCID 6.3): what the host model does between calls.
VOID NTAPI poll_slot_changes(PVOID context) {
  auto* dx = static_cast<DeviceExtension*>(context);
  LARGE_INTEGER pause;
  pause.QuadPart = -10000LL * kPollPauseMs;  // relative, 100 ns units
  while (KeReadStateEvent(&dx->StopPolling) == 0) {
    NTSTATUS status = STATUS_DEVICE_NOT_READY;
    lock(dx);
    if (dx->Started && !dx->Asleep) status = RdfPollSlotChange(smartcard_of(dx), kPollSliceMs);
    unlock(dx);
    if (status != STATUS_SUCCESS && status != STATUS_IO_TIMEOUT)
      KeWaitForSingleObject(&dx->StopPolling, Executive, KernelMode, FALSE, &pause);
  }
  PsTerminateSystemThread(STATUS_SUCCESS);
}

void stop_polling(DeviceExtension* dx) {
  if (dx->PollThread == nullptr) return;
  KeSetEvent(&dx->StopPolling, IO_NO_INCREMENT, FALSE);
  KeWaitForSingleObject(dx->PollThread, Executive, KernelMode, FALSE, nullptr);
  ObDereferenceObject(dx->PollThread);
  dx->PollThread = nullptr;
  KeClearEvent(&dx->StopPolling);
}

void stop_reader(DeviceExtension* dx) {
  stop_polling(dx);
  if (dx->Started) {
    IoSetDeviceInterfaceState(&dx->InterfaceName, FALSE);
    lock(dx);
    RdfStopDevice(smartcard_of(dx));
    dx->Started = false;
    unlock(dx);
  }
  if (dx->UsbConstructed) {
    usb_of(dx)->~UrbUsbIo();
    dx->UsbConstructed = false;
  }
}

NTSTATUS start_reader(DeviceExtension* dx) {
  UrbPipes pipes;
  RtlZeroMemory(&pipes, sizeof(pipes));
  NTSTATUS status = select_configuration(dx, &pipes);
  if (!NT_SUCCESS(status)) return status;
  UrbUsbIo* usb = new (dx->UsbStorage) UrbUsbIo(dx->Lower, pipes);
  dx->UsbConstructed = true;
  RtlZeroMemory(&dx->Rdf, sizeof(dx->Rdf));  // RdfStartDevice takes a zeroed extension
  lock(dx);
  status = RdfStartDevice(dx->Self, usb);
  dx->Started = NT_SUCCESS(status);
  dx->Asleep = false;
  unlock(dx);
  if (!NT_SUCCESS(status)) {
    stop_reader(dx);
    return status;
  }
  if (pipes.interrupt_in != nullptr) {
    HANDLE thread = nullptr;
    status = PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, nullptr, nullptr, nullptr, poll_slot_changes, dx);
    if (NT_SUCCESS(status)) {
      status =
          ObReferenceObjectByHandle(thread, THREAD_ALL_ACCESS, *PsThreadType, KernelMode, &dx->PollThread, nullptr);
      if (!NT_SUCCESS(status)) {
        // Without the object the thread cannot be waited for: stop it and wait on the handle.
        KeSetEvent(&dx->StopPolling, IO_NO_INCREMENT, FALSE);
        ZwWaitForSingleObject(thread, FALSE, nullptr);
        KeClearEvent(&dx->StopPolling);
      }
      ZwClose(thread);
    }
    if (!NT_SUCCESS(status)) {
      stop_reader(dx);
      return status;
    }
  }
  IoSetDeviceInterfaceState(&dx->InterfaceName, TRUE);
  return STATUS_SUCCESS;
}

NTSTATUS NTAPI dispatch_pnp(PDEVICE_OBJECT device, PIRP irp) {
  DeviceExtension* dx = extension_of(device);
  NTSTATUS status = IoAcquireRemoveLock(&dx->RemoveLock, irp);
  if (!NT_SUCCESS(status)) return complete(irp, status);
  switch (IoGetCurrentIrpStackLocation(irp)->MinorFunction) {
    case IRP_MN_START_DEVICE:
      status = forward_and_wait(dx, irp, false);
      if (NT_SUCCESS(status)) status = start_reader(dx);
      complete(irp, status);
      IoReleaseRemoveLock(&dx->RemoveLock, irp);
      return status;
    case IRP_MN_REMOVE_DEVICE:
      stop_reader(dx);
      // WDM: every other holder of the lock is gone before the IRP goes down.
      IoReleaseRemoveLockAndWait(&dx->RemoveLock, irp);
      irp->IoStatus.Status = STATUS_SUCCESS;
      IoSkipCurrentIrpStackLocation(irp);
      status = IoCallDriver(dx->Lower, irp);
      RtlFreeUnicodeString(&dx->InterfaceName);
      IoDetachDevice(dx->Lower);
      IoDeleteDevice(device);
      return status;
    case IRP_MN_SURPRISE_REMOVAL:
    case IRP_MN_STOP_DEVICE:
      stop_reader(dx);  // the device is gone, or its resources are: nothing may reach it
      irp->IoStatus.Status = STATUS_SUCCESS;
      break;
    case IRP_MN_QUERY_REMOVE_DEVICE:
    case IRP_MN_QUERY_STOP_DEVICE:
    case IRP_MN_CANCEL_REMOVE_DEVICE:
    case IRP_MN_CANCEL_STOP_DEVICE: irp->IoStatus.Status = STATUS_SUCCESS; break;
    default: break;  // not the function driver's: the lower drivers answer
  }
  IoSkipCurrentIrpStackLocation(irp);
  status = IoCallDriver(dx->Lower, irp);
  IoReleaseRemoveLock(&dx->RemoveLock, irp);
  return status;
}

VOID NTAPI device_power_done(PDEVICE_OBJECT, UCHAR, POWER_STATE, PVOID context, PIO_STATUS_BLOCK io_status) {
  auto* dx = static_cast<DeviceExtension*>(context);
  PIRP system_irp = dx->PendingSystemPowerIrp;
  dx->PendingSystemPowerIrp = nullptr;
  system_irp->IoStatus.Status = io_status->Status;
  PoStartNextPowerIrp(system_irp);
  IoCompleteRequest(system_irp, IO_NO_INCREMENT);
  IoReleaseRemoveLock(&dx->RemoveLock, system_irp);
}

// The S-IRP came back up: as the power policy owner the driver asks for the device power
// state that goes with it (D0 in S0, D3 in sleep states) and completes the S-IRP after it.
NTSTATUS NTAPI system_power_done(PDEVICE_OBJECT device, PIRP irp, PVOID) {
  DeviceExtension* dx = extension_of(device);  // the dispatch routine marked the IRP pending
  NTSTATUS status = irp->IoStatus.Status;
  if (NT_SUCCESS(status)) {
    const SYSTEM_POWER_STATE system = IoGetCurrentIrpStackLocation(irp)->Parameters.Power.State.SystemState;
    POWER_STATE wanted;
    wanted.DeviceState = system == PowerSystemWorking ? PowerDeviceD0 : PowerDeviceD3;
    dx->PendingSystemPowerIrp = irp;
    status = PoRequestPowerIrp(dx->Pdo, IRP_MN_SET_POWER, wanted, device_power_done, dx, nullptr);
    if (NT_SUCCESS(status)) return STATUS_MORE_PROCESSING_REQUIRED;
    dx->PendingSystemPowerIrp = nullptr;
    irp->IoStatus.Status = status;
  }
  PoStartNextPowerIrp(irp);
  IoReleaseRemoveLock(&dx->RemoveLock, irp);
  return STATUS_CONTINUE_COMPLETION;
}

NTSTATUS NTAPI dispatch_power(PDEVICE_OBJECT device, PIRP irp) {
  DeviceExtension* dx = extension_of(device);
  NTSTATUS status = IoAcquireRemoveLock(&dx->RemoveLock, irp);
  if (!NT_SUCCESS(status)) {
    PoStartNextPowerIrp(irp);
    return complete(irp, status);
  }
  PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(irp);
  if (stack->MinorFunction == IRP_MN_SET_POWER && stack->Parameters.Power.Type == SystemPowerState) {
    IoMarkIrpPending(irp);
    IoCopyCurrentIrpStackLocationToNext(irp);
    IoSetCompletionRoutine(irp, system_power_done, nullptr, TRUE, TRUE, TRUE);
    PoCallDriver(dx->Lower, irp);
    return STATUS_PENDING;  // the remove lock is released when the S-IRP completes
  }
  if (stack->MinorFunction == IRP_MN_SET_POWER && stack->Parameters.Power.Type == DevicePowerState) {
    const POWER_STATE state = stack->Parameters.Power.State;
    if (state.DeviceState == PowerDeviceD0) {
      // The bus powers the device first; then the driver reads the slot again.
      status = forward_and_wait(dx, irp, true);
      if (NT_SUCCESS(status)) {
        lock(dx);
        if (dx->Started) RdfSetDevicePower(smartcard_of(dx), PowerDeviceD0);
        dx->Asleep = false;
        unlock(dx);
        PoSetPowerState(device, DevicePowerState, state);
      }
      PoStartNextPowerIrp(irp);
      complete(irp, status);
      IoReleaseRemoveLock(&dx->RemoveLock, irp);
      return status;
    }
    // D1-D3 (spec smclib.md §7): the card is powered down while the device still answers.
    lock(dx);
    if (dx->Started && !dx->Asleep) RdfSetDevicePower(smartcard_of(dx), PowerDeviceD3);
    dx->Asleep = true;
    unlock(dx);
    PoSetPowerState(device, DevicePowerState, state);
    irp->IoStatus.Status = STATUS_SUCCESS;
  }
  PoStartNextPowerIrp(irp);
  IoSkipCurrentIrpStackLocation(irp);
  status = PoCallDriver(dx->Lower, irp);
  IoReleaseRemoveLock(&dx->RemoveLock, irp);
  return status;
}

NTSTATUS NTAPI dispatch_create_close(PDEVICE_OBJECT device, PIRP irp) {
  DeviceExtension* dx = extension_of(device);
  NTSTATUS status = IoAcquireRemoveLock(&dx->RemoveLock, irp);
  if (!NT_SUCCESS(status)) return complete(irp, status);
  if (IoGetCurrentIrpStackLocation(irp)->MajorFunction == IRP_MJ_CREATE && !dx->Started)
    status = STATUS_DEVICE_NOT_CONNECTED;
  complete(irp, status);
  IoReleaseRemoveLock(&dx->RemoveLock, irp);
  return status;
}

// IRP_MJ_CLEANUP: the last handle is closing; its pending tracking IRP is cancelled (spec §7).
NTSTATUS NTAPI dispatch_cleanup(PDEVICE_OBJECT device, PIRP irp) {
  DeviceExtension* dx = extension_of(device);
  NTSTATUS status = IoAcquireRemoveLock(&dx->RemoveLock, irp);
  if (!NT_SUCCESS(status)) return complete(irp, status);
  lock(dx);
  if (dx->Started) RdfCancelTracking(smartcard_of(dx));
  unlock(dx);
  complete(irp, STATUS_SUCCESS);
  IoReleaseRemoveLock(&dx->RemoveLock, irp);
  return STATUS_SUCCESS;
}

// IRP_MJ_DEVICE_CONTROL: straight to the driver's RdfDeviceControl (SmartcardDeviceControl),
// which completes the IRP or leaves it pending (card tracking).
NTSTATUS NTAPI dispatch_device_control(PDEVICE_OBJECT device, PIRP irp) {
  DeviceExtension* dx = extension_of(device);
  NTSTATUS status = IoAcquireRemoveLock(&dx->RemoveLock, irp);
  if (!NT_SUCCESS(status)) return complete(irp, status);
  lock(dx);
  if (dx->Started)
    status = RdfDeviceControl(device, irp);
  else
    status = complete(irp, STATUS_DEVICE_NOT_CONNECTED);
  unlock(dx);
  IoReleaseRemoveLock(&dx->RemoveLock, irp);
  return status;
}

NTSTATUS NTAPI dispatch_pass_down(PDEVICE_OBJECT device, PIRP irp) {
  DeviceExtension* dx = extension_of(device);
  NTSTATUS status = IoAcquireRemoveLock(&dx->RemoveLock, irp);
  if (!NT_SUCCESS(status)) return complete(irp, status);
  IoSkipCurrentIrpStackLocation(irp);
  status = IoCallDriver(dx->Lower, irp);
  IoReleaseRemoveLock(&dx->RemoveLock, irp);
  return status;
}

NTSTATUS NTAPI add_device(PDRIVER_OBJECT driver, PDEVICE_OBJECT pdo) {
  PDEVICE_OBJECT device = nullptr;
  // An exclusive device with buffered I/O, as the WDK's sample reader drivers have (spec §7 [S]).
  NTSTATUS status = IoCreateDevice(driver, sizeof(DeviceExtension), nullptr, FILE_DEVICE_SMARTCARD,
                                   FILE_DEVICE_SECURE_OPEN, TRUE, &device);
  if (!NT_SUCCESS(status)) return status;
  DeviceExtension* dx = extension_of(device);
  RtlZeroMemory(dx, sizeof(*dx));
  dx->Self = device;
  dx->Pdo = pdo;
  IoInitializeRemoveLock(&dx->RemoveLock, kPoolTag, 0, 0);
  KeInitializeMutex(&dx->DriverLock, 0);
  KeInitializeEvent(&dx->StopPolling, NotificationEvent, FALSE);
  status = IoRegisterDeviceInterface(pdo, &kSmartcardReaderInterface, nullptr, &dx->InterfaceName);
  if (!NT_SUCCESS(status)) {
    IoDeleteDevice(device);
    return status;
  }
  dx->Lower = IoAttachDeviceToDeviceStack(device, pdo);
  if (dx->Lower == nullptr) {
    RtlFreeUnicodeString(&dx->InterfaceName);
    IoDeleteDevice(device);
    return STATUS_NO_SUCH_DEVICE;
  }
  device->Flags |= DO_BUFFERED_IO | DO_POWER_PAGABLE;
  device->Flags &= ~static_cast<ULONG>(DO_DEVICE_INITIALIZING);
  return STATUS_SUCCESS;
}

// PnP removes every device before the driver is unloaded: nothing left to free.
VOID NTAPI unload(PDRIVER_OBJECT) {}

}  // namespace
}  // namespace reference_rdf::kernel

extern "C" NTSTATUS NTAPI DriverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING) {
  using namespace reference_rdf::kernel;
  driver->DriverExtension->AddDevice = add_device;
  driver->DriverUnload = unload;
  driver->MajorFunction[IRP_MJ_CREATE] = dispatch_create_close;
  driver->MajorFunction[IRP_MJ_CLOSE] = dispatch_create_close;
  driver->MajorFunction[IRP_MJ_CLEANUP] = dispatch_cleanup;
  driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = dispatch_device_control;
  driver->MajorFunction[IRP_MJ_PNP] = dispatch_pnp;
  driver->MajorFunction[IRP_MJ_POWER] = dispatch_power;
  driver->MajorFunction[IRP_MJ_SYSTEM_CONTROL] = dispatch_pass_down;
  return STATUS_SUCCESS;
}
