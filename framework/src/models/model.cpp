#include "models/model.hpp"

#include "core/zip_check.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/serialize/input-archive.h>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <unistd.h>

namespace prunelab {

std::vector<at::Tensor> Model::parameters() {
  std::vector<at::Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<at::Tensor> Model::buffers() {
  std::vector<at::Tensor> out;
  for (auto& [name, t] : named_buffers()) out.push_back(t);
  return out;
}

void Model::probe(const at::Tensor& x) {
  auto& ls = layers();
  for (auto& l : ls) {
    l.in_hw.clear();
    l.out_hw.clear();
    l.macs_per_weight = 0;
    l.calls = 0;
  }
  set_observer([&ls](size_t i, const at::Tensor& in, const at::Tensor& out) {
    auto& l = ls.at(i);
    ++l.calls;
    if (l.kind == LayerKind::Conv2d && out.dim() == 4) {
      l.in_hw = {in.size(2), in.size(3)};
      l.out_hw = {out.size(2), out.size(3)};
      l.macs_per_weight += out.size(2) * out.size(3);
    } else if (out.dim() >= 2 && out.size(0) > 0) {
      // A linear layer costs one MAC per weight for every position it is applied to (tokens).
      l.macs_per_weight += out.numel() / (out.size(0) * out.size(-1));
    }
  });
  struct Restore {
    Model& m;
    bool training;
    ~Restore() {
      m.set_observer({});
      m.train(training);
    }
  } restore{*this, is_training()};
  at::NoGradGuard no_grad;
  eval();
  forward(x);
}

void copy_state(Model& from, Model& to) {
  at::NoGradGuard no_grad;
  bool reshaped = false;
  auto copy = [&reshaped](const NamedTensors& src, const NamedTensors& dst, const char* what) {
    std::map<std::string, at::Tensor> by_name(src.begin(), src.end());
    for (const auto& [name, t] : dst) {
      auto it = by_name.find(name);
      if (it == by_name.end()) throw std::runtime_error(fmt::format("copy_state: missing {} '{}'", what, name));
      if (t.sizes() == it->second.sizes()) {
        at::Tensor(t).copy_(it->second);
      } else {
        auto v = it->second.detach().clone().to(t.device());
        if (v.dim() == 4) v = v.contiguous(at::MemoryFormat::ChannelsLast);
        at::Tensor(t).set_data(v);
        reshaped = true;
      }
    }
  };
  copy(from.named_parameters(), to.named_parameters(), "parameter");
  copy(from.named_buffers(), to.named_buffers(), "buffer");
  if (reshaped) to.shapes_changed();
}

void save_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write_to) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
  write_to(tmp);
  std::filesystem::rename(tmp, path);
}

void save_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  save_atomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
}

void write_state(Model& model, torch::serialize::OutputArchive& archive) {
  std::vector<std::string> names;
  size_t i = 0;
  for (const auto& group : {model.named_parameters(), model.named_buffers()})
    for (const auto& [name, t] : group) {
      names.push_back(name);
      archive.write(fmt::format("t{}", i++), t.detach(), /*is_buffer=*/true);
    }
  archive.write("prunelab_state_names", c10::IValue(names));
}

void read_state(Model& model, torch::serialize::InputArchive& archive, const std::string& what) {
  c10::IValue names_v;
  if (!archive.try_read("prunelab_state_names", names_v))
    throw std::runtime_error(fmt::format("{} holds no prunelab model state", what));
  std::map<std::string, at::Tensor> by_name;
  const auto names = names_v.toList();
  for (size_t i = 0; i < names.size(); ++i) {
    at::Tensor t;
    archive.read(fmt::format("t{}", i), t);
    by_name[names.get(i).toStringRef()] = t;
  }
  at::NoGradGuard no_grad;
  bool reshaped = false;
  for (const auto& group : {model.named_parameters(), model.named_buffers()})
    for (const auto& [name, t] : group) {
      auto it = by_name.find(name);
      if (it == by_name.end()) throw std::runtime_error(fmt::format("{}: no entry for '{}'", what, name));
      if (t.sizes() == it->second.sizes()) {
        at::Tensor(t).copy_(it->second);
      } else {
        auto v = it->second.to(t.device());
        if (v.dim() == 4) v = v.contiguous(at::MemoryFormat::ChannelsLast);
        at::Tensor(t).set_data(v);
        reshaped = true;
      }
    }
  if (reshaped) model.shapes_changed();
}

void save_state(Model& model, const std::string& path) {
  torch::serialize::OutputArchive archive;
  write_state(model, archive);
  save_archive(archive, path);
}

void load_state(Model& model, const std::string& path, const c10::Device& device) {
  const auto bytes = read_checked_archive(path, "saved model state");  // LibTorch skips the CRC check
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size(), device);
  read_state(model, archive, path);
}

at::Tensor to_model_layout(const at::Tensor& x) {
  return x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

}  // namespace prunelab
