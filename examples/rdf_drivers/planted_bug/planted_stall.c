/* planted-stall: an example RDF driver with a planted bug, for `readerlab fuzz` to find (issue 11
 * item 6). It is the minimal C driver (examples/rdf_drivers/minimal_c) made sturdier against a
 * misbehaving reader: it skips answers whose bSeq is not the one it waits for (a duplicated or a
 * late answer of an earlier command), and its CCID timeout is 5 s. One thing it gets wrong on
 * purpose:
 *
 *   THE PLANTED BUG: a transfer that ends in STALL (USB 2.0 8.4.5) is treated as a failed command
 *   and nothing more. The driver never sends CLEAR_FEATURE(ENDPOINT_HALT) (USB 2.0 9.4.1) to the
 *   halted endpoint, so a halted bulk-IN, bulk-OUT or interrupt-IN endpoint stays halted: after
 *   one STALL every later exchange on it fails (SCardConnect, SCardTransmit), or no card event
 *   reaches the driver any more (the tracking IRP never completes), until the reader is unplugged.
 *   A real driver resets the pipe (URB_FUNCTION_SYNC_RESET_PIPE_AND_CLEAR_STALL on Windows);
 *   here the fix is one ReaderlabUsbControl(usb, 0x02, 0x01, 0, endpoint, 0, NULL, &got) after a
 *   ReaderlabUsbStall (see ClearHaltWouldGoHere).
 *
 * `readerlab fuzz --driver planted-stall --seed N` finds it by drawing a "stall" fault, shrinks
 * the schedule to that fault and writes a case that reproduces it. Its other known failures
 * (those of the minimal driver: short-APDU readers only, the library answers for the callbacks it
 * leaves out) are listed in known-failures.txt. */
#include "hosts/windows_model/rdf/readerlab_rdf.h"

#define CCID_HEADER 10    /* CCID 6.1: every bulk message starts with 10 bytes */
#define CCID_MAX_DATA 512 /* a short APDU or its answer (CCID 6.1.4 at short APDU level) */
#define CCID_TIMEOUT_MS 5000
#define CCID_STALE_ANSWERS 4               /* answers of earlier commands skipped before giving up */
#define CCID_FEATURE_LEVEL_MASK 0x00070000 /* CCID 5.1 dwFeatures, exchange level */
#define CCID_FEATURE_SHORT_APDU 0x00020000

/* CCID 6.1 / 6.2 / 6.3 message types. */
#define PC_TO_RDR_ICC_POWER_ON 0x62
#define PC_TO_RDR_ICC_POWER_OFF 0x63
#define PC_TO_RDR_GET_SLOT_STATUS 0x65
#define PC_TO_RDR_XFR_BLOCK 0x6F
#define RDR_TO_PC_NOTIFY_SLOT_CHANGE 0x50

/* CCID 6.2.6 bStatus. */
#define ICC_STATUS(status) ((status)&0x03)
#define COMMAND_STATUS(status) (((status) >> 6) & 0x03)
#define ICC_ABSENT 2
#define COMMAND_FAILED 1
#define COMMAND_TIME_EXTENSION 2
#define CCID_ERROR_ICC_MUTE 0xFE

struct _READER_EXTENSION {
  READERLAB_USB* Usb;
  UCHAR Sequence;
  BOOLEAN CardPresent;
  ULONG TrackingIoctl;
  UCHAR Message[CCID_HEADER + CCID_MAX_DATA];
};

typedef struct _PLANTED_DEVICE_EXTENSION {
  SMARTCARD_EXTENSION SmartcardExtension;
  struct _READER_EXTENSION Reader;
} PLANTED_DEVICE_EXTENSION;

typedef struct _CCID_ANSWER {
  NTSTATUS Status; /* transport outcome */
  UCHAR IccStatus;
  UCHAR CommandStatus;
  UCHAR Error;
  ULONG Length;
  const UCHAR* Data;
} CCID_ANSWER;

static void PutLength(UCHAR* message, ULONG length) {
  message[1] = (UCHAR)length;
  message[2] = (UCHAR)(length >> 8);
  message[3] = (UCHAR)(length >> 16);
  message[4] = (UCHAR)(length >> 24);
}

