#include "plugin/registry.hpp"

#include "core/json.hpp"
#include "plugin/abi_record.hpp"
#include "core/errors.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cxxabi.h>
#include <dlfcn.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>


namespace prunelab {

const char* to_string(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::Criterion: return "criterion";
    case ComponentKind::RatioPolicy: return "ratio_policy";
    case ComponentKind::Schedule: return "schedule";
  }
  return "?";
}

namespace {
std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string hash_file(const std::string& path) { return stable_hash(read_bytes(path)); }

constexpr const char* kRebuild = "rebuild it against this prunelab";

// Refuses a library whose ABI record (read from its bytes, before it is loaded) does not match
// this framework's: nothing of a stale plugin runs, and it gets this message, not "undefined symbol".
void check_abi_record(const std::string& path, const std::string& bytes) {
  const AbiScan scan = scan_library_bytes(bytes);
  if (scan.records.empty()) {
    if (scan.has_register_symbol)
      throw PluginLoadError(fmt::format(
          "plugin '{}' has no ABI record: it was built against a prunelab older than plugin API {} (interface {}); {}",
          path, kPluginApiVersion, kPluginInterfaceHash, kRebuild));
    throw PluginLoadError(fmt::format(
        "'{}' is not a prunelab plugin (no prunelab_plugin_abi record / prunelab_register_plugin symbol)", path));
  }
  if (scan.records.size() > 1)
    throw PluginLoadError(fmt::format("plugin '{}' holds {} different ABI records ('{}', '{}'); {}", path,
                                      scan.records.size(), scan.records[0], scan.records[1], kRebuild));
  const auto abi = parse_abi_record(scan.records.front());
  if (!abi) throw PluginLoadError(fmt::format("plugin '{}' has a malformed ABI record '{}'; {}", path, scan.records.front(), kRebuild));
  if (abi->api_version != kPluginApiVersion)
    throw PluginLoadError(fmt::format("wrong plugin API version in '{}': found {}, expected {}; {}", path,
                                      abi->api_version, kPluginApiVersion, kRebuild));
  if (abi->interface_hash != kPluginInterfaceHash)
    throw PluginLoadError(fmt::format(
        "plugin '{}' was built against other plugin headers (interface hash {}, this prunelab's is {}); {}", path,
        abi->interface_hash, kPluginInterfaceHash, kRebuild));
  if (abi->torch_version != TORCH_VERSION)
    throw PluginLoadError(fmt::format("plugin '{}' was built against LibTorch {}, expected {}; {}", path,
                                      abi->torch_version, TORCH_VERSION, kRebuild));
  if (abi->cxx11_abi != PRUNELAB_CXX11_ABI)
    throw PluginLoadError(fmt::format("plugin '{}' was built with _GLIBCXX_USE_CXX11_ABI={}, expected {}; {}", path,
                                      abi->cxx11_abi, PRUNELAB_CXX11_ABI, kRebuild));
}

std::string demangle(const std::string& symbol) {
  int status = 0;
  char* name = abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : symbol;
  std::free(name);
  return out;
}

// Boost.DLL reports a failed dlopen as "Bad file descriptor": ask the dynamic loader why.
std::string dlopen_failure(const std::string& path) {
  dlerror();
  if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    dlclose(h);
    return fmt::format("cannot load plugin '{}'", path);
  }
  const char* err = dlerror();
  std::string why = err ? err : "unknown error";
  if (why.rfind(path + ": ", 0) == 0) why = why.substr(path.size() + 2);
  const std::string undefined = "undefined symbol: ";
  if (auto pos = why.find(undefined); pos != std::string::npos) {
    const std::string symbol = why.substr(pos + undefined.size());
    return fmt::format("cannot load plugin '{}': it needs {} ({}), which neither this prunelab nor the libraries it "
                       "links provide; {}", path, demangle(symbol), symbol, kRebuild);
  }
  return fmt::format("cannot load plugin '{}': {}", path, one_line(why));
}
}  // namespace

const std::string& framework_code_fingerprint() {
  static const std::string fingerprint = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<const void*>(&framework_code_fingerprint), &info) == 0 || !info.dli_fname) return std::string("unknown");
    return hash_file(info.dli_fname);
  }();
  return fingerprint;
}

namespace {
// Hashed when the library is loaded, before a rebuild could replace the file under a running grid.
[[maybe_unused]] const std::string& kFrameworkFingerprintAtLoad = framework_code_fingerprint();
}  // namespace

