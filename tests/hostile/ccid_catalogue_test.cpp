// Malformed PC_to_RDR messages, one row each, and the RDR_to_PC answer CCID rev 1.1 6.2 asks
// for: the answer type of the command (Table 6.1-1 / 6.2), bSeq and bSlot echoed, bStatus with
// bmCommandStatus 1 (failed) and bmICCStatus of the slot, bError naming what is wrong (6.2.6:
// an error code, or 1..127 the offset of the wrong field, 0 command not supported). After each
// row the slot beside it and the hostile slot itself still power a card and run an APDU.
#include "tests/hostile/hostile_support.h"

namespace readerlab::hostile {
namespace {

using namespace ccid::test;

enum class Power { off, on };

struct Entry {
  const char* name;
  Power power;            // slot 0 (t1-fs) powered before the message, or not
  const char* message;    // the bulk-OUT transfer, hex ("XX*N" repeats)
  std::uint8_t type;      // RDR_to_PC bMessageType
  std::uint8_t status;    // bStatus
  std::uint8_t error;     // bError
  const char* data = "";  // abData, hex; nullptr: not checked
};

// RDR_to_PC types, CCID 6.2.
constexpr std::uint8_t kDataBlock = 0x80, kSlotStatus = 0x81, kParameters = 0x82, kEscape = 0x83, kRateAndClock = 0x84;
// bStatus = bmICCStatus | bmCommandStatus << 6, CCID 6.2.6.
constexpr std::uint8_t kActive = 0x40, kInactive = 0x41, kAbsent = 0x42;  // command failed
// bError, CCID 6.2.6 Table 6.2-2 and the field offsets of 6.1.
constexpr std::uint8_t kNotSupported = 0x00;  // CMD_NOT_SUPPORTED
constexpr std::uint8_t kAtLength = 1;         // dwLength
constexpr std::uint8_t kAtSlot = 5;           // bSlot
constexpr std::uint8_t kAtByte7 = 7;          // bPowerSelect, bProtocolNum, ...
constexpr std::uint8_t kAtByte8 = 8;          // wLevelParameter
constexpr std::uint8_t kIccMute = 0xFE;       // ICC_MUTE

// Slot 0 holds t1-fs (the target), slot 1 t0-basic (the neighbour), slot 2 is empty.
const Entry kCatalogue[] = {
    // Framing: dwLength against the bytes of the transfer (CCID 6.1: a 10-byte header first).
    {"empty bulk-OUT transfer", Power::off, "", kSlotStatus, kInactive, kAtLength},
    {"one byte: the type of IccPowerOn alone", Power::off, "62", kDataBlock, kInactive, kAtLength},
    {"header cut after bSeq", Power::off, "65 00000000 00 5A", kSlotStatus, kInactive, kAtLength},
    {"header of 9 bytes", Power::off, "6F 00000000 00 5A 00 00", kDataBlock, kInactive, kAtLength},
    {"dwLength one more than the data sent", Power::on, "6F 05000000 00 5A 000000 00A40400", kDataBlock, kActive,
     kAtLength},
    {"dwLength one less than the data sent", Power::on, "6F 03000000 00 5A 000000 00A40400", kDataBlock, kActive,
     kAtLength},
    {"dwLength FFFFFFFF", Power::on, "6F FFFFFFFF 00 5A 000000 00A40400", kDataBlock, kActive, kAtLength},
    {"dwLength 2^31", Power::on, "6F 00000080 00 5A 000000 00A40400", kDataBlock, kActive, kAtLength},
    {"dwLength 0 with 5 bytes after the header", Power::off, "65 00000000 00 5A 000000 0102030405", kSlotStatus,
     kInactive, kAtLength},
    {"300 bytes, over dwMaxCCIDMessageLength 271", Power::on, "6F 2C010000 00 5A 000000 00*300", kDataBlock, kActive,
     kAtLength},
    {"4 KiB XfrBlock", Power::on, "6F 00100000 00 5A 000000 00*4096", kDataBlock, kActive, kAtLength},
    {"ten bytes FF", Power::off, "FF*10", kSlotStatus, kAbsent, kAtLength},
    // bSlot beyond bMaxSlotIndex: the slot reads as absent (bmICCStatus 2).
    {"GetSlotStatus to slot 3 of a 3-slot reader", Power::off, "65 00000000 03 5A 000000", kSlotStatus, kAbsent,
     kAtSlot},
    {"IccPowerOn to slot FF", Power::off, "62 00000000 FF 5A 000000", kDataBlock, kAbsent, kAtSlot},
    {"XfrBlock to slot FF", Power::on, "6F 04000000 FF 5A 000000 00A40400", kDataBlock, kAbsent, kAtSlot},
    {"GetParameters to slot 80", Power::off, "6C 00000000 80 5A 000000", kParameters, kAbsent, kAtSlot},
    // Message types the reader does not know or does not support.
    {"type 00", Power::off, "00 00000000 00 5A 000000", kSlotStatus, kInactive, kNotSupported},
    {"type FF", Power::off, "FF 00000000 00 5A 000000", kSlotStatus, kInactive, kNotSupported},
    {"an RDR_to_PC_DataBlock sent to the reader", Power::off, "80 00000000 00 5A 000000", kSlotStatus, kInactive,
     kNotSupported},
    {"a NotifySlotChange type on bulk OUT", Power::off, "50 00000000 00 5A 000000", kSlotStatus, kInactive,
     kNotSupported},
    {"Secure without a PIN pad", Power::on, "69 05000000 00 5A 00 0000 00 00 00 00 00", kDataBlock, kActive,
     kNotSupported},
    // T0APDU bmChanges has two bits (CCID 6.1.10); IccClock knows 00 restart and 01 stop (6.1.9).
    {"T0APDU with reserved bmChanges bits", Power::off, "6A 00000000 00 5A FC 00 00", kSlotStatus, kInactive, kAtByte7},
    {"IccClock command 02", Power::on, "6E 00000000 00 5A 02 0000", kSlotStatus, kActive, kAtByte7},
    {"Mechanical eject", Power::off, "71 00000000 00 5A 01 0000", kSlotStatus, kInactive, kNotSupported},
    // SetDataRateAndClockFrequency carries dwClockFrequency and dwDataRate, 8 bytes (CCID 6.1.14).
    {"SetDataRateAndClockFrequency with 4 bytes", Power::off, "73 04000000 00 5A 000000 FFFFFFFF", kRateAndClock,
     kInactive, kAtLength, nullptr},
    {"Escape with vendor bytes", Power::off, "6B 04000000 00 5A 000000 DEADBEEF", kEscape, kInactive, kNotSupported},
    // Fields out of range (CCID 6.1.1 bPowerSelect 0..3, 6.1.7 bProtocolNum 0..1 and 5 or 7 bytes).
    {"IccPowerOn bPowerSelect 04", Power::off, "62 00000000 00 5A 04 0000", kDataBlock, kInactive, kAtByte7},
    {"IccPowerOn bPowerSelect FF", Power::off, "62 00000000 00 5A FF 0000", kDataBlock, kInactive, kAtByte7},
    {"IccPowerOn with abData", Power::off, "62 02000000 00 5A 00 0000 3B00", kDataBlock, kInactive, kAtLength},
    {"SetParameters bProtocolNum 02", Power::off, "61 07000000 00 5A 02 0000 11 10 00 4D 00 20 00", kParameters,
     kInactive, kAtByte7, nullptr},
    {"SetParameters bProtocolNum FF", Power::off, "61 07000000 00 5A FF 0000 11 10 00 4D 00 20 00", kParameters,
     kInactive, kAtByte7, nullptr},
    {"SetParameters T=1 with 5 bytes", Power::off, "61 05000000 00 5A 01 0000 11 10 00 4D 00", kParameters, kInactive,
     kAtLength, nullptr},
    {"SetParameters T=0 with 7 bytes", Power::off, "61 07000000 00 5A 00 0000 11 00 00 0A 00 00 00", kParameters,
     kInactive, kAtLength, nullptr},
    {"SetParameters T=1 without data", Power::off, "61 00000000 00 5A 01 0000", kParameters, kInactive, kAtLength,
     nullptr},
    {"SetParameters T=0 to a powered T=1-only card", Power::on, "61 05000000 00 5A 00 0000 11 00 00 0A 00", kParameters,
     kActive, kAtByte7, nullptr},
    // dwLength of commands that carry no data is 0 (CCID 6.1.2, 6.1.3, 6.1.5, 6.1.6, 6.1.13).
    {"GetSlotStatus with 4 data bytes", Power::off, "65 04000000 00 5A 000000 01020304", kSlotStatus, kInactive,
     kAtLength},
    {"IccPowerOff with 1 data byte", Power::on, "63 01000000 00 5A 000000 00", kSlotStatus, kActive, kAtLength},
    {"Abort with 2 data bytes", Power::off, "72 02000000 00 5A 000000 0000", kSlotStatus, kInactive, kAtLength},
    {"GetParameters with 7 data bytes", Power::on, "6C 07000000 00 5A 000000 11 10 00 4D 00 20 00", kParameters,
     kActive, kAtLength, nullptr},
    {"ResetParameters with 1 data byte", Power::on, "6D 01000000 00 5A 000000 00", kParameters, kActive, kAtLength,
     nullptr},
    // XfrBlock at short APDU level (CCID 6.1.4: wLevelParameter 0000; abData one short APDU).
    {"XfrBlock to an unpowered card", Power::off, "6F 05000000 00 5A 000000 00B0000000", kDataBlock, kInactive,
     kIccMute},
    {"XfrBlock wLevelParameter 0001", Power::on, "6F 05000000 00 5A 00 0100 00B0000000", kDataBlock, kActive, kAtByte8},
    {"XfrBlock wLevelParameter 0010", Power::on, "6F 05000000 00 5A 00 1000 00B0000000", kDataBlock, kActive, kAtByte8},
    {"XfrBlock wLevelParameter FFFF", Power::on, "6F 05000000 00 5A 00 FFFF 00B0000000", kDataBlock, kActive, kAtByte8},
    {"XfrBlock without an APDU", Power::on, "6F 00000000 00 5A 000000", kDataBlock, kActive, kAtLength},
    // A malformed APDU is no CCID error: the card answers it (ISO 7816-4 5.1, 6700 / 6E00).
    {"XfrBlock of a 3-byte APDU", Power::on, "6F 03000000 00 5A 000000 00A404", kDataBlock, 0x00, 0x00, "67 00"},
    {"XfrBlock of a 1-byte APDU", Power::on, "6F 01000000 00 5A 000000 00", kDataBlock, 0x00, 0x00, "67 00"},
    {"XfrBlock with Lc over the data", Power::on, "6F 07000000 00 5A 000000 00A404000BF072", kDataBlock, 0x00, 0x00,
     "67 00"},
    {"XfrBlock of a PPS request at APDU level", Power::on, "6F 04000000 00 5A 000000 FF1011FE", kDataBlock, 0x00, 0x00,
     "6E 00"},
    // The empty slot 2: no card (bmICCStatus 2), the reader cannot reach one (ICC_MUTE).
    {"IccPowerOn to the empty slot", Power::off, "62 00000000 02 5A 000000", kDataBlock, kAbsent, kIccMute},
    {"XfrBlock to the empty slot", Power::off, "6F 04000000 02 5A 000000 00A40400", kDataBlock, kAbsent, kIccMute},
    {"GetParameters to the empty slot", Power::off, "6C 00000000 02 5A 000000", kParameters, kAbsent, kIccMute,
     nullptr},
    {"ResetParameters to the empty slot", Power::off, "6D 00000000 02 5A 000000", kParameters, kAbsent, kIccMute,
     nullptr},
    {"SetParameters to the empty slot", Power::off, "61 05000000 02 5A 00 0000 11 00 00 0A 00", kParameters, kAbsent,
     kIccMute, nullptr},
};

std::unique_ptr<ccid::Reader> three_slot_reader() {
  ccid::ReaderConfig config;
  config.slot_count = 3;
  auto reader = std::make_unique<ccid::Reader>(config);
  reader->insert(cards::make_builtin_card("t1-fs"), 0);
  reader->insert(cards::make_builtin_card("t0-basic"), 1);
  return reader;
}

}  // namespace

std::size_t ccid_catalogue_size() { return std::size(kCatalogue); }

TEST_CASE("hostile CCID messages get the RDR_to_PC answer of CCID 6.2 and the reader keeps serving") {
  for (const Entry& entry : kCatalogue) {
    const std::string name = entry.name;
    CAPTURE(name);
    auto reader = three_slot_reader();
    if (entry.power == Power::on) {
      const Bytes atr = reader->handle_message(command(ccid::Command::icc_power_on, 1));
      REQUIRE(status_of(atr) == kActiveOk);
    }
    const Bytes message = bytes_of(entry.message);
    const Bytes answer = reader->handle_message(message);
    const std::string answer_hex = to_hex(answer);
    CAPTURE(answer_hex);
    REQUIRE(answer.size() >= ccid::kHeaderSize);
    CHECK(length_of(answer) == answer.size() - ccid::kHeaderSize);
    CHECK(type_of(answer) == entry.type);
    if (message.size() > 5) CHECK(slot_of(answer) == message[5]);
    if (message.size() > 6) CHECK(seq_of(answer) == message[6]);
    CHECK(status_of(answer) == entry.status);
    CHECK(error_of(answer) == entry.error);
    if (entry.data) CHECK(to_hex(data_of(answer)) == to_hex(bytes_of(entry.data)));

    check_slot_serves(*reader, 1, "t0-basic", 0x10);
    check_slot_serves(*reader, 0, "t1-fs", 0x20);
  }
}

}  // namespace readerlab::hostile

