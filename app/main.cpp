// readerlab: the command line. Subcommands in the style of git.
#include "app/commands.h"

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace {

void usage(std::ostream& out) {
  out << "usage: readerlab <command> [options]\n\n"
         "commands:\n"
         "  run [--out DIR] [--case ID]... [--guest DIR] [--seed N]\n"
         "                      boot the Linux guest, attach a virtual reader and run the conformance\n"
         "                      cases through pcscd + libccid; reports go to DIR (default ./out)\n"
         "  serve --listen ADDR [--listen ADDR]... [--card PROFILE|none] [--allow-remote]\n"
         "                      serve a virtual CCID reader over usbredir; ADDR is HOST:PORT or unix:PATH,\n"
         "                      loopback or unix only unless --allow-remote\n"
         "  guest build [--out DIR] [--with PACKAGE]...\n"
         "                      build the guest kernel + initramfs from installed Debian packages\n"
         "  guest shell [--card PROFILE|none] [-- COMMAND...]...\n"
         "                      boot the guest with a virtual reader and run commands in it\n"
         "  atr HEX             decode an ATR\n"
         "  cards               list the bundled cards\n"
         "  cases               list the conformance cases\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "run") return readerlab::app::run_command(args);
    if (command == "serve") return readerlab::app::serve_command(args);
    if (command == "guest") return readerlab::app::guest_command(args);
    if (command == "atr") return readerlab::app::atr_command(args);
    if (command == "cards") return readerlab::app::cards_command(args);
    if (command == "cases") return readerlab::app::cases_command(args);
  } catch (const std::exception& e) {
    std::cerr << "readerlab " << command << ": " << e.what() << "\n";
    return 1;
  }
  std::cerr << "readerlab: unknown command '" << command << "'\n\n";
  usage(std::cerr);
  return 2;
}
