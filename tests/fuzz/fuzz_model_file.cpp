// libFuzzer target: the saved-model reader (load_model_file, what `runner eval` runs first) on
// arbitrary bytes. With $PRUNELAB_FUZZ_WRITE_SEEDS=DIR it first writes a real model file (a
// LeNet-5 on 12x12 inputs) into DIR as a seed.
#include "models/model_spec.hpp"
#include "run/model_file.hpp"

#include <torch/utils.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {
std::string scratch_file() {
  const auto dir = std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                            : std::filesystem::temp_directory_path();
  return (dir / ("prunelab_fuzz_model_" + std::to_string(getpid()) + ".pt")).string();
}

void write_seed(const std::string& dir) {
  torch::manual_seed(1);
  prunelab::ModelSpec spec;
  spec.arch = spec.name = "lenet5";
  const prunelab::InputShape shape{1, 12, 12, 4};
  auto model = prunelab::make_model(spec, shape);
  prunelab::DataSpec data;
  data.dataset = "synthetic";
  prunelab::save_model_file(dir + "/lenet5-masked.pt", *model,
                            {"lenet5", shape, data, "masked", "0123456789abcdef", "element", 0.5});
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("PRUNELAB_FUZZ_WRITE_SEEDS")) write_seed(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = scratch_file();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    (void)prunelab::load_model_file(path, c10::Device(c10::kCPU));
  } catch (const std::exception&) {
  }
  return 0;
}
