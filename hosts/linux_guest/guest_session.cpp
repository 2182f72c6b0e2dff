#include "hosts/linux_guest/guest_session.h"

#include "emulator/usbredir/client.h"
#include "hosts/linux_guest/guest_builder.h"
#include "hosts/linux_guest/qemu_monitor.h"
#include "hosts/linux_guest/stop_on_signal.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
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
  const auto sockets = qemu::make_socket_folder();
  if (!sockets) return sockets.error();
  socket_dir_ = *sockets;

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
    make_agent();
  } catch (const std::system_error& cannot_listen) {
    return error(guest.agent_socket.string(), std::string("cannot listen for the agent: ") + cannot_listen.what());
  }
  guest.kernel = options_.guest_dir / "vmlinuz";
  guest.initrd = options_.guest_dir / "initrd.img";
  guest.console_log = options_.out_dir / "guest-console.log";
  guest.pcscd_log = options_.out_dir / "pcscd.log";
  std::error_code ignored;
  std::filesystem::remove(guest.console_log, ignored);
  std::filesystem::remove(guest.pcscd_log, ignored);
  if (options_.saved_states.empty()) return boot(guest);

  guest.monitor_socket = socket_dir_ / "monitor.sock";
  // The saved machine has no reader: the readers are plugged in after each restore, so that no
  // usb-redir device carries a connection over from the save, and one state fits any number of
  // readers.
  auto without_readers = guest;
  without_readers.usbredir_sockets.clear();
  saved_state_ = saved_state_file(without_readers);
  if (!std::filesystem::exists(saved_state_)) {
    if (auto saved = boot_and_save(without_readers, saved_state_); !saved) return saved;
  }
  auto restored = restore(without_readers, saved_state_, guest.usbredir_sockets);
  if (restored) return {};
  // A state this QEMU cannot load (another QEMU version, a damaged file): boot, and save anew next time.
  log_ << "the saved state " << saved_state_.string() << " did not restore: " << restored.error().message()
       << "; booting instead" << std::endl;
  if (qemu_.running()) qemu_.terminate();
  std::filesystem::remove(saved_state_, ignored);
  make_agent();
  guest.monitor_socket.clear();
  return boot(guest);
}

void GuestSession::make_agent() {
  port_.reset();
  agent_.reset();
  agent_ = std::make_unique<qemu::AgentClient>(io_, socket_dir_ / "agent.sock", options_.out_dir / "agent.log");
  port_ = std::make_unique<AgentPort>(*agent_, "libccid");
}

Status GuestSession::launch(const qemu::GuestOptions& guest) {
  const auto argv = qemu::qemu_command_line(guest);
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "-accel") used_kvm_ = argv[i + 1] == "kvm";
  return qemu_.start(argv, options_.out_dir / "qemu.log");
}

Status GuestSession::boot(const qemu::GuestOptions& guest) {
  if (auto started = launch(guest); !started) return started.error();
  if (!agent_->accept(options_.boot_timeout)) {
    return error("guest", "the agent did not come up within " + std::to_string(options_.boot_timeout.count()) +
                              " s (QEMU " + (qemu_.running() ? "still running" : "exited") +
                              "); last console lines:\n" + console_tail(15));
  }
  agent_ready_after_ = qemu_.since_start();
  return {};
}

