#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

namespace pretext {

// The image as CPC sees it: padded (zeros, evenly on both sides) to `paddedSize`, then cut
// into an overlapping grid of square patches of side `patch` every `stride` pixels.
// images [B,C,H,W] -> patches [B, G, G, C, patch, patch], G = (paddedSize - patch) / stride + 1.
torch::Tensor cpcPatchGrid(const torch::Tensor& images, int64_t paddedSize, int64_t patch, int64_t stride);

// CPC's InfoNCE for one prediction offset (van den Oord et al. 2018; Henaff et al. 2020): row m
// of `predictions` [M,D] (W_k applied to a context vector) must pick out row m of `targets`
// [M,D] (the patch k rows below) among all M targets, the other patches of the batch:
//   L = -1/M sum_m log( exp(p_m . t_m) / sum_n exp(p_m . t_n) ).
// Scores are plain dot products, as in the paper (no normalisation, no temperature).
// `accuracy` (if given) gets the share of rows whose own target scores highest.
torch::Tensor cpcInfoNce(const torch::Tensor& predictions, const torch::Tensor& targets,
                         torch::Tensor* accuracy = nullptr);

// CPC's autoregressive context network over a grid of patch vectors z [B,D,G,G]: 3x3
// convolutions (ReLU between them) that pad two rows above and none below, so the output at
// row i has seen rows 0..i of z only, and columns on both sides.
torch::Tensor cpcContext(torch::nn::Sequential& layers, const torch::Tensor& z);

}  // namespace pretext
