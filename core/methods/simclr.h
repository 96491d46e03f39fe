#pragma once
#include <torch/types.h>

#include "core/methods/method.h"

namespace pretext {

// NT-Xent (Chen et al. 2020): for 2N l2-normalised projections (z1[i], z2[i] are the two views
// of image i), each of the 2N anchors has one positive and 2N-2 negatives among the 2N-1 other
// embeddings:  l(i,j) = -log exp(sim(i,j)/T) / sum_{k != i} exp(sim(i,k)/T);  the loss is the
// mean over all 2N anchors. Returns the loss; `accuracy` (if given) gets the share of anchors
// whose most similar other embedding is their positive.
torch::Tensor ntXentLoss(const torch::Tensor& z1, const torch::Tensor& z2, double temperature,
                         torch::Tensor* accuracy = nullptr);

// NT-Xent taken apart for one batch (any method with in-batch negatives): the 2N x 2N cosine
// similarities of the l2-normalised z = [z1; z2] (the diagonal, an anchor against itself, NaN),
// each anchor's positive (i <-> i+N), each anchor's loss -log softmax_{k != i}(sim_i / T)[positive],
// and the views [2N,C,H,W] behind the rows. terms: "loss" (the mean, = ntXentLoss) and "accuracy"
// (share of anchors whose most similar other view is the positive, percent).
LossAnatomy ntXentAnatomy(const torch::Tensor& z1, const torch::Tensor& z2, double temperature,
                          const torch::Tensor& views);

}  // namespace pretext
