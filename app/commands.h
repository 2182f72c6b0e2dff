// The subcommands after their arguments are parsed and checked (main.cpp).
#pragma once

#include "base/bytes.h"
#include "emulator/usbredir/endpoint.h"

#include <string>
#include <vector>

namespace readerlab::app {

struct ServeOptions {
  std::vector<usbredir::SocketAddress> addresses;
  std::string card = "t1-fs";        // a card profile, or "none"
  std::string reader = "readerlab";  // a reader profile (scenarios/readers/NAME.lua)
};

// Whether only this machine reaches the address (a unix socket or a loopback IP).
bool is_loopback(const usbredir::SocketAddress& address);

int serve_command(const ServeOptions& options);
int atr_command(const Bytes& atr);
int cards_command();
int cases_command();
int readers_command();

}  // namespace readerlab::app
