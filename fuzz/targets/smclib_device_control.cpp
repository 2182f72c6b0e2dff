// smclib's SmartcardDeviceControl (hosts/windows_model/smclib) fed IOCTLs with input and
// output buffers of exactly the sizes the input asks for, through a small well-behaved
// reader driver whose card answers (ATR, T=0 and T=1 replies) come from the input too. Each
// IRP's METHOD_BUFFERED system buffer is a heap block of exactly max(input, output) bytes, so
// AddressSanitizer reports any read or write the model makes outside it.
//   input: operations, each an opcode byte then its fields:
//     0 IOCTL: code (index into the table, FF = raw 32-bit code), attribute choice, input
//       length and output length (16-bit each, at most 1024), the input bytes
//     1 reader state (CurrentState)
//     2 the ATR the next power-up gives: flags (01: append the TCK), length byte + bytes
//     3 a card event completing card tracking (state byte)
//     4 the status the driver's callbacks return
//     5 a card answer: flags (01: append an LRC, 02: Windows' CRC, as a T=1 block ends), 16-bit
//       length + bytes
//     6 cancel the pending tracking IRP   7 the protocols the reader supports
#include "cards/t1/block.h"
#include "fuzz/fuzz_input.h"

#include "smclib.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

using readerlab::fuzz::FuzzInput;

struct Rig;
struct _READER_EXTENSION {
  Rig* rig;
};

namespace {

constexpr ULONG kIoctls[] = {IOCTL_SMARTCARD_POWER,
                             IOCTL_SMARTCARD_GET_ATTRIBUTE,
                             IOCTL_SMARTCARD_SET_ATTRIBUTE,
                             IOCTL_SMARTCARD_CONFISCATE,
                             IOCTL_SMARTCARD_TRANSMIT,
                             IOCTL_SMARTCARD_EJECT,
                             IOCTL_SMARTCARD_SWALLOW,
                             IOCTL_SMARTCARD_READ,
                             IOCTL_SMARTCARD_WRITE,
                             IOCTL_SMARTCARD_IS_PRESENT,
                             IOCTL_SMARTCARD_IS_ABSENT,
                             IOCTL_SMARTCARD_SET_PROTOCOL,
                             IOCTL_SMARTCARD_GET_STATE,
                             IOCTL_SMARTCARD_GET_LAST_ERROR,
                             IOCTL_SMARTCARD_GET_PERF_CNTR,
                             IOCTL_SMARTCARD_GET_FEATURE_REQUEST,
                             SCARD_CTL_CODE(SCARD_CTL_CODE_VENDOR_FIRST),
                             SCARD_CTL_CODE(SCARD_CTL_CODE_VENDOR_LAST),
                             SCARD_CTL_CODE(13),
                             SCARD_CTL_CODE(4096)};

constexpr ULONG kAttributes[] = {SCARD_ATTR_VENDOR_NAME,
                                 SCARD_ATTR_VENDOR_IFD_TYPE,
                                 SCARD_ATTR_VENDOR_IFD_VERSION,
                                 SCARD_ATTR_VENDOR_IFD_SERIAL_NO,
                                 SCARD_ATTR_CHANNEL_ID,
                                 SCARD_ATTR_PROTOCOL_TYPES,
                                 SCARD_ATTR_DEFAULT_CLK,
                                 SCARD_ATTR_MAX_CLK,
                                 SCARD_ATTR_DEFAULT_DATA_RATE,
                                 SCARD_ATTR_MAX_DATA_RATE,
                                 SCARD_ATTR_MAX_IFSD,
                                 SCARD_ATTR_SYNC_PROTOCOL_TYPES,
                                 SCARD_ATTR_POWER_MGMT_SUPPORT,
                                 SCARD_ATTR_USER_TO_CARD_AUTH_DEVICE,
                                 SCARD_ATTR_USER_AUTH_INPUT_DEVICE,
                                 SCARD_ATTR_CHARACTERISTICS,
                                 SCARD_ATTR_CURRENT_PROTOCOL_TYPE,
                                 SCARD_ATTR_CURRENT_CLK,
                                 SCARD_ATTR_CURRENT_F,
                                 SCARD_ATTR_CURRENT_D,
                                 SCARD_ATTR_CURRENT_N,
                                 SCARD_ATTR_CURRENT_W,
                                 SCARD_ATTR_CURRENT_IFSC,
                                 SCARD_ATTR_CURRENT_IFSD,
                                 SCARD_ATTR_CURRENT_BWT,
                                 SCARD_ATTR_CURRENT_CWT,
                                 SCARD_ATTR_CURRENT_EBC_ENCODING,
                                 SCARD_ATTR_EXTENDED_BWT,
                                 SCARD_ATTR_ICC_PRESENCE,
                                 SCARD_ATTR_ICC_INTERFACE_STATUS,
                                 SCARD_ATTR_CURRENT_IO_STATE,
                                 SCARD_ATTR_ATR_STRING,
                                 SCARD_ATTR_ICC_TYPE_PER_ATR,
                                 SCARD_ATTR_ESC_RESET,
                                 SCARD_ATTR_ESC_CANCEL,
                                 SCARD_ATTR_ESC_AUTHREQUEST,
                                 SCARD_ATTR_MAXINPUT,
                                 SCARD_ATTR_VENDOR_SPECIFIC_INFO,
                                 SCARD_ATTR_DEVICE_UNIT,
                                 SCARD_ATTR_DEVICE_IN_USE,
                                 SCARD_ATTR_DEVICE_FRIENDLY_NAME_A,
                                 SCARD_ATTR_DEVICE_SYSTEM_NAME_A,
                                 SCARD_ATTR_DEVICE_FRIENDLY_NAME_W,
                                 SCARD_ATTR_DEVICE_SYSTEM_NAME_W,
                                 SCARD_ATTR_SUPRESS_T1_IFS_REQUEST};

constexpr NTSTATUS kCallbackStatuses[] = {STATUS_SUCCESS,      STATUS_IO_TIMEOUT,  STATUS_NO_MEDIA,
                                          STATUS_UNSUCCESSFUL, STATUS_DEVICE_BUSY, STATUS_NOT_SUPPORTED};

constexpr ULONG kMaxBufferLength = 1024;

}  // namespace

