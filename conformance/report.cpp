#include "conformance/report.h"

#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

namespace readerlab::conformance {
namespace {

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // XML 1.0 forbids most control characters.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
          out += '?';
        else
          out += c;
    }
  }
  return out;
}

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += "<br>";
    else
      out += c;
  }
  return out;
}

// "shard 1 of 2: 40 of 80 runs (...)": which slice of the run the report holds, and how to run it again.
std::string shard_sentence(const ShardNote& note) {
  return note.line() + " (readerlab run --shard " + note.id() + " with the same options and seed runs it again)";
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string seconds(std::chrono::milliseconds duration) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << static_cast<double>(duration.count()) / 1000.0;
  return out.str();
}

std::string metrics_text(const CaseResult& result) {
  std::ostringstream out;
  for (const auto& metric : result.record.metrics) {
    if (out.tellp() > 0) out << "; ";
    out << metric.name << " " << std::setprecision(6) << metric.value << (metric.unit.empty() ? "" : " ")
        << metric.unit;
  }
  return out.str();
}

// "ccid wrong-seq event 3 at 12.5 ms: bSeq 07 -> 08 on RDR_to_PC_DataBlock (fault 1)".
std::string firing_text(const faults::Firing& firing) {
  std::ostringstream out;
  out << firing.level << " " << firing.kind << " event " << firing.event << " at " << std::fixed << std::setprecision(1)
      << firing.at_ms << " ms";
  if (!firing.detail.empty()) out << ": " << firing.detail;
  out << " (fault " << firing.fault_index + 1 << ")";
  return out.str();
}

bool has_faults(const CaseResult& result) {
  return !result.record.faults_armed.empty() || !result.record.firings.empty();
}

// Per case that armed faults: the schedule that ran, each fault and each firing.
void write_fault_schedules(std::ostream& out, const std::vector<const RunSummary*>& summaries) {
  bool any = false;
  for (const auto* summary : summaries)
    for (const auto& r : summary->results) any = any || has_faults(r);
  if (!any) return;
  out << "\n## Fault schedules\n\nWhat each case armed and what fired, in order (`readerlab run --seed N` replays "
         "the same schedule).\n";
  for (const auto* summary : summaries) {
    for (const auto& r : summary->results) {
      if (!has_faults(r)) continue;
      out << "\n### " << r.info.id << (summaries.size() > 1 ? " on " + summary->driver : std::string()) << " (seed "
          << summary->seed << ")\n\n";
      for (std::size_t i = 0; i < r.record.faults_armed.size(); ++i)
        out << "- fault " << i + 1 << ": " << r.record.faults_armed[i] << "\n";
      if (r.record.firings.empty()) out << "- nothing fired\n";
      for (const auto& firing : r.record.firings) out << "  - fired: " << firing_text(firing) << "\n";
    }
  }
}

// One row per fault kind a case recorded an outcome for (lab.outcome), one column per driver.
void write_fault_table(std::ostream& out, const std::vector<const RunSummary*>& summaries) {
  std::map<std::string, std::map<std::string, std::string>> rows;
  for (const auto* summary : summaries)
    for (const auto& r : summary->results)
      for (const auto& [kind, text] : r.record.outcomes) {
        auto& cell = rows[kind][summary->driver];
        cell += (cell.empty() ? "" : "\n") + text;
      }
  if (rows.empty()) return;
  out << "\n## Faults x drivers\n\nWhat each driver did under each fault kind, as the fault cases recorded it.\n\n"
         "| fault |";
  for (const auto* summary : summaries) out << " " << markdown_cell(summary->driver) << " |";
  out << "\n|---|";
  for (std::size_t i = 0; i < summaries.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& [kind, by_driver] : rows) {
    out << "| " << markdown_cell(kind) << " |";
    for (const auto* summary : summaries) {
      const auto it = by_driver.find(summary->driver);
      out << " " << (it == by_driver.end() ? std::string("–") : markdown_cell(it->second)) << " |";
    }
    out << "\n";
  }
}

}  // namespace

int RunSummary::passed() const {
  int count = 0;
  for (const auto& r : results) count += (r.outcome == Outcome::pass || r.outcome == Outcome::expected_fail) ? 1 : 0;
  return count;
}

