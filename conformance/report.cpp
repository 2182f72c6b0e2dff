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
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += '?';
        else out += c;
    }
  }
  return out;
}

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += "<br>";
    else out += c;
  }
  return out;
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
    out << metric.name << " " << std::setprecision(6) << metric.value << (metric.unit.empty() ? "" : " ") << metric.unit;
  }
  return out.str();
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
  out << std::left << std::setw(static_cast<int>(width)) << "case" << "  result  time(s)  notes\n";
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

void write_junit(const std::filesystem::path& file, const RunSummary& summary) {
  std::ofstream out(file);
  std::chrono::milliseconds total{0};
  for (const auto& r : summary.results) total += r.duration;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites>\n<testsuite name=\"readerlab conformance: " << xml_escape(summary.driver)
      << "\" tests=\"" << summary.results.size() << "\" failures=\"" << summary.failed() << "\" skipped=\"0\" time=\""
      << seconds(total) << "\">\n";
  out << "  <properties>\n    <property name=\"seed\" value=\"" << summary.seed << "\"/>\n";
  for (const auto& [name, value] : summary.facts)
    out << "    <property name=\"" << xml_escape(name) << "\" value=\"" << xml_escape(value) << "\"/>\n";
  out << "  </properties>\n";
  for (const auto& r : summary.results) {
    out << "  <testcase classname=\"" << xml_escape(summary.driver) << "\" name=\"" << xml_escape(r.info.id)
        << "\" time=\"" << seconds(r.duration) << "\">\n";
    if (counts_as_failure(r.outcome))
      out << "    <failure message=\"" << xml_escape(first_line(r.message)) << "\">" << xml_escape(r.message)
          << "</failure>\n";
    std::string output;
    for (const auto& line : r.record.log) output += line + "\n";
    const auto metrics = metrics_text(r);
    if (!metrics.empty()) output += metrics + "\n";
    if (!output.empty()) out << "    <system-out>" << xml_escape(output) << "</system-out>\n";
    out << "  </testcase>\n";
  }
  out << "</testsuite>\n</testsuites>\n";
}

void write_markdown(const std::filesystem::path& file, const RunSummary& summary) {
  std::ofstream out(file);
  out << "# readerlab conformance report\n\n";
  out << "- driver under test: " << summary.driver << "\n- seed: " << summary.seed << "\n";
  for (const auto& [name, value] : summary.facts) out << "- " << name << ": " << value << "\n";
  out << "- result: " << closing_line(summary) << "\n\n";
  out << "## Cases\n\n| case | title | result | time (s) | notes |\n|---|---|---|---|---|\n";
  for (const auto& r : summary.results) {
    const std::string notes = r.message.empty() ? metrics_text(r) : r.message;
    out << "| " << markdown_cell(r.info.id) << " | " << markdown_cell(r.info.title) << " | " << to_string(r.outcome)
        << " | " << seconds(r.duration) << " | " << markdown_cell(notes) << " |\n";
  }
  // Coverage: each item a case declares (@covers) with the cases that reached it.
  std::map<std::string, std::set<std::string>> coverage;
  for (const auto& r : summary.results)
    for (const auto& item : r.info.covers) coverage[item].insert(r.info.id + (counts_as_failure(r.outcome) ? " (failed)" : ""));
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