/* Sends one PC_to_RDR message and reads its answer, skipping time extensions. */
static CCID_ANSWER CcidExchange(PREADER_EXTENSION reader, UCHAR type, const UCHAR* data, ULONG length) {
  CCID_ANSWER answer;
  ULONG received = 0, stale = 0;
  UCHAR sequence = reader->Sequence++;
  RtlZeroMemory(&answer, sizeof(answer));
  answer.Status = STATUS_SUCCESS;
  if (length > CCID_MAX_DATA) {
    answer.Status = STATUS_BUFFER_OVERFLOW;
    return answer;
  }
  RtlZeroMemory(reader->Message, CCID_HEADER);
  reader->Message[0] = type;
  PutLength(reader->Message, length);
  reader->Message[6] = sequence;
  if (length) RtlCopyMemory(reader->Message + CCID_HEADER, data, length);
  if (ReaderlabUsbBulkOut(reader->Usb, reader->Message, CCID_HEADER + length) != ReaderlabUsbOk) {
    /* ClearHaltWouldGoHere: a ReaderlabUsbStall needs CLEAR_FEATURE(ENDPOINT_HALT). */
    answer.Status = STATUS_DEVICE_NOT_CONNECTED;
    return answer;
  }
  for (;;) {
    READERLAB_USB_STATUS usb =
        ReaderlabUsbBulkIn(reader->Usb, reader->Message, sizeof(reader->Message), &received, CCID_TIMEOUT_MS);
    ULONG declared;
    if (usb == ReaderlabUsbTimeout) {
      answer.Status = STATUS_IO_TIMEOUT;
      return answer;
    }
    if (usb != ReaderlabUsbOk || received < CCID_HEADER) {
      /* ClearHaltWouldGoHere, too: the planted bug (see the top of this file). */
      answer.Status = STATUS_DEVICE_PROTOCOL_ERROR;
      return answer;
    }
    declared = reader->Message[1] | (ULONG)reader->Message[2] << 8 | (ULONG)reader->Message[3] << 16 |
               (ULONG)reader->Message[4] << 24;
    if (reader->Message[6] != sequence && stale < CCID_STALE_ANSWERS) {
      ++stale; /* CCID 6.2.1: the answer of an earlier command (duplicated, or late past its timeout) */
      continue;
    }
    if (reader->Message[6] != sequence || declared != received - CCID_HEADER) {
      answer.Status = STATUS_DEVICE_PROTOCOL_ERROR;
      return answer;
    }
    answer.IccStatus = ICC_STATUS(reader->Message[7]);
    answer.CommandStatus = COMMAND_STATUS(reader->Message[7]);
    answer.Error = reader->Message[8];
    if (answer.CommandStatus == COMMAND_TIME_EXTENSION) continue; /* the card asked for more time */
    answer.Length = declared;
    answer.Data = reader->Message + CCID_HEADER;
    return answer;
  }
}

static void SetState(PSMARTCARD_EXTENSION ext, ULONG state) {
  KIRQL irql;
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  ext->ReaderCapabilities.CurrentState = state;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
}

/* A failed command: what it says about the card, as an NTSTATUS. */
static NTSTATUS FailureStatus(PSMARTCARD_EXTENSION ext, const CCID_ANSWER* answer) {
  if (answer->Status != STATUS_SUCCESS) return answer->Status;
  if (answer->IccStatus == ICC_ABSENT) {
    ext->ReaderExtension->CardPresent = FALSE;
    SetState(ext, SCARD_ABSENT);
    return STATUS_NO_MEDIA;
  }
  if (answer->CommandStatus != COMMAND_FAILED) return STATUS_SUCCESS;
  return answer->Error == CCID_ERROR_ICC_MUTE ? STATUS_IO_TIMEOUT : STATUS_DEVICE_PROTOCOL_ERROR;
}

