#include "store/schema_guard.hpp"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>

#include <cstdlib>

namespace prunelab {

namespace {
// A schema version this build can write: a plain number no greater than `supported`.
bool writable(const std::string& found, int supported) {
  if (found.empty() || found.size() > 9) return false;
  for (char c : found)
    if (c < '0' || c > '9') return false;
  return std::atoi(found.c_str()) <= supported;
}
}  // namespace

namespace {
std::string refusal(const std::string& path, const std::string& found, int supported) {
  const bool numeric = !found.empty() && found.size() <= 9 &&
                       found.find_first_not_of("0123456789") == std::string::npos;
  if (!numeric)
    return fmt::format("'{}' has an unreadable schema version '{}' (this runner writes version {}): this runner "
                       "will not write to it (use another --db)", path, found.substr(0, 40), supported);
  return fmt::format("'{}' has schema version {}, newer than this runner's {}: it was written by a newer prunelab, "
                     "and this runner will not write to it (use that newer runner, or another --db); report, plot "
                     "and query can still read it", path, found, supported);
}
}  // namespace

SchemaTooNewError::SchemaTooNewError(const std::string& path, const std::string& f, int s)
    : std::runtime_error(refusal(path, f, s)), found(f), supported(s) {}

std::optional<std::string> stored_schema_version(SQLite::Database& db) {
  if (db.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'").getInt() == 0)
    return std::nullopt;
  SQLite::Statement q(db, "SELECT value FROM meta WHERE key = 'schema_version'");
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getString();
}

void refuse_newer_schema(SQLite::Database& db, const std::string& path, int supported) {
  const auto found = stored_schema_version(db);
  if (found && !writable(*found, supported)) throw SchemaTooNewError(path, *found, supported);
}

std::string newer_schema_note(const std::string& path, int supported) {
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY, 10000);
    const auto found = stored_schema_version(db);
    if (!found || writable(*found, supported)) return "";
    return fmt::format("note: '{}' has schema version {}, newer than this runner's {}: reading what this "
                       "version knows (columns it added are not shown)", path, *found, supported);
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace prunelab
