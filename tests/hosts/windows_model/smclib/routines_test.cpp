// The library's small routines (spec smclib.md §5): debug level and its output, LogError,
// CreateLink, the remove lock, T=0/raw helper edges, requests on a dead extension, and the
// WDM model routines the library and drivers use.
#include <doctest/doctest.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "harness.h"

using smc::UserBuffer;

namespace {

// What the library's DbgPrint writes to stderr while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    file_ = std::tmpfile();
    REQUIRE(file_ != nullptr);
    saved_ = dup(STDERR_FILENO);
    dup2(fileno(file_), STDERR_FILENO);
  }
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string text() {
    restore();
    std::string out;
    std::rewind(file_);
    char chunk[256];
    size_t n = 0;
    while ((n = std::fread(chunk, 1, sizeof chunk, file_)) > 0) out.append(chunk, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }
  std::FILE* file_ = nullptr;
  int saved_ = -1;
};

// Puts the debug level back whatever a test does.
struct DebugLevel {
  explicit DebugLevel(ULONG level) { SmartcardSetDebugLevel(level); }
  ~DebugLevel() { SmartcardSetDebugLevel(0); }
};

}  // namespace

TEST_CASE("smclib: DEBUG_IOCTL traces every completed IOCTL, level 0 traces nothing") {
  Harness h;
  {
    StderrCapture capture;
    CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_GET_STATE, {}, 4).status(), STATUS_SUCCESS);
    CHECK_EQ(capture.text(), "");
  }
  DebugLevel level(DEBUG_IOCTL);
  StderrCapture capture;
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_GET_STATE, {}, 4).status(), STATUS_SUCCESS);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_GET_STATE, {}, 3).status(), STATUS_BUFFER_TOO_SMALL);
  const std::string log = capture.text();
  CHECK_NE(log.find("00310038 -> 00000000 (4 bytes)"), std::string::npos);
  CHECK_NE(log.find("00310038 -> c0000023 (0 bytes)"), std::string::npos);
}

TEST_CASE("smclib: SmartcardLogError logs only when debugging") {
  {
    StderrCapture capture;
    SmartcardLogError(nullptr, STATUS_INSUFFICIENT_RESOURCES, nullptr, 0x2A);
    CHECK_EQ(capture.text(), "");
  }
  {
    DebugLevel level(DEBUG_ERROR);
    StderrCapture capture;
    SmartcardLogError(nullptr, STATUS_INSUFFICIENT_RESOURCES, nullptr, 0x2A);
    const std::string log = capture.text();
    CHECK_NE(log.find("c000009a"), std::string::npos);
    CHECK_NE(log.find("0000002a"), std::string::npos);
  }
}

namespace {

std::wstring text_of(const UNICODE_STRING& string) {
  return std::wstring(string.Buffer, string.Length / sizeof(WCHAR));
}

// What a driver does on unload with the name SmartcardCreateLink gave it.
void delete_link(UNICODE_STRING& link) {
  CHECK_EQ(IoDeleteSymbolicLink(&link), STATUS_SUCCESS);
  ExFreePool(link.Buffer);
  link = UNICODE_STRING{};
}

}  // namespace

TEST_CASE("smclib: SmartcardCreateLink links SCReader<n> in DosDevices, n the lowest free unit") {
  UNICODE_STRING device{}, other_device{};
  // Units 5 and 7 in the device names: the Win32 unit is counted on its own.
  RtlInitUnicodeString(&device, L"\\Device\\ReaderlabRdf5");
  RtlInitUnicodeString(&other_device, L"\\Device\\ReaderlabRdf7");
  UNICODE_STRING first{}, second{}, again{};
  REQUIRE_EQ(SmartcardCreateLink(&first, &device), STATUS_SUCCESS);
  CHECK(text_of(first) == L"\\DosDevices\\SCReader0");
  CHECK_EQ(size_t{first.MaximumLength}, first.Length + sizeof(WCHAR));  // room for a NUL
  REQUIRE_EQ(SmartcardCreateLink(&second, &other_device), STATUS_SUCCESS);
  CHECK(text_of(second) == L"\\DosDevices\\SCReader1");
  // The link exists in the namespace, not only as a returned string.
  CHECK_EQ(IoCreateSymbolicLink(&first, &other_device), STATUS_OBJECT_NAME_COLLISION);

  delete_link(first);
  REQUIRE_EQ(SmartcardCreateLink(&again, &other_device), STATUS_SUCCESS);
  CHECK(text_of(again) == L"\\DosDevices\\SCReader0");  // the unit freed above
  delete_link(again);
  delete_link(second);

  UNICODE_STRING link{};
  CHECK_EQ(SmartcardCreateLink(nullptr, &device), STATUS_INVALID_PARAMETER_1);
  CHECK_EQ(SmartcardCreateLink(&link, nullptr), STATUS_INVALID_PARAMETER_2);
}