void PluginRegistry::load_file(const std::string& path) {
  std::error_code fs_ec;
  if (!std::filesystem::is_regular_file(path, fs_ec))
    throw PluginLoadError(fmt::format("cannot load plugin '{}': no such file", path));
  // Read once, before loading: the fingerprint describes the code about to run, and the ABI
  // record is checked from these bytes before anything of the library runs or is resolved.
  const std::string bytes = read_bytes(path);
  const std::string code_hash = stable_hash(bytes);
  check_abi_record(path, bytes);
  auto lib = std::make_shared<boost::dll::shared_library>();
  boost::system::error_code ec;
  // RTLD_NOW: a symbol nothing provides is a load error naming it, not a crash at its first call.
  lib->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) throw PluginLoadError(dlopen_failure(path));
  if (!lib->has("prunelab_register_plugin"))
    throw PluginLoadError(fmt::format("'{}' is not a prunelab plugin (no prunelab_register_plugin symbol)", path));
  auto& register_fn = lib->get<void(Registrar&)>("prunelab_register_plugin");
  // Register into a staging area: a plugin that fails half-way leaves nothing behind.
  loading_ = lib;
  loading_file_ = std::filesystem::absolute(path).string();
  loading_hash_ = code_hash;
  staged_.clear();
  try {
    register_fn(*this);
  } catch (const std::exception& e) {
    loading_.reset();
    loading_file_.clear();
    loading_hash_.clear();
    staged_.clear();
    throw PluginLoadError(fmt::format("plugin '{}' failed to register: {}", path, one_line(e)));
  }
  loading_.reset();
  loading_file_.clear();
  loading_hash_.clear();
  for (auto& [key, component] : staged_) components_.emplace(key, std::move(component));
  staged_.clear();
}

std::vector<std::string> PluginRegistry::load_directory(const std::string& dir) {
  if (std::find(searched_dirs_.begin(), searched_dirs_.end(), dir) == searched_dirs_.end()) searched_dirs_.push_back(dir);
  std::vector<std::string> refused;
  if (!std::filesystem::is_directory(dir)) return {fmt::format("plugin directory '{}' does not exist", dir)};
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".so") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());  // deterministic order, deterministic duplicate errors
  for (const auto& f : files) {
    try {
      load_file(f);
    } catch (const PluginLoadError& e) {
      refused.push_back(e.what());
    }
  }
  return refused;
}

namespace {
std::string abbreviated(const std::string& s) { return s.size() <= 60 ? s : s.substr(0, 40) + "..."; }

bool type_matches(ParamType t, const Value& v) {
  switch (t) {
    case ParamType::Bool: return std::holds_alternative<bool>(v);
    case ParamType::Int: return std::holds_alternative<int64_t>(v);
    case ParamType::Number: return std::holds_alternative<double>(v) || std::holds_alternative<int64_t>(v);
    case ParamType::String: return std::holds_alternative<std::string>(v);
    case ParamType::NumberList: return std::holds_alternative<std::vector<double>>(v);
  }
  return false;
}
}  // namespace

RegisteredComponent& PluginRegistry::add(ComponentKind kind, ComponentInfo info) {
  auto key = std::make_pair(kind, info.name);
  if (auto it = components_.find(key); it != components_.end())
    throw PluginLoadError(fmt::format("duplicate {} '{}': already registered by '{}'", to_string(kind),
                                      info.name, it->second.file.empty() ? "<built-in>" : it->second.file));
  if (staged_.count(key))
    throw PluginLoadError(fmt::format("duplicate {} '{}' within '{}'", to_string(kind), info.name, loading_file_));
  for (const auto& spec : info.params) {
    if (!type_matches(spec.type, spec.default_value))
      throw PluginLoadError(fmt::format("{} '{}': the default of parameter '{}' is not {}", to_string(kind), info.name,
                                        spec.name, describe(spec.type)));
    if (auto why = spec.violation(spec.default_value); !why.empty())
      throw PluginLoadError(fmt::format("{} '{}': the default of parameter '{}' {}", to_string(kind), info.name,
                                        spec.name, why));
  }
  RegisteredComponent c;
  c.library = loading_;
  c.file = loading_file_;
  c.code_hash = loading_hash_;
  c.kind = kind;
  c.info = std::move(info);
  // Outside load_file (tests registering directly) components go straight in.
  auto& target = loading_ ? staged_ : components_;
  return target.emplace(key, std::move(c)).first->second;
}

void PluginRegistry::add_criterion(ComponentInfo info, CriterionFactory f) {
  add(ComponentKind::Criterion, std::move(info)).make_criterion = std::move(f);
}
void PluginRegistry::add_ratio_policy(ComponentInfo info, RatioPolicyFactory f) {
  add(ComponentKind::RatioPolicy, std::move(info)).make_ratio_policy = std::move(f);
}
void PluginRegistry::add_schedule(ComponentInfo info, ScheduleFactory f) {
  add(ComponentKind::Schedule, std::move(info)).make_schedule = std::move(f);
}

const RegisteredComponent* PluginRegistry::find(ComponentKind kind, const std::string& name) const {
  auto it = components_.find({kind, name});
  return it == components_.end() ? nullptr : &it->second;
}

std::string PluginRegistry::code_fingerprint(ComponentKind kind, const std::string& name) const {
  const auto* c = find(kind, name);
  if (!c) return "unknown";
  return c->code_hash.empty() ? c->info.version : c->info.version + "@" + c->code_hash;
}

std::vector<std::string> PluginRegistry::names(ComponentKind kind) const {
  std::vector<std::string> out;
  for (const auto& [key, c] : components_)
    if (key.first == kind) out.push_back(key.second);
  return out;
}

