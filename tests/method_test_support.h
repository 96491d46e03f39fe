#pragma once
// Helpers shared by the method tests (test_methods_*.cpp).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>

#include "core/config/experiment.h"
#include "core/eval/evaluate.h"
#include "core/methods/method.h"
#include "core/train/trainer.h"

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

// Trains `method` on 2,000 Fashion-MNIST images (a ConvNet of width 16, 3 epochs of 64, seed 0;
// `extra` merges into the experiment, e.g. an augmentation) in `runsDir`, then returns the linear
// probe's top-1 of the trained encoder and of the same method's random init.
inline std::pair<double, double> linearProbeTrainedAndRandom(const std::string& method, const std::string& runsDir,
                                                            const nlohmann::json& extra = nlohmann::json::object()) {
  nlohmann::json j = {{"name", method + "-test"},
                      {"data", {{"source", "fashion-mnist"}, {"limit", 2000}}},
                      {"method", {{"name", method}}},
                      {"backbone", {{"width", 16}}},
                      {"schedule", {{"epochs", 3}, {"batch_size", 64}, {"warmup_epochs", 0.5}}},
                      {"eval", {{"knn_every", 0}}},
                      {"run", {{"seed", 0}, {"threads", 2}, {"log_every", 100}}}};
  j.merge_patch(extra);
  Trainer trainer(experimentFromJson(j), {runsDir});
  trainer.run();
  auto session = trainer.takeSession();
  EvalRequest req;
  req.protocol = "linear";
  const double trained = evaluateSession(*session, req).top1;
  req.randomInit = true;
  return {trained, evaluateSession(*session, req).top1};
}

}  // namespace pretext::test