TEST_CASE("smclib: remove lock: an unbalanced release does not go below zero") {
  Harness h;
  DebugLevel level(DEBUG_ERROR);
  StderrCapture capture;
  SmartcardReleaseRemoveLock(&h.ext);  // the reference from SmartcardInitialize
  CHECK_EQ(h.ext.OsData->RemoveLock.RefCount, 0);
  SmartcardReleaseRemoveLock(&h.ext);  // one too many
  CHECK_EQ(h.ext.OsData->RemoveLock.RefCount, 0);
  CHECK_NE(capture.text().find("unbalanced"), std::string::npos);
  CHECK_EQ(SmartcardAcquireRemoveLock(&h.ext), STATUS_SUCCESS);  // not removed: still usable
  CHECK_EQ(h.ext.OsData->RemoveLock.RefCount, 1);
}

TEST_CASE("smclib: SmartcardReleaseRemoveLockAndWait waits for another dispatch routine's reference") {
  Harness h;
  REQUIRE_EQ(SmartcardAcquireRemoveLock(&h.ext), STATUS_SUCCESS);  // the caller's, dropped by the call
  REQUIRE_EQ(SmartcardAcquireRemoveLockWithTag(&h.ext, 0x31505249u), STATUS_SUCCESS);
  std::atomic<bool> released{false};
  std::thread dispatch([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    released = true;
    SmartcardReleaseRemoveLockWithTag(&h.ext, 0x31505249u);
  });
  SmartcardReleaseRemoveLockAndWait(&h.ext);
  CHECK(released.load());
  CHECK_EQ(h.ext.OsData->RemoveLock.RefCount, 0);
  CHECK(h.ext.OsData->RemoveLock.Removed);
  CHECK_EQ(SmartcardAcquireRemoveLockWithTag(&h.ext, 0x32505249u), STATUS_DELETE_PENDING);
  dispatch.join();
}

TEST_CASE("smclib: after SmartcardExit the extension refuses requests and locks") {
  Harness h;
  SmartcardExit(&h.ext);
  REQUIRE(h.ext.OsData == nullptr);
  auto r = h.ioctl(IOCTL_SMARTCARD_GET_STATE, {}, 4);
  CHECK_EQ(r.returned, STATUS_INVALID_DEVICE_STATE);
  CHECK(r.completed());
  CHECK_EQ(r.status(), STATUS_INVALID_DEVICE_STATE);
  CHECK_EQ(r.info(), 0u);
  CHECK_EQ(SmartcardAcquireRemoveLock(&h.ext), STATUS_DELETE_PENDING);
  SmartcardReleaseRemoveLock(&h.ext);
  SmartcardReleaseRemoveLockAndWait(&h.ext);
  SmartcardCompleteCardTracking(&h.ext);
  SmartcardExit(&h.ext);  // twice is harmless
  CHECK(h.ext.SmartcardRequest.Buffer == nullptr);
}

TEST_CASE("smclib: NULL arguments are refused") {
  Harness h;
  IRP irp;
  ReaderlabBuildDeviceControlIrp(&irp, &h.device, IOCTL_SMARTCARD_GET_STATE, nullptr, 0, 0);
  CHECK_EQ(SmartcardDeviceControl(nullptr, &irp), STATUS_INVALID_PARAMETER);
  CHECK_EQ(SmartcardDeviceControl(&h.ext, nullptr), STATUS_INVALID_PARAMETER);
  CHECK_EQ(irp.ReaderlabCompleteCount, 0);
  CHECK_EQ(SmartcardInitialize(nullptr), STATUS_INVALID_PARAMETER);
  CHECK_EQ(SmartcardUpdateCardCapabilities(nullptr), STATUS_INVALID_PARAMETER);
  SmartcardInitializeCardCapabilities(nullptr);
  SmartcardExit(nullptr);
  SmartcardCompleteCardTracking(nullptr);
  SmartcardInvertData(nullptr, 4);
}

TEST_CASE("smclib: a tracking IRP cancelled while the driver completes it ends CANCELLED") {
  Harness h;
  h.set_state(SCARD_ABSENT);
  auto pending = h.ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0);
  REQUIRE_EQ(pending.returned, STATUS_PENDING);
  pending.irp->Cancel = TRUE;  // the I/O manager marked it; the cancel routine has not run yet
  SmartcardCompleteCardTracking(&h.ext);
  CHECK(pending.completed());
  CHECK_EQ(pending.status(), STATUS_CANCELLED);
  const bool cancel_routine_cleared = pending.irp->CancelRoutine == nullptr;
  CHECK(cancel_routine_cleared);
  CHECK(h.ext.OsData->NotificationIrp == nullptr);
}

