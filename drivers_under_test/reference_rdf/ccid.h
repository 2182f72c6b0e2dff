// The CCID message layer of the reference RDF driver (USB CCID rev 1.1): the functional
// descriptor, PC_to_RDR messages out, RDR_to_PC answers back with bSeq matching and time
// extensions. Driver code: no exceptions, RTTI or standard library containers.
#pragma once

#include "hosts/windows_model/rdf/usb_io.h"

#include <stdint.h>

namespace reference_rdf {

// The driver's USB device as the Windows host model gives it (hosts/windows_model/rdf/usb_io.h).
using readerlab::windows_model::UsbIo;
using readerlab::windows_model::UsbSetup;
using readerlab::windows_model::UsbStatus;

namespace ccid {
inline constexpr uint32_t kHeaderSize = 10;  // CCID 6.1
// CCID 6.1 Table 6.1-1
inline constexpr uint8_t kSetParameters = 0x61;
inline constexpr uint8_t kIccPowerOn = 0x62;
inline constexpr uint8_t kIccPowerOff = 0x63;
inline constexpr uint8_t kGetSlotStatus = 0x65;
inline constexpr uint8_t kEscape = 0x6B;
inline constexpr uint8_t kGetParameters = 0x6C;
inline constexpr uint8_t kXfrBlock = 0x6F;
// CCID 6.2 Table 6.2-1
inline constexpr uint8_t kDataBlock = 0x80;
inline constexpr uint8_t kSlotStatus = 0x81;
inline constexpr uint8_t kParameters = 0x82;
inline constexpr uint8_t kEscapeAnswer = 0x83;
inline constexpr uint8_t kDataRateAndClock = 0x84;
// CCID 6.3.1, 6.3.2
inline constexpr uint8_t kNotifySlotChange = 0x50;
inline constexpr uint8_t kHardwareError = 0x51;
// CCID 6.2.6 bStatus: bmICCStatus bits 0-1, bmCommandStatus bits 6-7
inline constexpr uint8_t kIccActive = 0, kIccInactive = 1, kIccAbsent = 2;
inline constexpr uint8_t kCommandOk = 0, kCommandFailed = 1, kCommandTimeExtension = 2;
// CCID 6.2.6 Table 6.2-2 bError
inline constexpr uint8_t kErrorIccMute = 0xFE;
inline constexpr uint8_t kErrorXfrParity = 0xFD;
inline constexpr uint8_t kErrorXfrOverrun = 0xFC;
inline constexpr uint8_t kErrorHw = 0xFB;
inline constexpr uint8_t kErrorBadAtrTs = 0xF8;
inline constexpr uint8_t kErrorBadAtrTck = 0xF7;
inline constexpr uint8_t kErrorProtocolNotSupported = 0xF6;
inline constexpr uint8_t kErrorClassNotSupported = 0xF5;
inline constexpr uint8_t kErrorProcedureByteConflict = 0xF4;
inline constexpr uint8_t kErrorDeactivatedProtocol = 0xF3;
inline constexpr uint8_t kErrorBusyWithAutoSequence = 0xF2;
inline constexpr uint8_t kErrorPinTimeout = 0xF0;
inline constexpr uint8_t kErrorPinCancelled = 0xEF;
inline constexpr uint8_t kErrorCmdSlotBusy = 0xE0;
inline constexpr uint8_t kErrorCmdAborted = 0xFF;
inline constexpr uint8_t kErrorCmdNotSupported = 0x00;
// CCID 6.1.4 wLevelParameter of XfrBlock and 6.2.1 bChainParameter of DataBlock at extended
// APDU level: how an APDU longer than one message is split.
inline constexpr uint16_t kChainComplete = 0x0000;
inline constexpr uint16_t kChainBegins = 0x0001;
inline constexpr uint16_t kChainEnds = 0x0002;
inline constexpr uint16_t kChainContinues = 0x0003;
inline constexpr uint16_t kChainMoreExpected = 0x0010;  // empty abData: send the next part
// CCID 5.1 dwFeatures
inline constexpr uint32_t kFeatureAutoPps = 0x00000040;  // automatic parameter negotiation
inline constexpr uint32_t kFeatureTpdu = 0x00010000;
inline constexpr uint32_t kFeatureShortApdu = 0x00020000;
inline constexpr uint32_t kFeatureExtendedApdu = 0x00040000;
inline constexpr uint32_t kFeatureLevelMask = 0x00070000;
// CCID 5.1 bDescriptorType of the functional descriptor, and its bLength
inline constexpr uint8_t kFunctionalDescriptorType = 0x21;
inline constexpr uint8_t kFunctionalDescriptorLength = 0x36;
// CCID 5.3 class requests
inline constexpr uint8_t kRequestGetClockFrequencies = 0x02;
inline constexpr uint8_t kRequestGetDataRates = 0x03;
// USB 2.0 9.4.1 CLEAR_FEATURE to an endpoint (bmRequestType 0x02), 9.4 Table 9-6 ENDPOINT_HALT
inline constexpr uint8_t kRequestTypeEndpointOut = 0x02;
inline constexpr uint8_t kRequestClearFeature = 0x01;
inline constexpr uint16_t kFeatureEndpointHalt = 0x0000;
}  // namespace ccid

// The largest message the driver sends or takes: a short APDU / TPDU exchange with room for an
// extended APDU of about 4 KB. Larger answers are refused as overflow.
inline constexpr uint32_t kMaxCcidMessage = ccid::kHeaderSize + 4096 + 16;

// CCID 5.1 Table 5.1-1, the fields the driver uses.
struct CcidDescriptor {
  uint8_t max_slot_index;
  uint8_t voltage_support;
  uint32_t protocols;
  uint32_t default_clock_khz;
  uint32_t max_clock_khz;
  uint8_t num_clocks;
  uint32_t data_rate;
  uint32_t max_data_rate;
  uint8_t num_data_rates;
  uint32_t max_ifsd;
  uint32_t mechanical;
  uint32_t features;
  uint32_t max_message_length;
};

enum class ExchangeLevel : uint8_t { character, tpdu, short_apdu, extended_apdu };
ExchangeLevel exchange_level(const CcidDescriptor& descriptor);

// Finds and decodes the CCID functional descriptor in a configuration descriptor (USB 2.0
// 9.6.3 list of descriptors). False when there is none or it is short.
bool parse_ccid_descriptor(const uint8_t* config, uint32_t length, CcidDescriptor* out);

// The addresses of the CCID interface's pipes (USB 2.0 9.6.6 endpoint descriptors, CCID 4.2);
// 0 where the configuration has none.
struct CcidEndpoints {
  uint8_t bulk_out;
  uint8_t bulk_in;
  uint8_t interrupt_in;
};
CcidEndpoints parse_ccid_endpoints(const uint8_t* config, uint32_t length);

// A stalled pipe's recovery (USB 2.0 9.4.1, 9.4.5): CLEAR_FEATURE(ENDPOINT_HALT) to the
// endpoint. True when the device accepted it.
bool clear_halt(UsbIo* io, uint8_t endpoint);

uint32_t read_le32(const uint8_t* p);
void write_le32(uint8_t* p, uint32_t value);

enum class CcidOutcome : uint8_t {
  ok,         // bmCommandStatus 0
  failed,     // bmCommandStatus 1: see error
  timeout,    // no answer in time
  transport,  // USB failure
  malformed,  // an answer the driver cannot read (short, bad length, overflow)
  too_long,   // not sent: the command is longer than the reader's dwMaxCCIDMessageLength
  rejected    // a readable answer that is not the answer to this command: another slot, a bSeq
              // not sent yet, a message type that does not answer this command
};

struct CcidAnswer {
  CcidOutcome outcome;
  uint8_t type;
  uint8_t status;       // bStatus
  uint8_t error;        // bError
  uint8_t specific;     // byte 9: bChainParameter / bClockStatus / bProtocolNum
  const uint8_t* data;  // into the channel's buffer, valid until the next exchange
  uint32_t length;

