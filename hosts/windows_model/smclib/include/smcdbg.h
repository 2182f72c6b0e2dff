// smcdbg.h — debug masks and the SmartcardDebug macro of the smart card driver library
// (spec smclib.md §3 constants, source [H]).
#ifndef READERLAB_SMCDBG_H
#define READERLAB_SMCDBG_H

#include "smclib_wdm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DEBUG_IOCTL ((ULONG)0x00000001)     // [H]
#define DEBUG_ATR ((ULONG)0x00000002)       // [H]
#define DEBUG_PROTOCOL ((ULONG)0x00000004)  // [H]
#define DEBUG_DRIVER ((ULONG)0x00000008)    // [H]
#define DEBUG_TRACE ((ULONG)0x00000010)     // [H]
#define DEBUG_ERROR ((ULONG)0x00000020)     // [H]
#define DEBUG_INFO DEBUG_ERROR
#define DEBUG_ALL ((ULONG)0x0000FFFF)

// Current library debug mask (default 0) [D][R].
ULONG SmartcardGetDebugLevel(void);
VOID SmartcardSetDebugLevel(ULONG Level);

// Usage: SmartcardDebug(DEBUG_TRACE, ("%s!Fn: x=%u\n", DRIVER_NAME, x));
#define SmartcardDebug(LEVEL, STRING)                \
  do {                                               \
    if ((SmartcardGetDebugLevel() & (LEVEL)) != 0) { \
      DbgPrint STRING;                               \
    }                                                \
  } while (0)

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // READERLAB_SMCDBG_H
