// IOCTL_SMARTCARD_TRANSMIT round trips: smclib model -> reference RDF driver -> USB (in-process,
// or a usbredir socket to the usb-host server) -> CCID reader -> card.
#include "cards/profiles.h"
#include "drivers_under_test/reference_rdf/reference_rdf.h"
#include "emulator/ccid/reader.h"
#include "emulator/usbredir/server.h"
#include "hosts/windows_model/rdf/host_driver.h"
#include "hosts/windows_model/rdf/host_usb.h"

#include <benchmark/benchmark.h>

#include <unistd.h>
#include <filesystem>
#include <memory>

namespace {

using Bytes = std::vector<std::uint8_t>;

// SCARD_IO_REQUEST {T=1, 8} and an ECHO (CLA 80 INS 10) of 16 bytes with Le.
Bytes echo_request() {
  Bytes request = {0x02, 0, 0, 0, 0x08, 0, 0, 0, 0x80, 0x10, 0x00, 0x00, 0x10};
  for (std::uint8_t i = 0; i < 16; ++i) request.push_back(i);
  request.push_back(0x00);
  return request;
}

void power_and_select(benchmark::State& state, readerlab::windows_model::HostDriver& driver) {
  driver.poll_slot_change(0);
  if (driver.ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64).status != STATUS_SUCCESS ||
      driver.ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, SCARD_PROTOCOL_T1, 4).status != STATUS_SUCCESS)
    state.SkipWithError("the card did not power up or take T=1");
}

void run_transmits(benchmark::State& state, readerlab::windows_model::HostDriver& driver) {
  const Bytes request = echo_request();
  for (auto _ : state) {
    const auto result = driver.ioctl(IOCTL_SMARTCARD_TRANSMIT, request, 300);
    if (result.status != STATUS_SUCCESS || result.output.size() != 8 + 18) {
      state.SkipWithError("TRANSMIT failed");
      break;
    }
    benchmark::DoNotOptimize(result.output.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_transmit_in_process(benchmark::State& state) {
  readerlab::ccid::Reader reader;
  reader.insert(readerlab::cards::make_builtin_card("t1-fs"));
  readerlab::windows_model::InProcessUsb usb(reader);
  readerlab::windows_model::HostDriver driver(usb, ReaderlabReferenceRdfDriver);
  if (driver.start() != STATUS_SUCCESS) return state.SkipWithError("the driver did not start");
  power_and_select(state, driver);
  run_transmits(state, driver);
}
BENCHMARK(BM_transmit_in_process);

void BM_transmit_usbredir_socket(benchmark::State& state) {
  boost::asio::io_context io;
  readerlab::usbredir::Server server(io, nullptr);
  auto reader = std::make_shared<readerlab::ccid::Reader>();
  reader->insert(readerlab::cards::make_builtin_card("t1-fs"));
  readerlab::usbredir::SocketAddress address;
  address.is_unix = true;
  address.path = (std::filesystem::temp_directory_path() / ("readerlab-bench-" + std::to_string(::getpid()))).string();
  server.listen(address, [reader] { return reader; });
  auto usb = readerlab::windows_model::UsbredirUsb::connect(io, address);
  if (!usb) return state.SkipWithError(usb.error().message().c_str());
  readerlab::windows_model::HostDriver driver(**usb, ReaderlabReferenceRdfDriver);
  if (driver.start() != STATUS_SUCCESS) return state.SkipWithError("the driver did not start");
  power_and_select(state, driver);
  run_transmits(state, driver);
  state.SetLabel("unix socket");
}
BENCHMARK(BM_transmit_usbredir_socket);

}  // namespace
