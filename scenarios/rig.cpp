#include "scenarios/rig.h"

#include "cards/profiles.h"
#include "emulator/trace/usbmon_pcap.h"
#include "emulator/usbredir/client.h"

#include <iostream>
#include <stdexcept>
#include <utility>

namespace readerlab::scenarios {
namespace {
constexpr std::chrono::milliseconds kNotificationReadTimeout{3000};
constexpr std::chrono::milliseconds kReenumerationTimeout{10000};
}  // namespace

Rig::Rig(boost::asio::io_context& io, usbredir::Logger logger) : io_(io), server_(io, std::move(logger)) {}

std::size_t Rig::add_reader(const usbredir::SocketAddress& address, ccid::ReaderConfig config) {
  config.seed = seed_;
  RigReader entry;
  entry.baseline = config;
  entry.reader = std::make_shared<ccid::Reader>(std::move(config));
  entry.reader->set_fault_log(fault_log_);
  auto device = entry.reader;
  entry.address = server_.listen(address, [device] { return device; });
  readers_.push_back(std::move(entry));
  return readers_.size() - 1;
}

std::vector<std::filesystem::path> Rig::start_traces(const std::filesystem::path& folder) {
  stop_traces();
  auto warn = [given = trace_warning_given_](const std::string& what) {
    if (*given) return;
    *given = true;
    std::cerr << "readerlab: warning: " << what << " (later trace trouble is not reported)\n" << std::flush;
  };
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) {
    warn("trace folder " + folder.string() + ": " + ec.message() + "; no traces there, the run goes on");
    return {};
  }
  std::vector<std::filesystem::path> files;
  for (std::size_t i = 0; i < readers_.size(); ++i) {
    const auto file = folder / ("reader" + std::to_string(i + 1) + ".pcap");
    // Device addresses 1-127 (USB 2.0 9.4.6): reader N is device N on bus 1.
    const trace::UsbAddress address{1, static_cast<std::uint8_t>(i % 127 + 1)};
    auto writer = std::make_shared<trace::UsbmonPcapWriter>(file, address, warn);
    if (writer->healthy()) files.push_back(file);
    readers_[i].reader->set_transfer_tap(std::move(writer));
  }
  return files;
}

void Rig::stop_traces() {
  for (auto& entry : readers_) entry.reader->set_transfer_tap(nullptr);
}

namespace {
void check_slot(const RigReader& entry, std::uint8_t slot) {
  if (slot >= entry.reader->config().slot_count)
    throw std::out_of_range("no slot " + std::to_string(slot + 1) + " (the reader has " +
                            std::to_string(entry.reader->config().slot_count) + ")");
}
void set_slot_card(RigReader& entry, std::uint8_t slot, const std::string& profile) {
  if (entry.slot_cards.size() <= slot) entry.slot_cards.resize(slot + 1u);
  entry.slot_cards[slot] = profile;
  if (slot == 0) entry.inserted_profile = profile;
}
}  // namespace

void Rig::insert(std::size_t index, const std::string& profile, std::uint8_t slot) {
  auto& entry = readers_.at(index);
  check_slot(entry, slot);
  auto card = cards::make_builtin_card(profile, seed_);
  if (!card) throw std::invalid_argument("unknown card profile '" + profile + "' (see `readerlab cards`)");
  cancel_hand_timers(entry, slot);
  const bool paced = pace_.settle_after_removal.count() > 0 || pace_.open_after_replug.count() > 0 ||
                     pace_.hand_after_answer.count() > 0;
  if (paced) {
    if (entry.reader->card_present(slot) && !entry.reader->card_locked(slot)) {
      wait_for_hand(index, slot);
      take_out(index, slot);
    }
    wait_for_hand(index, slot);
  }
  place(index, std::move(card), profile, slot);
}

void Rig::place(std::size_t index, std::unique_ptr<cards::Card> card, const std::string& profile, std::uint8_t slot) {
  auto& entry = readers_.at(index);
  entry.reader->insert(std::move(card), slot);
  set_slot_card(entry, slot, profile);
}

void Rig::remove(std::size_t index, std::uint8_t slot) {
  auto& entry = readers_.at(index);
  check_slot(entry, slot);
  cancel_hand_timers(entry, slot);
  if (entry.reader->card_present(slot)) wait_for_hand(index, slot);
  take_out(index, slot);
}

void Rig::take_out(std::size_t index, std::uint8_t slot) {
  auto& entry = readers_.at(index);
  if (entry.reader->card_present(slot) && !entry.reader->card_locked(slot)) {
    if (entry.removed_at.size() <= slot) entry.removed_at.resize(slot + 1u);
    entry.removed_at[slot] = std::chrono::steady_clock::now();
  }
  entry.reader->remove(slot);
  set_slot_card(entry, slot, {});
}

