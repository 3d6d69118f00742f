#pragma once
/// `runner query`: read-only SQL against a results database, printed as an aligned table.

#include <string>
#include <vector>

namespace prunelab {

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // NULL is printed as "NULL"
};

/// Runs exactly one statement on a read-only connection. Anything that could write (INSERT,
/// UPDATE, DELETE, DDL, ATTACH/DETACH, transactions, PRAGMA assignments) is refused with
/// std::invalid_argument before it runs; SQL errors throw std::runtime_error.
QueryResult run_readonly_query(const std::string& db_path, const std::string& sql);

/// Columns padded to their widest cell, numbers right-aligned.
std::string format_aligned(const QueryResult& result);

}  // namespace prunelab
