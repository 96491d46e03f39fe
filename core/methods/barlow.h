#pragma once
#include <torch/types.h>

namespace pretext {

// The epsilon of BatchNorm1d(affine=False), which the reference implementation of Barlow Twins
// uses to standardise the embeddings: it keeps a constant (collapsed) dimension finite (it then
// standardises to 0, so its diagonal term costs the full 1).
constexpr double kBarlowEps = 1e-5;

// Barlow Twins (Zbontar et al. 2021). z1, z2 [N,D] are the projector outputs of two views of the
// same N images. Each is standardised along the batch with the BIASED (1/N) variance, as
// BatchNorm1d(affine=False) does in training mode:
//   zn = (z - mean_b z) / sqrt(var_b z + eps),   var_b = 1/N sum_b (z_b - mean_b)^2,
// then C = zn1^T zn2 / N (D x D, the cross-correlation of the two views' dimensions) and
//   L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2.
// Returns L; `c` (if given) receives C, detached. Throws pretext::Error when the shapes differ
// or N < 2 (nothing to standardise along).
torch::Tensor barlowTwinsLoss(const torch::Tensor& z1, const torch::Tensor& z2, double lambda,
                              torch::Tensor* c = nullptr, double eps = kBarlowEps);

// A cross-correlation matrix C [K,K] as a colour picture [1,3,K*s,K*s] in [0,1], CPU, each entry
// an s x s block (nearest-neighbour): -1 blue (0,0,1), 0 white (1,1,1), +1 red (1,0,0), linear in
// between (values outside [-1,1] are clamped), e.g. v = 0.5 -> (1, 0.5, 0.5).
torch::Tensor correlationHeatmap(const torch::Tensor& c, int64_t scale);

}  // namespace pretext