void Rig::wait_for_hand(std::size_t index, std::uint8_t slot) {
  using Clock = std::chrono::steady_clock;
  auto& entry = readers_.at(index);
  const ccid::Reader& reader = *entry.reader;
  Clock::time_point not_before{};
  if (last_driver_answer_ != Clock::time_point{}) not_before = last_driver_answer_ + pace_.hand_after_answer;
  if (reader.configuration() != 0 && reader.configured_at() != Clock::time_point{})
    not_before = std::max(not_before, reader.configured_at() + pace_.open_after_replug);
  if (slot < entry.removed_at.size() && entry.removed_at[slot] != Clock::time_point{}) {
    if (connected(index))
      usbredir::run_until(
          io_, [&reader] { return !reader.notification_pending(); }, kNotificationReadTimeout);
    const auto out = std::max(entry.removed_at[slot], reader.slot_change_read_at());
    not_before = std::max(not_before, out + pace_.settle_after_removal);
  }
  const auto now = Clock::now();
  if (not_before > now) sleep(std::chrono::ceil<std::chrono::milliseconds>(not_before - now));
}

// A timer that has expired is forgotten (its handler holds it until it runs; too late to cancel).
std::shared_ptr<boost::asio::steady_timer> Rig::new_hand_timer(RigReader& entry, std::uint8_t slot) {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(entry.hand_timers, [now](const auto& scheduled) { return scheduled.second->expiry() < now; });
  entry.hand_timers.emplace_back(slot, std::make_shared<boost::asio::steady_timer>(io_));
  return entry.hand_timers.back().second;
}

void Rig::cancel_hand_timers(RigReader& entry, std::uint8_t slot) {
  for (auto& [timer_slot, timer] : entry.hand_timers)
    if (timer_slot == slot) timer->cancel();
}

std::string Rig::card_in(std::size_t index, std::uint8_t slot) const {
  const auto& entry = readers_.at(index);
  return slot < entry.slot_cards.size() ? entry.slot_cards[slot] : std::string();
}

void Rig::remove_after(std::size_t index, std::chrono::milliseconds delay, std::uint8_t slot) {
  auto& entry = readers_.at(index);
  check_slot(entry, slot);
  auto timer = new_hand_timer(entry, slot);
  timer->expires_after(delay);
  timer->async_wait([this, index, slot, timer](boost::system::error_code ec) {
    if (!ec) take_out(index, slot);
  });
}

void Rig::insert_after(std::size_t index, std::chrono::milliseconds delay, const std::string& profile,
                       std::uint8_t slot) {
  auto& entry = readers_.at(index);
  check_slot(entry, slot);
  // Checked now, so that an unknown profile is the caller's error, not the timer's.
  if (!cards::make_builtin_card(profile, seed_))
    throw std::invalid_argument("unknown card profile '" + profile + "' (see `readerlab cards`)");
  auto timer = new_hand_timer(entry, slot);
  timer->expires_after(delay);
  timer->async_wait([this, index, slot, profile, timer](boost::system::error_code ec) {
    if (!ec) place(index, cards::make_builtin_card(profile, seed_), profile, slot);
  });
}

void Rig::power_glitch(std::size_t index, std::chrono::milliseconds gap) {
  auto& entry = readers_.at(index);
  if (!entry.reader->card_present()) return;
  cancel_hand_timers(entry, 0);
  auto card = entry.reader->remove();
  if (gap.count() > 0) sleep(gap);
  entry.reader->insert(std::move(card));
}

void Rig::unplug(std::size_t index) {
  auto& entry = readers_.at(index);
  entry.plugged = false;
  for (auto& session : server_.sessions_for(entry.reader.get())) session->unplug();
}

void Rig::replug(std::size_t index) {
  auto& entry = readers_.at(index);
  entry.plugged = true;
  ++entry.plug_count;
  for (auto& session : server_.sessions_for(entry.reader.get())) session->replug();
}

void Rig::configure(std::size_t index, ccid::ReaderConfig config, std::optional<ccid::EscapeHandler> escape) {
  config.seed = seed_;
  auto& entry = readers_.at(index);
  const bool was_plugged = entry.plugged;
  if (was_plugged) {
    unplug(index);
    // A person swapping readers takes longer than this; an instant disconnect and connect
    // races the guest's hub driver, which then may keep the old reader's descriptors.
    if (connected(index)) sleep(pace_.unplugged);
  }
  // Another reader model comes empty: the cards stay with the reader that was unplugged.
  for (std::uint8_t slot = 0; slot < entry.reader->config().slot_count; ++slot)
    if (entry.reader->card_present(slot)) entry.reader->remove(slot);
  entry.inserted_profile.clear();
  entry.slot_cards.clear();
  entry.removed_at.clear();
  for (auto& scheduled : entry.hand_timers) scheduled.second->cancel();
  entry.hand_timers.clear();
  entry.reader->reconfigure(std::move(config));
  if (escape) entry.reader->set_escape_handler(std::move(*escape));
  if (was_plugged) replug(index);
}

