// The conformance suite on the drivers under test: which drivers there are, which cases a run
// takes, and one runner per place a driver runs (libccid in the Linux guest, an RDF driver on
// the host in-process or over usbredir). `readerlab run` parses its options and calls run_suite.
#pragma once

#include "base/error.h"
#include "conformance/report.h"
#include "conformance/suite.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace readerlab::conformance::runners {

// The drivers a list of `--driver` values names: "all" alone is libccid and the reference RDF
// driver both ways (the drivers the suite is kept green for), nothing is libccid; "windows" is
// whatever Windows runs in the Windows guest (never part of "all": it needs the user's image). The error
// names the first unknown driver and lists the known ones.
Expected<std::vector<std::string>> resolve_drivers(const std::vector<std::string>& names);

// The cases matching the filters (a case id or a case file; none: every case), sorted by id.
// A filter matching no case is an error naming it.
Expected<std::vector<CaseInfo>> select_cases(const std::filesystem::path& cases_dir,
                                             const std::vector<std::string>& filters);

struct SuiteRun {
  std::vector<std::string> drivers;        // resolved (resolve_drivers)
  std::vector<CaseInfo> cases;             // selected (select_cases); each driver runs those written for it
  std::filesystem::path out_dir = "out";   // reports; with several drivers one folder each below it
  std::filesystem::path guest_dir;         // the Linux guest (empty: the default, built when missing)
  std::filesystem::path expectations_dir;  // <driver>.txt known failures
  std::filesystem::path coverage_items;    // the side-by-side report's coverage list
  std::uint64_t seed = 0;                  // drives every random choice of the run
  bool traces = true;                      // a pcap per reader per case under <out>/traces/<case id>/
  // libccid's guests start from a VM state saved after the first boot (readerlab run --saved-state).
  bool saved_state = false;
  // Every case in a guest of its own, restored from that state (readerlab run --fresh-guest),
  // its logs kept in a folder of its own.
  bool fresh_guest = false;
  // Reader profiles libccid runs the cases on, one after the other in one guest, each a column
  // "libccid@NAME" of the report (expectations libccid.txt, then libccid@NAME.txt); empty: the
  // default reader only.
  std::vector<std::string> readers;
  // Run only this slice of the run (readerlab run --shard K/N; deal_shard); none: all of it.
  std::optional<Shard> shard;
  // Runs of each driver at once (readerlab run --jobs N): N jobs, a driver instance (a guest for
  // libccid) each, sharing the driver's runs (take_run).
  std::size_t jobs = 1;
  // The Windows guest (readerlab run --guest windows): the user's image, never written, and how
  // it starts. The driver "windows" runs the cases written for it there.
  struct WindowsGuest {
    std::filesystem::path image;
    std::string snapshot;                    // an internal snapshot of the image to start from; empty: a cold boot
    bool bios = false;                       // the image boots through a legacy BIOS, not UEFI
    bool virtio_agent = false;               // the agent on the virtio-serial port readerlab.agent, not COM1
    std::chrono::seconds boot_timeout{900};  // QEMU's start to the agent's answer
    std::filesystem::path save_snapshot_to;  // readerlab run --save-snapshot FILE
  } windows;
};

// The outcome of a run as a command reports it.
// shard_empty: the run has cases, but fewer runs than shards and none fell to this one.
enum class SuiteOutcome { all_passed, some_failed, no_case_for_drivers, shard_empty };

// Runs every driver's cases, printing progress and the tables to standard output, and writes
// junit.xml and report.md (side by side when there are several drivers).
SuiteOutcome run_suite(const SuiteRun& run);

// One driver's run; the reports are its caller's. A driver that cannot start fails every case
// with the reason.
RunSummary run_libccid(const SuiteRun& run, const std::vector<CaseInfo>& cases, const std::filesystem::path& out_dir);
// libccid on each column's reader profile in turn (one guest boot), each column's cases there, a
// summary each.
std::vector<RunSummary> run_libccid_readers(const SuiteRun& run, const std::vector<RunColumn>& columns,
                                            const std::filesystem::path& out_dir);
// The cases in the Windows guest (Windows' smart card stack and the driver it bound to the reader),
// on each column's reader profile in turn in one guest (none: readerlab's own reader).
std::vector<RunSummary> run_windows(const SuiteRun& run, const std::vector<RunColumn>& columns,
                                    const std::filesystem::path& out_dir);
RunSummary run_rdf_driver(const SuiteRun& run, const std::vector<CaseInfo>& cases, const std::string& driver,
                          const std::filesystem::path& out_dir);
// Where a driver's run puts its cases' traces: <out_dir>/traces, or nothing when they are off.
std::filesystem::path trace_folder(const SuiteRun& run, const std::filesystem::path& out_dir);

// What the runners share: one progress line per case, any other line of the console (with
// --jobs both say which job they are from), every case failed for one reason.
void print_progress(std::size_t number, std::size_t total, const CaseResult& result);
void print_line(const std::string& line);
void fail_all(RunSummary& summary, const std::vector<CaseInfo>& cases, const std::string& why);
std::string format_seconds(std::chrono::nanoseconds duration);

// With --jobs, the jobs of a driver share its runs: a job that is free takes the next run no job
// has taken, in the run's order, so a long case holds up its own job only. take_run: whether the
// calling job runs this case of the column ("libccid@NAME", "reference-rdf", ...); runs_left:
// whether any case of the column is still untaken; runs_shared: whether the caller is such a job.
// Outside a job every run is the caller's.
bool take_run(const std::string& column, const CaseInfo& info);
bool runs_left(const std::string& column, const std::vector<CaseInfo>& cases);
bool runs_shared();

}  // namespace readerlab::conformance::runners
