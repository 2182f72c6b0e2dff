// smclib.h — the smart card driver library (smclib) as readerlab models it in user mode.
// Written for readerlab from the public documentation (spec smclib.md; sources [DDI][H][PV][R]).
// Type, field, constant and function names follow the WDK so that a reader driver (RDF) that
// uses only the library and plain WDM calls compiles against it unchanged.
#ifndef READERLAB_SMCLIB_H
#define READERLAB_SMCLIB_H

#include "smcdbg.h"
#include "smclib_wdm.h"
#include "smcnt.h"
#include "winsmcrd.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- Constants (spec §3, [H]) ----
#define SMCLIB_VERSION 0x150           // [H]
#define SMCLIB_VERSION_REQUIRED 0x100  // [H]
#define MIN_BUFFER_SIZE 288            // [H]
#define MAXIMUM_ATR_LENGTH 33          // [H]
#define MAXIMUM_ATTR_STRING_LENGTH 32  // VENDOR_ATTR string buffers, spec §3
#define MAXIMUM_SERIAL_READERS 4

// ReaderFunction[] indexes (spec §2, [H])
#define RDF_CARD_POWER 0
#define RDF_TRANSMIT 1
#define RDF_CARD_EJECT 2
#define RDF_READER_SWALLOW 3
#define RDF_CARD_TRACKING 4
#define RDF_SET_PROTOCOL 5
#define RDF_DEBUG_LEVEL 6
#define RDF_CARD_CONFISCATE 7
#define RDF_IOCTL_VENDOR 8
#define RDF_ATR_PARSE 9

// PTS_DATA.Type (spec §3)
#define PTS_TYPE_DEFAULT 0x00
#define PTS_TYPE_OPTIMAL 0x01
#define PTS_TYPE_USER 0x02

// T=1 engine states and S-block PCBs (spec §3, [H])
#define T1_INIT 0
#define T1_START 1
#define T1_I_BLOCK 2
#define T1_R_BLOCK 3
#define T1_RESTART 4
#define T1_RESYNCH_REQUEST 0xC0
#define T1_RESYNCH_RESPONSE 0xE0
#define T1_IFS_REQUEST 0xC1
#define T1_IFS_RESPONSE 0xE1
#define T1_ABORT_REQUEST 0xC2
#define T1_ABORT_RESPONSE 0xE2
#define T1_WTX_REQUEST 0xC3
#define T1_WTX_RESPONSE 0xE3
#define T1_VPP_ERROR 0xE4
#define T1_MORE_DATA 0x20   // [H]
#define T1_IFSD 254         // [H]
#define T1_IFSD_DEFAULT 32  // [H]
#define T1_MAX_RETRIES 2    // [H]
#define T1_CRC_CHECK 1      // [H]
#define T1_CWI_DEFAULT 13   // [H]
#define T1_BWI_DEFAULT 4    // [H]

// ---- Structures (spec §3) ----
typedef struct _CLOCK_RATE_CONVERSION {
  ULONG F;   // clock rate conversion integer, ISO 7816-3 Table 7
  ULONG fs;  // maximum clock frequency in Hz for this Fi
} CLOCK_RATE_CONVERSION;
typedef const CLOCK_RATE_CONVERSION* PCLOCK_RATE_CONVERSION;

typedef struct _BIT_RATE_ADJUSTMENT {
  ULONG DNumerator;  // D = DNumerator / DDivisor, ISO 7816-3 Table 8
  ULONG DDivisor;
} BIT_RATE_ADJUSTMENT;
typedef const BIT_RATE_ADJUSTMENT* PBIT_RATE_ADJUSTMENT;

typedef struct _PTS_DATA {
  UCHAR Type;  // PTS_TYPE_*
  UCHAR Fl;
  UCHAR Dl;
  ULONG CLKFrequency;  // kHz
  ULONG DataRate;      // bps
  UCHAR StopBits;
} PTS_DATA, *PPTS_DATA;

