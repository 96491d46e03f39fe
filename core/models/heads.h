#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>

namespace pretext {

// MLP projector / predictor (SimCLR, BYOL, SimSiam): Linear -> [BN] -> ReLU -> ... -> Linear
// [-> BN without affine when lastBn]. `layers` >= 1 (1 = a single linear map).
torch::nn::Sequential makeMlp(int64_t inDim, int64_t hiddenDim, int64_t outDim, int64_t layers = 2,
                              bool batchNorm = true, bool lastBn = false);

}  // namespace pretext
