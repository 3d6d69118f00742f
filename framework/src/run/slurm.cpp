#include "run/slurm.hpp"

#include "run/dense_stage.hpp"
#include "run/shard.hpp"
#include "run/subprocess.hpp"
#include "store/store_ops.hpp"

#include <SQLiteCpp/Database.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <sys/stat.h>

namespace prunelab {

namespace fs = std::filesystem;

namespace {

std::string slurm_dir(const std::string& db_path) {
  fs::path p(db_path);
  return (p.parent_path() / (p.stem().string() + ".slurm")).string();
}

std::string array_spec(int tasks, int parallel) {
  std::string s = fmt::format("0-{}", tasks - 1);
  if (parallel > 0 && parallel < tasks) s += fmt::format("%{}", parallel);
  return s;
}

// The #SBATCH lines every job shares.
std::vector<std::string> common_lines(const SlurmOptions& opt, int cpus) {
  std::vector<std::string> lines = {"--ntasks=1", fmt::format("--cpus-per-task={}", cpus), "--open-mode=append",
                                    "--chdir=" + opt.workdir};
  if (!opt.partition.empty()) lines.push_back("--partition=" + opt.partition);
  if (!opt.time.empty()) lines.push_back("--time=" + opt.time);
  if (!opt.mem.empty()) lines.push_back("--mem=" + opt.mem);
  return lines;
}

std::string words(const std::vector<std::string>& args) {
  std::vector<std::string> q;
  for (const auto& a : args) q.push_back(shell_quote(a));
  return fmt::format("{}", fmt::join(q, " "));
}

void write_script(const std::string& path, const std::string& what, const std::vector<std::string>& sbatch,
                  const std::string& banner, const std::string& command) {
  std::string text = "#!/bin/bash\n# Written by `runner slurm` (prunelab): " + what + "\n";
  for (const auto& l : sbatch) text += "#SBATCH " + l + "\n";
  text += "set -u\n";
  text += "echo \"prunelab: " + banner + " on $(hostname), job ${SLURM_JOB_ID}, restart ${SLURM_RESTART_COUNT:-0}, $(date -u +%FT%TZ)\"\n";
  // exec: the runner is the batch step itself, so Slurm's signals reach it (--signal=B:...).
  text += "exec " + command + "\n";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", tmp));
  }
  fs::rename(tmp, path);
  ::chmod(path.c_str(), 0755);
}

// Shards already in the directory must be of this grid and this split, or the merge would mix them.
void check_existing_shards(const std::string& dir, const Experiment& exp, int tasks) {
  if (!fs::is_directory(dir)) return;
  const std::string hash = grid_hash(exp);
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".db") continue;
    SQLite::Database db(e.path().string(), SQLite::OPEN_READONLY, 10000);
    const auto meta = read_meta(db);
    if (meta.count("grid_hash") && meta.at("grid_hash") != hash)
      throw std::runtime_error(fmt::format(
          "{} was written for another definition of experiment '{}': merge the old shards (runner merge) and move {} away "
          "before submitting the changed grid", e.path().string(), exp.name, dir));
    if (meta.count("shard")) {
      const auto slash = meta.at("shard").find('/');
      const int count = std::stoi(meta.at("shard").substr(slash + 1));
      if (count != tasks)
        throw std::runtime_error(fmt::format(
            "{} holds shards of a {}-task split and this submission has {} tasks: use --tasks {} to resume them, or merge "
            "them (runner merge) and move {} away", dir, count, tasks, count, dir));
    }
  }
}

std::string parse_job_id(const std::string& out, const std::vector<std::string>& cmd) {
  std::string id = out.substr(0, out.find_first_of(";\n"));
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    throw std::runtime_error(fmt::format("`{}` printed no job id: '{}'", words(cmd), out));
  return id;
}

}  // namespace