int RunSummary::failed() const {
  int count = 0;
  for (const auto& r : results) count += counts_as_failure(r.outcome) ? 1 : 0;
  return count;
}

void print_table(std::ostream& out, const RunSummary& summary) {
  std::size_t width = 4;
  for (const auto& r : summary.results) width = std::max(width, r.info.id.size());
  out << std::left << std::setw(static_cast<int>(width)) << "case"
      << "  result  time(s)  notes\n";
  for (const auto& r : summary.results) {
    std::string notes = r.message.empty() ? metrics_text(r) : first_line(r.message);
    out << std::left << std::setw(static_cast<int>(width)) << r.info.id << "  " << std::setw(6) << to_string(r.outcome)
        << "  " << std::right << std::setw(7) << seconds(r.duration) << "  " << notes << "\n";
  }
  for (const auto& [name, value] : summary.facts) out << name << ": " << value << "\n";
}

std::string closing_line(const RunSummary& summary) {
  return std::to_string(summary.passed()) + " passed, " + std::to_string(summary.failed()) + " failed";
}

namespace {

// A case's traces as paths from the report's folder, so that the links work wherever the
// output folder is moved.
std::vector<std::string> trace_paths(const CaseResult& result, const std::filesystem::path& report_folder) {
  std::vector<std::string> paths;
  for (const auto& trace : result.traces) {
    std::error_code ec;
    auto relative = std::filesystem::relative(trace, report_folder.empty() ? "." : report_folder, ec);
    paths.push_back((ec || relative.empty() ? trace : relative).generic_string());
  }
  return paths;
}

// "[reader1.pcap](traces/<case>/reader1.pcap)", one link per reader.
std::string trace_links(const CaseResult& result, const std::filesystem::path& report_folder) {
  std::string links;
  for (const auto& path : trace_paths(result, report_folder))
    links += (links.empty() ? "" : " ") + ("[" + std::filesystem::path(path).filename().string() + "](" + path + ")");
  return links;
}

void write_testsuite(std::ostream& out, const RunSummary& summary, const std::filesystem::path& report_folder) {
  std::chrono::milliseconds total{0};
  for (const auto& r : summary.results) total += r.duration;
  const std::string shard = summary.shard ? " (shard " + summary.shard->id() + ")" : std::string();
  out << "<testsuite name=\"readerlab conformance: " << xml_escape(summary.driver) << shard << "\" tests=\""
      << summary.results.size() << "\" failures=\"" << summary.failed() << "\" skipped=\"0\" time=\"" << seconds(total)
      << "\">\n";
  out << "  <properties>\n    <property name=\"seed\" value=\"" << summary.seed << "\"/>\n";
  if (summary.shard) out << "    <property name=\"shard\" value=\"" << summary.shard->id() << "\"/>\n";
  for (const auto& [name, value] : summary.facts)
    out << "    <property name=\"" << xml_escape(name) << "\" value=\"" << xml_escape(value) << "\"/>\n";
  out << "  </properties>\n";
  for (const auto& r : summary.results) {
    out << "  <testcase classname=\"" << xml_escape(summary.driver) << "\" name=\"" << xml_escape(r.info.id)
        << "\" time=\"" << seconds(r.duration) << "\">\n";
    const auto traces = trace_paths(r, report_folder);
    if (!traces.empty() || has_faults(r)) {
      out << "    <properties>\n";
      for (const auto& trace : traces)
        out << "      <property name=\"trace\" value=\"" << xml_escape(trace) << "\"/>\n";
      for (const auto& fault : r.record.faults_armed)
        out << "      <property name=\"fault\" value=\"" << xml_escape(fault) << "\"/>\n";
      for (const auto& firing : r.record.firings)
        out << "      <property name=\"firing\" value=\"" << xml_escape(firing_text(firing)) << "\"/>\n";
      out << "    </properties>\n";
    }
    if (counts_as_failure(r.outcome))
      out << "    <failure message=\"" << xml_escape(first_line(r.message)) << "\">" << xml_escape(r.message)
          << "</failure>\n";
    std::string output;
    for (const auto& line : r.record.log) output += line + "\n";
    const auto metrics = metrics_text(r);
    if (!metrics.empty()) output += metrics + "\n";
    for (const auto& trace : traces) output += "trace: " + trace + "\n";
    for (const auto& fault : r.record.faults_armed) output += "fault: " + fault + "\n";
    for (const auto& firing : r.record.firings) output += "fired: " + firing_text(firing) + "\n";
    for (const auto& [kind, text] : r.record.outcomes) output += "outcome " + kind + ": " + text + "\n";
    if (!output.empty()) out << "    <system-out>" << xml_escape(output) << "</system-out>\n";
    out << "  </testcase>\n";
  }
  out << "</testsuite>\n";
}

// The IOCTLs a PC/SC call causes in a Windows reader driver (smclib.md section 1; the
// resource manager's usual sequence).
const char* ioctls_for(const std::string& pcsc_call) {
  static const std::map<std::string, const char*> mapping = {
      {"Connect", "IOCTL_SMARTCARD_POWER, IOCTL_SMARTCARD_SET_PROTOCOL"},
      {"Reconnect", "IOCTL_SMARTCARD_POWER, IOCTL_SMARTCARD_SET_PROTOCOL"},
      {"Disconnect", "IOCTL_SMARTCARD_POWER (when unpowering)"},
      {"Transmit", "IOCTL_SMARTCARD_TRANSMIT"},
      {"TransmitRepeat", "IOCTL_SMARTCARD_TRANSMIT"},
      {"GetStatusChange", "IOCTL_SMARTCARD_IS_PRESENT, IOCTL_SMARTCARD_IS_ABSENT"},
      {"GetAttrib", "IOCTL_SMARTCARD_GET_ATTRIBUTE"},
      {"Status", "IOCTL_SMARTCARD_GET_STATE"},
      {"Control", "vendor IOCTL (RDF_IOCTL_VENDOR)"},
  };
  const auto it = mapping.find(pcsc_call);
  return it == mapping.end() ? nullptr : it->second;
}

}  // namespace

