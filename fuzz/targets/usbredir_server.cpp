// The usbredir server (emulator/usbredir HostSession) serving a CCID reader, fed a whole
// connection from a peer over a real unix socket pair on an in-process io_context: a valid
// hello first (the harness writes it, with the capabilities the input's first byte picks),
// then the input's bytes as they are. The peer reads whatever the server writes and ends
// its side; the session must read to the end or close with a reason, and never crash.
#include "cards/apdu/iso_card.h"
#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "emulator/usbredir/server.h"
#include "fuzz/fuzz_input.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <usbredirproto.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace readerlab;
using readerlab::fuzz::FuzzInput;
namespace asio = boost::asio;

namespace {

const cards::CardProfile& card_profile() {
  static const cards::CardProfile profile = *cards::builtin_profile("t1-fs");
  return profile;
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// usbredir protocol: the hello packet (header with 32-bit id, version string of 64 bytes,
// capability words). The capabilities change the framing of everything after it: 64-bit
// ids lengthen the header, 32-bit bulk lengths the bulk packet header.
std::vector<std::uint8_t> hello_packet(std::uint8_t capability_choice) {
  std::uint32_t caps = 0;
  const int chosen[] = {
      usb_redir_cap_bulk_streams,          usb_redir_cap_connect_device_version,  usb_redir_cap_filter,
      usb_redir_cap_device_disconnect_ack, usb_redir_cap_ep_info_max_packet_size, usb_redir_cap_64bits_ids,
      usb_redir_cap_32bits_bulk_length,    usb_redir_cap_bulk_receiving};
  for (int bit = 0; bit < 8; ++bit)
    if (capability_choice & (1 << bit)) caps |= 1u << chosen[bit];
  std::vector<std::uint8_t> packet;
  put32(packet, usb_redir_hello);
  put32(packet, 64 + 4);
  put32(packet, 0);
  std::array<char, 64> version{};
  std::memcpy(version.data(), "readerlab fuzz peer", 19);
  packet.insert(packet.end(), version.begin(), version.end());
  put32(packet, caps);
  return packet;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  auto stream = hello_packet(input.byte());
  const auto rest = input.rest();
  stream.insert(stream.end(), rest.begin(), rest.end());

  asio::io_context io;
  asio::local::stream_protocol::socket server_end(io), peer(io);
  asio::local::connect_pair(server_end, peer);
  usbredir::Socket socket(io, asio::generic::stream_protocol(AF_UNIX, 0), server_end.release());

  auto reader = std::make_shared<ccid::Reader>();
  reader->insert(std::make_unique<cards::IsoCard>(card_profile(), 1));
  auto session = std::make_shared<usbredir::HostSession>(std::move(socket), reader, usbredir::Logger{});
  session->start();

  // The socket buffers hold far more than the largest input (-max_len), so the peer writes
  // everything at once and ends its side; the server then reads to the end of the stream.
  asio::write(peer, asio::buffer(stream));
  peer.shutdown(asio::socket_base::shutdown_send);
  peer.non_blocking(true);

  // Bounded: a session that neither reads nor writes for many rounds waits for something no
  // peer will send (a held IN transfer); the input is then over.
  std::array<std::uint8_t, 65536> sink;
  unsigned idle_rounds = 0;
  for (unsigned rounds = 0; rounds < 20000 && idle_rounds < 50; ++rounds) {
    const std::size_t handlers = io.poll();
    if (io.stopped()) io.restart();
    boost::system::error_code ec;
    std::size_t drained = 0;
    while (!ec) drained += peer.read_some(asio::buffer(sink), ec);
    if (!session->is_open() && handlers == 0) break;
    idle_rounds = (handlers == 0 && drained == 0) ? idle_rounds + 1 : 0;
  }
  session->close("end of the fuzz input");
  io.restart();
  io.poll();
  return 0;
}
