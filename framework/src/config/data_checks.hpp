#pragma once
/// Sizes in an experiment checked against the data they refer to, where the data's size is cheap
/// to read (only the training label file): the validation split against the training file, the
/// training limit against what is left, the training and fine-tuning batch sizes against the
/// training split. Run by `runner validate` and before a grid starts.

#include "config/experiment.hpp"

#include <string>
#include <vector>

namespace prunelab {

/// Throws ConfigError (file:line:col of the offending key in `config_text`) for a size that
/// cannot be right. Returns notes for data sets that are not available here (their runs will
/// say so); empty when everything was checked.
std::vector<std::string> check_against_data(const Experiment& exp, const std::string& config_text);
/// Same, reading the config text from exp.file.
std::vector<std::string> check_against_data(const Experiment& exp);

}  // namespace prunelab
