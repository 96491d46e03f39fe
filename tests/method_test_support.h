#pragma once
// Helpers shared by the method tests (test_methods_*.cpp).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>

#include "core/methods/method.h"

namespace pretext::test {

// A method set-up on tiny images: 16 px, a ConvNet of width 4, the given (unresolved) params.
inline MethodSetup tinySetup(nlohmann::json params = nlohmann::json::object(),
                             int64_t channels = 1, int64_t imageSize = 16) {
  MethodSetup s;
  s.channels = channels;
  s.imageSize = imageSize;
  s.backbone.width(4);
  s.params = std::move(params);
  return s;
}

// Same shape, and every element within `tol` of the other's.
inline bool close(const torch::Tensor& a, const torch::Tensor& b, double tol = 1e-5) {
  return a.sizes() == b.sizes() && (a - b).abs().max().item<double>() < tol;
}

// A step's metric by name (NaN when the step does not report it).
inline double metric(const StepResult& r, const std::string& name) {
  for (const auto& [n, v] : r.metrics)
    if (n == name) return v.item<double>();
  return std::nan("");
}

}  // namespace pretext::test