void write_junit(const std::filesystem::path& file, const RunSummary& summary) {
  write_junit(file, std::vector<RunSummary>{summary});
}

void write_junit(const std::filesystem::path& file, const std::vector<RunSummary>& summaries) {
  std::ofstream out(file);
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n";
  for (const auto& summary : summaries) write_testsuite(out, summary, file.parent_path());
  out << "</testsuites>\n";
}

std::vector<std::string> load_coverage_items(const std::filesystem::path& file) {
  std::vector<std::string> items;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') items.push_back(line);
  }
  return items;
}

void write_side_by_side(const std::filesystem::path& file, const std::vector<RunSummary>& summaries,
                        const std::vector<std::string>& coverage_items) {
  std::ofstream out(file);
  out << "# readerlab conformance report, side by side\n\n";
  if (!summaries.empty() && summaries.front().shard) out << shard_sentence(*summaries.front().shard) << "\n\n";
  int passed = 0, failed = 0;
  for (const auto& summary : summaries) {
    passed += summary.passed();
    failed += summary.failed();
    out << "## " << summary.driver << "\n\n- " << closing_line(summary) << "\n- seed: " << summary.seed << "\n";
    for (const auto& [name, value] : summary.facts) out << "- " << name << ": " << value << "\n";
    out << "\n";
  }
  out << "Overall: " << passed << " passed, " << failed << " failed\n\n";

  // Rows: every case of any driver; one column per driver.
  std::map<std::string, std::map<std::string, const CaseResult*>> rows;
  for (const auto& summary : summaries)
    for (const auto& result : summary.results) rows[result.info.id][summary.driver] = &result;
  out << "## Cases\n\n| case |";
  for (const auto& summary : summaries) out << " " << markdown_cell(summary.driver) << " |";
  out << " IOCTLs the driver calls caused (measured on the RDF drivers; else the expected ones) |\n|---|";
  for (std::size_t i = 0; i < summaries.size(); ++i) out << "---|";
  out << "---|\n";
  for (const auto& [id, by_driver] : rows) {
    out << "| " << markdown_cell(id) << " |";
    std::set<std::string> expected, measured;
    for (const auto& summary : summaries) {
      const auto it = by_driver.find(summary.driver);
      if (it == by_driver.end()) {
        out << " – |";
        continue;
      }
      const auto links = trace_links(*it->second, file.parent_path());
      out << " " << to_string(it->second->outcome) << (links.empty() ? "" : " " + markdown_cell(links)) << " |";
      for (const auto& call : it->second->record.calls_made) {
        // A host driver port records the IOCTLs each call caused, by name.
        if (call.starts_with("IOCTL_") || call.starts_with("SCARD_CTL_CODE"))
          measured.insert(call);
        else if (const char* mapped = ioctls_for(call))
          expected.insert(mapped);
      }
    }
    std::string list;
    for (const auto& ioctl : measured.empty() ? expected : measured) list += (list.empty() ? "" : "; ") + ioctl;
    out << " " << markdown_cell(list) << " |\n";
  }

  std::vector<const RunSummary*> all;
  for (const auto& summary : summaries) all.push_back(&summary);
  write_fault_table(out, all);
  write_fault_schedules(out, all);

  // Coverage: each @covers item, and which drivers' cases reached it.
  std::map<std::string, std::map<std::string, std::set<std::string>>> coverage;
  for (const auto& item : coverage_items) coverage[item];
  for (const auto& summary : summaries)
    for (const auto& result : summary.results)
      for (const auto& item : result.info.covers) coverage[item][summary.driver].insert(result.info.id);
  std::size_t gaps = 0;
  for (const auto& [item, by_driver] : coverage) gaps += by_driver.empty() ? 1 : 0;
  out << "\n## Coverage\n\n" << gaps << " item(s) no case reaches (gaps).\n\n| item |";
  for (const auto& summary : summaries) out << " " << markdown_cell(summary.driver) << " |";
  out << "\n|---|";
  for (std::size_t i = 0; i < summaries.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& [item, by_driver] : coverage) {
    out << "| " << markdown_cell(item) << " |";
    for (const auto& summary : summaries) {
      const auto it = by_driver.find(summary.driver);
      out << " "
          << (it == by_driver.end() ? std::string(by_driver.empty() ? "**gap**" : "–")
                                    : std::to_string(it->second.size()) + " case(s)")
          << " |";
    }
    out << "\n";
  }
}

