#include "store/store_ops.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

namespace prunelab {

void write_meta(SQLite::Database& db, const std::map<std::string, std::string>& entries) {
  if (entries.empty()) return;
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement q(db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
  for (const auto& [key, value] : entries) {
    q.bind(1, key);
    q.bind(2, value);
    q.exec();
    q.reset();
  }
  tx.commit();
}

std::map<std::string, std::string> read_meta(SQLite::Database& db) {
  std::map<std::string, std::string> out;
  if (!db.tableExists("meta")) return out;
  SQLite::Statement q(db, "SELECT key, value FROM meta");
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getString();
  return out;
}

void delete_run_rows(SQLite::Database& db, int64_t run_id) {
  for (const char* sql : {"DELETE FROM main.layers WHERE run_id = ?", "DELETE FROM main.steps WHERE run_id = ?",
                          "DELETE FROM main.search_log WHERE run_id = ?", "DELETE FROM main.runs WHERE id = ?"}) {
    SQLite::Statement del(db, sql);
    del.bind(1, run_id);
    del.exec();
  }
}

void forget_run(SQLite::Database& db, int64_t run_id) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  delete_run_rows(db, run_id);
  tx.commit();
}

RunCounts count_runs(SQLite::Database& db) {
  RunCounts c;
  if (!db.tableExists("runs")) return c;
  SQLite::Statement q(db, "SELECT status, COUNT(*) FROM runs GROUP BY status");
  while (q.executeStep()) {
    const std::string status = q.getColumn(0).getString();
    const int64_t n = q.getColumn(1).getInt64();
    if (status == "done") c.done = n;
    else if (status == "running") c.running = n;
    else c.failed += n;
  }
  return c;
}

std::set<std::string> done_hashes(SQLite::Database& db) {
  std::set<std::string> out;
  if (!db.tableExists("runs")) return out;
  SQLite::Statement q(db, "SELECT hash FROM runs WHERE status = 'done'");
  while (q.executeStep()) out.insert(q.getColumn(0).getString());
  return out;
}

}  // namespace prunelab
