#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <ostream>

namespace pretext {

// Batch norm over [N,C] or [N,C,H,W] with PyTorch's parameters, buffers and state_dict names
// (weight, bias, running_mean, running_var, num_batches_tracked: checkpoints and exported
// weights are those of torch.nn.BatchNorm1d/2d) that normalises with the global batch's
// statistics while a distributed step asks for it (core/dist/step_group.h: synchronised batch
// norm, which LibTorch's C++ API does not have). Otherwise it is PyTorch's batch norm. Every
// model in Pretext uses it instead of torch::nn's (whose classes cannot be subclassed against
// Debian's LibTorch: their base's pretty_print is not exported).
class SyncableBatchNormImpl : public torch::nn::Cloneable<SyncableBatchNormImpl> {
 public:
  explicit SyncableBatchNormImpl(const torch::nn::BatchNormOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);
  void pretty_print(std::ostream& stream) const override;

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias;                                  // undefined unless affine
  torch::Tensor running_mean, running_var, num_batches_tracked;  // undefined unless tracked
};
TORCH_MODULE(SyncableBatchNorm);

// The names models use ([N,C] after linear layers, [N,C,H,W] after convolutions).
using SyncableBatchNorm1d = SyncableBatchNorm;
using SyncableBatchNorm2d = SyncableBatchNorm;

}  // namespace pretext