  uint8_t icc_status() const { return static_cast<uint8_t>(status & 0x03); }
};

// Bounds of one exchange: a reader that keeps asking for time, or keeps sending answers to
// earlier commands, is given up on (the request fails with a timeout).
inline constexpr uint32_t kMaxTimeExtensions = 1000;
inline constexpr uint32_t kMaxStaleAnswers = 4096;
// A command the reader refused as busy (CMD_SLOT_BUSY, BUSY_WITH_AUTO_SEQUENCE) is sent this
// many times at most.
inline constexpr uint32_t kBusyAttempts = 3;

// One slot's bulk pipe: sends a PC_to_RDR message and reads its answer.
class CcidChannel {
 public:
  void attach(UsbIo* io, uint8_t slot, uint32_t max_message_length, const CcidEndpoints& endpoints);

  // Sends one message and waits for the answer with the same bSeq and bSlot:
  //  - a time-extension answer (CCID 6.2.6 bmCommandStatus 2) restarts the wait (bounded);
  //  - an answer with an earlier bSeq (a late answer to a command that timed out, or a
  //    duplicate) is dropped and the pipe read again (bounded);
  //  - an answer with a bSeq not sent yet, another bSlot, a wrong dwLength or a type that does
  //    not answer this command is never taken: the exchange fails (rejected / malformed);
  //  - a stalled pipe is cleared (CLEAR_FEATURE ENDPOINT_HALT) and the transfer tried once more;
  //    one that cannot be cleared or stalls again gets a port reset, and the exchange fails;
  //  - a command the reader refused as busy is sent again (kBusyAttempts in all).
  CcidAnswer exchange(uint8_t type, uint8_t b7, uint8_t b8, uint8_t b9, const uint8_t* data, uint32_t length,
                      uint32_t timeout_ms);

