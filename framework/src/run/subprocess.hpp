#pragma once
/// Starting other programs without a shell: sbatch and scontrol for `runner slurm` and
/// --requeue, the runner itself for --jobs workers.

#include <string>
#include <vector>

#include <sys/types.h>

namespace prunelab {

/// Runs `argv` (found on PATH), returns its exit status (127 if it could not start, 128+n if
/// killed by signal n); its stdout goes to `out`, its stderr to ours.
int run_capture(const std::vector<std::string>& argv, std::string& out);

/// Starts `argv` with stdout and stderr written to `output_fd` (-1: ours); returns its pid.
pid_t spawn_process(const std::vector<std::string>& argv, int output_fd);

/// Exit status as run_capture reports it, from a waitpid() status.
int exit_code_of(int wait_status);

/// 'text' for a POSIX shell (single quotes; a quote inside becomes '\'').
std::string shell_quote(const std::string& text);
/// Splits a command line the way a POSIX shell splits words: blanks, 'single' and "double"
/// quotes, backslash escapes (no expansions). Throws std::invalid_argument on an open quote.
std::vector<std::string> split_shell_words(const std::string& text);

/// Absolute path of the running executable.
std::string this_executable();

}  // namespace prunelab
