// smcnt.h — the NT-specific part of the smart card driver library: OS_DEP_DATA and the
// routines that deal with device objects, links, error log and the remove lock
// (spec smclib.md §3 and §5, sources [DDI][H][PV]).
#ifndef READERLAB_SMCNT_H
#define READERLAB_SMCNT_H

#include "smclib_wdm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct _SMARTCARD_EXTENSION;

// Allocated by SmartcardInitialize, freed by SmartcardExit.
#ifdef READERLAB_WDK_BUILD
// The kernel build links the real smclib.sys, which allocates this with the WDK's layout: a
// mutex before SpinLock and a remove event in RemoveLock ([H] smcnt.h). A driver reaches
// SpinLock, NotificationIrp and DeviceObject through it, so their offsets must be the WDK's
// (smclib_layout.h checks them).
typedef struct _OS_DEP_DATA {
  PDEVICE_OBJECT DeviceObject;
  PIRP CurrentIrp;
  PIRP NotificationIrp;
  KMUTEX Mutex;
  KSPIN_LOCK SpinLock;
  struct {
    BOOLEAN Removed;
    LONG RefCount;
    KEVENT RemoveEvent;
    LIST_ENTRY TagList;
  } RemoveLock;
} OS_DEP_DATA, *POS_DEP_DATA;
#else
// The model's own: library-private (drivers use its fields by name only), without the mutex
// and event the model does not need.
typedef struct _OS_DEP_DATA {
  PDEVICE_OBJECT DeviceObject;  // set by the driver after SmartcardInitialize [S]
  PIRP CurrentIrp;              // the IRP being processed (non-tracking IOCTLs)
  PIRP NotificationIrp;         // the pending IS_PRESENT / IS_ABSENT IRP
  KSPIN_LOCK SpinLock;          // guards ReaderCapabilities.CurrentState [DDI]
  struct {
    BOOLEAN Removed;
    LONG RefCount;       // 1 after SmartcardInitialize [R]
    LIST_ENTRY TagList;  // an empty list head after SmartcardInitialize; Win11's free build adds no entries [R]
  } RemoveLock;
  PVOID ReaderlabPrivate;  // model: library-private state (callback serialization)
} OS_DEP_DATA, *POS_DEP_DATA;
#endif

// Creates the symbolic link \DosDevices\SCReader<n> to DeviceName, n the lowest unit not yet
// linked, and returns its name in LinkName (uninitialised on entry) [D][PV]. On unload the
// driver calls IoDeleteSymbolicLink(LinkName) and frees LinkName->Buffer with ExFreePool.
// NULL names give INVALID_PARAMETER_1 / _2.
NTSTATUS SmartcardCreateLink(PUNICODE_STRING LinkName, PUNICODE_STRING DeviceName);
// Writes an error log entry (model: printed when a debug level is set) [D].
VOID SmartcardLogError(PVOID Object, NTSTATUS ErrorCode, PUNICODE_STRING Insertion, ULONG DumpData);

// Remove lock [PV][R]. Acquire gives SUCCESS or DELETE_PENDING once the device is removed.
NTSTATUS SmartcardAcquireRemoveLock(struct _SMARTCARD_EXTENSION* SmartcardExtension);
NTSTATUS SmartcardAcquireRemoveLockWithTag(struct _SMARTCARD_EXTENSION* SmartcardExtension, ULONG Tag);
VOID SmartcardReleaseRemoveLock(struct _SMARTCARD_EXTENSION* SmartcardExtension);
VOID SmartcardReleaseRemoveLockWithTag(struct _SMARTCARD_EXTENSION* SmartcardExtension, ULONG Tag);
// Marks the device removed and drops two references: the caller's own (acquired when its
// IRP_MN_REMOVE_DEVICE dispatch began; do not release it first) and the one SmartcardInitialize
// took. Returns at once when no other dispatch routine holds one (RefCount 0) [R], else waits
// for their release [PV].
VOID SmartcardReleaseRemoveLockAndWait(struct _SMARTCARD_EXTENSION* SmartcardExtension);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // READERLAB_SMCNT_H
