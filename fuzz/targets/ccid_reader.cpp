// The CCID reader (emulator/ccid) as a host drives it over its USB device interface:
// PC_to_RDR messages on bulk OUT, reads of bulk IN and interrupt IN, control requests, and
// cards coming and going between them.
//   input: reader model (exchange level, slots, message length), then operations:
//     0 raw bulk-OUT transfer (16-bit length + bytes)
//     1 PC_to_RDR message: type, slot, seq, 3 specific bytes, abData (16-bit length + bytes),
//       dwLength set right (CCID 6.1), then a read of the whole answer
//     2 bulk-IN read of at most a 16-bit length      3 interrupt-IN read
//     4 control request: 8 setup bytes + OUT data (16-bit length + bytes)
//     5 insert a built-in card (index) or remove it   6 bus reset or SET_CONFIGURATION
// Every RDR_to_PC answer read whole has the dwLength of its size and fits
// dwMaxCCIDMessageLength (CCID 5.1, 6.2).
#include "cards/apdu/iso_card.h"
#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "fuzz/fuzz_input.h"

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace readerlab;
using readerlab::fuzz::FuzzInput;

namespace {

const std::vector<cards::CardProfile>& profiles() {
  static const std::vector<cards::CardProfile> loaded = [] {
    std::vector<cards::CardProfile> all;
    for (const char* name :
         {"t1-fs", "t0-basic", "t0-t1", "specific-ta2", "inverse", "extended", "slow", "mute", "bad-atr"})
      all.push_back(*cards::builtin_profile(name));
    return all;
  }();
  return loaded;
}

std::uint32_t le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// A whole bulk-IN message: an RDR_to_PC header whose dwLength counts the rest (CCID 6.2).
void check_whole_answer(const ccid::Reader& reader, const usb::Bytes& answer) {
  READERLAB_FUZZ_CHECK(answer.size() >= ccid::kHeaderSize);
  READERLAB_FUZZ_CHECK(answer[0] >= 0x80 && answer[0] <= 0x84);
  READERLAB_FUZZ_CHECK(le32(&answer[1]) == answer.size() - ccid::kHeaderSize);
  READERLAB_FUZZ_CHECK(answer.size() <= reader.config().max_message_length);
}

void drain_bulk_in(ccid::Reader& reader) {
  constexpr std::size_t kWholeMessage = 1u << 20;
  while (auto answer = reader.transfer_in(ccid::kBulkIn, kWholeMessage)) {
    READERLAB_FUZZ_CHECK(answer->status == usb::TransferStatus::ok);
    check_whole_answer(reader, answer->data);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const std::uint8_t model = input.byte();
  ccid::ReaderConfig config;
  config.set_exchange_level(static_cast<ccid::ExchangeLevel>(model % 3));
  config.slot_count = static_cast<std::uint8_t>(1 + ((model >> 2) & 0x01));
  if (model & 0x08) config.max_message_length = 64 + input.byte() * 4u;  // a small reader
  ccid::Reader reader(config);
  reader.set_configuration(1);
  const auto& all = profiles();
  reader.insert(std::make_unique<cards::IsoCard>(all[input.byte() % all.size()], 1));

  for (unsigned operations = 0; !input.empty() && operations < 128; ++operations) {
    switch (input.byte() % 7) {
      case 0: {
        const auto transfer = input.record16();
        (void)reader.transfer_out(ccid::kBulkOut, transfer);
        break;
      }
      case 1: {
        ccid::Message message;
        message.type = input.byte();
        message.slot = input.byte();
        message.seq = input.byte();
        for (auto& b : message.specific) b = input.byte();
        message.data = input.record16();
        (void)reader.transfer_out(ccid::kBulkOut, ccid::encode(message));
        drain_bulk_in(reader);
        break;
      }
      case 2: {
        // A host reading a long message in short transfers; the rest completes it.
        const std::size_t max_length = input.u16();
        auto answer = reader.transfer_in(ccid::kBulkIn, max_length);
        if (!answer || answer->data.empty()) break;
        READERLAB_FUZZ_CHECK(answer->data.size() <= max_length);
        auto& message = answer->data;
        const bool whole =
            message.size() >= ccid::kHeaderSize && le32(&message[1]) == message.size() - ccid::kHeaderSize;
        if (!whole) {
          const auto rest = reader.transfer_in(ccid::kBulkIn, 1u << 20);
          READERLAB_FUZZ_CHECK(rest.has_value());
          message.insert(message.end(), rest->data.begin(), rest->data.end());
        }
        check_whole_answer(reader, message);
        break;
      }
      case 3: (void)reader.transfer_in(ccid::kInterruptIn, 64); break;
      case 4: {
        usb::SetupPacket setup;
        setup.request_type = input.byte();
        setup.request = input.byte();
        setup.value = input.u16();
        setup.index = input.u16();
        setup.length = input.u16();
        const auto out_data = input.record16();
        const auto result = reader.control(setup, out_data);
        if (setup.device_to_host()) READERLAB_FUZZ_CHECK(result.data.size() <= setup.length);
        break;
      }
      case 5: {
        const std::uint8_t choice = input.byte();
        const auto slot = static_cast<std::uint8_t>(choice & 0x01);
        if (choice & 0x80)
          (void)reader.remove(slot);
        else
          reader.insert(std::make_unique<cards::IsoCard>(all[(choice >> 1) % all.size()], 1), slot);
        break;
      }
      case 6: {
        const std::uint8_t choice = input.byte();
        if (choice & 0x80)
          reader.bus_reset();
        else
          reader.set_configuration(choice & 0x01);
        break;
      }
    }
  }
  drain_bulk_in(reader);
  while (reader.transfer_in(ccid::kInterruptIn, 64)) {
  }
  return 0;
}