std::vector<const RegisteredComponent*> PluginRegistry::all() const {
  std::vector<const RegisteredComponent*> out;
  for (const auto& [key, c] : components_) out.push_back(&c);
  return out;
}

std::string PluginRegistry::unknown_component_message(ComponentKind kind, const std::string& name) const {
  auto known = names(kind);
  std::string where = searched_dirs_.empty() ? "no plugin directory was searched"
                                             : fmt::format("plugins were looked for in {}", fmt::join(searched_dirs_, ", "));
  return fmt::format("unknown {} '{}' (known: {}); {}: add a directory with --plugin-dir DIR or $PRUNELAB_PLUGIN_PATH",
                     to_string(kind), name, known.empty() ? "none loaded" : fmt::format("{}", fmt::join(known, ", ")),
                     where);
}

const RegisteredComponent& PluginRegistry::get(ComponentKind kind, const std::string& name) const {
  if (const auto* c = find(kind, name)) return *c;
  throw std::out_of_range(unknown_component_message(kind, name));
}

Params PluginRegistry::validate(ComponentKind kind, const std::string& name, const Params& raw) const {
  const auto& c = get(kind, name);
  std::vector<std::string> accepted;
  for (const auto& spec : c.info.params) accepted.push_back(spec.name);
  Params out;
  for (const auto& entry : raw.values()) {
    const std::string& key = entry.first;  // not a structured binding: clang 14 cannot capture those
    const auto& value = entry.second;
    auto it = std::find_if(c.info.params.begin(), c.info.params.end(),
                           [&](const ParamSpec& s) { return s.name == key; });
    if (it == c.info.params.end())
      throw ParamError(key, fmt::format("unknown parameter '{}' for {} '{}' (accepted: {})", key,
                                        to_string(kind), name,
                                        accepted.empty() ? "none" : fmt::format("{}", fmt::join(accepted, ", "))));
    if (!type_matches(it->type, value))
      throw ParamError(key, fmt::format("parameter '{}' of {} '{}' must be {} (got {})", key, to_string(kind), name,
                                        describe(it->type), abbreviated(value_to_json(value))));
    if (auto why = it->violation(value); !why.empty())
      throw ParamError(key, fmt::format("parameter '{}' of {} '{}' {}", key, to_string(kind), name, why));
    // Numbers are stored as doubles so 1 and 1.0 give the same canonical config.
    if (it->type == ParamType::Number && std::holds_alternative<int64_t>(value))
      out.set(key, static_cast<double>(std::get<int64_t>(value)));
    else
      out.set(key, value);
  }
  for (const auto& spec : c.info.params)
    if (!out.has(spec.name)) out.set(spec.name, spec.default_value);
  return out;
}

namespace {
// The deleter holds the library: the object's code stays mapped until the object is gone.
template <typename T>
std::shared_ptr<T> keep_library_alive(std::unique_ptr<T> obj,
                                      std::shared_ptr<boost::dll::shared_library> lib) {
  if (!obj) throw std::runtime_error("plugin factory returned null");
  return std::shared_ptr<T>(obj.release(), [lib](T* p) { delete p; });
}
}  // namespace

std::shared_ptr<Criterion> PluginRegistry::make_criterion(const std::string& name, const Params& p) const {
  const auto& c = get(ComponentKind::Criterion, name);
  return keep_library_alive(c.make_criterion(validate(ComponentKind::Criterion, name, p)), c.library);
}
std::shared_ptr<RatioPolicy> PluginRegistry::make_ratio_policy(const std::string& name, const Params& p) const {
  const auto& c = get(ComponentKind::RatioPolicy, name);
  return keep_library_alive(c.make_ratio_policy(validate(ComponentKind::RatioPolicy, name, p)), c.library);
}
std::shared_ptr<Schedule> PluginRegistry::make_schedule(const std::string& name, const Params& p) const {
  const auto& c = get(ComponentKind::Schedule, name);
  return keep_library_alive(c.make_schedule(validate(ComponentKind::Schedule, name, p)), c.library);
}

std::vector<std::string> default_plugin_dirs() {
  std::vector<std::string> dirs;
  // Next to the running program: build/runner -> build/plugins, <prefix>/bin/runner ->
  // <prefix>/lib/prunelab/plugins. Found from the executable, so a copy of the tree or an
  // installed runner never picks up another build's plugins.
  boost::system::error_code ec;
  const auto exe_dir = std::filesystem::path(boost::dll::program_location(ec).string()).parent_path();
  if (!ec) {
    for (const auto& candidate : {exe_dir / "plugins", exe_dir / ".." / "lib" / "prunelab" / "plugins",
                                  exe_dir / ".." / "lib64" / "prunelab" / "plugins"})
      if (std::filesystem::is_directory(candidate)) {
        dirs.push_back(std::filesystem::weakly_canonical(candidate).string());
        break;
      }
  }
  if (const char* env = std::getenv("PRUNELAB_PLUGIN_PATH")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':'))
      if (!item.empty()) dirs.push_back(item);
  }
  return dirs;
}

}  // namespace prunelab
