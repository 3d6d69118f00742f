#pragma once
/// Loads plugin libraries (Boost.DLL), checks their ABI, and makes components by name.

#include <prunelab/plugin_api.hpp>

#include <boost/dll/shared_library.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace prunelab {

enum class ComponentKind { Criterion, RatioPolicy, Schedule };
const char* to_string(ComponentKind kind);  // "criterion", "ratio_policy", "schedule"

struct PluginLoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One registered component. `library` is declared first so it is destroyed last:
/// the factories (code from the library) must go before the library is unloaded.
struct RegisteredComponent {
  std::shared_ptr<boost::dll::shared_library> library;  // null for built-ins registered in tests
  std::string file;
  std::string code_hash;  // of the library's bytes as loaded (empty for built-ins)
  ComponentKind kind;
  ComponentInfo info;
  CriterionFactory make_criterion;
  RatioPolicyFactory make_ratio_policy;
  ScheduleFactory make_schedule;
};

class PluginRegistry : public Registrar {
 public:
  /// Loads one plugin library; throws PluginLoadError naming the file and what is wrong. The
  /// ABI record is checked from the file before it is loaded (see prunelab/plugin_abi.hpp).
  void load_file(const std::string& path);
  /// Loads every shared library in `dir`; returns one message per refused library.
  std::vector<std::string> load_directory(const std::string& dir);

  const RegisteredComponent* find(ComponentKind kind, const std::string& name) const;
  /// What identifies a component's code: its version and a hash of its library's bytes when it
  /// was loaded, so results cached across runs (first steps, search curves) are not reused after
  /// the plugin changed, even if its author did not bump the version.
  std::string code_fingerprint(ComponentKind kind, const std::string& name) const;
  std::vector<std::string> names(ComponentKind kind) const;
  std::vector<const RegisteredComponent*> all() const;
  /// The directories load_directory() was given, in order.
  const std::vector<std::string>& searched_dirs() const { return searched_dirs_; }
  /// "unknown criterion 'x' (known: ...); plugins were looked for in ...: add a directory with
  /// --plugin-dir DIR or $PRUNELAB_PLUGIN_PATH".
  std::string unknown_component_message(ComponentKind kind, const std::string& name) const;

  /// Checks `raw` against the component's ParamSpecs (names, types, ranges, choices) and fills
  /// defaults; throws ParamError with `key` set, naming the bad key and the accepted ones. Throws std::out_of_range if the name is unknown.
  Params validate(ComponentKind kind, const std::string& name, const Params& raw) const;

  // Objects made here keep their library loaded for as long as they live.
  std::shared_ptr<Criterion> make_criterion(const std::string& name, const Params& params) const;
  std::shared_ptr<RatioPolicy> make_ratio_policy(const std::string& name, const Params& params) const;
  std::shared_ptr<Schedule> make_schedule(const std::string& name, const Params& params) const;

  // Registrar: called by plugins during load_file (or directly by tests).
  void add_criterion(ComponentInfo info, CriterionFactory factory) override;
  void add_ratio_policy(ComponentInfo info, RatioPolicyFactory factory) override;
  void add_schedule(ComponentInfo info, ScheduleFactory factory) override;

 private:
  RegisteredComponent& add(ComponentKind kind, ComponentInfo info);
  const RegisteredComponent& get(ComponentKind kind, const std::string& name) const;

  std::map<std::pair<ComponentKind, std::string>, RegisteredComponent> components_;
  std::map<std::pair<ComponentKind, std::string>, RegisteredComponent> staged_;  // during load_file
  std::vector<std::string> searched_dirs_;
  // Set while a library's register function runs.
  std::shared_ptr<boost::dll::shared_library> loading_;
  std::string loading_file_, loading_hash_;
};

/// A hash of the bytes of the framework library this process runs (libprunelab): cached first
/// steps and search curves computed by another build of the framework are not reused.
const std::string& framework_code_fingerprint();

/// The plugin directory next to the running program (build/plugins or <prefix>/lib/prunelab/plugins),
/// followed by the entries of $PRUNELAB_PLUGIN_PATH.
std::vector<std::string> default_plugin_dirs();

}  // namespace prunelab
