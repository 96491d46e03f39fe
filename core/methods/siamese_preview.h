#pragma once
#include <torch/types.h>

#include <functional>
#include <string>

#include "core/methods/method.h"

namespace pretext {

// The loss of a method that predicts one view's target from the other (BYOL, SimSiam) taken
// apart: matrix [N,N] = cos(p1_i, t2_j) (only the diagonal is in the loss; the rest shows whether
// images are still told apart), positives on the diagonal, perRow = rowLoss(cos(p1_i, t2_i),
// cos(p2_i, t1_i)), terms: the loss (mean of perRow) and the mean cosines of the same and of other
// images. The caller names it (title, explanation, axes).
LossAnatomy predictionAnatomy(const torch::Tensor& p1, const torch::Tensor& t2, const torch::Tensor& p2,
                              const torch::Tensor& t1,
                              const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& rowLoss);

// The picture BYOL and SimSiam share: for N images seen in two views, the first view's
// prediction p1[i] is compared by cosine with the second views' targets z2[j] of the whole
// batch. Each row: view 1, its own view 2 (cosine with its own target), and the view 2 whose
// target the prediction is closest to (red when it is not the own pair). v1, v2: [N,C,H,W]
// images in [0,1]; p1, z2: [N,D] (any device). `target` names z2 in the caption.
Preview pairPredictionPreview(const torch::Tensor& v1, const torch::Tensor& v2,
                              const torch::Tensor& p1, const torch::Tensor& z2,
                              const std::string& name, const std::string& target);

}  // namespace pretext
