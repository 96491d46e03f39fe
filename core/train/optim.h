#pragma once
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "core/config/experiment.h"

namespace pretext {

// The optimiser of an experiment (SGD with momentum / Nesterov, Adam, AdamW (optimizer.beta1,
// beta2), LARS, RMSprop) over two
// parameter groups: weights (decayed) and, when optimizer.exclude_bias_norm, biases and norm
// parameters (1-D tensors: no weight decay, no LARS adaptation).
class Optimizer {
 public:
  Optimizer(const std::vector<torch::Tensor>& parameters, const Experiment& e);
  void zeroGrad();
  // Clips the global gradient norm (when set), applies LARS's layer-wise trust ratio, steps.
  // Returns the gradient norm before clipping (0 when not computed).
  double step();
  void setLr(double lr);  // the schedule's value for this step
  torch::optim::Optimizer& torchOptimizer() { return *optimizer_; }

 private:
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> all_, decayed_;
  bool lars_ = false;
  double weightDecay_ = 0, larsEta_ = 0.001, gradClip_ = 0;
};

// Linear warm-up over warmupSteps, then cosine decay to 0 at totalSteps (or constant).
double scheduledLr(double baseLr, int64_t step, int64_t totalSteps, int64_t warmupSteps,
                   bool cosine);

}  // namespace pretext