TEST_CASE("smclib: T=0 and raw helper edges") {
  Harness h;
  SUBCASE("a SCARD_IO_REQUEST whose cbPciLength is not in the input") {
    for (UCHAR pci : {UCHAR{4}, UCHAR{200}}) {
      UserBuffer io(h, {0x00, 0xA4, 0x00, 0x00}, 64, SCARD_PROTOCOL_T0);
      io.bytes[4] = pci;
      h.ext.SmartcardRequest.BufferLength = 0;
      CHECK_EQ(SmartcardT0Request(&h.ext), STATUS_INVALID_PARAMETER);
      CHECK_EQ(h.ext.SmartcardRequest.BufferLength, 0u);
    }
  }
  SUBCASE("case 3 needs P3 = Lc > 0") {
    UserBuffer io(h, {0x00, 0xD6, 0x00, 0x00, 0x00, 0xAA}, 64, SCARD_PROTOCOL_T0);
    h.ext.SmartcardRequest.BufferLength = 0;
    CHECK_EQ(SmartcardT0Request(&h.ext), STATUS_INVALID_PARAMETER);
  }
  SUBCASE("a longer SCARD_IO_REQUEST is skipped") {
    UserBuffer io(h, {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xB0, 0x00, 0x00, 0x10}, 64, SCARD_PROTOCOL_T0);
    io.bytes[4] = 12;
    h.ext.SmartcardRequest.BufferLength = 0;
    CHECK_EQ(SmartcardT0Request(&h.ext), STATUS_SUCCESS);
    CHECK_EQ(h.ext.T0.Le, 16u);
    CHECK_EQ(std::vector<UCHAR>(h.ext.SmartcardRequest.Buffer, h.ext.SmartcardRequest.Buffer + 5),
             (std::vector<UCHAR>{0x00, 0xB0, 0x00, 0x00, 0x10}));
  }
  SUBCASE("raw reply without a user buffer, and an empty raw reply") {
    UserBuffer io(h, {}, 8, SCARD_PROTOCOL_RAW);
    h.ext.SmartcardReply.BufferLength = 0;
    io.information = 99;
    CHECK_EQ(SmartcardRawReply(&h.ext), STATUS_SUCCESS);
    CHECK_EQ(io.information, 0u);
    h.ext.SmartcardReply.BufferLength = 2;
    h.ext.IoRequest.ReplyBuffer = nullptr;
    CHECK_EQ(SmartcardRawReply(&h.ext), STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(SmartcardT0Reply(&h.ext), STATUS_BUFFER_TOO_SMALL);
  }
}

TEST_CASE("WDM model: pool, strings, spin locks, IRPs and completion") {
  auto* pool = static_cast<UCHAR*>(ExAllocatePool(NonPagedPool, 16));
  REQUIRE(pool != nullptr);
  for (int i = 0; i < 16; ++i) CHECK_EQ(pool[i], 0);
  ExFreePoolWithTag(pool, 0x54657374u);

  UNICODE_STRING s;
  RtlInitUnicodeString(&s, L"SCReader0");
  CHECK_EQ(s.Length, 9 * sizeof(WCHAR));
  CHECK_EQ(s.MaximumLength, 10 * sizeof(WCHAR));
  RtlInitUnicodeString(&s, nullptr);
  CHECK_EQ(s.Length, 0);
  CHECK_EQ(s.MaximumLength, 0);
  CHECK(s.Buffer == nullptr);

  KSPIN_LOCK lock;
  KeInitializeSpinLock(&lock);
  KeAcquireSpinLockAtDpcLevel(&lock);
  CHECK_NE(lock, 0u);
  KeReleaseSpinLockFromDpcLevel(&lock);
  CHECK_EQ(lock, 0u);
  CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);

  // a spin lock held by another thread is waited for
  KIRQL irql;
  KeAcquireSpinLock(&lock, &irql);
  std::atomic<bool> got{false};
  std::thread other([&] {
    KIRQL other_irql;
    KeAcquireSpinLock(&lock, &other_irql);
    got = true;
    KeReleaseSpinLock(&lock, other_irql);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(got.load());
  KeReleaseSpinLock(&lock, irql);
  other.join();
  CHECK(got.load());

  {
    StderrCapture capture;
    CHECK_EQ(DbgPrint("%s %u\n", "rdf", 7u), 6u);
    CHECK_EQ(capture.text(), "rdf 7\n");
  }

  PIRP irp = IoAllocateIrp(1, FALSE);
  REQUIRE(irp != nullptr);
  CHECK_EQ(irp->Size, sizeof(IRP));
  DEVICE_OBJECT device{};
  ReaderlabBuildIrp(irp, &device, IRP_MJ_CLEANUP, 0);
  CHECK_EQ(irp->IoStatus.Status, STATUS_PENDING);
  CHECK_EQ(IoGetCurrentIrpStackLocation(irp)->MajorFunction, IRP_MJ_CLEANUP);
  CHECK(IoGetCurrentIrpStackLocation(irp)->DeviceObject == &device);
  CHECK(IsListEmpty(&irp->Tail.Overlay.ListEntry));
  // no cancel routine: IoCancelIrp only marks the IRP
  CHECK_FALSE(IoCancelIrp(irp));
  CHECK(irp->Cancel);
  static int completions;
  static PVOID completion_context;
  completions = 0;
  irp->ReaderlabCompletion = [](PIRP, PVOID context) {
    ++completions;
    completion_context = context;
  };
  irp->ReaderlabCompletionContext = &device;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  CHECK_EQ(completions, 1);
  CHECK(completion_context == &device);
  CHECK_EQ(irp->ReaderlabCompleteCount, 1);
  CHECK_FALSE(irp->PendingReturned);  // never marked pending
  IoFreeIrp(irp);
}
