// User-mode model of the WDM routines in wdm_model.h.
#include "wdm_model.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::atomic_flag g_cancel_lock = ATOMIC_FLAG_INIT;  // the system-wide cancel spin lock

void spin_acquire(PKSPIN_LOCK lock) {
  for (;;) {
    ULONG_PTR expected = 0;
    if (__atomic_compare_exchange_n(lock, &expected, ULONG_PTR{1}, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
      return;
    }
    std::this_thread::yield();
  }
}

void spin_release(PKSPIN_LOCK lock) { __atomic_store_n(lock, ULONG_PTR{0}, __ATOMIC_RELEASE); }

// \DosDevices: link name -> device name. Names compare exactly here; the object manager
// would ignore case, which no caller of the model relies on.
struct SymbolicLinks {
  std::mutex mutex;
  std::map<std::wstring, std::wstring> targets;
};
SymbolicLinks& symbolic_links() {
  static SymbolicLinks links;
  return links;
}

std::wstring text_of(const UNICODE_STRING& string) {
  if (string.Buffer == nullptr) return {};
  return std::wstring(string.Buffer, string.Length / sizeof(WCHAR));
}

}  // namespace

extern "C" {

VOID KeInitializeSpinLock(PKSPIN_LOCK SpinLock) { *SpinLock = 0; }
VOID KeAcquireSpinLock(PKSPIN_LOCK SpinLock, PKIRQL OldIrql) {
  spin_acquire(SpinLock);
  if (OldIrql != nullptr) *OldIrql = PASSIVE_LEVEL;
}
VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql) {
  (void)NewIrql;
  spin_release(SpinLock);
}
VOID KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock) { spin_acquire(SpinLock); }
VOID KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock) { spin_release(SpinLock); }
KIRQL KeGetCurrentIrql(void) { return PASSIVE_LEVEL; }

PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag) {
  (void)PoolType;
  (void)Tag;
  return std::calloc(1, NumberOfBytes == 0 ? 1 : NumberOfBytes);
}
PVOID ExAllocatePool(POOL_TYPE PoolType, SIZE_T NumberOfBytes) {
  return ExAllocatePoolWithTag(PoolType, NumberOfBytes, 0);
}
VOID ExFreePool(PVOID P) { std::free(P); }
VOID ExFreePoolWithTag(PVOID P, ULONG Tag) {
  (void)Tag;
  std::free(P);
}

VOID RtlInitUnicodeString(PUNICODE_STRING DestinationString, PCWSTR SourceString) {
  size_t chars = 0;
  if (SourceString != nullptr) {
    while (SourceString[chars] != 0) ++chars;
  }
  DestinationString->Buffer = const_cast<PWSTR>(SourceString);
  DestinationString->Length = static_cast<USHORT>(chars * sizeof(WCHAR));
  DestinationString->MaximumLength = static_cast<USHORT>(SourceString != nullptr ? (chars + 1) * sizeof(WCHAR) : 0);
}

NTSTATUS IoCreateSymbolicLink(PUNICODE_STRING SymbolicLinkName, PUNICODE_STRING DeviceName) {
  if (SymbolicLinkName == nullptr || DeviceName == nullptr) return STATUS_INVALID_PARAMETER;
  auto& links = symbolic_links();
  std::lock_guard lock(links.mutex);
  const bool added = links.targets.emplace(text_of(*SymbolicLinkName), text_of(*DeviceName)).second;
  return added ? STATUS_SUCCESS : STATUS_OBJECT_NAME_COLLISION;
}

NTSTATUS IoDeleteSymbolicLink(PUNICODE_STRING SymbolicLinkName) {
  if (SymbolicLinkName == nullptr) return STATUS_INVALID_PARAMETER;
  auto& links = symbolic_links();
  std::lock_guard lock(links.mutex);
  return links.targets.erase(text_of(*SymbolicLinkName)) == 1 ? STATUS_SUCCESS : STATUS_OBJECT_NAME_NOT_FOUND;
}

ULONG DbgPrint(const char* Format, ...) {
  va_list args;
  va_start(args, Format);
  const int n = std::vfprintf(stderr, Format, args);
  va_end(args);
  return n < 0 ? 0u : static_cast<ULONG>(n);
}

