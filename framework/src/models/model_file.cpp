#include "models/model_file.hpp"

#include <ATen/ATen.h>
#include <ATen/core/List.h>
#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <filesystem>
#include <stdexcept>

namespace prunelab {

namespace {
// Metadata sits next to the module's own entries, under names a module cannot have.
constexpr const char* kPrefix = "prunelab_";
std::string key(const char* name) { return std::string(kPrefix) + name; }

std::string read_string(torch::serialize::InputArchive& a, const char* name) {
  c10::IValue v;
  a.read(key(name), v);
  return v.toStringRef();
}
double read_double(torch::serialize::InputArchive& a, const char* name) {
  c10::IValue v;
  a.read(key(name), v);
  return v.toDouble();
}
}  // namespace

void save_model_file(const std::string& path, Network& net, const ModelFileInfo& info,
                     const std::vector<at::Tensor>* masks) {
  torch::serialize::OutputArchive archive;
  net.save(archive);
  archive.write(key("format"), c10::IValue(int64_t{1}));
  archive.write(key("model"), c10::IValue(info.model));
  archive.write(key("kind"), c10::IValue(info.kind));
  archive.write(key("run_hash"), c10::IValue(info.run_hash));
  archive.write(key("granularity"), c10::IValue(info.granularity));
  archive.write(key("top1"), c10::IValue(info.top1));
  archive.write(key("shape"), c10::IValue(std::vector<int64_t>{info.shape.channels, info.shape.height,
                                                              info.shape.width, info.shape.classes}));
  const auto& d = info.data;
  archive.write(key("dataset"), c10::IValue(d.dataset));
  archive.write(key("data_root"), c10::IValue(d.root));
  archive.write(key("data_ints"), c10::IValue(std::vector<int64_t>{
                                      d.val_size, d.train_limit, d.test_limit, d.split_seed, d.synthetic_train,
                                      d.synthetic_test, d.synthetic_size, d.synthetic_classes}));
  archive.write(key("data_spec"), c10::IValue(data_spec_to_json(d)));  // every field, the ones above included
  if (masks) {
    c10::List<at::Tensor> list;
    for (const auto& m : *masks) list.push_back(m.cpu());
    archive.write(key("masks"), c10::IValue(list));
  }
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const std::string tmp = path + ".tmp";
  archive.save_to(tmp);
  std::filesystem::rename(tmp, path);  // a killed run never leaves half a file under the real name
}

LoadedModel load_model_file(const std::string& path, c10::Device device) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(fmt::format("no such model file: {}", path));
  torch::serialize::InputArchive archive;
  archive.load_from(path, device);
  c10::IValue format;
  if (!archive.try_read(key("format"), format))
    throw std::runtime_error(fmt::format("{} is not a prunelab model file (no {} entry)", path, key("format")));
  LoadedModel out;
  auto& info = out.info;
  info.model = read_string(archive, "model");
  info.kind = read_string(archive, "kind");
  info.run_hash = read_string(archive, "run_hash");
  info.granularity = read_string(archive, "granularity");
  info.top1 = read_double(archive, "top1");
  c10::IValue v;
  archive.read(key("shape"), v);
  const auto shape = v.toIntVector();
  info.shape = {shape.at(0), shape.at(1), shape.at(2), shape.at(3)};
  info.data.dataset = read_string(archive, "dataset");
  info.data.root = read_string(archive, "data_root");
  archive.read(key("data_ints"), v);
  const auto ints = v.toIntVector();
  auto& d = info.data;
  d.val_size = ints.at(0), d.train_limit = ints.at(1), d.test_limit = ints.at(2), d.split_seed = ints.at(3);
  d.synthetic_train = ints.at(4), d.synthetic_test = ints.at(5), d.synthetic_size = ints.at(6);
  d.synthetic_classes = ints.at(7);
  if (archive.try_read(key("data_spec"), v)) d = data_spec_from_json(v.toStringRef());  // files written since issue 16

  out.net = make_network(info.model, info.shape);
  out.net->to(device);
  // Module::load adopts each stored tensor's shape, so a physically pruned file loads as saved.
  out.net->load(archive);
  {
    at::NoGradGuard no_grad;
    for (auto& p : out.net->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
  }
  if (archive.try_read(key("masks"), v))
    for (const auto& m : v.toTensorList()) out.masks.push_back(at::Tensor(m).to(device));
  return out;
}

}  // namespace prunelab