namespace {

// A 64-bit FNV-1a of the text: the saved state's name, the same in every process.
std::string fingerprint(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

}  // namespace

// Asks QEMU's monitor `command` every `interval` until its answer satisfies `done` or the
// timeout passes (the rig's and the agent's I/O go on between); returns the last answer.
Expected<std::string> GuestSession::poll_monitor(const std::filesystem::path& monitor, const std::string& command,
                                                 const std::function<bool(const std::string&)>& done,
                                                 std::chrono::milliseconds timeout,
                                                 std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string answer;
  while (std::chrono::steady_clock::now() < deadline) {
    auto info = qemu::monitor_command(monitor, command);
    if (!info) return info.error();
    answer = *info;
    if (done(answer)) break;
    if (!qemu_.running()) return error("guest", "QEMU exited while it was asked '" + command + "' (see qemu.log)");
    io_.restart();
    io_.run_for(interval);
  }
  return answer;
}

// A state fits one guest build and one QEMU command line (devices, memory), whatever the
// session's folders: it is named after them with the folders left out.
std::filesystem::path GuestSession::saved_state_file(const qemu::GuestOptions& guest) const {
  auto shape = guest;
  shape.console_log = shape.pcscd_log = "log";
  shape.agent_socket = "agent";
  shape.monitor_socket = "monitor";
  std::string text;
  for (const auto& arg : qemu::qemu_command_line(shape)) text += arg + '\n';
  for (const auto& file : {guest.kernel, guest.initrd}) {
    std::error_code failure;
    const auto size = std::filesystem::file_size(file, failure);
    const auto written = std::filesystem::last_write_time(file, failure);
    text += std::to_string(size) + " " + std::to_string(written.time_since_epoch().count()) + "\n";
  }
  return options_.saved_states / (fingerprint(text) + ".state");
}

Status wait_for_readers_listed(boost::asio::io_context& io, qemu::AgentClient& agent, std::size_t wanted, bool exactly,
                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto established = agent.call({{"call", "EstablishContext"}, {"scope", 2}}, timeout);
  if (!established || established->value("rv", -1) != 0)
    return error("guest", "the agent could not reach the resource manager (SCardEstablishContext)");
  const auto context = established->value("context", std::uint64_t{0});
  std::size_t listed = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto reply = agent.call({{"call", "ListReaders"}, {"context", context}}, std::chrono::seconds(10));
    listed = reply && reply->contains("readers") && (*reply)["readers"].is_array() ? (*reply)["readers"].size() : 0;
    if (exactly ? listed == wanted : listed >= wanted) break;
    io.restart();
    io.run_for(std::chrono::milliseconds(100));
  }
  (void)agent.call({{"call", "ReleaseContext"}, {"context", context}}, std::chrono::seconds(10));
  if (exactly ? listed != wanted : listed < wanted)
    return error("guest", "the resource manager listed " + std::to_string(listed) + " readers, not " +
                              std::to_string(wanted) + ", within " + std::to_string(timeout.count()) + " ms");
  return {};
}

// pcscd lists `readers` readers (-1: every reader of the session).
Status GuestSession::wait_for_pcscd(std::chrono::milliseconds timeout, int readers) {
  const auto wanted = static_cast<std::size_t>(readers < 0 ? options_.readers : readers);
  return wait_for_readers_listed(io_, *agent_, wanted, readers >= 0, timeout);
}