typedef struct _SCARD_CARD_CAPABILITIES {
  BOOLEAN InversConvention;
  ULONG etu;  // microseconds
  struct _ATR {
    UCHAR Buffer[64];
    UCHAR Length;
  } ATR;
  struct _HISTORICAL_CHARS {
    UCHAR Buffer[16];
    UCHAR Length;
  } HistoricalChars;
  PCLOCK_RATE_CONVERSION ClockRateConversion;  // indexed by Fl, 16 entries
  PBIT_RATE_ADJUSTMENT BitRateAdjustment;      // indexed by Dl, 16 entries
  UCHAR Fl;
  UCHAR Dl;
  UCHAR II;
  UCHAR P;  // programming voltage in 0.1 V
  UCHAR N;
  ULONG GT;  // microseconds
  struct _PROTOCOL {
    ULONG Supported;
    ULONG Selected;
  } Protocol;
  struct _T0 {
    UCHAR WI;
    ULONG WT;  // microseconds
  } T0;
  struct _T1 {
    UCHAR IFSC;
    UCHAR CWI;
    UCHAR BWI;
    UCHAR EDC;  // bit 0: CRC (T1_CRC_CHECK)
    ULONG CWT;  // microseconds
    ULONG BWT;  // microseconds
    ULONG BGT;  // microseconds
  } T1;
  PTS_DATA PtsData;
  UCHAR Reserved[100 - sizeof(PTS_DATA)];
} SCARD_CARD_CAPABILITIES, *PSCARD_CARD_CAPABILITIES;

typedef struct _SCARD_READER_CAPABILITIES {
  ULONG SupportedProtocols;
  ULONG Reserved;
  ULONG ReaderType;
  ULONG MechProperties;
  ULONG CurrentState;  // under OsData->SpinLock
  ULONG Channel;
  struct {
    ULONG Default;  // kHz
    ULONG Max;
  } CLKFrequency;
  struct {
    ULONG Default;  // bps
    ULONG Max;
  } DataRate;
  ULONG MaxIFSD;
  ULONG PowerMgmtSupport;
  ULONG CardConfiscated;
  struct _DataRatesSupported {
    PULONG List;
    UCHAR Entries;
  } DataRatesSupported;
  struct _CLKFrequenciesSupported {
    PULONG List;
    UCHAR Entries;
  } CLKFrequenciesSupported;
  // The WDK's padding takes one ULONG and the two lists off 100 (DDI SCARD_READER_CAPABILITIES
  // page; [H]): 64 bytes on x64, the struct 144 bytes (smclib_layout.h).
  UCHAR Reserved1[100 - sizeof(ULONG) - sizeof(struct _DataRatesSupported) - sizeof(struct _CLKFrequenciesSupported)];
} SCARD_READER_CAPABILITIES, *PSCARD_READER_CAPABILITIES;

typedef struct _VENDOR_ATTR {
  struct _VENDOR_NAME {
    USHORT Length;
    UCHAR Buffer[MAXIMUM_ATTR_STRING_LENGTH];
  } VendorName;
  struct _IFD_TYPE {
    USHORT Length;
    UCHAR Buffer[MAXIMUM_ATTR_STRING_LENGTH];
  } IfdType;
  ULONG UnitNo;
  struct _IFD_VERSION {
    USHORT BuildNumber;
    UCHAR VersionMinor;
    UCHAR VersionMajor;
  } IfdVersion;
  struct _IFD_SERIAL_NO {
    USHORT Length;
    UCHAR Buffer[MAXIMUM_ATTR_STRING_LENGTH];
  } IfdSerialNo;
  ULONG Reserved[25];
} VENDOR_ATTR, *PVENDOR_ATTR;

typedef struct _SMARTCARD_REQUEST {
  PUCHAR Buffer;       // allocated by SmartcardInitialize
  ULONG BufferSize;    // set by the driver before SmartcardInitialize (>= MIN_BUFFER_SIZE)
  ULONG BufferLength;  // bytes to send (a driver prefix may be preset before the helpers)
} SMARTCARD_REQUEST, *PSMARTCARD_REQUEST;

typedef struct _SMARTCARD_REPLY {
  PUCHAR Buffer;
  ULONG BufferSize;
  ULONG BufferLength;  // bytes received from the card
} SMARTCARD_REPLY, *PSMARTCARD_REPLY;

typedef struct _T0_DATA {
  ULONG Lc;  // data bytes sent
  ULONG Le;  // data bytes expected
} T0_DATA, *PT0_DATA;

