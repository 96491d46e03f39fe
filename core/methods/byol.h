#pragma once
#include <torch/types.h>

#include <vector>

namespace pretext {

// BYOL's regression loss for one direction (Grill et al. 2020): the online network's
// prediction p [N,D] should point where the target network's projection z [N,D] points,
//   l(p, z) = || p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z),
// averaged over the batch (0 when aligned, 2 when orthogonal, 4 when opposite). `z` is used as
// given: the caller computes it without gradient (the target network). BYOL's loss is the
// symmetric sum byolLoss(p1, z2') + byolLoss(p2, z1').
torch::Tensor byolLoss(const torch::Tensor& p, const torch::Tensor& z);

// The target network's EMA rate at a fraction `progress` in [0,1] of the budget, rising from
// tauBase to 1 along a half cosine: tau = 1 - (1 - tauBase) (cos(pi progress) + 1) / 2.
double byolTau(double tauBase, double progress);

// One EMA step, in place and without gradient: target = tau * target + (1 - tau) * online,
// tensor by tensor (same shapes, same order). Throws pretext::Error when the lists differ.
void byolEmaUpdate(const std::vector<torch::Tensor>& target,
                   const std::vector<torch::Tensor>& online, double tau);

}  // namespace pretext
