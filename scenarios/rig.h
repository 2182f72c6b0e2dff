// The rig: the virtual readers of a run and the usbredir server that offers them, all on
// one io_context. Scenarios insert and remove cards and plug and unplug readers through it.
#pragma once

#include "base/error.h"
#include "base/fault_trigger.h"
#include "emulator/ccid/reader.h"
#include "emulator/usbredir/server.h"
#include "scenarios/fault_spec.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::scenarios {

struct RigReader {
  std::shared_ptr<ccid::Reader> reader;
  usbredir::SocketAddress address;
  std::string inserted_profile;         // name of the card in slot 0, empty when none
  std::vector<std::string> slot_cards;  // the card's name in each slot (0-based), empty when none
  bool plugged = true;
  std::uint64_t plug_count = 0;         // replugs so far: a host driver restarts on a new device
  ccid::ReaderConfig baseline;          // the configuration a case starts from
  ccid::EscapeHandler baseline_escape;  // and its Escape handler (none: not supported)
  // The removals and insertions remove_after()/insert_after() scheduled, with their slots (0-based).
  std::vector<std::pair<std::uint8_t, std::shared_ptr<boost::asio::steady_timer>>> hand_timers;
  // When each slot's card last came out (the epoch: not since the reader was configured).
  std::vector<std::chrono::steady_clock::time_point> removed_at;
};

// What the rig gives the driver under test to act on its own after the rig changed the reader,
// before the next step. pcscd in the guest reads the interrupt pipe, polls slots and opens a
// reader that appeared on its own schedule, and the guest's hub driver must see an unplug
// before the replug; a driver the host runs does all of it when the case next calls it (the
// port hands it what the reader reported first), so it needs none of these.
struct DriverPace {
  // After the driver read a removal, before a card goes in (pcscd polls the slot after it).
  // Also the least time a hand takes from pulling a card out to putting one in: a case's
  // insertion into a slot that was emptied waits for it, and so does a swap, which the rig
  // makes a removal and an insertion. A person does not swap faster; a driver that needs
  // longer between two changes of a slot (libccid's multi-slot readers lose a notification
  // that comes while a slot's thread is busy) is tested on purpose by insert_after.
  std::chrono::milliseconds settle_after_removal{300};
  // After the host enumerated a replugged reader again (pcscd adds it some hundred ms later);
  // no card goes in sooner after the host configured the reader.
  std::chrono::milliseconds open_after_replug{1000};
  // Between an unplug and the replug that follows it.
  std::chrono::milliseconds unplugged{500};
  // After the driver last answered the application, before a hand inserts or removes a card:
  // a person reacts to what the application showed no faster. pcscd's slot threads ask the
  // reader after an application's call; a change that comes during that question is lost on
  // libccid's multi-slot readers, which pcsc/multi-slot-busy tests at a person's pace.
  std::chrono::milliseconds hand_after_answer{300};
  static DriverPace host_driver() {
    using std::chrono::milliseconds;
    return {milliseconds(0), milliseconds(0), milliseconds(0), milliseconds(0)};
  }
};

class Rig {
 public:
  Rig(boost::asio::io_context& io, usbredir::Logger logger);

  // Adds a reader served on the given address; returns its index (0-based).
  std::size_t add_reader(const usbredir::SocketAddress& address, ccid::ReaderConfig config = {});
  std::size_t reader_count() const { return readers_.size(); }
  RigReader& reader(std::size_t index) { return readers_.at(index); }