Status GuestSession::boot_and_save(qemu::GuestOptions guest, const std::filesystem::path& state) {
  // The boot's own logs stay apart: the session's logs start at the restore.
  const auto boot_logs = options_.out_dir / "boot-for-saved-state";
  std::error_code failure;
  std::filesystem::create_directories(boot_logs, failure);
  std::filesystem::create_directories(state.parent_path(), failure);
  if (failure)
    return error(state.parent_path().string(), "cannot create the folder for saved states: " + failure.message());
  guest.console_log = boot_logs / "guest-console.log";
  guest.pcscd_log = boot_logs / "pcscd.log";
  if (auto booted = boot(guest); !booted) return booted;
  if (auto answering = wait_for_pcscd(std::chrono::seconds(30), 0); !answering) return answering;
  // Written aside and renamed: jobs that boot at once each save a whole file, the last one stays.
  const auto partial =
      state.string() + ".partial-" + std::to_string(::getpid()) + "-" + socket_dir_.filename().string();
  const auto monitor = guest.monitor_socket;
  if (auto stopped = qemu::monitor_command(monitor, "stop"); !stopped) return stopped.error();
  if (auto sent = qemu::monitor_command(monitor, "migrate \"exec:cat > '" + partial + "'\""); !sent)
    return sent.error();
  auto migrated = poll_monitor(
      monitor, "info migrate",
      [](const std::string& answer) {
        return answer.find("completed") != std::string::npos || answer.find("failed") != std::string::npos;
      },
      std::chrono::seconds(120), std::chrono::milliseconds(100));
  if (!migrated) return migrated.error();
  const std::string status = *migrated;
  (void)qemu::monitor_command(monitor, "quit");
  qemu_.wait(std::chrono::seconds(10));
  if (qemu_.running()) qemu_.terminate();
  make_agent();
  if (status.find("completed") == std::string::npos) {
    std::filesystem::remove(partial, failure);
    return error(state.string(), "QEMU did not save the VM state: " + status);
  }
  std::filesystem::rename(partial, state, failure);
  if (failure) return error(state.string(), "cannot keep the saved VM state: " + failure.message());
  // A state saved before the guest was last built fits no guest any more (the name holds the
  // build's files): each is 100 MB or so, gone now.
  const auto built = std::filesystem::last_write_time(guest.initrd, failure);
  for (const auto& entry : std::filesystem::directory_iterator(state.parent_path(), failure)) {
    std::error_code ignored;
    if (entry.path().extension() == ".state" && !failure && entry.last_write_time(ignored) < built)
      std::filesystem::remove(entry.path(), ignored);
  }
  log_ << "saved the booted guest's state in " << state.string() << std::endl;
  return {};
}

Status GuestSession::restore(qemu::GuestOptions guest, const std::filesystem::path& state,
                             const std::vector<std::filesystem::path>& reader_sockets) {
  guest.incoming_state = state;
  if (auto started = launch(guest); !started) return started.error();
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options_.boot_timeout);
  if (!agent_->accept_connection(timeout)) return error("guest", "QEMU did not connect the agent's port");
  // The machine loads the state paused ("inmigrate"), then waits for "cont".
  auto loaded = poll_monitor(
      guest.monitor_socket, "info status",
      [](const std::string& answer) {
        return answer.find("inmigrate") == std::string::npos &&
               (answer.find("paused") != std::string::npos || answer.find("running") != std::string::npos);
      },
      timeout, std::chrono::milliseconds(20));
  if (!loaded) return loaded.error();
  if (auto resumed = qemu::monitor_command(guest.monitor_socket, "cont"); !resumed) return resumed.error();
  // The agent announced itself before the state was saved; pcscd answering is the sign now.
  if (auto up = wait_for_pcscd(std::chrono::seconds(30), 0); !up) return up;
  // The readers go in as the guest runs: the guest enumerates them and pcscd opens them as
  // readers plugged in.
  for (std::size_t i = 0; i < reader_sockets.size(); ++i) {
    for (const auto& command :
         {"chardev-add " + qemu::usbredir_chardev(i, reader_sockets[i]), "device_add " + qemu::usbredir_device(i)}) {
      auto answer = qemu::monitor_command(guest.monitor_socket, command);
      if (!answer) return answer.error();
      if (answer->find("rror") != std::string::npos)
        return error("guest", "QEMU's monitor refused '" + command + "': " + *answer);
    }
  }
  log_ << "restored the saved state " << state.filename().string() << ", then plugged in " << reader_sockets.size()
       << " reader(s)" << std::endl;
  // A reader the driver does not list is the driver's answer for the cases to report, not a state
  // that failed to load (which is removed, and the guest booted instead).
  if (auto listed = wait_for_pcscd(std::chrono::seconds(30)); !listed)
    log_ << "after the restore: " << listed.error().message() << "; the cases go on" << std::endl;
  agent_ready_after_ = qemu_.since_start();
  restored_ = true;
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
  discard();
}

void GuestSession::discard() {
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
