#pragma once
#include <c10/util/Optional.h>
#include <torch/types.h>

#include "core/dist/process_group.h"

namespace pretext {

// The process group a training step runs under. The trainer opens a StepGroupScope around
// Method::step when the job has more than one rank; methods and layers reach the group through
// the functions below, which do nothing outside such a scope (one process, evaluation,
// previews), so a method's code is the same on one rank and on many.
class StepGroupScope {
 public:
  StepGroupScope(DistGroup* group, bool syncBatchNorm);
  ~StepGroupScope();
  StepGroupScope(const StepGroupScope&) = delete;
  StepGroupScope& operator=(const StepGroupScope&) = delete;

 private:
  DistGroup* previousGroup_;
  bool previousSync_;
};

// The current step's group (null outside a scope or on one rank).
DistGroup* stepGroup();

// Every rank's x concatenated along dim 0 in rank order: the global batch, since rank r holds
// the r-th slice of it. Differentiable: the backward pass sums the incoming gradient over ranks
// (every rank's loss saw every rank's rows) and keeps this rank's slice. That is the gradient of
// the sum of the ranks' losses; dividing by the world size (the gradient averaging) gives the
// single-process gradient when each rank computes the loss of the whole gathered batch. (The
// version that returns only grads[rank] without the sum drops every cross-rank term.)
// Returns x itself outside a step scope.
torch::Tensor gatherAcrossRanks(const torch::Tensor& x);

// The sum of x over ranks, differentiable (the backward pass sums the gradients too).
// x itself outside a step scope.
torch::Tensor allReduceSumAcrossRanks(const torch::Tensor& x);

// Synchronised batch norm, for layers in training mode while batchNormSyncActive(): the
// statistics are those of the global batch (the sums of x and x^2 and the count, summed over
// ranks with their gradient), so W ranks of B/W images normalise exactly as one process of B
// images, and the running statistics move the same way on every rank.
struct BatchNormTensors {
  torch::Tensor weight, bias;                          // undefined when not affine
  torch::Tensor runningMean, runningVar, batchesTracked;  // undefined when not tracked
  c10::optional<double> momentum;                      // nullopt: cumulative average
  double eps = 1e-5;
};
bool batchNormSyncActive();
torch::Tensor syncedBatchNorm(const torch::Tensor& x, const BatchNormTensors& bn);

}  // namespace pretext
