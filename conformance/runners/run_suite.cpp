#include "conformance/runners/runners.h"

#include "hosts/windows_model/port/rdf_port.h"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

namespace readerlab::conformance::runners {
namespace {

// "libccid, reference-rdf, reference-rdf-usbredir, ..., all": the RDF names as the Windows model
// spells them.
std::string known_driver_names() {
  const auto rdf = windows_model::rdf_driver_names();
  return "libccid, windows, " + (rdf.empty() ? std::string() : rdf + ", ") + "all";
}

bool is_rdf_driver(const std::string& name) { return windows_model::choose_rdf_driver(name).has_value(); }

bool matches(const CaseInfo& info, const std::string& filter) {
  if (info.id == filter || info.path == std::filesystem::path(filter)) return true;
  std::error_code ignored;
  return std::filesystem::exists(filter, ignored) && std::filesystem::equivalent(info.path, filter, ignored);
}

}  // namespace

std::filesystem::path trace_folder(const SuiteRun& run, const std::filesystem::path& out_dir) {
  return run.traces ? out_dir / "traces" : std::filesystem::path();
}

std::string format_seconds(std::chrono::nanoseconds duration) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << std::chrono::duration<double>(duration).count() << " s";
  return out.str();
}

namespace {
// With --jobs, each job's progress lines say whose they are, and come out whole.
std::mutex progress_mutex;
thread_local std::string progress_tag;
}  // namespace

void print_line(const std::string& line) {
  const std::lock_guard lock(progress_mutex);
  std::cout << progress_tag << line << "\n" << std::flush;
}

void print_progress(std::size_t number, std::size_t total, const CaseResult& result) {
  std::ostringstream line;
  line << progress_tag << "[" << number << "/" << total << "] " << std::left << std::setw(36) << result.info.id << " "
       << to_string(result.outcome) << " (" << format_seconds(result.duration) << ")\n";
  if (!result.message.empty() && counts_as_failure(result.outcome))
    line << progress_tag << "    " << result.message.substr(0, result.message.find('\n')) << "\n";
  const std::lock_guard lock(progress_mutex);
  std::cout << line.str() << std::flush;
}

