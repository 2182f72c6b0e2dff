// One booted Linux guest with readerlab's virtual readers attached over usbredir and the
// agent connected: what `readerlab run` and `readerlab guest shell` stand on.
#pragma once

#include "base/error.h"
#include "hosts/linux_guest/agent_client.h"
#include "hosts/linux_guest/qemu_launcher.h"
#include "scenarios/driver_port.h"
#include "scenarios/rig.h"

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::linux_guest {

struct GuestSessionOptions {
  std::filesystem::path guest_dir;  // holds vmlinuz and initrd.img (built when missing)
  std::filesystem::path out_dir;    // logs: guest-console.log, pcscd.log, qemu.log, agent.log, readerlab.log
  int readers = 1;
  std::optional<ccid::ReaderConfig> reader_config;  // the readers' model (a reader profile's); none: readerlab's own
  std::chrono::seconds boot_timeout{240};
  std::uint64_t seed = 1;                    // the run's seed, for the cards the rig inserts and the cases' scripts
  std::string initial_card;                  // a bundled card in every reader before QEMU starts; empty: none
  std::vector<std::string> extra_qemu_args;  // e.g. QEMU's own reader for the peer benchmark
  // Start from a saved VM state kept in this folder instead of booting: the first session of a
  // guest build and QEMU command line boots, waits until pcscd listed the readers, saves the
  // state there and restores it; the next ones restore it (QEMU's -incoming) and the readers
  // come back as new USB devices. Empty: boot every time.
  std::filesystem::path saved_states;
};

// Asks the agent's resource manager (pcscd, Windows' SCardSvr) for its readers until it lists
// `wanted` (exactly, or at least), running the io_context between the asks. The error says how
// many it listed within the timeout.
Status wait_for_readers_listed(boost::asio::io_context& io, qemu::AgentClient& agent, std::size_t wanted, bool exactly,
                               std::chrono::milliseconds timeout);

// The agent seen as the scenarios' driver port. It notes when the first APDU succeeded.
class AgentPort : public scenarios::DriverPort {
 public:
  AgentPort(qemu::AgentClient& agent, std::string name) : agent_(agent), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  std::uint64_t send(nlohmann::json request) override;
  std::optional<nlohmann::json> wait(std::uint64_t id, std::chrono::milliseconds timeout) override;
  std::optional<std::chrono::steady_clock::time_point> first_apdu_at() const { return first_apdu_at_; }

 private:
  qemu::AgentClient& agent_;
  std::string name_;
  std::map<std::uint64_t, std::string> calls_;
  std::optional<std::chrono::steady_clock::time_point> first_apdu_at_;
};

class GuestSession {
 public:
  explicit GuestSession(GuestSessionOptions options);
  ~GuestSession();

  // Builds the guest if needed, listens, starts QEMU and waits for the agent. The error says
  // what went wrong (with the console log's tail when the agent did not come up).
  Status start();
  // Shuts the guest down (the agent's Poweroff), then ends QEMU.
  void stop();
  // Ends QEMU at once: for a guest no one starts again (restored for one case), whose logs are
  // complete as they stand.
  void discard();

  boost::asio::io_context& io() { return io_; }
  scenarios::Rig& rig() { return *rig_; }
  AgentPort& port() { return *port_; }
  qemu::AgentClient& agent() { return *agent_; }
  std::chrono::steady_clock::time_point qemu_started() const { return qemu_.start_time(); }
  std::chrono::milliseconds agent_ready_after() const { return agent_ready_after_; }
  bool used_kvm() const { return used_kvm_; }
  // Whether this session started from a saved state (and the state's file).
  bool restored() const { return restored_; }
  const std::filesystem::path& saved_state() const { return saved_state_; }

 private:
  std::string console_tail(std::size_t lines) const;
  void make_agent();
  Status launch(const qemu::GuestOptions& guest);
  Status boot(const qemu::GuestOptions& guest);
  Status boot_and_save(qemu::GuestOptions guest, const std::filesystem::path& state);
  Status restore(qemu::GuestOptions guest, const std::filesystem::path& state,
                 const std::vector<std::filesystem::path>& reader_sockets);
  Status wait_for_pcscd(std::chrono::milliseconds timeout, int readers = -1);
  Expected<std::string> poll_monitor(const std::filesystem::path& monitor, const std::string& command,
                                     const std::function<bool(const std::string&)>& done,
                                     std::chrono::milliseconds timeout, std::chrono::milliseconds interval);
  std::filesystem::path saved_state_file(const qemu::GuestOptions& guest) const;

  GuestSessionOptions options_;
  boost::asio::io_context io_;
  std::filesystem::path socket_dir_;
  std::ofstream log_;
  std::unique_ptr<scenarios::Rig> rig_;
  std::unique_ptr<qemu::AgentClient> agent_;
  std::unique_ptr<AgentPort> port_;
  qemu::QemuProcess qemu_;
  std::chrono::milliseconds agent_ready_after_{0};
  bool used_kvm_ = false;
  bool restored_ = false;
  std::filesystem::path saved_state_;
};

}  // namespace readerlab::linux_guest
