#pragma once
/// Reads an experiment YAML file into an Experiment, with errors that name file, line and key.

#include "config/experiment.hpp"

#include <stdexcept>
#include <string>

namespace prunelab {

class PluginRegistry;

/// "FILE:LINE:COL: KEY: message" (line and column 1-based).
struct ConfigError : std::runtime_error {
  ConfigError(const std::string& file, int line, int column, const std::string& key,
              const std::string& message);
  std::string file, key;
  int line, column;
};

/// The most runs one experiment file may expand to (before exclusions); larger grids are refused
/// at once with a message naming the limit.
extern const int64_t kMaxGridRuns;

Experiment load_experiment(const std::string& path, const PluginRegistry& registry);
/// Same, from text; `file` is only used in messages.
Experiment parse_experiment(const std::string& text, const std::string& file,
                            const PluginRegistry& registry);

}  // namespace prunelab
