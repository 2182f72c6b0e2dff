#include "hosts/linux_guest/guest_session.h"

#include "emulator/usbredir/client.h"
#include "hosts/linux_guest/guest_builder.h"
#include "hosts/linux_guest/stop_on_signal.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>

namespace readerlab::linux_guest {

std::uint64_t AgentPort::send(nlohmann::json request) {
  const std::string call = request.value("call", "");
  const auto id = agent_.send(std::move(request));
  calls_[id] = call;
  return id;
}

std::optional<nlohmann::json> AgentPort::wait(std::uint64_t id, std::chrono::milliseconds timeout) {
  auto reply = agent_.wait(id, timeout);
  const auto call = calls_.find(id);
  if (reply && call != calls_.end()) {
    if (!first_apdu_at_ && (call->second == "Transmit" || call->second == "TransmitRepeat") &&
        reply->value("rv", -1) == 0)
      first_apdu_at_ = std::chrono::steady_clock::now();
    (*reply)["call"] = call->second;
  }
  if (call != calls_.end()) calls_.erase(call);
  return reply;
}

GuestSession::GuestSession(GuestSessionOptions options) : options_(std::move(options)) {}

GuestSession::~GuestSession() { stop(); }

Status GuestSession::start() {
  std::error_code failure;
  std::filesystem::create_directories(options_.out_dir, failure);
  if (failure) return error(options_.out_dir.string(), "cannot create the output folder: " + failure.message());
  if (options_.guest_dir.empty()) options_.guest_dir = qemu::default_guest_dir();
  // Built when missing, and again when the builder, the agent or the readers changed since.
  if (auto updated = qemu::update_guest(options_.guest_dir); !updated) return updated.error();
  // Unix socket paths are limited to 107 bytes, so they live in a short temporary folder.
  char pattern[] = "/tmp/readerlab-XXXXXX";
  if (!::mkdtemp(pattern))
    return error("/tmp", std::string("cannot create a folder for the sockets: ") + std::strerror(errno));
  socket_dir_ = pattern;
  qemu::remove_folder_on_signal(socket_dir_);  // QEMU's own end comes with QemuProcess

  log_.open(options_.out_dir / "readerlab.log");
  rig_ = std::make_unique<scenarios::Rig>(io_, [this](const std::string& line) { log_ << line << std::endl; });
  rig_->set_seed(options_.seed);
  qemu::GuestOptions guest;
  for (int i = 0; i < options_.readers; ++i) {
    usbredir::SocketAddress address;
    address.is_unix = true;
    address.path = (socket_dir_ / ("reader" + std::to_string(i + 1) + ".sock")).string();
    ccid::ReaderConfig config = options_.reader_config.value_or(ccid::ReaderConfig{});
    config.serial_number = "RL000" + std::to_string(i + 1);
    const auto index = rig_->add_reader(address, config);
    if (!options_.initial_card.empty()) rig_->insert(index, options_.initial_card);
    guest.usbredir_sockets.push_back(address.path);
  }
  guest.extra_args = options_.extra_qemu_args;
  guest.agent_socket = socket_dir_ / "agent.sock";
  try {
    agent_ = std::make_unique<qemu::AgentClient>(io_, guest.agent_socket, options_.out_dir / "agent.log");
  } catch (const std::system_error& cannot_listen) {
    return error(guest.agent_socket.string(), std::string("cannot listen for the agent: ") + cannot_listen.what());
  }
  port_ = std::make_unique<AgentPort>(*agent_, "libccid");
  guest.kernel = options_.guest_dir / "vmlinuz";
  guest.initrd = options_.guest_dir / "initrd.img";
  guest.console_log = options_.out_dir / "guest-console.log";
  guest.pcscd_log = options_.out_dir / "pcscd.log";
  std::error_code ignored;
  std::filesystem::remove(guest.console_log, ignored);
  std::filesystem::remove(guest.pcscd_log, ignored);
  const auto argv = qemu::qemu_command_line(guest);
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "-accel") used_kvm_ = argv[i + 1] == "kvm";
  if (auto started = qemu_.start(argv, options_.out_dir / "qemu.log"); !started) return started.error();
  if (!agent_->accept(options_.boot_timeout)) {
    return error("guest", "the agent did not come up within " + std::to_string(options_.boot_timeout.count()) +
                              " s (QEMU " + (qemu_.running() ? "still running" : "exited") +
                              "); last console lines:\n" + console_tail(15));
  }
  agent_ready_after_ = qemu_.since_start();
  return {};
}

void GuestSession::stop() {
  if (agent_ && agent_->connected() && qemu_.running()) {
    agent_->send({{"call", "Poweroff"}});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (qemu_.running() && std::chrono::steady_clock::now() < deadline) {
      if (io_.stopped()) io_.restart();
      io_.run_for(std::chrono::milliseconds(50));
    }
  }
  if (qemu_.running()) qemu_.terminate();
  if (rig_) rig_->server().close_all();
  if (!socket_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(socket_dir_, ignored);
    qemu::forget_folder_on_signal(socket_dir_);
    socket_dir_.clear();
  }
}

std::string GuestSession::console_tail(std::size_t count) const {
  std::ifstream in(options_.out_dir / "guest-console.log");
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > count) lines.pop_front();
  }
  std::string text;
  for (const auto& l : lines) text += "  " + l + "\n";
  return text;
}

}  // namespace readerlab::linux_guest