  CcidAnswer power_on(uint32_t timeout_ms) { return exchange(ccid::kIccPowerOn, 0, 0, 0, nullptr, 0, timeout_ms); }
  CcidAnswer power_off(uint32_t timeout_ms) { return exchange(ccid::kIccPowerOff, 0, 0, 0, nullptr, 0, timeout_ms); }
  CcidAnswer slot_status(uint32_t timeout_ms) {
    return exchange(ccid::kGetSlotStatus, 0, 0, 0, nullptr, 0, timeout_ms);
  }
  CcidAnswer xfr_block(const uint8_t* data, uint32_t length, uint32_t timeout_ms,
                       uint16_t level_parameter = ccid::kChainComplete) {
    return exchange(ccid::kXfrBlock, 0, static_cast<uint8_t>(level_parameter),
                    static_cast<uint8_t>(level_parameter >> 8), data, length, timeout_ms);
  }
  CcidAnswer set_parameters(uint8_t protocol, const uint8_t* data, uint32_t length, uint32_t timeout_ms) {
    return exchange(ccid::kSetParameters, protocol, 0, 0, data, length, timeout_ms);
  }
  CcidAnswer escape(const uint8_t* data, uint32_t length, uint32_t timeout_ms) {
    return exchange(ccid::kEscape, 0, 0, 0, data, length, timeout_ms);
  }

  uint32_t max_payload() const { return max_message_ - ccid::kHeaderSize; }
  uint64_t time_extensions() const { return time_extensions_; }
  uint64_t stale_answers_dropped() const { return stale_answers_; }
  uint64_t answers_rejected() const { return rejected_; }
  uint64_t stalls_cleared() const { return stalls_cleared_; }
  uint64_t port_resets() const { return port_resets_; }
  uint64_t busy_retries() const { return busy_retries_; }

 private:
  // Trivial type (no initializers): it lives in driver memory that is zeroed, then attach()ed.
  CcidAnswer exchange_once(uint8_t type, uint8_t b7, uint8_t b8, uint8_t b9, const uint8_t* data, uint32_t length,
                           uint32_t timeout_ms);
  // One transfer on a pipe; a stall is cleared and the transfer tried once more.
  UsbStatus send(uint32_t length);
  UsbStatus receive(uint32_t* received, uint32_t timeout_ms);
  UsbStatus reset_after_stalls();

  UsbIo* io_;
  CcidEndpoints endpoints_;
  uint8_t slot_;
  uint8_t seq_;
  uint32_t max_message_;
  uint64_t time_extensions_;
  uint64_t stale_answers_;
  uint64_t rejected_;
  uint64_t stalls_cleared_;
  uint64_t port_resets_;
  uint64_t busy_retries_;
  uint8_t buffer_[kMaxCcidMessage];
};

}  // namespace reference_rdf
