#pragma once
/// The shape of one input sample and the number of classes: what data provides and models take.

#include <cstdint>
#include <string>

namespace prunelab {

struct InputShape {
  int64_t channels = 1, height = 28, width = 28, classes = 10;
  bool operator==(const InputShape& o) const {
    return channels == o.channels && height == o.height && width == o.width && classes == o.classes;
  }
  bool operator!=(const InputShape& o) const { return !(*this == o); }
  /// "1x28x28, 10 classes"
  std::string str() const {
    return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width) + ", " +
           std::to_string(classes) + " classes";
  }
};

}  // namespace prunelab