namespace {
// The runs a driver's jobs have taken, and which job took each; each job thread points at its driver's.
class TakenRuns {
 public:
  bool take(const std::string& column, const std::string& case_id, std::size_t job) {
    const std::lock_guard lock(mutex_);
    return taken_.emplace(std::make_pair(column, case_id), job).second;
  }
  std::optional<std::size_t> taken_by(const std::string& column, const std::string& case_id) {
    const std::lock_guard lock(mutex_);
    const auto found = taken_.find({column, case_id});
    if (found == taken_.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::size_t> taken_;
};
thread_local TakenRuns* job_runs = nullptr;
thread_local std::size_t job_index = 0;
}  // namespace

bool take_run(const std::string& column, const CaseInfo& info) {
  return job_runs == nullptr || job_runs->take(column, info.id, job_index);
}

bool runs_shared() { return job_runs != nullptr; }

bool runs_left(const std::string& column, const std::vector<CaseInfo>& cases) {
  if (job_runs == nullptr) return !cases.empty();
  return std::any_of(cases.begin(), cases.end(),
                     [&](const CaseInfo& info) { return !job_runs->taken_by(column, info.id); });
}

void fail_all(RunSummary& summary, const std::vector<CaseInfo>& cases, const std::string& why) {
  for (const auto& info : cases) {
    CaseResult result;
    result.info = info;
    result.outcome = Outcome::fail;
    result.message = why;
    summary.results.push_back(result);
  }
}

Expected<std::vector<std::string>> resolve_drivers(const std::vector<std::string>& names) {
  if (names.empty()) return std::vector<std::string>{"libccid"};
  if (names.size() == 1 && names[0] == "all")
    return std::vector<std::string>{"libccid", "reference-rdf", "reference-rdf-usbredir"};
  std::vector<std::string> drivers;
  for (const auto& name : names) {
    if (name == "all")
      return error("--driver", "all stands alone (it is libccid, reference-rdf and reference-rdf-usbredir)");
    if (name != "libccid" && name != "windows" && !is_rdf_driver(name))
      return error("--driver", "unknown driver '" + name + "' (" + known_driver_names() + ")");
    if (std::find(drivers.begin(), drivers.end(), name) == drivers.end()) drivers.push_back(name);
  }
  return drivers;
}

Expected<std::vector<CaseInfo>> select_cases(const std::filesystem::path& cases_dir,
                                             const std::vector<std::string>& filters) {
  auto all = discover_cases(cases_dir);
  // A case file anywhere else (e.g. one readerlab fuzz wrote): its id is its name.
  for (const auto& filter : filters) {
    std::error_code ignored;
    const std::filesystem::path file = filter;
    if (file.extension() != ".lua" || !std::filesystem::is_regular_file(file, ignored)) continue;
    if (std::none_of(all.begin(), all.end(), [&](const CaseInfo& info) { return matches(info, filter); }))
      all.push_back(read_case_info(std::filesystem::absolute(file).parent_path(), std::filesystem::absolute(file)));
  }
  for (const auto& filter : filters) {
    if (std::none_of(all.begin(), all.end(), [&](const CaseInfo& info) { return matches(info, filter); }))
      return error("--case", "no case '" + filter + "' (see readerlab cases)");
  }
  if (filters.empty()) return all;
  std::vector<CaseInfo> selected;
  for (auto& info : all)
    if (std::any_of(filters.begin(), filters.end(), [&](const std::string& filter) { return matches(info, filter); }))
      selected.push_back(std::move(info));
  return selected;
}

namespace {

// The columns of the whole run in the order it runs them: the drivers as given, each with the
// cases written for it (libccid once per reader profile with --reader); a driver with none is left out.
std::vector<RunColumn> plan_columns(const SuiteRun& run) {
  std::vector<RunColumn> columns;
  for (const auto& driver : run.drivers) {
    // Every RDF driver runs the IOCTL cases (written for the family "reference-rdf").
    const std::string family = driver == "libccid" || driver == "windows" ? driver : "reference-rdf";
    std::vector<CaseInfo> cases;
    for (const auto& info : run.cases)
      if (info.applies_to(family) || info.applies_to(driver)) cases.push_back(info);
    if (cases.empty()) continue;
    if ((driver == "libccid" || driver == "windows") && !run.readers.empty()) {
      for (const auto& reader : run.readers) columns.push_back(RunColumn{driver, reader, cases});
      continue;
    }
    columns.push_back(RunColumn{driver, {}, std::move(cases)});
  }
  return columns;
}

// One driver's columns as its runner runs them: a summary per column, in their order.
std::vector<RunSummary> run_columns(const SuiteRun& run, const std::vector<RunColumn>& columns,
                                    const std::filesystem::path& out_dir) {
  const auto& driver = columns.front().driver;
  if (driver == "windows") return run_windows(run, columns, out_dir);
  if (!columns.front().reader.empty()) return run_libccid_readers(run, columns, out_dir);
  const auto& cases = columns.front().cases;
  return {driver == "libccid" ? run_libccid(run, cases, out_dir) : run_rdf_driver(run, cases, driver, out_dir)};
}

// --jobs N: N jobs (no more than there are runs), each on a thread of its own with its own rig
// and driver (a guest each for libccid, its logs in <out>/job-K), each taking the driver's next
// untaken run when it is free (take_run); their results put back in the run's order, a summary
// per column as one job would give.
std::vector<RunSummary> run_columns_in_jobs(const SuiteRun& run, const std::vector<RunColumn>& columns,
                                            const std::filesystem::path& out_dir) {
  const std::size_t job_count = std::min(run.jobs, count_runs(columns));
  if (job_count <= 1) return run_columns(run, columns, out_dir);
  const bool guest = columns.front().driver == "libccid" || columns.front().driver == "windows";
  TakenRuns taken;
  std::vector<std::vector<RunSummary>> results(job_count);
  {
    std::vector<std::jthread> jobs;
    for (std::size_t k = 0; k < job_count; ++k) {
      const auto job_dir = guest ? out_dir / ("job-" + std::to_string(k + 1)) : out_dir;
      jobs.emplace_back([&run, &columns, &results, &taken, k, job_dir, tag = progress_tag] {
        progress_tag = tag + "job " + std::to_string(k + 1) + " ";
        job_runs = &taken;
        job_index = k;
        results[k] = run_columns(run, columns, job_dir);
      });
    }
  }
  // Each column's summary: its cases' results in the column's order, each from the job that took
  // it; a case no job took (every job's driver failed to start or stopped) has a job's failure
  // for it, or says that no job was left to run it.
  std::vector<RunSummary> merged;
  for (const auto& column : columns) {
    const std::string name = column.reader.empty() ? column.driver : column.driver + "@" + column.reader;
    RunSummary summary;
    std::vector<std::map<std::string, CaseResult>> by_job(job_count);
    bool first = true;
    for (std::size_t k = 0; k < job_count; ++k) {
      for (auto& piece : results[k]) {
        if (piece.driver != name) continue;
        if (first) {
          summary.driver = piece.driver;
          summary.seed = piece.seed;
          summary.facts = piece.facts;
          first = false;
        }
        for (auto& result : piece.results) by_job[k].emplace(result.info.id, std::move(result));
      }
    }
    if (first) continue;
    summary.facts.emplace_back("jobs", std::to_string(job_count) + " at once (readerlab run --jobs " +
                                           std::to_string(run.jobs) +
                                           ", each taking the next run when free); the facts above are job 1's");
    for (const auto& info : column.cases) {
      const auto owner = taken.taken_by(name, info.id);
      bool found = false;
      for (std::size_t k = 0; k < job_count && !found; ++k) {
        if (owner && *owner != k) continue;
        const auto result = by_job[k].find(info.id);
        if (result == by_job[k].end()) continue;
        summary.results.push_back(std::move(result->second));
        found = true;
      }
      if (found) continue;
      CaseResult none;
      none.info = info;
      none.outcome = Outcome::fail;
      none.message = "no job ran it: every job's driver had stopped (see the jobs' progress lines)";
      summary.results.push_back(std::move(none));
    }
    merged.push_back(std::move(summary));
  }
  return merged;
}

}  // namespace

SuiteOutcome run_suite(const SuiteRun& run) {
  const auto whole_run = plan_columns(run);
  if (whole_run.empty()) return SuiteOutcome::no_case_for_drivers;
  auto columns = whole_run;
  std::optional<ShardNote> shard;
  if (run.shard) {
    columns = deal_shard(whole_run, *run.shard);
    shard = ShardNote{*run.shard, count_runs(columns), count_runs(whole_run)};
    std::cout << "readerlab run: " << shard->line() << " (run i of the whole run, counted from 0, goes to shard i mod "
              << run.shard->count << " + 1)\n";
    if (columns.empty()) {
      std::cout << "readerlab run: nothing to run in shard " << shard->id() << ": the whole run has "
                << shard->total_runs << " run(s), fewer than " << run.shard->count
                << " shards, and none fell to this one (not a failure)\n"
                << std::flush;
      return SuiteOutcome::shard_empty;
    }
  }
  std::vector<RunSummary> summaries;
  const auto keep = [&](RunSummary summary, const std::filesystem::path& report_dir) {
    summary.shard = shard;
    write_junit(report_dir / "junit.xml", summary);
    write_markdown(report_dir / "report.md", summary);
    summaries.push_back(std::move(summary));
  };
  // Each driver's columns, in the run's order of drivers.
  struct DriverRuns {
    std::vector<RunColumn> columns;
    std::filesystem::path out_dir;
    std::vector<RunSummary> summaries;
  };
  std::vector<DriverRuns> drivers;
  for (const auto& driver : run.drivers) {
    DriverRuns mine;
    for (const auto& column : columns)
      if (column.driver == driver) mine.columns.push_back(column);
    if (mine.columns.empty()) continue;  // no case for it, or none fell to this shard
    // The folders of the whole run, whichever drivers this shard has runs of.
    mine.out_dir = run.drivers.size() == 1 ? run.out_dir : run.out_dir / driver;
    std::filesystem::create_directories(mine.out_dir);
    std::cout << "readerlab run: " << driver << ", ";
    if (mine.columns.front().reader.empty())
      std::cout << mine.columns.front().cases.size() << " case(s)";
    else
      std::cout << count_runs(mine.columns) << " run(s) of a case on " << mine.columns.size() << " reader profile(s)";
    std::cout << ", seed " << run.seed << ", output in " << mine.out_dir.string();
    if (run.jobs > 1) std::cout << ", up to " << run.jobs << " jobs at once";
    std::cout << "\n" << std::flush;
    drivers.push_back(std::move(mine));
  }
  if (run.jobs > 1 && drivers.size() > 1) {
    // With --jobs the drivers run at once too, each dealing its runs to its jobs.
    std::vector<std::jthread> threads;
    for (auto& mine : drivers)
      threads.emplace_back([&run, &mine] {
        progress_tag = mine.columns.front().driver + " ";
        mine.summaries = run_columns_in_jobs(run, mine.columns, mine.out_dir);
      });
  } else {
    for (auto& mine : drivers) mine.summaries = run_columns_in_jobs(run, mine.columns, mine.out_dir);
  }
  for (auto& mine : drivers) {
    for (auto& summary : mine.summaries) {
      if (mine.columns.front().reader.empty()) {
        keep(std::move(summary), mine.out_dir);
        continue;
      }
      // One column per reader profile (readerlab run --reader), each with its own reports.
      const auto reader_dir = mine.out_dir / summary.driver;
      std::filesystem::create_directories(reader_dir);
      keep(std::move(summary), reader_dir);
    }
  }
  // Several columns in the whole run: the side-by-side reports too, in every shard alike.
  if (whole_run.size() > 1 || !run.readers.empty()) {
    write_junit(run.out_dir / "junit.xml", summaries);
    write_side_by_side(run.out_dir / "report.md", summaries, load_coverage_items(run.coverage_items));
  }
  RunSummary total;
  for (const auto& summary : summaries) {
    std::cout << "\n== " << summary.driver << "\n";
    print_table(std::cout, summary);
    total.results.insert(total.results.end(), summary.results.begin(), summary.results.end());
  }
  if (shard) {
    std::cout << shard->line() << "\n";
    std::cout << "seed " << run.seed << " (readerlab run --seed " << run.seed << " --shard " << shard->id()
              << " replays this shard)\n";
  } else {
    std::cout << "seed " << run.seed << " (readerlab run --seed " << run.seed << " replays it)\n";
  }
  std::cout << closing_line(total) << "\n";
  return total.failed() == 0 ? SuiteOutcome::all_passed : SuiteOutcome::some_failed;
}

}  // namespace readerlab::conformance::runners
