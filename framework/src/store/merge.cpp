#include "store/merge.hpp"

#include "store/result_store.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

namespace prunelab {

namespace {

int status_rank(const std::string& status) { return status == "done" ? 2 : status == "failed" ? 1 : 0; }

// file: URI of a path, so the shard is attached read-only.
std::string readonly_uri(const std::string& path) {
  std::string out = "file:";
  for (char c : std::filesystem::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#') out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    else out += c;
  }
  return out + "?mode=ro";
}

std::vector<std::string> columns(SQLite::Database& db, const std::string& schema, const std::string& table) {
  std::vector<std::string> out;
  SQLite::Statement q(db, fmt::format("SELECT name FROM pragma_table_info('{}', '{}') ORDER BY cid", table, schema));
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

// Columns both databases have (a shard written before a column was added lacks it: NULL).
std::vector<std::string> common_columns(SQLite::Database& db, const std::string& table, const std::string& except) {
  const auto theirs = columns(db, "shard", table);
  std::vector<std::string> out;
  for (const auto& c : columns(db, "main", table))
    if (c != except && std::find(theirs.begin(), theirs.end(), c) != theirs.end()) out.push_back(c);
  return out;
}

struct ShardCheck {
  std::string path;
  std::map<std::string, std::string> meta;
};

ShardCheck check_shard(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw MergeError(fmt::format("shard {} does not exist", path));
  ShardCheck c{path, {}};
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY, 10000);
    if (!db.tableExists("runs") || !db.tableExists("meta"))
      throw MergeError(fmt::format("{} is not a prunelab results database (no runs or meta table)", path));
    c.meta = read_meta(db);
  } catch (const SQLite::Exception& e) {
    throw MergeError(fmt::format("{} is not a readable results database: {}", path, e.what()));
  }
  if (!c.meta.count("schema_version")) throw MergeError(fmt::format("{} has no schema version in its meta table", path));
  return c;
}

}  // namespace

int current_schema_version() {
  ResultStore probe(":memory:");  // the schema and meta exactly as this build writes them
  return std::stoi(read_meta(probe.db()).at("schema_version"));
}

std::vector<std::string> expand_shard_paths(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    if (!std::filesystem::is_directory(a)) {
      out.push_back(a);
      continue;
    }
    std::vector<std::filesystem::path> found;
    for (const auto& e : std::filesystem::directory_iterator(a))
      if (e.is_regular_file() && e.path().extension() == ".db") found.push_back(e.path());
    // 0.db, 1.db, ..., 10.db: numbers in numeric order, then any other names.
    std::sort(found.begin(), found.end(), [](const auto& x, const auto& y) {
      const auto sx = x.stem().string(), sy = y.stem().string();
      const bool nx = !sx.empty() && sx.find_first_not_of("0123456789") == std::string::npos;
      const bool ny = !sy.empty() && sy.find_first_not_of("0123456789") == std::string::npos;
      if (nx != ny) return nx;
      if (nx && sx.size() != sy.size()) return sx.size() < sy.size();
      return sx < sy;
    });
    if (found.empty()) throw MergeError(fmt::format("{} holds no shard database (*.db)", a));
    for (const auto& p : found) out.push_back(p.string());
  }
  return out;
}

