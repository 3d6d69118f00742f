#pragma once
/// A database written by a newer prunelab is never written by an older one: its schema version is
/// checked before anything is changed, and writing is refused naming both versions. Reading
/// (`report`, `plot`, `query`) stays allowed where the columns a query names exist.

#include <SQLiteCpp/Database.h>

#include <optional>
#include <stdexcept>
#include <string>

namespace prunelab {

struct SchemaTooNewError : std::runtime_error {
  SchemaTooNewError(const std::string& path, const std::string& found, int supported);
  std::string found;
  int supported;
};

/// meta.schema_version as stored (text), or nullopt for a database without one (new, or from
/// before the meta table).
std::optional<std::string> stored_schema_version(SQLite::Database& db);

/// Throws SchemaTooNewError unless `db` is new, or at or below `supported`.
void refuse_newer_schema(SQLite::Database& db, const std::string& path, int supported);

/// For read-only commands: a one-line note when the database at `path` was written with a newer
/// schema than `supported`; empty otherwise (and when it cannot be read: the command will say).
std::string newer_schema_note(const std::string& path, int supported);

}  // namespace prunelab