// State of the library's T=1 engine. Drivers may change only NAD [PV]; they read Wtx.
typedef struct _T1_DATA {
  UCHAR IFSC;
  UCHAR IFSD;
  ULONG BytesReceived;
  ULONG BytesSent;
  ULONG BytesToSend;
  UCHAR LastError;
  BOOLEAN MoreData;
  UCHAR NAD;
  ULONG OriginalState;
  UCHAR Resend;
  UCHAR Resynch;
  UCHAR RSN;
  UCHAR SSN;
  ULONG State;
  UCHAR Wtx;  // non-zero: the card asked for a waiting time extension; multiply BWT by it
  PUCHAR ReplyData;
  BOOLEAN WaitForReply;
  UCHAR InfBytesSent;
#if !defined(_WIN64) && !defined(__LP64__)
  // ReplyData, WaitForReply and InfBytesSent were carved out of a 10-byte Reserved; a 64-bit
  // pointer does not fit in it, so 64-bit builds have no Reserved at all ([H]; 56 bytes on x64).
  UCHAR Reserved[10 - sizeof(PUCHAR) - sizeof(BOOLEAN) - sizeof(UCHAR)];
#endif
} T1_DATA, *PT1_DATA;

typedef struct _PERF_INFO {
  ULONG NumTransmissions;
  ULONG BytesSent;
  ULONG BytesReceived;
  LONGLONG IoTickCount;
} PERF_INFO, *PPERF_INFO;

typedef struct _READER_EXTENSION* PREADER_EXTENSION;  // defined by the driver
typedef struct _SMARTCARD_EXTENSION SMARTCARD_EXTENSION, *PSMARTCARD_EXTENSION;
typedef NTSTATUS (*PREADER_FUNCTION)(PSMARTCARD_EXTENSION SmartcardExtension);

struct _SMARTCARD_EXTENSION {
  ULONG Version;  // SMCLIB_VERSION
  VENDOR_ATTR VendorAttr;
  NTSTATUS (*ReaderFunction[16])(PSMARTCARD_EXTENSION SmartcardExtension);
  SCARD_CARD_CAPABILITIES CardCapabilities;
  ULONG LastError;  // unused
  struct {
    PULONG Information;    // the driver sets *Information to the bytes it wrote
    PUCHAR RequestBuffer;  // the IRP's SystemBuffer (same as ReplyBuffer)
    ULONG RequestBufferLength;
    PUCHAR ReplyBuffer;
    ULONG ReplyBufferLength;
  } IoRequest;
  ULONG MajorIoControlCode;
  ULONG MinorIoControlCode;
  POS_DEP_DATA OsData;
  SCARD_READER_CAPABILITIES ReaderCapabilities;
  PREADER_EXTENSION ReaderExtension;
  SMARTCARD_REPLY SmartcardReply;
  SMARTCARD_REQUEST SmartcardRequest;
  T0_DATA T0;
  T1_DATA T1;
  PPERF_INFO PerfInfo;
  ULONG Reserved[25 - sizeof(PPERF_INFO) / sizeof(ULONG)];
};

// ---- Routines (spec §5) ----
NTSTATUS SmartcardInitialize(PSMARTCARD_EXTENSION SmartcardExtension);
VOID SmartcardExit(PSMARTCARD_EXTENSION SmartcardExtension);
// Dispatches an IRP_MJ_DEVICE_CONTROL (spec §1). Completes the IRP unless it returns
// STATUS_PENDING (a pending tracking or driver request).
NTSTATUS SmartcardDeviceControl(PSMARTCARD_EXTENSION SmartcardExtension, PIRP Irp);
NTSTATUS SmartcardUpdateCardCapabilities(PSMARTCARD_EXTENSION SmartcardExtension);
VOID SmartcardInitializeCardCapabilities(PSMARTCARD_EXTENSION SmartcardExtension);
NTSTATUS SmartcardRawRequest(PSMARTCARD_EXTENSION SmartcardExtension);
NTSTATUS SmartcardRawReply(PSMARTCARD_EXTENSION SmartcardExtension);
NTSTATUS SmartcardT0Request(PSMARTCARD_EXTENSION SmartcardExtension);
NTSTATUS SmartcardT0Reply(PSMARTCARD_EXTENSION SmartcardExtension);
NTSTATUS SmartcardT1Request(PSMARTCARD_EXTENSION SmartcardExtension);
NTSTATUS SmartcardT1Reply(PSMARTCARD_EXTENSION SmartcardExtension);
// Completes OsData->NotificationIrp with STATUS_SUCCESS (or CANCELLED if Irp->Cancel is set)
// and clears it; does nothing when no tracking IRP is pending.
VOID SmartcardCompleteCardTracking(PSMARTCARD_EXTENSION SmartcardExtension);
// Per byte: reverse the bit order, then complement (03->3F, 3B->23) [PV][R].
VOID SmartcardInvertData(PUCHAR Buffer, ULONG Length);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // READERLAB_SMCLIB_H