VOID IoCompleteRequest(PIRP Irp, CCHAR PriorityBoost) {
  (void)PriorityBoost;
  Irp->CancelRoutine = nullptr;
  if ((Irp->ReaderlabStack.Control & SL_PENDING_RETURNED) != 0) Irp->PendingReturned = TRUE;
  InterlockedIncrement(&Irp->ReaderlabCompleteCount);
  if (Irp->ReaderlabCompletion != nullptr) {
    Irp->ReaderlabCompletion(Irp, Irp->ReaderlabCompletionContext);
  }
}

PDRIVER_CANCEL IoSetCancelRoutine(PIRP Irp, PDRIVER_CANCEL CancelRoutine) {
  return __atomic_exchange_n(&Irp->CancelRoutine, CancelRoutine, __ATOMIC_SEQ_CST);
}

VOID IoAcquireCancelSpinLock(PKIRQL Irql) {
  while (g_cancel_lock.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
  if (Irql != nullptr) *Irql = PASSIVE_LEVEL;
}

VOID IoReleaseCancelSpinLock(KIRQL Irql) {
  (void)Irql;
  g_cancel_lock.clear(std::memory_order_release);
}

BOOLEAN IoCancelIrp(PIRP Irp) {
  KIRQL irql = PASSIVE_LEVEL;
  IoAcquireCancelSpinLock(&irql);
  Irp->Cancel = TRUE;
  PDRIVER_CANCEL routine = IoSetCancelRoutine(Irp, nullptr);
  if (routine == nullptr) {
    IoReleaseCancelSpinLock(irql);
    return FALSE;
  }
  Irp->CancelIrql = irql;
  routine(Irp->ReaderlabStack.DeviceObject, Irp);  // releases the cancel spin lock
  return TRUE;
}

PIRP IoAllocateIrp(CCHAR StackSize, BOOLEAN ChargeQuota) {
  (void)StackSize;
  (void)ChargeQuota;
  auto* irp = static_cast<PIRP>(std::calloc(1, sizeof(IRP)));
  if (irp != nullptr) irp->Size = static_cast<USHORT>(sizeof(IRP));
  return irp;
}

VOID IoFreeIrp(PIRP Irp) { std::free(Irp); }

VOID ReaderlabBuildIrp(PIRP Irp, PDEVICE_OBJECT DeviceObject, UCHAR MajorFunction, UCHAR MinorFunction) {
  std::memset(Irp, 0, sizeof(IRP));
  Irp->Size = static_cast<USHORT>(sizeof(IRP));
  Irp->IoStatus.Status = STATUS_PENDING;
  Irp->ReaderlabStack.MajorFunction = MajorFunction;
  Irp->ReaderlabStack.MinorFunction = MinorFunction;
  Irp->ReaderlabStack.DeviceObject = DeviceObject;
  InitializeListHead(&Irp->Tail.Overlay.ListEntry);
}

VOID ReaderlabBuildDeviceControlIrp(PIRP Irp, PDEVICE_OBJECT DeviceObject, ULONG IoControlCode, PVOID SystemBuffer,
                                    ULONG InputBufferLength, ULONG OutputBufferLength) {
  ReaderlabBuildIrp(Irp, DeviceObject, IRP_MJ_DEVICE_CONTROL, 0);
  Irp->AssociatedIrp.SystemBuffer = SystemBuffer;
  Irp->ReaderlabStack.Parameters.DeviceIoControl.IoControlCode = IoControlCode;
  Irp->ReaderlabStack.Parameters.DeviceIoControl.InputBufferLength = InputBufferLength;
  Irp->ReaderlabStack.Parameters.DeviceIoControl.OutputBufferLength = OutputBufferLength;
}

VOID ReaderlabBuildSetDevicePowerIrp(PIRP Irp, PDEVICE_OBJECT DeviceObject, DEVICE_POWER_STATE State,
                                     POWER_ACTION Action) {
  ReaderlabBuildIrp(Irp, DeviceObject, IRP_MJ_POWER, IRP_MN_SET_POWER);
  Irp->ReaderlabStack.Parameters.Power.Type = DevicePowerState;
  Irp->ReaderlabStack.Parameters.Power.State.DeviceState = State;
  Irp->ReaderlabStack.Parameters.Power.ShutdownType = Action;
}

}  // extern "C"
