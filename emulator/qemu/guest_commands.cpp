#include "emulator/qemu/guest_commands.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "emulator/ccid/reader.h"
#include "emulator/qemu/agent_client.h"
#include "emulator/qemu/qemu_launcher.h"

extern char** environ;

namespace readerlab::qemu {
namespace {

std::filesystem::path exe_dir() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return std::filesystem::current_path();
    return exe.parent_path();
}

int run_program(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
    if (rc != 0) {
        std::fprintf(stderr, "readerlab: cannot run %s: %s\n", argv[0].c_str(), std::strerror(rc));
        return 127;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

std::filesystem::path default_guest_dir() { return (exe_dir() / ".." / "guest").lexically_normal(); }

int guest_build(const std::vector<std::string>& args) {
    std::string out = default_guest_dir().string();
    std::string agent = (exe_dir() / "readerlab-agent").string();
    std::vector<std::string> with;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        bool has_value = i + 1 < args.size();
        if (a == "--out" && has_value) out = args[++i];
        else if (a == "--agent" && has_value) agent = args[++i];
        else if (a == "--with" && has_value) with.push_back(args[++i]);
        else {
            std::fprintf(stderr,
                         "usage: readerlab guest build [--out DIR] [--agent PATH] [--with DEBIAN_PACKAGE]...\n"
                         "unexpected argument '%s'\n", a.c_str());
            return 2;
        }
    }
    std::vector<std::string> argv = {"/bin/bash", READERLAB_SOURCE_DIR "/emulator/qemu/guest/build-guest.sh",
                                     "--out", out, "--agent", agent};
    for (const auto& p : with) argv.insert(argv.end(), {"--with", p});
    const ccid::ReaderConfig reader;
    char ids[16];
    std::snprintf(ids, sizeof ids, "0x%04X:0x%04X:", reader.vendor_id, reader.product_id);
    argv.insert(argv.end(), {"--register-reader", ids + reader.manufacturer + " " + reader.product});
    return run_program(argv);
}

}  // namespace readerlab::qemu