void write_markdown(const std::filesystem::path& file, const RunSummary& summary) {
  std::ofstream out(file);
  out << "# readerlab conformance report\n\n";
  out << "- driver under test: " << summary.driver << "\n- seed: " << summary.seed << "\n";
  if (summary.shard) out << "- " << shard_sentence(*summary.shard) << "\n";
  for (const auto& [name, value] : summary.facts) out << "- " << name << ": " << value << "\n";
  out << "- result: " << closing_line(summary) << "\n\n";
  out << "## Cases\n\n| case | title | result | time (s) | USB trace | notes |\n|---|---|---|---|---|---|\n";
  for (const auto& r : summary.results) {
    const std::string notes = r.message.empty() ? metrics_text(r) : r.message;
    out << "| " << markdown_cell(r.info.id) << " | " << markdown_cell(r.info.title) << " | " << to_string(r.outcome)
        << " | " << seconds(r.duration) << " | " << markdown_cell(trace_links(r, file.parent_path())) << " | "
        << markdown_cell(notes) << " |\n";
  }
  write_fault_table(out, {&summary});
  write_fault_schedules(out, {&summary});
  // Coverage: each item a case declares (@covers) with the cases that reached it.
  std::map<std::string, std::set<std::string>> coverage;
  for (const auto& r : summary.results)
    for (const auto& item : r.info.covers)
      coverage[item].insert(r.info.id + (counts_as_failure(r.outcome) ? " (failed)" : ""));
  out << "\n## Coverage\n\n| item | cases |\n|---|---|\n";
  for (const auto& [item, ids] : coverage) {
    std::string list;
    for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
    out << "| " << markdown_cell(item) << " | " << markdown_cell(list) << " |\n";
  }
  // Driver calls as they were made, per case.
  out << "\n## Driver calls per case\n\n| case | calls |\n|---|---|\n";
  for (const auto& r : summary.results) {
    std::map<std::string, int> counts;
    for (const auto& call : r.record.calls_made) ++counts[call];
    std::string list;
    for (const auto& [call, count] : counts) list += (list.empty() ? "" : ", ") + call + " x" + std::to_string(count);
    out << "| " << markdown_cell(r.info.id) << " | " << markdown_cell(list) << " |\n";
  }
}

}  // namespace readerlab::conformance
