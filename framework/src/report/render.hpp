#pragma once
/// Renders a pivot table as Markdown (GitHub), LaTeX (booktabs), CSV or HTML.

#include "report/pivot.hpp"

#include <string>

namespace prunelab {

const std::vector<std::string>& report_formats();  // md, latex, csv, html

std::string render(const PivotTable& t, const std::string& format);
std::string render_markdown(const PivotTable& t);
std::string render_latex(const PivotTable& t);
std::string render_csv(const PivotTable& t);
std::string render_html(const PivotTable& t);

}  // namespace prunelab
