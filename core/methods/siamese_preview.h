#pragma once
#include <torch/types.h>

#include <string>

#include "core/methods/method.h"

namespace pretext {

// The picture BYOL and SimSiam share: for N images seen in two views, the first view's
// prediction p1[i] is compared by cosine with the second views' targets z2[j] of the whole
// batch. Each row: view 1, its own view 2 (cosine with its own target), and the view 2 whose
// target the prediction is closest to (red when it is not the own pair). v1, v2: [N,C,H,W]
// images in [0,1]; p1, z2: [N,D] (any device). `target` names z2 in the caption.
Preview pairPredictionPreview(const torch::Tensor& v1, const torch::Tensor& v2,
                              const torch::Tensor& p1, const torch::Tensor& z2,
                              const std::string& name, const std::string& target);

}  // namespace pretext