static NTSTATUS PlantedCardPower(PSMARTCARD_EXTENSION ext) {
  PREADER_EXTENSION reader = ext->ReaderExtension;
  CCID_ANSWER answer;
  NTSTATUS status;
  *ext->IoRequest.Information = 0;
  if (ext->MinorIoControlCode == SCARD_COLD_RESET || ext->MinorIoControlCode == SCARD_POWER_DOWN) {
    answer = CcidExchange(reader, PC_TO_RDR_ICC_POWER_OFF, NULL, 0);
    status = FailureStatus(ext, &answer);
    if (status != STATUS_SUCCESS) return status;
    SetState(ext, SCARD_SWALLOWED);
    if (ext->MinorIoControlCode == SCARD_POWER_DOWN) return STATUS_SUCCESS;
  } else if (ext->MinorIoControlCode != SCARD_WARM_RESET) {
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  answer = CcidExchange(reader, PC_TO_RDR_ICC_POWER_ON, NULL, 0);
  status = FailureStatus(ext, &answer);
  if (status != STATUS_SUCCESS) return status;
  if (answer.Length == 0 || answer.Length > MAXIMUM_ATR_LENGTH) return STATUS_UNRECOGNIZED_MEDIA;
  if (answer.Length > ext->IoRequest.ReplyBufferLength) return STATUS_BUFFER_TOO_SMALL;
  RtlCopyMemory(ext->CardCapabilities.ATR.Buffer, answer.Data, answer.Length);
  ext->CardCapabilities.ATR.Length = (UCHAR)answer.Length;
  RtlCopyMemory(ext->IoRequest.ReplyBuffer, answer.Data, answer.Length);
  *ext->IoRequest.Information = answer.Length;
  SetState(ext, SCARD_POWERED);
  return SmartcardUpdateCardCapabilities(ext);
}

/* The reader runs the protocol at short APDU level: the APDU goes as it is. */
static NTSTATUS PlantedTransmit(PSMARTCARD_EXTENSION ext) {
  const ULONG header = sizeof(SCARD_IO_REQUEST);
  SCARD_IO_REQUEST* reply_header;
  CCID_ANSWER answer;
  NTSTATUS status;
  ULONG apdu_length;
  *ext->IoRequest.Information = 0;
  if (ext->IoRequest.RequestBufferLength < header) return STATUS_INVALID_PARAMETER;
  apdu_length = ext->IoRequest.RequestBufferLength - header;
  if (apdu_length > ext->SmartcardRequest.BufferSize) return STATUS_BUFFER_OVERFLOW;
  /* Request and reply share the system buffer. */
  RtlCopyMemory(ext->SmartcardRequest.Buffer, ext->IoRequest.RequestBuffer + header, apdu_length);
  answer = CcidExchange(ext->ReaderExtension, PC_TO_RDR_XFR_BLOCK, ext->SmartcardRequest.Buffer, apdu_length);
  status = FailureStatus(ext, &answer);
  if (status != STATUS_SUCCESS) return status;
  if (ext->IoRequest.ReplyBufferLength < header + answer.Length) return STATUS_BUFFER_TOO_SMALL;
  reply_header = (SCARD_IO_REQUEST*)ext->IoRequest.ReplyBuffer;
  reply_header->dwProtocol = ext->CardCapabilities.Protocol.Selected;
  reply_header->cbPciLength = header;
  RtlCopyMemory(ext->IoRequest.ReplyBuffer + header, answer.Data, answer.Length);
  *ext->IoRequest.Information = header + answer.Length;
  return STATUS_SUCCESS;
}

/* The reader negotiated the card's parameters itself: the driver only records the choice. */
static NTSTATUS PlantedSetProtocol(PSMARTCARD_EXTENSION ext) {
  const ULONG mask = ext->MinorIoControlCode;
  const ULONG supported = ext->CardCapabilities.Protocol.Supported;
  ULONG protocol;
  *ext->IoRequest.Information = 0;
  if (mask & supported & SCARD_PROTOCOL_T1)
    protocol = SCARD_PROTOCOL_T1;
  else if (mask & supported & SCARD_PROTOCOL_T0)
    protocol = SCARD_PROTOCOL_T0;
  else
    return STATUS_INVALID_DEVICE_REQUEST;
  ext->CardCapabilities.Protocol.Selected = protocol;
  SetState(ext, SCARD_SPECIFIC);
  RtlCopyMemory(ext->IoRequest.ReplyBuffer, &protocol, sizeof(protocol));
  *ext->IoRequest.Information = sizeof(protocol);
  return STATUS_SUCCESS;
}

static VOID PlantedCancelTracking(PDEVICE_OBJECT device, PIRP irp) {
  PSMARTCARD_EXTENSION ext = &((PLANTED_DEVICE_EXTENSION*)device->DeviceExtension)->SmartcardExtension;
  KIRQL irql;
  IoReleaseCancelSpinLock(irp->CancelIrql);
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  ext->OsData->NotificationIrp = NULL;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
  ext->ReaderExtension->TrackingIoctl = 0;
  irp->IoStatus.Status = STATUS_CANCELLED;
  irp->IoStatus.Information = 0;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
}

static NTSTATUS PlantedCardTracking(PSMARTCARD_EXTENSION ext) {
  PIRP irp = ext->OsData->NotificationIrp;
  KIRQL cancel_irql;
  ext->ReaderExtension->TrackingIoctl = ext->MajorIoControlCode;
  IoAcquireCancelSpinLock(&cancel_irql);
  IoSetCancelRoutine(irp, PlantedCancelTracking);
  IoReleaseCancelSpinLock(cancel_irql);
  IoMarkIrpPending(irp);
  return STATUS_PENDING;
}

static NTSTATUS PlantedStartDevice(PDEVICE_OBJECT device, READERLAB_USB* usb) {
  PLANTED_DEVICE_EXTENSION* extension = (PLANTED_DEVICE_EXTENSION*)device->DeviceExtension;
  PSMARTCARD_EXTENSION ext = &extension->SmartcardExtension;
  PREADER_EXTENSION reader = &extension->Reader;
  UCHAR config[256];
  ULONG got = 0, at = 0, features = 0;
  BOOLEAN found = FALSE;
  CCID_ANSWER answer;
  NTSTATUS status;
  /* USB 2.0 9.4.3: the configuration descriptor; the CCID class descriptor is type 0x21. */
  if (ReaderlabUsbControl(usb, 0x80, 0x06, 0x0200, 0, sizeof(config), config, &got) != ReaderlabUsbOk)
    return STATUS_DEVICE_NOT_CONNECTED;
  while (at + 2 <= got && config[at] >= 2) {
    if (config[at + 1] == 0x21 && config[at] >= 54 && at + 54 <= got) {
      features = config[at + 40] | (ULONG)config[at + 41] << 8 | (ULONG)config[at + 42] << 16 |
                 (ULONG)config[at + 43] << 24; /* CCID 5.1 dwFeatures at offset 40 */
      found = TRUE;
      break;
    }
    at += config[at];
  }
  if (!found || (features & CCID_FEATURE_LEVEL_MASK) != CCID_FEATURE_SHORT_APDU) return STATUS_NOT_SUPPORTED;

  reader->Usb = usb;
  ext->ReaderExtension = reader;
  ext->ReaderFunction[RDF_CARD_POWER] = PlantedCardPower;
  ext->ReaderFunction[RDF_TRANSMIT] = PlantedTransmit;
  ext->ReaderFunction[RDF_SET_PROTOCOL] = PlantedSetProtocol;
  ext->ReaderFunction[RDF_CARD_TRACKING] = PlantedCardTracking;
  RtlCopyMemory(ext->VendorAttr.VendorName.Buffer, "example", 7);
  ext->VendorAttr.VendorName.Length = 7;
  RtlCopyMemory(ext->VendorAttr.IfdType.Buffer, "Planted stall", 13);
  ext->VendorAttr.IfdType.Length = 13;
  ext->VendorAttr.IfdVersion.VersionMajor = 0;
  ext->VendorAttr.IfdVersion.VersionMinor = 1;
  ext->ReaderCapabilities.SupportedProtocols = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
  ext->ReaderCapabilities.ReaderType = SCARD_READER_TYPE_USB;
  ext->ReaderCapabilities.CLKFrequency.Default = 3580;
  ext->ReaderCapabilities.CLKFrequency.Max = 3580;
  ext->ReaderCapabilities.DataRate.Default = 9600;
  ext->ReaderCapabilities.DataRate.Max = 9600;
  ext->ReaderCapabilities.MaxIFSD = 254;
  ext->Version = SMCLIB_VERSION;
  ext->SmartcardRequest.BufferSize = MIN_BUFFER_SIZE;
  ext->SmartcardReply.BufferSize = MIN_BUFFER_SIZE;
  status = SmartcardInitialize(ext);
  if (status != STATUS_SUCCESS) return status;
  ext->OsData->DeviceObject = device;

  answer = CcidExchange(reader, PC_TO_RDR_GET_SLOT_STATUS, NULL, 0);
  if (answer.Status != STATUS_SUCCESS) return answer.Status;
  reader->CardPresent = answer.IccStatus != ICC_ABSENT;
  SetState(ext, reader->CardPresent ? SCARD_SWALLOWED : SCARD_ABSENT);
  return STATUS_SUCCESS;
}

static NTSTATUS PlantedDeviceControl(PDEVICE_OBJECT device, PIRP irp) {
  return SmartcardDeviceControl(&((PLANTED_DEVICE_EXTENSION*)device->DeviceExtension)->SmartcardExtension, irp);
}

/* CCID 6.3.1 NotifySlotChange: slot 0 present in bit 0, changed in bit 1. */
static NTSTATUS PlantedInterruptIn(PDEVICE_OBJECT device, ULONG timeout_ms) {
  PSMARTCARD_EXTENSION ext = &((PLANTED_DEVICE_EXTENSION*)device->DeviceExtension)->SmartcardExtension;
  PREADER_EXTENSION reader = ext->ReaderExtension;
  UCHAR packet[8];
  ULONG got = 0;
  BOOLEAN present, done;
  KIRQL irql;
  PIRP irp;
  READERLAB_USB_STATUS usb = ReaderlabUsbInterruptIn(reader->Usb, packet, sizeof(packet), &got, timeout_ms);
  if (usb == ReaderlabUsbTimeout) return STATUS_IO_TIMEOUT;
  if (usb != ReaderlabUsbOk) return STATUS_DEVICE_NOT_CONNECTED; /* a STALL stays: the planted bug */
  if (got < 2 || packet[0] != RDR_TO_PC_NOTIFY_SLOT_CHANGE || (packet[1] & 0x02) == 0) return STATUS_SUCCESS;
  present = (packet[1] & 0x01) != 0;
  reader->CardPresent = present;
  ext->CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_UNDEFINED;
  ext->CardCapabilities.ATR.Length = 0;
  SetState(ext, present ? SCARD_SWALLOWED : SCARD_ABSENT);
  KeAcquireSpinLock(&ext->OsData->SpinLock, &irql);
  irp = ext->OsData->NotificationIrp;
  KeReleaseSpinLock(&ext->OsData->SpinLock, irql);
  if (irp == NULL) return STATUS_SUCCESS;
  done = reader->TrackingIoctl == IOCTL_SMARTCARD_IS_PRESENT ? present : TRUE;
  if (!done) return STATUS_SUCCESS;
  IoAcquireCancelSpinLock(&irql);
  IoSetCancelRoutine(irp, NULL);
  IoReleaseCancelSpinLock(irql);
  reader->TrackingIoctl = 0;
  SmartcardCompleteCardTracking(ext);
  return STATUS_SUCCESS;
}

static VOID PlantedStopDevice(PDEVICE_OBJECT device) {
  PSMARTCARD_EXTENSION ext = &((PLANTED_DEVICE_EXTENSION*)device->DeviceExtension)->SmartcardExtension;
  PIRP irp;
  if (ext->OsData == NULL) return;
  irp = ext->OsData->NotificationIrp;
  if (irp != NULL) IoCancelIrp(irp);
  SmartcardExit(ext);
}

READERLAB_RDF_DRIVER_ENTRY(PlantedStallDriver) = {
    sizeof(PLANTED_DEVICE_EXTENSION),
    FIELD_OFFSET(PLANTED_DEVICE_EXTENSION, SmartcardExtension),
    PlantedStartDevice,
    PlantedDeviceControl,
    PlantedInterruptIn,
    PlantedStopDevice,
    NULL, /* Power: none, as minimal-c (known-failures.txt) */
};
