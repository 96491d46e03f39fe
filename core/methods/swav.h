#pragma once
#include <torch/types.h>

namespace pretext {

// Sinkhorn-Knopp equipartition as SwAV uses it (Caron et al. 2020; Cuturi 2013): soft
// assignments Q [B,K] of B samples to K prototypes from their scores [B,K]. Q starts as
// exp(scores / epsilon) scaled to sum 1, then `iterations` times every prototype's column is
// rescaled to hold 1/K of the mass and every sample's row to hold 1/B; the result is scaled by B,
// so each row (a sample's assignment) sums to 1 and the prototypes share the batch equally.
// Float64 inside, no gradient.
torch::Tensor sinkhornKnopp(const torch::Tensor& scores, double epsilon, int64_t iterations);

// SwAV's swapped prediction for one pair of views: each view's assignment q is predicted from
// the other view's scores,
//   L = -1/2 mean_i [ sum_k q2[i,k] log p1[i,k] + sum_k q1[i,k] log p2[i,k] ],
//   p[i,k] = softmax_k(scores[i,k] / T).
// q1, q2 are targets (no gradient reaches them).
torch::Tensor swavSwappedLoss(const torch::Tensor& scores1, const torch::Tensor& scores2,
                              const torch::Tensor& q1, const torch::Tensor& q2, double temperature);

// Cluster purity of hard assignments against labels: for every cluster the count of its most
// common label, summed over clusters and divided by the number of samples (1 = every cluster
// holds one class). counts [K,C] is a (possibly decayed) co-occurrence table.
torch::Tensor clusterPurity(const torch::Tensor& counts);

}  // namespace pretext
