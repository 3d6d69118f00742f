// Databases and their schema version (store/schema_guard): a newer runner's database is refused
// for writing, naming both versions, and left untouched; reading it still works. ResultStore on
// ":memory:" needs no directory.
#include "config/config_loader.hpp"
#include "report/query.hpp"
#include "store/result_store.hpp"
#include "store/schema_guard.hpp"
#include "test_support.hpp"

#include <SQLiteCpp/Database.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

using namespace prunelab;

TEST(Store, OpensInMemoryWithoutADirectory) {
  ResultStore store(":memory:");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  const auto claim = store.claim_run(exp.runs[0], {1, "cpu"});
  ASSERT_TRUE(claim.run_id.has_value());
  store.finish_run(*claim.run_id, 1.0);
  EXPECT_EQ(store.claim_run(exp.runs[0], {1, "cpu"}).skip, RunClaim::Skip::Done);
  EXPECT_EQ(store.db().execAndGet("SELECT value FROM meta WHERE key = 'schema_version'").getString(),
            std::to_string(ResultStore::schema_version()));
}

TEST(Store, ADatabaseFromANewerRunnerIsRefusedNamingBothVersionsAndLeftAsItIs) {
  const auto dir = test::scratch_dir("schema");
  const std::string path = dir + "/newer.db";
  const int newer = ResultStore::schema_version() + 2;
  {
    ResultStore store(path);
    store.db().exec(fmt::format("UPDATE meta SET value = '{}' WHERE key = 'schema_version'", newer));
    store.db().exec("ALTER TABLE runs ADD COLUMN column_from_the_future TEXT");
  }
  try {
    ResultStore again(path);
    FAIL() << "a schema-" << newer << " database was opened for writing";
  } catch (const SchemaTooNewError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fmt::format("has schema version {}, newer than this runner's {}", newer,
                                   ResultStore::schema_version())), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("SELECT value FROM meta WHERE key = 'schema_version'").getString(), std::to_string(newer));
  }
  // Reading works where the columns exist; the note says what is going on.
  const auto table = run_readonly_query(path, "SELECT COUNT(*) AS n FROM runs");
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_NE(newer_schema_note(path, ResultStore::schema_version()).find("newer than this runner's"), std::string::npos);
  EXPECT_EQ(newer_schema_note(dir + "/missing.db", ResultStore::schema_version()), "");
}

TEST(Store, OlderAndEqualSchemasOpenAndAreBroughtUpToDate) {
  const auto dir = test::scratch_dir("schema_old");
  const std::string path = dir + "/older.db";
  {
    ResultStore store(path);
    store.db().exec("UPDATE meta SET value = '1' WHERE key = 'schema_version'");
  }
  ResultStore again(path);
  EXPECT_EQ(again.db().execAndGet("SELECT value FROM meta WHERE key = 'schema_version'").getString(),
            std::to_string(ResultStore::schema_version()));
  {
    SQLite::Database db(dir + "/garbled.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema_version', 'x')");
  }
  EXPECT_THROW(ResultStore garbled(dir + "/garbled.db"), SchemaTooNewError);
}
