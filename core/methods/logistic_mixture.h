#pragma once
// PixelCNN++'s output distribution (Salimans, Karpathy, Chen, Kingma 2017): an 8-bit value is a
// bin of width 2/255 of [-1,1] (value v at x = 2v/255 - 1) under a mixture of K logistics
//   p(v) = sum_k pi_k [ sigma((x + 1/255 - mu_k) / s_k) - sigma((x - 1/255 - mu_k) / s_k) ]
// with the edge bins taking the tails (v = 0: sigma((x + 1/255 - mu_k) / s_k); v = 255:
// 1 - sigma((x - 1/255 - mu_k) / s_k)), pi = softmax of the mixture logits, log s clamped at -7,
// and a bin whose mass is below 1e-5 scored by the density at its centre times its width (the
// paper's code, for numerical safety). The pieces PixelCNN's `output: logistic-mixture` uses.
#include <torch/types.h>

namespace pretext {

// log p(v) for values [...] (int64, 0..255) under mixtures whose logits, means and log-scales are
// [..., K] (the same leading shape): returns [...].
torch::Tensor logisticMixtureLogProb(const torch::Tensor& logits, const torch::Tensor& means,
                                     const torch::Tensor& logScales, const torch::Tensor& values);

// A network's output [N,C,3K,H,W] (per pixel and channel: K mixture logits, K means, K
// log-scales) -> the log-probabilities of all 256 values [N,C,256,H,W] (each pixel's sum to 1 up
// to the small-bin approximation): what the sampler and the pictures read as logits.
torch::Tensor logisticMixtureTable(const torch::Tensor& params);

// -log p(x) in nats per image [N] of the output [N,C,3K,H,W] for the values [N,C,H,W] (int64).
torch::Tensor logisticMixtureNll(const torch::Tensor& params, const torch::Tensor& values);

}  // namespace pretext
