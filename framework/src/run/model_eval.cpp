#include "run/model_eval.hpp"

#include "prune/latency.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace prunelab {

ModelEvaluation evaluate_model_file(const std::string& path, c10::Device device, int64_t batch_size,
                                    int latency_repeats) {
  auto loaded = load_model_file(path, device);
  auto& net = *loaded.net;
  if (!loaded.masks.empty()) {
    const auto layers = net.prunable_layers();
    if (layers.size() != loaded.masks.size())
      throw std::runtime_error(fmt::format("{}: {} masks for {} layers", path, loaded.masks.size(), layers.size()));
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < layers.size(); ++i) layers[i].layer->weight.mul_(loaded.masks[i]);
  }
  ModelEvaluation out;
  out.info = loaded.info;
  const auto data = load_data(loaded.info.data);
  const auto result = evaluate(net, data.test, batch_size, device);
  out.top1 = result.top1;
  out.top5 = result.top5;
  out.loss = result.loss;
  out.test_samples = data.test.size();
  out.stats = measure(net, to_model_layout(data.test.inputs(0, 1).to(device)));
  if (latency_repeats > 0) {
    out.latency_b1_ms = latency_ms(net, loaded.info.shape, 1, latency_repeats * 5, 10, device);
    out.latency_b64_ms = latency_ms(net, loaded.info.shape, 64, latency_repeats, 3, device);
  }
  return out;
}

}  // namespace prunelab
