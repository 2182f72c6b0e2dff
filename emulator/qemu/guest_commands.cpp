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

bool guest_present(const std::filesystem::path& dir) {
    return std::filesystem::exists(dir / "vmlinuz") && std::filesystem::exists(dir / "initrd.img");
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

int guest_shell(const std::vector<std::string>& args, const std::vector<std::filesystem::path>& usbredir_sockets) {
    std::filesystem::path guest_dir = default_guest_dir();
    std::filesystem::path trace;
    int memory = 512;
    bool keep = false;
    std::vector<std::string> extra, kernel_options;
    std::vector<std::string> commands;
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
        const std::string& a = args[i];
        bool has_value = i + 1 < args.size();
        if (a == "--") break;
        if (a == "--guest" && has_value) guest_dir = args[++i];
        else if (a == "--memory" && has_value) memory = std::atoi(args[++i].c_str());
        else if (a == "--trace" && has_value) trace = args[++i];
        else if (a == "--qemu-arg" && has_value) extra.push_back(args[++i]);
        else if (a == "--append" && has_value) kernel_options.push_back(args[++i]);
        else if (a == "--apdu") kernel_options.push_back("readerlab.apdu=1");
        else if (a == "--keep") keep = true;
        else {
            std::fprintf(stderr,
                         "usage: readerlab guest shell [--guest DIR] [--memory MB] [--apdu] [--keep] [--trace FILE]\n"
                         "                             [--qemu-arg ARG]... [--append OPTION]... [-- COMMAND...]...\n"
                         "unexpected argument '%s'\n", a.c_str());
            return 2;
        }
    }
    std::string current;
    for (; i < args.size(); ++i) {  // groups separated by "--"
        if (args[i] == "--") {
            if (!current.empty()) commands.push_back(current);
            current.clear();
        } else {
            current += (current.empty() ? "" : " ") + args[i];
        }
    }
    if (!current.empty()) commands.push_back(current);

    if (!guest_present(guest_dir)) {
        std::fprintf(stderr, "readerlab: no guest in %s, building it\n", guest_dir.c_str());
        int rc = guest_build({"--out", guest_dir.string()});
        if (rc != 0) return rc;
    }

    char work_template[] = "/tmp/readerlab-guest-XXXXXX";
    if (mkdtemp(work_template) == nullptr) {
        std::perror("readerlab: mkdtemp");
        return 1;
    }
    std::filesystem::path work = work_template;

    GuestOptions options;
    options.kernel = guest_dir / "vmlinuz";
    options.initrd = guest_dir / "initrd.img";
    options.console_log = work / "console.log";
    options.pcscd_log = work / "pcscd.log";
    options.agent_socket = work / "agent.sock";
    options.usbredir_sockets = usbredir_sockets;
    options.memory_mb = memory;
    options.extra_args = extra;
    options.kernel_cmdline = default_kernel_cmdline();
    for (const auto& k : kernel_options) options.kernel_cmdline += " " + k;

    boost::asio::io_context io;
    int result = 0;
    {
        AgentClient agent(io, options.agent_socket, trace);
        QemuProcess qemu;
        std::string error;
        if (!qemu.start(qemu_command_line(options), work / "qemu.log", error)) {
            std::fprintf(stderr, "readerlab: %s\n", error.c_str());
            return 1;
        }
        bool ready = false;
        for (int waited = 0; waited < 120 && !ready && qemu.running(); ++waited) {
            ready = agent.accept(std::chrono::seconds(1));
        }
        if (!ready) {
            std::fprintf(stderr, "readerlab: the guest agent did not become ready (see %s)\n", work.c_str());
            qemu.terminate();
            return 1;
        }
        std::fprintf(stderr, "readerlab: guest agent ready %.2f s after QEMU started (logs in %s)\n",
                     static_cast<double>(qemu.since_start().count()) / 1000.0, work.c_str());

        auto run_one = [&](const std::string& command) {
            auto reply = agent.call({{"call", "Exec"}, {"command", command}, {"timeout_ms", 600000}},
                                    std::chrono::seconds(610));
            if (!reply) {
                std::fprintf(stderr, "readerlab: no reply to Exec (%s)\n",
                             agent.close_reason().empty() ? "timeout" : agent.close_reason().c_str());
                result = 1;
                return false;
            }
            if (reply->contains("error")) {
                std::fprintf(stderr, "readerlab: agent error: %s\n", reply->value("error", "").c_str());
                result = 1;
                return true;
            }
            std::cout << reply->value("output", "") << std::flush;
            int code = reply->value("exit_code", -1);
            if (code != 0) {
                std::fprintf(stderr, "readerlab: '%s' exited with %d\n", command.c_str(), code);
                result = code;
            }
            return true;
        };
        if (!commands.empty()) {
            for (const auto& c : commands)
                if (!run_one(c)) break;
        } else {
            std::string line;
            while (std::getline(std::cin, line))
                if (!line.empty() && !run_one(line)) break;
        }
        agent.call({{"call", "Poweroff"}}, std::chrono::seconds(5));
        if (!qemu.wait(std::chrono::seconds(10))) qemu.terminate();
    }
    if (!keep) {
        std::error_code ec;
        std::filesystem::remove_all(work, ec);
    }
    return result;
}

}  // namespace readerlab::qemu
