// What fuzz/targets/ccid_reader found, kept as behaviour a host would notice; the inputs are in
// fuzz/regressions/ccid_reader/.
#include "emulator/ccid/reader.h"

#include <doctest/doctest.h>

#include <initializer_list>

namespace readerlab::ccid {
namespace {

TEST_CASE("GET_STATUS on an endpoint answers no more than wLength bytes (USB 2.0 9.3.5)") {
  Reader reader;
  reader.set_configuration(1);
  for (const std::uint16_t length : std::initializer_list<std::uint16_t>{0, 1, 2, 64}) {
    CAPTURE(length);
    usb::SetupPacket setup;
    setup.request_type = 0x82;  // device to host, standard, endpoint
    setup.request = 0x00;       // GET_STATUS, USB 2.0 9.4.5
    setup.index = kBulkIn;
    setup.length = length;
    const auto result = reader.control(setup, {});
    CHECK(result.status == usb::TransferStatus::ok);
    CHECK(result.data.size() == std::min<std::size_t>(2, length));
  }
}

}  // namespace
}  // namespace readerlab::ccid
