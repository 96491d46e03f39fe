#include "core/models/batch_norm.h"

#include <torch/torch.h>

#include "core/dist/step_group.h"

namespace pretext {

SyncableBatchNormImpl::SyncableBatchNormImpl(const torch::nn::BatchNormOptions& o) : options(o) { reset(); }

void SyncableBatchNormImpl::reset() {
  const int64_t c = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({c}));
    bias = register_parameter("bias", torch::zeros({c}));
  } else {
    weight = register_parameter("weight", torch::Tensor(), /*requires_grad=*/false);
    bias = register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::dtype(torch::kLong)));
  } else {
    running_mean = register_buffer("running_mean", torch::Tensor());
    running_var = register_buffer("running_var", torch::Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", torch::Tensor());
  }
}

torch::Tensor SyncableBatchNormImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 2 && input.size(1) == options.num_features(), "batch norm of ",
              options.num_features(), " channels got input of shape ", input.sizes());
  if (is_training() && batchNormSyncActive()) {
    BatchNormTensors t;
    t.weight = weight;
    t.bias = bias;
    t.runningMean = running_mean;
    t.runningVar = running_var;
    t.batchesTracked = num_batches_tracked;
    t.momentum = options.momentum();
    t.eps = options.eps();
    return syncedBatchNorm(input, t);
  }
  // As torch.nn.BatchNorm: momentum None = cumulative average.
  double factor = options.momentum() ? *options.momentum() : 0.0;
  if (is_training() && options.track_running_stats() && num_batches_tracked.defined()) {
    num_batches_tracked += 1;
    if (!options.momentum()) factor = 1.0 / num_batches_tracked.item<double>();
  }
  return torch::batch_norm(input, weight, bias, running_mean, running_var,
                           is_training() || !options.track_running_stats(), factor, options.eps(),
                           at::globalContext().userEnabledCuDNN());
}

void SyncableBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "pretext::SyncableBatchNorm(" << options.num_features() << ", eps=" << options.eps()
         << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats() << ")";
}

}  // namespace pretext
