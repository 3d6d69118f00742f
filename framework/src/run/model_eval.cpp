#include "run/model_eval.hpp"

#include "prune/latency.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>

namespace prunelab {

ModelEvaluation evaluate_model_file(const std::string& path, c10::Device device, int64_t batch_size,
                                    int latency_repeats) {
  auto loaded = load_model_file(path, device);
  auto& model = *loaded.model;
  ModelEvaluation out;
  out.info = loaded.info;
  const auto data = load_data(loaded.info.data);
  const auto result = evaluate(model, data.test, batch_size, device);
  out.top1 = result.top1;
  out.top5 = result.top5;
  out.loss = result.loss;
  out.test_samples = data.test.size();
  out.stats = measure(model, to_model_layout(data.test.inputs(0, 1).to(device)));
  if (latency_repeats > 0) {
    out.layers = model.layers().size();
    // Chosen kernels and dense-only alternate pass by pass, so their ratio is not load drift.
    const auto b1 = compare_kernels(model, loaded.info.shape, 1, latency_repeats * 5, 10, device);
    const auto b64 = compare_kernels(model, loaded.info.shape, 64, latency_repeats, 3, device);
    out.dense_kernels_b1_ms = b1.a_ms;
    out.latency_b1_ms = b1.b_ms;
    out.sparse_layers_b1 = b1.b_sparse_layers;
    out.dense_kernels_b64_ms = b64.a_ms;
    out.latency_b64_ms = b64.b_ms;
    out.sparse_layers_b64 = b64.b_sparse_layers;
  }
  return out;
}

}  // namespace prunelab
