#pragma once
/// Where one ResNet-20 training step's time goes: the framework's own training loop
/// (train_steps, masks on) under LibTorch's profiler, by phase (the trainer's prunelab.* scopes)
/// and by operator within forward and backward. A helper of prunelab_kernels; never a test.

namespace prunelab::bench {

void print_training_profile(int threads, bool quick);

}  // namespace prunelab::bench
