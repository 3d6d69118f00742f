// Mini-batches from in-memory splits: a shuffled order per epoch, assembled (and for training
// augmented) into float inputs, optionally one batch ahead in a background thread.
#include "data/augment.hpp"
#include "data/dataset.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace prunelab {

namespace {
at::Tensor empty_inputs(const TensorDataset& d, int64_t n) {
  return at::empty({n, d.images.size(1), d.images.size(2), d.images.size(3)}, at::kFloat);
}
}  // namespace

at::Tensor TensorDataset::inputs(int64_t start, int64_t len) const {
  if (start < 0 || len < 0 || start + len > size())
    throw std::out_of_range(fmt::format("images [{}, {}) of a split of {}", start, start + len, size()));
  auto out = empty_inputs(*this, len);
  data::assemble_inputs(*this, nullptr, start, len, nullptr, out.data_ptr<float>());
  return out;
}

int64_t batches_per_epoch(int64_t samples, int64_t batch_size) {
  return std::max<int64_t>(1, samples / std::max<int64_t>(1, std::min(batch_size, samples)));
}

int64_t batches_per_epoch(const TensorDataset& data, int64_t batch_size) {
  return batches_per_epoch(data.size(), batch_size);
}

struct BatchSampler::Impl {
  using Batch = std::pair<at::Tensor, at::Tensor>;

  const TensorDataset& data;
  const int64_t batch_size;
  const uint64_t seed;
  const SamplerOptions options;
  const int64_t per_epoch;

  // Producer state (the background thread's alone when prefetching).
  int64_t produced = 0;        // batches made so far
  int64_t order_epoch = -1;    // the epoch `order` belongs to
  at::Tensor order;
  std::vector<data::SampleTransform> transforms;
  // Output buffers, reused once the caller has dropped every reference to them.
  std::vector<at::Tensor> input_pool, label_pool;

  // Hand-over to the consumer.
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<Batch> ready;
  std::exception_ptr error;
  bool stop = false;
  std::thread worker;

  Impl(const TensorDataset& d, int64_t batch, uint64_t s, SamplerOptions o)
      : data(d), batch_size(std::min<int64_t>(batch, d.size())), seed(s), options(o),
        per_epoch(prunelab::batches_per_epoch(d.size(), batch_size)) {
    if (batch_size <= 0) throw std::invalid_argument("empty dataset or batch size");
    if (data.images.device().type() != c10::kCPU)
      throw std::invalid_argument("BatchSampler reads splits in host memory (batches move to the device)");
    if (options.prefetch) worker = std::thread([this] { run(); });
  }

  ~Impl() {
    if (worker.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        stop = true;
      }
      cv.notify_all();
      worker.join();
    }
  }

  // A pooled tensor nobody else holds (no view, no autograd graph), else a fresh one.
  static at::Tensor acquire(std::vector<at::Tensor>& pool, const std::function<at::Tensor()>& make) {
    for (auto& t : pool)
      if (t.use_count() == 1 && t.storage().use_count() == 1) return t;
    auto t = make();
    if (pool.size() < 4) pool.push_back(t);
    return t;
  }

  Batch produce() {
    const int64_t epoch = produced / per_epoch, cursor = (produced % per_epoch) * batch_size;
    ++produced;
    if (epoch != order_epoch) {
      // The permutation of earlier versions: the batch order is unchanged by this pipeline.
      auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + uint64_t(epoch));
      order = at::randperm(data.size(), gen, at::kLong);
      order_epoch = epoch;
    }
    const int64_t* idx = order.data_ptr<int64_t>() + cursor;
    const data::SampleTransform* tf = nullptr;
    if (options.augment && data.augment.enabled()) {
      transforms.resize(size_t(batch_size));
      for (int64_t i = 0; i < batch_size; ++i)
        transforms[size_t(i)] = data::draw_transform(data.augment, seed, epoch, cursor + i);
      tf = transforms.data();
    }
    auto x = acquire(input_pool, [&] { return empty_inputs(data, batch_size); });
    auto y = acquire(label_pool, [&] { return at::empty({batch_size}, at::kLong); });
    data::assemble_inputs(data, idx, 0, batch_size, tf, x.data_ptr<float>());
    const auto* labels = data.labels.data_ptr<int64_t>();
    auto* out = y.data_ptr<int64_t>();
    for (int64_t i = 0; i < batch_size; ++i) out[i] = labels[idx[i]];
    return {x, y};
  }

  void run() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return stop || !ready; });
        if (stop) return;
      }
      try {
        Batch b = produce();
        std::lock_guard<std::mutex> lock(mutex);
        ready = std::move(b);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        error = std::current_exception();
        cv.notify_all();
        return;
      }
      cv.notify_all();
    }
  }

  Batch next() {
    if (!options.prefetch) return produce();
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return ready.has_value() || error; });
    if (!ready) std::rethrow_exception(error);
    Batch b = std::move(*ready);
    ready.reset();
    lock.unlock();
    cv.notify_all();  // the worker starts on the batch after this one
    return b;
  }
};

BatchSampler::BatchSampler(const TensorDataset& data, int64_t batch_size, uint64_t seed, SamplerOptions options)
    : impl_(std::make_unique<Impl>(data, batch_size, seed, options)) {}

BatchSampler::~BatchSampler() = default;

std::pair<at::Tensor, at::Tensor> BatchSampler::next() { return impl_->next(); }

int64_t BatchSampler::batches_per_epoch() const { return impl_->per_epoch; }

}  // namespace prunelab
