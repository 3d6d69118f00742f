#pragma once
/// `runner slurm`: a grid as Slurm jobs. An array trains each distinct dense model once into the
/// shared cache; the grid array (after it succeeds) runs one shard per task into its own
/// database; a merge job (after the grid array ends, however it ended) merges the shards.

#include "config/experiment.hpp"

#include <string>
#include <vector>

namespace prunelab {

struct SlurmOptions {
  std::string config;       // the experiment file
  std::string db_path;      // the merged database; shards go to <db>.shards/, scripts to <db>.slurm/
  std::string cache_dir;    // dense checkpoints and first steps, on a file system every node sees
  std::string models_dir;   // saved pruned models
  std::vector<std::string> plugin_dirs;  // extra --plugin-dir directories
  std::string runner;       // this runner (the nodes must see it at the same path)
  std::string workdir;      // every job's working directory
  int tasks = 0;            // grid array size; 0 = min(runs, 8). Never more than the runs
  int parallel = 0;         // at most this many tasks of an array at once (%P); 0 = no limit
  int cpus_per_task = 0;    // and the runner's --threads; 0 = the experiment's threads (at least 1)
  std::string partition, time, mem;  // passed to sbatch where set
  std::vector<std::string> extra;    // further sbatch arguments, for every job
  int signal_grace_s = 120;  // SIGUSR1 this long before the time limit: stop, then requeue
  bool requeue = true;       // tasks that are stopped (preempted, near the limit) requeue themselves
  bool share_first_steps = true;
};

struct SlurmScripts {
  std::string dir;                             // results/<name>.slurm
  std::string dense, grid, merge;              // the three batch scripts
  int dense_tasks = 0, grid_tasks = 0;
};

/// Writes the three scripts (absolute paths throughout) into <db>.slurm/, logs go to its logs/.
/// Refuses when <db>.shards/ already holds shards of another task count.
SlurmScripts write_slurm_scripts(const Experiment& exp, const SlurmOptions& opt);

/// The sbatch command lines, with the ids of the jobs they depend on (placeholders for a dry run).
std::vector<std::vector<std::string>> sbatch_commands(const SlurmScripts& s, const SlurmOptions& opt,
                                                      const std::string& dense_id, const std::string& grid_id);

struct SlurmJobs {
  std::string dense, grid, merge;
};
/// Submits the three jobs with sbatch, each depending on the one before; writes <db>.slurm/jobs.
SlurmJobs submit_slurm(const SlurmScripts& s, const SlurmOptions& opt);

/// Inside a Slurm job: `scontrol requeue $SLURM_JOB_ID`, so the task runs again (and resumes).
/// Returns whether Slurm accepted; `message` says what happened.
bool request_requeue(std::string& message);

}  // namespace prunelab
