// The host side of the guest agent's JSON-line protocol (hosts/linux_guest/agent_client) reading
// whatever an agent sends: the input's bytes arrive on the agent socket as they are, then the
// agent hangs up. The client must keep its state consistent (replies by id, the ready event,
// unsolicited lines, malformed lines counted) and never crash.
#include "fuzz/fuzz_input.h"
#include "hosts/linux_guest/agent_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

using namespace readerlab;
namespace asio = boost::asio;

namespace {

const std::filesystem::path& socket_path() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("readerlab-fuzz-agent-" + std::to_string(::getpid()) + ".sock");
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  asio::io_context io;
  qemu::AgentClient client(io, socket_path());
  // Requests 1 and 2 wait for their replies, as a case waiting on the agent does.
  const auto first = client.send({{"call", "SCardEstablishContext"}});
  const auto second = client.send({{"call", "SCardListReaders"}});

  asio::local::stream_protocol::socket agent(io);
  agent.connect(asio::local::stream_protocol::endpoint(socket_path().string()));
  asio::write(agent, asio::buffer(data, size));
  agent.shutdown(asio::socket_base::shutdown_send);

  (void)client.accept(std::chrono::milliseconds(50));
  if (const auto reply = client.wait(first, std::chrono::milliseconds(10))) READERLAB_FUZZ_CHECK(reply->is_object());
  if (const auto reply = client.wait(second, std::chrono::milliseconds(10))) READERLAB_FUZZ_CHECK(reply->is_object());
  (void)client.ready_event();
  for (const auto& line : client.take_unsolicited()) READERLAB_FUZZ_CHECK(line.is_object());
  (void)client.malformed_lines();
  (void)client.close_reason();
  return 0;
}