// One IOCTL as an application issues it: the IRP and its exactly-sized system buffer live
// until the input ends, since a pending IRP is completed later.
struct IssuedIoctl {
  IRP irp{};
  std::unique_ptr<UCHAR[]> buffer;
};

// A reader driver that follows the rules: it writes only within the buffers the library
// hands it and answers with what the card (the fuzz input) says.
struct Rig {
  SMARTCARD_EXTENSION ext{};
  DEVICE_OBJECT device{};
  _READER_EXTENSION reader{this};
  std::vector<UCHAR> atr{0x3B, 0x00};
  std::deque<std::vector<UCHAR>> card_answers;
  NTSTATUS callback_status = STATUS_SUCCESS;

  Rig() {
    ext.Version = SMCLIB_VERSION;
    ext.ReaderExtension = &reader;
    ext.ReaderCapabilities.SupportedProtocols = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
    ext.ReaderCapabilities.ReaderType = SCARD_READER_TYPE_USB;
    ext.ReaderCapabilities.CLKFrequency.Default = 3571;
    ext.ReaderCapabilities.CLKFrequency.Max = 3571;
    ext.ReaderCapabilities.DataRate.Default = 9600;
    ext.ReaderCapabilities.DataRate.Max = 115200;
    ext.ReaderCapabilities.MaxIFSD = 254;
    ext.ReaderCapabilities.CurrentState = SCARD_ABSENT;
    std::memcpy(ext.VendorAttr.VendorName.Buffer, "readerlab", 9);
    ext.VendorAttr.VendorName.Length = 9;
    std::memcpy(ext.VendorAttr.IfdType.Buffer, "fuzz", 4);
    ext.VendorAttr.IfdType.Length = 4;
    ext.VendorAttr.UnitNo = 0;
    ext.SmartcardRequest.BufferSize = MIN_BUFFER_SIZE;
    ext.SmartcardReply.BufferSize = MIN_BUFFER_SIZE;
    ext.ReaderFunction[RDF_CARD_POWER] = power;
    ext.ReaderFunction[RDF_TRANSMIT] = transmit;
    ext.ReaderFunction[RDF_CARD_TRACKING] = tracking;
    ext.ReaderFunction[RDF_SET_PROTOCOL] = set_protocol;
    ext.ReaderFunction[RDF_CARD_EJECT] = plain;
    ext.ReaderFunction[RDF_READER_SWALLOW] = plain;
    ext.ReaderFunction[RDF_CARD_CONFISCATE] = plain;
    ext.ReaderFunction[RDF_IOCTL_VENDOR] = plain;
    initialized = SmartcardInitialize(&ext) == STATUS_SUCCESS;
    if (!initialized) return;
    ext.OsData->DeviceObject = &device;
    device.DeviceExtension = &ext;
  }
  ~Rig() {
    if (initialized) SmartcardExit(&ext);
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  bool initialized = false;

  static Rig& of(PSMARTCARD_EXTENSION e) { return *e->ReaderExtension->rig; }

  // The next card answer into the library's reply buffer (truncated to its size); an empty
  // answer when the card said nothing more.
  void card_replies() {
    ext.SmartcardReply.BufferLength = 0;
    if (card_answers.empty()) return;
    const auto& answer = card_answers.front();
    const ULONG length = std::min<ULONG>(static_cast<ULONG>(answer.size()), ext.SmartcardReply.BufferSize);
    if (length) std::memcpy(ext.SmartcardReply.Buffer, answer.data(), length);
    ext.SmartcardReply.BufferLength = length;
    card_answers.pop_front();
  }

  static NTSTATUS power(PSMARTCARD_EXTENSION e) {
    Rig& rig = of(e);
    if (rig.callback_status != STATUS_SUCCESS) return rig.callback_status;
    if (e->MinorIoControlCode == SCARD_POWER_DOWN) {
      e->ReaderCapabilities.CurrentState = SCARD_SWALLOWED;
      return STATUS_SUCCESS;
    }
    const auto length =
        static_cast<UCHAR>(std::min<std::size_t>(rig.atr.size(), sizeof e->CardCapabilities.ATR.Buffer));
    if (length) std::memcpy(e->CardCapabilities.ATR.Buffer, rig.atr.data(), length);
    e->CardCapabilities.ATR.Length = length;
    if (length && e->IoRequest.ReplyBufferLength >= length) {
      std::memcpy(e->IoRequest.ReplyBuffer, rig.atr.data(), length);
      *e->IoRequest.Information = length;
    }
    e->ReaderCapabilities.CurrentState = SCARD_POWERED;
    return SmartcardUpdateCardCapabilities(e);
  }

  static NTSTATUS transmit(PSMARTCARD_EXTENSION e) {
    Rig& rig = of(e);
    if (rig.callback_status != STATUS_SUCCESS) return rig.callback_status;
    e->SmartcardRequest.BufferLength = 0;
    switch (e->CardCapabilities.Protocol.Selected) {
      case SCARD_PROTOCOL_T0: {
        const NTSTATUS status = SmartcardT0Request(e);
        if (status != STATUS_SUCCESS) return status;
        rig.card_replies();
        return SmartcardT0Reply(e);
      }
      case SCARD_PROTOCOL_T1: {
        // A driver runs the library's T=1 engine block by block; the card answers each.
        NTSTATUS status = STATUS_MORE_PROCESSING_REQUIRED;
        for (int blocks = 0; blocks < 64 && status == STATUS_MORE_PROCESSING_REQUIRED; ++blocks) {
          e->SmartcardRequest.BufferLength = 0;
          status = SmartcardT1Request(e);
          if (status != STATUS_SUCCESS) return status;
          rig.card_replies();
          status = SmartcardT1Reply(e);
        }
        return status;
      }
      default: {
        const NTSTATUS status = SmartcardRawRequest(e);
        if (status != STATUS_SUCCESS) return status;
        rig.card_replies();
        return SmartcardRawReply(e);
      }
    }
  }

  static NTSTATUS tracking(PSMARTCARD_EXTENSION e) {
    if (of(e).callback_status != STATUS_SUCCESS) return of(e).callback_status;
    IoSetCancelRoutine(e->OsData->NotificationIrp, cancel_tracking);
    return STATUS_PENDING;
  }

  static VOID cancel_tracking(PDEVICE_OBJECT device, PIRP irp) {
    auto* e = static_cast<PSMARTCARD_EXTENSION>(device->DeviceExtension);
    IoReleaseCancelSpinLock(irp->CancelIrql);
    e->OsData->NotificationIrp = nullptr;
    irp->IoStatus.Status = STATUS_CANCELLED;
    irp->IoStatus.Information = 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
  }

  static NTSTATUS set_protocol(PSMARTCARD_EXTENSION e) {
    Rig& rig = of(e);
    if (rig.callback_status != STATUS_SUCCESS) return rig.callback_status;
    const ULONG offered = e->MinorIoControlCode & e->CardCapabilities.Protocol.Supported;
    const ULONG chosen = (offered & SCARD_PROTOCOL_T1) ? SCARD_PROTOCOL_T1 : SCARD_PROTOCOL_T0;
    e->CardCapabilities.Protocol.Selected = chosen;
    e->ReaderCapabilities.CurrentState = SCARD_SPECIFIC;
    if (e->IoRequest.ReplyBufferLength >= sizeof chosen) {
      std::memcpy(e->IoRequest.ReplyBuffer, &chosen, sizeof chosen);
      *e->IoRequest.Information = sizeof chosen;
    }
    return STATUS_SUCCESS;
  }

  static NTSTATUS plain(PSMARTCARD_EXTENSION e) { return of(e).callback_status; }
};

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  Rig rig;
  if (!rig.initialized) return 0;
  std::vector<std::unique_ptr<IssuedIoctl>> issued;