Expected<void> Rig::arm_faults(const std::vector<FaultSpec>& schedule) {
  for (const auto& spec : schedule)
    if (spec.reader >= readers_.size())
      return error("reader", "no reader " + std::to_string(spec.reader + 1) + " (the rig has " +
                                 std::to_string(readers_.size()) + ")");
  for (const auto& spec : schedule) {
    const std::size_t index = armed_faults_.size();
    const std::uint64_t seed = faults::fault_seed(seed_, index);
    auto& reader = *readers_[spec.reader].reader;
    if (const auto* ccid_fault = std::get_if<ccid::Fault>(&spec.fault))
      reader.arm_ccid_fault(*ccid_fault, seed, index);
    else if (const auto* usb_fault = std::get_if<usb::Fault>(&spec.fault))
      reader.arm_usb_fault(*usb_fault, seed, index);
    else
      server_.arm_transport_fault(&reader, std::get<usbredir::TransportFault>(spec.fault), seed, index, fault_log_);
    armed_faults_.push_back(spec);
  }
  return {};
}

void Rig::clear_faults() {
  for (std::size_t i = 0; i < readers_.size(); ++i) clear_faults(i);
}

void Rig::clear_faults(std::size_t index) {
  auto& reader = *readers_.at(index).reader;
  reader.clear_ccid_faults();
  reader.clear_usb_faults();
  server_.clear_transport_faults(&reader);
}

std::vector<faults::Firing> Rig::take_firings() { return std::exchange(fault_log_->firings, {}); }

void Rig::set_baseline(std::size_t index, ccid::ReaderConfig config, ccid::EscapeHandler escape) {
  config.seed = seed_;
  auto& entry = readers_.at(index);
  entry.baseline = std::move(config);
  entry.baseline_escape = std::move(escape);
}

void Rig::reset_to_baseline() {
  // Faults first: the replugs and removals below must reach the driver as they are.
  clear_faults();
  fault_log_->firings.clear();
  const bool faulted = !armed_faults_.empty();
  armed_faults_.clear();
  bool removed_any = false, replugged_any = false;
  // A fault may leave a reader with answers queued that the driver never read (a duplicate, an
  // answer after the driver gave up): the next case gets the device fresh from a replug, as a
  // person would do, so that one driver's trouble does not spill into the cases after it.
  if (faulted) {
    for (std::size_t i = 0; i < readers_.size(); ++i) {
      if (!readers_[i].plugged) continue;
      unplug(i);
      if (connected(i)) sleep(pace_.unplugged);
      // Unplugged, the device loses what it held (answers, halts), as a power cycle does.
      readers_[i].reader->bus_reset();
      replug(i);
      replugged_any = true;
    }
  }
  for (std::size_t i = 0; i < readers_.size(); ++i) {
    for (auto& scheduled : readers_[i].hand_timers) scheduled.second->cancel();
    readers_[i].hand_timers.clear();
    if (readers_[i].reader->config() != readers_[i].baseline) {
      configure(i, readers_[i].baseline, readers_[i].baseline_escape);
      replugged_any = true;
    } else if (readers_[i].baseline_escape) {
      // The model came from the start (a guest started with the profile's reader): its Escape
      // handler too.
      readers_[i].reader->set_escape_handler(readers_[i].baseline_escape);
    }
    if (!readers_[i].plugged) {
      replug(i);
      replugged_any = true;
    }
    for (std::uint8_t slot = 0; slot < readers_[i].reader->config().slot_count; ++slot) {
      if (readers_[i].reader->card_present(slot)) {
        take_out(i, slot);
        removed_any = true;
      }
    }
  }
  if (replugged_any) {
    // The next case must not meet the reader the driver knew before the replug: wait until
    // the host has enumerated it again (configuration set), then give the driver time to open it.
    usbredir::run_until(
        io_,
        [this] {
          for (std::size_t i = 0; i < readers_.size(); ++i)
            if (connected(i) && readers_[i].reader->configuration() == 0) return false;
          return true;
        },
        kReenumerationTimeout);
    sleep(pace_.open_after_replug);
  }
  if (!removed_any) return;
  // A card inserted before the driver read the removal would look like the same card never
  // left (the notifications coalesce, as on real hardware): let the driver see it first.
  usbredir::run_until(
      io_,
      [this] {
        for (std::size_t i = 0; i < readers_.size(); ++i)
          if (connected(i) && readers_[i].reader->notification_pending()) return false;
        return true;
      },
      kNotificationReadTimeout);
  sleep(pace_.settle_after_removal);
}

bool Rig::connected(std::size_t index) const { return !server_.sessions_for(readers_.at(index).reader.get()).empty(); }

void Rig::sleep(std::chrono::milliseconds duration) {
  const auto deadline = std::chrono::steady_clock::now() + duration;
  usbredir::run_until(
      io_, [&] { return std::chrono::steady_clock::now() >= deadline; }, duration);
}

void Rig::disarm_faults(std::size_t index) {
  auto& reader = *readers_.at(index).reader;
  reader.clear_ccid_faults();
  reader.disarm_usb_faults();
  server_.clear_transport_faults(&reader);
}

}  // namespace readerlab::scenarios
