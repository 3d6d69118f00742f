#pragma once
/// `runner FILE.yaml --jobs N`: N copies of the runner on one database, each claiming runs
/// (ResultStore::claim_run) in its own order, with the threads split between them.

#include <string>
#include <vector>

namespace prunelab {

/// Starts `jobs` workers running `args` (this runner's arguments without --jobs and --threads)
/// plus `--worker i/N --threads T`; prints their lines prefixed "[wI] "; passes a stop request
/// on (SIGUSR1) and waits for all. Returns the most serious exit status: 2 (usage or config)
/// before 3 (stopped) before 1 (failed runs or a crashed worker) before 0.
int run_worker_pool(const std::vector<std::string>& args, int jobs, int threads_each);

/// The threads each of `jobs` workers gets from `total` (0 = the CPUs this process may use).
int threads_per_worker(int total, int jobs);

}  // namespace prunelab
