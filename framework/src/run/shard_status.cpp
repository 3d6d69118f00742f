#include "run/shard_status.hpp"

#include "store/merge.hpp"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace prunelab {

namespace fs = std::filesystem;

namespace {
std::string first_line(std::string text, size_t max = 120) {
  text = text.substr(0, text.find('\n'));
  return text.size() > max ? text.substr(0, max - 3) + "..." : text;
}

void read_shard(ShardState& s) {
  SQLite::Database db(s.path, SQLite::OPEN_READONLY, 10000);
  const auto meta = read_meta(db);
  if (meta.count("shard")) s.name = meta.at("shard");
  if (meta.count("shard_runs")) s.runs = std::stoll(meta.at("shard_runs"));
  s.counts = count_runs(db);
  if (!db.tableExists("runs")) return;
  SQLite::Statement q(db, "SELECT grid_index, status, COALESCE(owner, '?'), started_at, COALESCE(error, '') FROM runs "
                          "WHERE status != 'done' ORDER BY grid_index");
  while (q.executeStep()) {
    const std::string status = q.getColumn(1).getString();
    if (status == "running")
      s.notes.push_back(fmt::format("run {} running in {} since {}", q.getColumn(0).getInt64(), q.getColumn(2).getString(),
                                    q.getColumn(3).getString()));
    else
      s.notes.push_back(fmt::format("run {} failed: {}", q.getColumn(0).getInt64(), first_line(q.getColumn(4).getString())));
  }
}
}  // namespace

GridStatus read_grid_status(const std::string& dir, const std::vector<int64_t>& expected_runs, const std::string& merged_db,
                            const std::string& jobs_file) {
  GridStatus st;
  st.dir = dir;
  std::map<int, ShardState> by_index;  // numbered shards; others after them
  std::vector<ShardState> others;
  if (fs::is_directory(dir)) {
    for (const auto& path : expand_shard_paths({dir})) {
      ShardState s;
      s.path = path;
      s.exists = true;
      s.name = fs::path(path).filename().string();
      read_shard(s);
      SQLite::Database db(path, SQLite::OPEN_READONLY, 10000);
      const auto meta = read_meta(db);
      if (meta.count("experiment")) st.experiment = meta.at("experiment");
      if (meta.count("grid_runs")) st.grid_runs = std::stoll(meta.at("grid_runs"));
      const auto stem = fs::path(path).stem().string();
      if (!stem.empty() && stem.find_first_not_of("0123456789") == std::string::npos) by_index[std::stoi(stem)] = std::move(s);
      else others.push_back(std::move(s));
    }
  }
  for (size_t i = 0; i < expected_runs.size(); ++i) {
    auto& s = by_index[static_cast<int>(i)];
    if (s.runs < 0) s.runs = expected_runs[i];
    if (!s.exists) {
      s.name = fmt::format("{}/{}", i, expected_runs.size());
      s.path = (fs::path(dir) / fmt::format("{}.db", i)).string();
    }
  }
  for (auto& [i, s] : by_index) st.shards.push_back(std::move(s));
  for (auto& s : others) st.shards.push_back(std::move(s));
  if (!merged_db.empty() && fs::exists(merged_db)) {
    SQLite::Database db(merged_db, SQLite::OPEN_READONLY, 10000);
    st.merged_path = merged_db;
    st.merged = count_runs(db);
  }
  if (!jobs_file.empty()) {
    std::ifstream in(jobs_file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) st.jobs = line;
  }
  return st;
}

std::string format_grid_status(const GridStatus& st) {
  std::string out = fmt::format("{}{} ({})\n", st.experiment.empty() ? "" : "experiment " + st.experiment + ": ",
                                st.grid_runs >= 0 ? fmt::format("{} runs in {} shards", st.grid_runs, st.shards.size())
                                                  : fmt::format("{} shards", st.shards.size()),
                                st.dir);
  out += fmt::format("{:<10} {:>6} {:>6} {:>8} {:>7} {:>8}\n", "shard", "runs", "done", "running", "failed", "pending");
  RunCounts sum;
  int64_t runs = 0, pending = 0;
  bool runs_known = true;
  for (const auto& s : st.shards) {
    auto num = [](int64_t v) { return v < 0 ? std::string("?") : std::to_string(v); };
    if (!s.exists) {
      out += fmt::format("{:<10} {:>6} {:>6} {:>8} {:>7} {:>8}  (not started)\n", s.name, num(s.runs), 0, 0, 0, num(s.runs));
    } else {
      out += fmt::format("{:<10} {:>6} {:>6} {:>8} {:>7} {:>8}\n", s.name, num(s.runs), s.counts.done, s.counts.running,
                         s.counts.failed, num(s.pending()));
    }
    sum.done += s.counts.done;
    sum.running += s.counts.running;
    sum.failed += s.counts.failed;
    if (s.runs < 0) runs_known = false;
    else runs += s.runs, pending += s.pending();
  }
  out += fmt::format("{:<10} {:>6} {:>6} {:>8} {:>7} {:>8}\n", "all", runs_known ? std::to_string(runs) : "?", sum.done,
                     sum.running, sum.failed, runs_known ? std::to_string(pending) : "?");
  for (const auto& s : st.shards)
    for (const auto& n : s.notes) out += fmt::format("  shard {}: {}\n", s.name, n);
  if (!st.merged_path.empty())
    out += fmt::format("merged: {}: {} done, {} running, {} failed\n", st.merged_path, st.merged.done, st.merged.running,
                       st.merged.failed);
  if (!st.jobs.empty()) out += fmt::format("last submission: {}\n", st.jobs);
  return out;
}

}  // namespace prunelab