MergeSummary merge_databases(const std::string& out, const std::vector<std::string>& shard_paths) {
  if (shard_paths.empty()) throw MergeError("no shard database to merge");
  const auto out_abs = std::filesystem::weakly_canonical(out);
  for (const auto& p : shard_paths)
    if (std::filesystem::exists(p) && std::filesystem::weakly_canonical(p) == out_abs)
      throw MergeError(fmt::format("{} is both the output and a shard", p));

  // Everything is checked before anything is written.
  const std::string version = std::to_string(current_schema_version());
  std::vector<ShardCheck> shards;
  for (const auto& p : shard_paths) shards.push_back(check_shard(p));
  const auto& first = shards.front();
  for (const auto& s : shards) {
    if (s.meta.at("schema_version") != version)
      throw MergeError(fmt::format("{} has schema version {}, this runner writes version {}: merge shards with the "
                                   "runner version that wrote them, or re-run them with this one",
                                   s.path, s.meta.at("schema_version"), version));
    if (!s.meta.count("grid_hash"))
      throw MergeError(fmt::format("{} records no experiment definition (meta grid_hash): it was not written by a grid run "
                                   "of this runner version", s.path));
    if (s.meta.at("grid_hash") != first.meta.at("grid_hash"))
      throw MergeError(fmt::format("{} was written for another experiment definition than {} ('{}' grid {} vs '{}' grid {}): "
                                   "shards must come from the same YAML file and grid",
                                   s.path, first.path, s.meta.count("experiment") ? s.meta.at("experiment") : "?",
                                   s.meta.at("grid_hash"), first.meta.count("experiment") ? first.meta.at("experiment") : "?",
                                   first.meta.at("grid_hash")));
  }
  if (std::filesystem::exists(out)) {
    SQLite::Database existing(out, SQLite::OPEN_READONLY, 10000);
    const auto meta = read_meta(existing);
    if (meta.count("grid_hash") && meta.at("grid_hash") != first.meta.at("grid_hash"))
      throw MergeError(fmt::format("{} holds another experiment definition (grid {}) than the shards (grid {})", out,
                                   meta.at("grid_hash"), first.meta.at("grid_hash")));
  }
  { ResultStore create(out, /*wal=*/false); }  // schema, migrations and the results view

  MergeSummary summary;
  SQLite::Database db(out, SQLite::OPEN_READWRITE | SQLite::OPEN_URI, 10000);
  for (const auto& shard : shards) {
    SQLite::Statement attach(db, "ATTACH DATABASE ? AS shard");
    attach.bind(1, readonly_uri(shard.path));
    attach.exec();
    try {
      std::map<std::string, std::string> list;  // per child table: its columns but run_id
      for (const char* t : {"steps", "layers", "search_log"}) list[t] = fmt::format("{}", fmt::join(common_columns(db, t, "run_id"), ", "));
      const std::string run_cols = fmt::format("{}", fmt::join(common_columns(db, "runs", "id"), ", "));
      const std::string curve_cols = fmt::format("{}", fmt::join(common_columns(db, "curves", ""), ", "));
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      SQLite::Statement runs(db, "SELECT id, hash, status FROM shard.runs ORDER BY id");
      while (runs.executeStep()) {
        const int64_t shard_id = runs.getColumn(0).getInt64();
        const std::string hash = runs.getColumn(1).getString(), status = runs.getColumn(2).getString();
        SQLite::Statement mine(db, "SELECT id, status FROM main.runs WHERE hash = ?");
        mine.bind(1, hash);
        if (mine.executeStep()) {
          if (status_rank(mine.getColumn(1).getString()) >= status_rank(status)) {
            ++summary.kept;
            continue;
          }
          delete_run_rows(db, mine.getColumn(0).getInt64());
          ++summary.replaced;
        } else {
          ++summary.added;
        }
        const int64_t new_id = db.execAndGet("SELECT COALESCE(MAX(id), 0) + 1 FROM main.runs").getInt64();
        SQLite::Statement ins(db, fmt::format("INSERT INTO main.runs (id, {0}) SELECT ?, {0} FROM shard.runs WHERE id = ?", run_cols));
        ins.bind(1, new_id);
        ins.bind(2, shard_id);
        ins.exec();
        for (const auto& [table, cols] : list) {
          SQLite::Statement child(db, fmt::format("INSERT INTO main.{0} (run_id, {1}) SELECT ?, {1} FROM shard.{0} WHERE run_id = ?",
                                                  table, cols));
          child.bind(1, new_id);
          child.bind(2, shard_id);
          child.exec();
        }
      }
      db.exec(fmt::format("INSERT OR IGNORE INTO main.curves ({0}) SELECT {0} FROM shard.curves", curve_cols));
      tx.commit();
    } catch (...) {
      db.exec("DETACH DATABASE shard");
      throw;
    }
    db.exec("DETACH DATABASE shard");
    ++summary.shards;
  }
  std::map<std::string, std::string> meta;
  for (const char* key : {"experiment", "grid_hash", "grid_runs"})
    if (first.meta.count(key)) meta[key] = first.meta.at(key);
  write_meta(db, meta);
  summary.merged = count_runs(db);
  if (first.meta.count("grid_runs")) summary.grid_runs = std::stoll(first.meta.at("grid_runs"));
  return summary;
}

}  // namespace prunelab
