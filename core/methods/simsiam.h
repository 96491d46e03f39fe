#pragma once
#include <torch/types.h>

namespace pretext {

// SimSiam's symmetric loss (Chen & He 2021): with D(p, z) = -cos(p, z) averaged over the batch,
//   L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2,
// where p = predictions [N,D] and z = projections [N,D] of the two views, and sg = stop-gradient
// (z treated as a constant). With stopGradient false the gradient also flows into z1 and z2:
// the network can then make every output the same, and it collapses. L lies in [-1, 1].
torch::Tensor simsiamLoss(const torch::Tensor& p1, const torch::Tensor& p2, const torch::Tensor& z1,
                          const torch::Tensor& z2, bool stopGradient = true);

}  // namespace pretext
