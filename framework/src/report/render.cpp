#include "report/render.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>

namespace prunelab {

const std::vector<std::string>& report_formats() {
  static const std::vector<std::string> f = {"md", "latex", "csv", "html"};
  return f;
}

std::string render(const PivotTable& t, const std::string& format) {
  if (format == "md") return render_markdown(t);
  if (format == "latex") return render_latex(t);
  if (format == "csv") return render_csv(t);
  if (format == "html") return render_html(t);
  throw std::invalid_argument(fmt::format("unknown format '{}' (valid: {})", format, fmt::join(report_formats(), ", ")));
}

namespace {
std::string header_name(const std::string& field) {
  if (field == "ratio_policy") return "ratio policy";
  return field;
}

// Two decimals for percentages, three significant digits for ratios.
std::string number(const PivotTable& t, double v) {
  return t.spec.metric == "compression" || t.spec.metric == "speedup" ? fmt::format("{:.3g}", v)
                                                                       : fmt::format("{:.2f}", v);
}

std::string latex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '_': case '%': case '&': case '#': case '$': case '{': case '}': out += '\\'; out += c; break;
      case '\\': out += "\\textbackslash{}"; break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
}  // namespace

std::string render_markdown(const PivotTable& t) {
  std::string out = caption(t) + "\n\n|";
  for (const auto& f : t.spec.rows) out += " " + header_name(f) + " |";
  for (size_t c = 0; c < t.columns.size(); ++c) out += " " + column_header(t, c) + " |";
  out += "\n|";
  for (size_t i = 0; i < t.spec.rows.size(); ++i) out += "---|";
  for (size_t i = 0; i < t.columns.size(); ++i) out += "---:|";
  out += "\n";
  for (size_t r = 0; r < t.row_keys.size(); ++r) {
    out += "|";
    for (const auto& k : t.row_keys[r]) out += " " + k + " |";
    for (const auto& cell : t.cells[r]) {
      if (cell.n == 0) out += " – |";
      else if (cell.n == 1) out += " " + number(t, cell.mean) + " (1) |";
      else out += fmt::format(" {} ± {} ({}) |", number(t, cell.mean), number(t, cell.std), cell.n);
    }
    out += "\n";
  }
  return out;
}

std::string render_latex(const PivotTable& t) {
  std::string spec(t.spec.rows.size(), 'l');
  spec += std::string(t.columns.size(), 'r');
  std::string out = "% requires \\usepackage{booktabs}\n\\begin{table}[t]\n\\centering\n";
  out += "\\caption{" + latex_escape(caption(t)) + "}\n\\label{tab:pruning}\n";
  out += "\\begin{tabular}{" + spec + "}\n\\toprule\n";
  std::vector<std::string> head;
  for (const auto& f : t.spec.rows) head.push_back(latex_escape(header_name(f)));
  for (size_t c = 0; c < t.columns.size(); ++c) head.push_back(latex_escape(column_header(t, c)));
  out += fmt::format("{} \\\\\n\\midrule\n", fmt::join(head, " & "));
  for (size_t r = 0; r < t.row_keys.size(); ++r) {
    std::vector<std::string> cells;
    for (const auto& k : t.row_keys[r]) cells.push_back(latex_escape(k));
    for (const auto& cell : t.cells[r]) {
      if (cell.n == 0) cells.push_back("--");
      else if (cell.n == 1) cells.push_back("$" + number(t, cell.mean) + "$");
      else cells.push_back(fmt::format("${} \\pm {}$", number(t, cell.mean), number(t, cell.std)));
    }
    out += fmt::format("{} \\\\\n", fmt::join(cells, " & "));
  }
  out += "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
  return out;
}

std::string render_csv(const PivotTable& t) {
  std::vector<std::string> head;
  for (const auto& f : t.spec.rows) head.push_back(f);
  for (size_t c = 0; c < t.columns.size(); ++c) {
    const auto h = column_header(t, c);
    for (const char* s : {"_mean", "_std", "_n"}) head.push_back(csv_field(h + s));
  }
  std::string out = fmt::format("{}\n", fmt::join(head, ","));
  for (size_t r = 0; r < t.row_keys.size(); ++r) {
    std::vector<std::string> cells;
    for (const auto& k : t.row_keys[r]) cells.push_back(csv_field(k));
    for (const auto& cell : t.cells[r]) {
      if (cell.n == 0) {
        cells.insert(cells.end(), {"", "", "0"});
      } else {
        cells.push_back(fmt::format("{:.6g}", cell.mean));
        cells.push_back(fmt::format("{:.6g}", cell.std));
        cells.push_back(std::to_string(cell.n));
      }
    }
    out += fmt::format("{}\n", fmt::join(cells, ","));
  }
  return out;
}

std::string render_html(const PivotTable& t) {
  std::string out = "<table>\n<caption>" + html_escape(caption(t)) + "</caption>\n<thead><tr>";
  for (const auto& f : t.spec.rows) out += "<th>" + html_escape(header_name(f)) + "</th>";
  for (size_t c = 0; c < t.columns.size(); ++c) out += "<th>" + html_escape(column_header(t, c)) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (size_t r = 0; r < t.row_keys.size(); ++r) {
    out += "<tr>";
    for (const auto& k : t.row_keys[r]) out += "<td>" + html_escape(k) + "</td>";
    for (const auto& cell : t.cells[r]) {
      if (cell.n == 0) out += "<td>–</td>";
      else out += fmt::format("<td>{} ± {} ({})</td>", number(t, cell.mean), number(t, cell.std), cell.n);
    }
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

}  // namespace prunelab