namespace readerlab::hostile {
namespace {

// At extended APDU level (CCID 5.1 dwFeatures 00040000h) wLevelParameter chains a command
// over several XfrBlocks (CCID 6.1.4): 0001 begins, 0003 continues, 0002 ends, 0010 asks for
// the rest of a response. Slot 0 holds t1-fs, powered; slot 1 t0-basic.
const Entry kExtendedLevel[] = {
    {"wLevelParameter 0010 with no response pending", Power::on, "6F 00000000 00 5A 00 1000", kDataBlock, kActive,
     kAtByte8},
    {"wLevelParameter 0004, undefined", Power::on, "6F 05000000 00 5A 00 0400 00B0000000", kDataBlock, kActive,
     kAtByte8},
    {"wLevelParameter 0003: a chain continued that never began", Power::on, "6F 05000000 00 5A 00 0300 00B0000000",
     kDataBlock, kActive, kAtByte8},
    {"wLevelParameter 0002: a chain ended that never began", Power::on, "6F 05000000 00 5A 00 0200 00B0000000",
     kDataBlock, kActive, kAtByte8},
    {"XfrBlock without an APDU", Power::on, "6F 00000000 00 5A 000000", kDataBlock, kActive, kAtLength},
    {"65545 bytes, over the longest extended APDU", Power::on, "6F 09000100 00 5A 000000 00*65545", kDataBlock, kActive,
     kAtLength},
};

}  // namespace

std::size_t ccid_extended_catalogue_size() { return std::size(kExtendedLevel); }

TEST_CASE("hostile chaining at extended APDU level fails at wLevelParameter or dwLength, and the slots keep serving") {
  for (const Entry& entry : kExtendedLevel) {
    const std::string name = entry.name;
    CAPTURE(name);
    ccid::ReaderConfig config;
    config.slot_count = 2;
    config.set_exchange_level(ccid::ExchangeLevel::extended_apdu);
    ccid::Reader reader(config);
    reader.insert(cards::make_builtin_card("t1-fs"), 0);
    reader.insert(cards::make_builtin_card("t0-basic"), 1);
    REQUIRE(status_of(reader.handle_message(command(ccid::Command::icc_power_on, 1))) == kActiveOk);
    const Bytes answer = reader.handle_message(bytes_of(entry.message));
    const std::string answer_hex = to_hex(Bytes(
        answer.begin(), answer.begin() + std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(answer.size()), 16)));
    CAPTURE(answer_hex);
    REQUIRE(answer.size() >= ccid::kHeaderSize);
    CHECK(type_of(answer) == entry.type);
    CHECK(seq_of(answer) == 0x5A);
    CHECK(status_of(answer) == entry.status);
    CHECK(error_of(answer) == entry.error);
    CHECK(data_of(answer).empty());
    check_slot_serves(reader, 1, "t0-basic", 0x10);
    check_slot_serves(reader, 0, "t1-fs", 0x20);
  }
}

}  // namespace readerlab::hostile