SlurmScripts write_slurm_scripts(const Experiment& exp, const SlurmOptions& opt) {
  if (exp.runs.empty()) throw std::runtime_error(fmt::format("experiment '{}' has no runs", exp.name));
  SlurmScripts s;
  s.dir = slurm_dir(opt.db_path);
  const int runs = static_cast<int>(exp.runs.size());
  s.grid_tasks = std::max(1, std::min(opt.tasks > 0 ? opt.tasks : 8, runs));
  s.dense_tasks = static_cast<int>(distinct_dense_models(exp).size());
  const int cpus = opt.cpus_per_task > 0 ? opt.cpus_per_task : std::max(1, exp.threads);
  const std::string shards = shard_dir(opt.db_path);
  check_existing_shards(shards, exp, s.grid_tasks);
  const std::string logs = (fs::path(s.dir) / "logs").string();
  fs::create_directories(logs);
  fs::create_directories(shards);
  s.dense = (fs::path(s.dir) / "dense.sbatch").string();
  s.grid = (fs::path(s.dir) / "grid.sbatch").string();
  s.merge = (fs::path(s.dir) / "merge.sbatch").string();

  std::vector<std::string> plugin_args;
  for (const auto& d : opt.plugin_dirs) plugin_args.insert(plugin_args.end(), {"--plugin-dir", d});
  std::vector<std::string> stop_lines;
  if (opt.requeue) stop_lines.push_back("--requeue");
  if (opt.signal_grace_s > 0) stop_lines.push_back(fmt::format("--signal=B:USR1@{}", opt.signal_grace_s));

  auto dense_lines = common_lines(opt, cpus);
  dense_lines.insert(dense_lines.begin(), {"--job-name=" + exp.name + "-dense", "--array=" + array_spec(s.dense_tasks, opt.parallel),
                                           "--output=" + logs + "/dense-%A_%a.out"});
  dense_lines.insert(dense_lines.end(), stop_lines.begin(), stop_lines.end());
  std::vector<std::string> dense_args = {"--cache-dir", opt.cache_dir, "--threads", std::to_string(cpus)};
  if (opt.requeue) dense_args.push_back("--requeue");
  dense_args.insert(dense_args.end(), plugin_args.begin(), plugin_args.end());
  write_script(s.dense, fmt::format("the {} dense model(s) of experiment '{}', one per array task", s.dense_tasks, exp.name),
               dense_lines, fmt::format("dense model ${{SLURM_ARRAY_TASK_ID}} of {}", s.dense_tasks),
               fmt::format("{} dense {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\" {}", shell_quote(opt.runner), shell_quote(opt.config),
                           s.dense_tasks, words(dense_args)));

  auto grid_lines = common_lines(opt, cpus);
  grid_lines.insert(grid_lines.begin(), {"--job-name=" + exp.name + "-grid", "--array=" + array_spec(s.grid_tasks, opt.parallel),
                                         "--output=" + logs + "/grid-%A_%a.out"});
  grid_lines.insert(grid_lines.end(), stop_lines.begin(), stop_lines.end());
  std::vector<std::string> grid_args = {"--db", opt.db_path, "--cache-dir", opt.cache_dir, "--models-dir", opt.models_dir,
                                        "--threads", std::to_string(cpus), "--require-dense"};
  if (opt.requeue) grid_args.push_back("--requeue");
  if (!opt.share_first_steps) grid_args.push_back("--no-shared-steps");
  grid_args.insert(grid_args.end(), plugin_args.begin(), plugin_args.end());
  write_script(s.grid, fmt::format("experiment '{}' ({} runs) as {} shards, one per array task", exp.name, runs, s.grid_tasks),
               grid_lines, fmt::format("shard ${{SLURM_ARRAY_TASK_ID}}/{}", s.grid_tasks),
               fmt::format("{} {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\" {}", shell_quote(opt.runner), shell_quote(opt.config),
                           s.grid_tasks, words(grid_args)));

  auto merge_lines = common_lines(opt, 1);
  merge_lines.insert(merge_lines.begin(), {"--job-name=" + exp.name + "-merge", "--output=" + logs + "/merge-%j.out"});
  write_script(s.merge, fmt::format("merges the shards of experiment '{}' into {}", exp.name, opt.db_path), merge_lines,
               "merge", fmt::format("{} merge {}", shell_quote(opt.runner), words({opt.db_path, shards})));
  return s;
}

std::vector<std::vector<std::string>> sbatch_commands(const SlurmScripts& s, const SlurmOptions& opt,
                                                      const std::string& dense_id, const std::string& grid_id) {
  auto with_extra = [&](std::vector<std::string> cmd, const std::string& script) {
    cmd.insert(cmd.end(), opt.extra.begin(), opt.extra.end());
    cmd.push_back(script);
    return cmd;
  };
  return {with_extra({"sbatch", "--parsable"}, s.dense),
          with_extra({"sbatch", "--parsable", "--dependency=afterok:" + dense_id, "--kill-on-invalid-dep=yes"}, s.grid),
          with_extra({"sbatch", "--parsable", "--dependency=afterany:" + grid_id}, s.merge)};
}

SlurmJobs submit_slurm(const SlurmScripts& s, const SlurmOptions& opt) {
  SlurmJobs jobs;
  auto submit = [&](const std::vector<std::string>& cmd) {
    std::string out;
    const int rc = run_capture(cmd, out);
    if (rc == 127) throw std::runtime_error("sbatch not found: run `runner slurm` where Slurm's commands are (a login node), or use --dry-run");
    if (rc != 0) throw std::runtime_error(fmt::format("`{}` failed (exit {})", words(cmd), rc));
    return parse_job_id(out, cmd);
  };
  jobs.dense = submit(sbatch_commands(s, opt, "", "")[0]);
  jobs.grid = submit(sbatch_commands(s, opt, jobs.dense, "")[1]);
  jobs.merge = submit(sbatch_commands(s, opt, jobs.dense, jobs.grid)[2]);
  std::ofstream out((fs::path(s.dir) / "jobs").string(), std::ios::app);
  out << fmt::format("dense={} grid={} merge={}\n", jobs.dense, jobs.grid, jobs.merge);
  return jobs;
}

bool request_requeue(std::string& message) {
  const char* job = std::getenv("SLURM_JOB_ID");
  if (!job || !*job) {
    message = "--requeue: not inside a Slurm job (no SLURM_JOB_ID); nothing requeued";
    return false;
  }
  std::string out;
  const int rc = run_capture({"scontrol", "requeue", job}, out);
  message = rc == 0 ? fmt::format("requeued Slurm job {}: it runs again and resumes where this one stopped", job)
                    : fmt::format("`scontrol requeue {}` was refused (exit {}): where Slurm requeues the job itself "
                                  "(preemption, scontrol requeue) it runs again; otherwise resubmit to finish the grid",
                                  job, rc);
  return rc == 0;
}

}  // namespace prunelab