  for (unsigned operations = 0; !input.empty() && operations < 64; ++operations) {
    switch (input.byte() % 8) {
      case 0: {
        const std::uint8_t choice = input.byte();
        const ULONG code = choice == 0xFF ? input.u32() : kIoctls[choice % std::size(kIoctls)];
        const std::uint8_t attribute = input.byte();
        const ULONG in_length = input.u16() % (kMaxBufferLength + 1);
        const ULONG out_length = input.u16() % (kMaxBufferLength + 1);
        auto ioctl = std::make_unique<IssuedIoctl>();
        const ULONG buffer_length = std::max(in_length, out_length);
        if (buffer_length) ioctl->buffer = std::make_unique<UCHAR[]>(buffer_length);
        const auto in_bytes = input.take(in_length);
        if (!in_bytes.empty()) std::memcpy(ioctl->buffer.get(), in_bytes.data(), in_bytes.size());
        // Attribute IOCTLs name a tag in their first four bytes: most inputs pick a real one.
        if ((code == IOCTL_SMARTCARD_GET_ATTRIBUTE || code == IOCTL_SMARTCARD_SET_ATTRIBUTE) && in_length >= 4 &&
            attribute < 2 * std::size(kAttributes)) {
          const ULONG tag = kAttributes[attribute % std::size(kAttributes)];
          std::memcpy(ioctl->buffer.get(), &tag, sizeof tag);
        }
        ReaderlabBuildDeviceControlIrp(&ioctl->irp, &rig.device, code, ioctl->buffer.get(), in_length, out_length);
        const NTSTATUS returned = SmartcardDeviceControl(&rig.ext, &ioctl->irp);
        // What the model says it wrote fits the output buffer.
        if (returned != STATUS_PENDING) READERLAB_FUZZ_CHECK(ioctl->irp.IoStatus.Information <= out_length);
        issued.push_back(std::move(ioctl));
        break;
      }
      case 1: rig.ext.ReaderCapabilities.CurrentState = input.byte() % 8; break;
      case 2: {
        const bool append_tck = input.flag();
        rig.atr = input.record8();
        if (append_tck && !rig.atr.empty()) {
          // ISO 7816-3 8.2.5: T0 up to TCK exclusive-ors to zero.
          UCHAR tck = 0;
          for (std::size_t i = 1; i < rig.atr.size(); ++i) tck = static_cast<UCHAR>(tck ^ rig.atr[i]);
          rig.atr.push_back(tck);
        }
        break;
      }
      case 3:
        rig.ext.ReaderCapabilities.CurrentState = input.flag() ? SCARD_PRESENT : SCARD_ABSENT;
        SmartcardCompleteCardTracking(&rig.ext);
        break;
      case 4: rig.callback_status = kCallbackStatuses[input.byte() % std::size(kCallbackStatuses)]; break;
      case 5: {
        // Most mutations of a T=1 block fail its EDC; the harness can add the right one.
        const std::uint8_t flags = input.byte();
        auto answer = input.record16();
        if (flags & 0x01) {
          answer.push_back(readerlab::cards::t1::lrc(answer));
        } else if (flags & 0x02) {
          // The CRC the model accepts: Windows' (issue 10 rule 17), high-order byte first.
          const std::uint16_t crc = readerlab::cards::t1::crc16_windows(answer);
          answer.push_back(static_cast<UCHAR>(crc >> 8));
          answer.push_back(static_cast<UCHAR>(crc & 0xFF));
        }
        rig.card_answers.push_back(std::move(answer));
        break;
      }
      case 6:
        if (rig.ext.OsData->NotificationIrp) IoCancelIrp(rig.ext.OsData->NotificationIrp);
        break;
      case 7: rig.ext.ReaderCapabilities.SupportedProtocols = input.byte() & 0x07; break;
    }
  }
  if (rig.ext.OsData->NotificationIrp) IoCancelIrp(rig.ext.OsData->NotificationIrp);
  return 0;
}