  // Throws std::invalid_argument for an unknown card profile, std::out_of_range for a slot the
  // reader does not have (slots are 0-based here; 1-based in Lua).
  void insert(std::size_t index, const std::string& profile, std::uint8_t slot = 0);
  void remove(std::size_t index, std::uint8_t slot = 0);
  // The card's name in a slot, empty when none.
  std::string card_in(std::size_t index, std::uint8_t slot) const;
  // A guest's driver meets a hand's pace (DriverPace): an insertion waits until the reader has
  // been configured for open_after_replug, the slot's last removal was read for
  // settle_after_removal and the driver's last answer is hand_after_answer old; into an
  // occupied slot it is a removal, that wait, and the insertion. A removal waits for the last
  // answer's hand_after_answer.
  // Removes the card when the delay has passed on the rig's loop, whatever the driver is doing
  // then (e.g. in the middle of a transmit); insert_after inserts one then, at no pace but the
  // case's. insert/remove/reset cancel what the slot has scheduled and not yet done.
  void remove_after(std::size_t index, std::chrono::milliseconds delay, std::uint8_t slot = 0);
  void insert_after(std::size_t index, std::chrono::milliseconds delay, const std::string& profile,
                    std::uint8_t slot = 0);
  // A power glitch: the card loses its contacts' power and comes back, the same card (its files
  // and counters kept), deactivated, after `gap` (0: at once, the driver reads one slot change).
  // Nothing happens without a card.
  void power_glitch(std::size_t index, std::chrono::milliseconds gap);
  void unplug(std::size_t index);
  void replug(std::size_t index);
  // Turns the reader into another model: unplugged, reconfigured, plugged again, empty; with
  // the model's Escape handler (an empty one: Escape is not supported; nullopt: the handler the
  // reader has stays, as for a change of a field or two of the same model).
  void configure(std::size_t index, ccid::ReaderConfig config,
                 std::optional<ccid::EscapeHandler> escape = std::nullopt);
  // Makes a reader model the one every case starts from (readerlab run --reader); it takes
  // effect at the next reset_to_baseline.
  void set_baseline(std::size_t index, ccid::ReaderConfig config, ccid::EscapeHandler escape = {});
  // Back to the state a case starts from: every reader plugged, empty, in its first
  // configuration, with no fault armed and none logged (the next fault armed is fault 0); after
  // a case that armed faults every reader is replugged, a fresh device for the next case.
  void reset_to_baseline();
  // Faults (issue 11): arms each fault of the schedule on its reader at its level, in order. The
  // n-th fault armed since the case started draws its random choices from
  // faults::fault_seed(seed(), n), so the same run seed replays the same schedule. A fault for a
  // reader the rig does not have is an Error naming it, and nothing of the schedule is armed.
  Expected<void> arm_faults(const std::vector<FaultSpec>& schedule);
  // Disarms every reader's faults at every level (or only reader `index`'s). What fired stays
  // in the log until take_firings.
  void clear_faults();
  void clear_faults(std::size_t index);
  // What fired since the last call, in order (every reader, every level); the log is emptied.
  std::vector<faults::Firing> take_firings();
  // Every fault armed since the case started, as its spec (for the case's record).
  const std::vector<FaultSpec>& armed_faults() const { return armed_faults_; }

  // Whether a usb-guest peer is connected to this reader.
  bool connected(std::size_t index) const;

  // The run's seed: every card inserted from now on makes its random choices (GET CHALLENGE,
  // math.random) from it, every reader added or configured from now on its cards' garbage
  // answers, and so do the scripts of cases (install_lab), so that a run with the same seed
  // gives the same bytes. Set it before adding readers.
  void set_seed(std::uint64_t seed) { seed_ = seed; }
  std::uint64_t seed() const { return seed_; }

  // Traces: from now on every USB transfer of every reader goes to a pcap file of its own in the
  // folder (reader1.pcap, reader2.pcap, ...; see emulator/trace/usbmon_pcap.h), until
  // stop_traces() or the next start_traces(). Returns the files started. Trouble (a folder that
  // cannot be made, a full disk) never stops a reader: the first one of the rig's life is one
  // warning on standard error, the traces concerned stop, the run goes on.
  std::vector<std::filesystem::path> start_traces(const std::filesystem::path& folder);
  void stop_traces();

  // Stops every fault armed on reader `index` at every level, leaving a halted endpoint halted
  // (usb::Device::disarm_usb_faults): the driver must clear that itself. readerlab fuzz checks a
  // driver's health after faults this way (lab.check_driver_healthy).
  void disarm_faults(std::size_t index);

  // The driver under test's pace (a guest's by default).
  void set_driver_pace(DriverPace pace) { pace_ = pace; }
  // The driver answered a call of the case (the hands' pace counts from it).
  void note_driver_answer() { last_driver_answer_ = std::chrono::steady_clock::now(); }

  boost::asio::io_context& io() { return io_; }
  void sleep(std::chrono::milliseconds duration);
  usbredir::Server& server() { return server_; }

 private:
  void place(std::size_t index, std::unique_ptr<cards::Card> card, const std::string& profile, std::uint8_t slot);
  void take_out(std::size_t index, std::uint8_t slot);
  void wait_for_hand(std::size_t index, std::uint8_t slot);
  void cancel_hand_timers(RigReader& entry, std::uint8_t slot);
  std::shared_ptr<boost::asio::steady_timer> new_hand_timer(RigReader& entry, std::uint8_t slot);

  boost::asio::io_context& io_;
  usbredir::Server server_;
  std::vector<RigReader> readers_;
  std::uint64_t seed_ = 1;
  std::shared_ptr<bool> trace_warning_given_ = std::make_shared<bool>(false);
  // Every reader's devices and the server's transport write their firings here.
  std::shared_ptr<faults::FaultLog> fault_log_ = std::make_shared<faults::FaultLog>();
  std::vector<FaultSpec> armed_faults_;  // since the case started; its size is the next fault's index
  DriverPace pace_;
  std::chrono::steady_clock::time_point last_driver_answer_{};
};

}  // namespace readerlab::scenarios
