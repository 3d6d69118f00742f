#include "report/query.hpp"

#include <SQLiteCpp/Database.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace prunelab {

namespace {
// The authorizer is the reliable gate: it sees what the statement will do, not how it is spelled.
int authorize(void*, int action, const char* arg1, const char* arg2, const char*, const char*) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_PRAGMA:
      // Reading pragmas (table_info, integrity_check, ...) is fine; setting one is not.
      return arg2 == nullptr ? SQLITE_OK : SQLITE_DENY;
    default:
      (void)arg1;
      return SQLITE_DENY;
  }
}

bool only_space_or_semicolons(const char* s) {
  for (; s && *s; ++s)
    if (!std::isspace(static_cast<unsigned char>(*s)) && *s != ';') return false;
  return true;
}

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}
}  // namespace

QueryResult run_readonly_query(const std::string& db_path, const std::string& sql) {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY, /*busy_timeout_ms=*/10000);
  sqlite3* h = db.getHandle();
  sqlite3_set_authorizer(h, authorize, nullptr);
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(h, sql.c_str(), -1, &stmt, &tail);
  if (rc == SQLITE_AUTH || sqlite3_extended_errcode(h) == SQLITE_AUTH ||
      std::string(sqlite3_errmsg(h)).find("not authorized") != std::string::npos)
    throw std::invalid_argument("refused: runner query is read-only (no INSERT, UPDATE, DELETE, DDL, ATTACH, "
                                "transactions or PRAGMA assignments)");
  if (rc != SQLITE_OK) throw std::runtime_error(fmt::format("SQL error: {}", sqlite3_errmsg(h)));
  if (!stmt) throw std::invalid_argument("empty query");
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(stmt, sqlite3_finalize);
  if (!only_space_or_semicolons(tail)) throw std::invalid_argument("one statement at a time");
  if (!sqlite3_stmt_readonly(stmt)) throw std::invalid_argument("refused: runner query is read-only");

  QueryResult out;
  const int ncol = sqlite3_column_count(stmt);
  for (int i = 0; i < ncol; ++i) out.columns.push_back(sqlite3_column_name(stmt, i));
  int step;
  while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < ncol; ++i) {
      const auto* text = sqlite3_column_text(stmt, i);
      row.push_back(sqlite3_column_type(stmt, i) == SQLITE_NULL ? "NULL" : reinterpret_cast<const char*>(text));
    }
    out.rows.push_back(std::move(row));
  }
  if (step != SQLITE_DONE) throw std::runtime_error(fmt::format("SQL error: {}", sqlite3_errmsg(h)));
  return out;
}

std::string format_aligned(const QueryResult& r) {
  std::vector<size_t> width(r.columns.size(), 0);
  std::vector<bool> numeric(r.columns.size(), true);
  for (size_t c = 0; c < r.columns.size(); ++c) width[c] = r.columns[c].size();
  for (const auto& row : r.rows)
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
      if (row[c] != "NULL" && !looks_numeric(row[c])) numeric[c] = false;
    }
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) out += "  ";
      out += (numeric[c] && !header) ? fmt::format("{:>{}}", cells[c], width[c]) : fmt::format("{:<{}}", cells[c], width[c]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(r.columns, true);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  out += line(rule, true);
  for (const auto& row : r.rows) out += line(row, false);
  out += fmt::format("({} row{})\n", r.rows.size(), r.rows.size() == 1 ? "" : "s");
  return out;
}

}  // namespace prunelab
