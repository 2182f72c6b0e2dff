// readerlab serve: the emulator alone, for a user's own QEMU.
#include "app/commands.h"

#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "emulator/usbredir/server.h"
#include "scenarios/reader_profiles.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/streambuf.hpp>

#include <iostream>
#include <sstream>

namespace readerlab::app {

bool is_loopback(const usbredir::SocketAddress& address) {
  if (address.is_unix) return true;
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(address.host, ec);
  return !ec && ip.is_loopback();
}

namespace {

std::string reach_of(const usbredir::SocketAddress& address) {
  if (address.is_unix) return "unix socket, this machine only";
  return is_loopback(address) ? "loopback, this machine only" : "reachable from other machines (--allow-remote)";
}

void print_qemu_hint(const usbredir::SocketAddress& address, int index) {
  const std::string id = "readerlab" + std::to_string(index);
  std::cout << "  qemu-system-x86_64 ... -device qemu-xhci,id=xhci \\\n    -chardev socket,id=" << id;
  if (address.is_unix)
    std::cout << ",path=" << address.path;
  else
    std::cout << ",host=" << address.host << ",port=" << address.port;
  std::cout << " \\\n    -device usb-redir,chardev=" << id << ",bus=xhci.0\n";
}

// Reads commands from standard input so a person can drive the readers by hand.
class Console {
 public:
  Console(boost::asio::io_context& io, std::vector<std::weak_ptr<ccid::Reader>>& readers, usbredir::Server& server,
          std::string card)
      : input_(io), readers_(readers), server_(server), card_(std::move(card)) {
    boost::system::error_code ec;
    input_.assign(::dup(0), ec);
    if (!ec) read_line();
  }

 private:
  void read_line() {
    boost::asio::async_read_until(input_, buffer_, '\n', [this](boost::system::error_code ec, std::size_t) {
      if (ec) return;  // end of input: keep serving
      std::istream in(&buffer_);
      std::string line;
      std::getline(in, line);
      execute(line);
      read_line();
    });
  }

  void execute(const std::string& line) {
    std::istringstream words(line);
    std::string verb, argument;
    words >> verb >> argument;
    if (verb.empty()) return;
    if (verb != "insert" && verb != "remove" && verb != "unplug" && verb != "replug") {
      std::cout << "unknown command '" << verb << "': insert [PROFILE] | remove | unplug | replug\n";
      return;
    }
    const std::string profile = argument.empty() ? card_ : argument;
    if (verb == "insert" && !cards::make_builtin_card(profile)) {
      std::cout << "unknown card '" << profile << "' (see readerlab cards)\n";
      return;
    }
    std::erase_if(readers_, [](const auto& weak) { return weak.expired(); });
    for (auto& weak : readers_) {
      auto reader = weak.lock();
      if (verb == "insert") {
        reader->insert(cards::make_builtin_card(profile));
      } else if (verb == "remove") {
        reader->remove();
      } else {
        for (auto& session : server_.sessions_for(reader.get()))
          verb == "unplug" ? session->unplug() : session->replug();
      }
    }
    std::cout << verb << ": " << readers_.size() << " reader(s)\n";
  }

  boost::asio::posix::stream_descriptor input_;
  boost::asio::streambuf buffer_;
  std::vector<std::weak_ptr<ccid::Reader>>& readers_;
  usbredir::Server& server_;
  std::string card_;
};

}  // namespace

int serve_command(const ServeOptions& options) {
  // A script reading the replies through a pipe gets each line as it is written.
  std::cout << std::unitbuf;
  boost::asio::io_context io;
  usbredir::Server server(io, [](const std::string& line) { std::cerr << line << "\n"; });
  std::vector<std::weak_ptr<ccid::Reader>> readers;
  int connection_number = 0;
  const auto profile = scenarios::find_reader_profile(options.reader);
  if (!profile) {
    std::cerr << "readerlab serve: --reader: " << profile.error().message() << "\n";
    return 2;
  }
  std::cout << "readerlab serve: a virtual CCID reader per connection, reader '" << profile->name << "' ("
            << profile->title << "), card '" << options.card << "'\n";
  int index = 0;
  for (const auto& address : options.addresses) {
    const auto bound = server.listen(address, [&] {
      ccid::ReaderConfig config = profile->config;
      char serial[16];
      std::snprintf(serial, sizeof serial, "RL%04d", ++connection_number);
      config.serial_number = serial;
      // Not make_shared: the console's weak_ptr would keep the whole reader's storage of a
      // closed connection until the next connection prunes it.
      std::shared_ptr<ccid::Reader> reader(new ccid::Reader(config));
      if (options.card != "none") reader->insert(cards::make_builtin_card(options.card));
      std::erase_if(readers, [](const auto& weak) { return weak.expired(); });
      readers.push_back(reader);
      std::cerr << "reader " << serial << " offered to a new peer\n";
      return reader;
    });
    std::cout << "listening on " << bound.to_string() << " (" << reach_of(bound) << "); attach it with\n";
    print_qemu_hint(bound, index++);
  }
  std::cout << "type insert [PROFILE], remove, unplug or replug and Enter to act on every reader; Ctrl-C stops\n"
            << std::flush;
  Console console(io, readers, server, options.card == "none" ? "t1-fs" : options.card);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) {
    server.close_all();
    io.stop();
  });
  io.run();
  return 0;
}

}  // namespace readerlab::app
