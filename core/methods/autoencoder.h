#pragma once
#include <torch/types.h>

#include <string>

namespace pretext {

// The autoencoder family's building blocks, exposed for the tests.

// Reconstruction loss of images in [0,1], summed over an image's pixels and averaged over the
// batch (the papers' per-example loss, so the contractive lambda and the VAE's beta keep their
// meaning): "mse": 1/B sum_i sum_p (xhat_ip - x_ip)^2; "bce": 1/B sum_i sum_p -[x log xhat +
// (1-x) log(1-xhat)], from the decoder's logits for numerical safety.
torch::Tensor reconstructionLoss(const torch::Tensor& logits, const torch::Tensor& target,
                                 const std::string& kind);

// Denoising corruptions (Vincent et al. 2008). Masking noise: each pixel (all its channels) set
// to 0 with probability nu. Gaussian: x + sigma * N(0,1) per value (not clipped, as in the paper).
torch::Tensor maskingNoise(const torch::Tensor& x, double nu, torch::Generator& gen);
torch::Tensor gaussianNoise(const torch::Tensor& x, double sigma, torch::Generator& gen);

// Hutchinson's estimate of the encoder's squared Jacobian norm, per example: with h = f(x),
// y [B,D] and x [B,...] (x requiring grad, y computed from it),
//   (1/B) * (1/K) sum_k ||v_k^T dy/dx||^2,  v_k ~ N(0, I_{BxD}) ("gaussian") or +-1 ("rademacher").
// E[v v^T] = I makes it unbiased for (1/B) ||dy/dx||_F^2 = (1/B) sum_i ||J_f(x_i)||_F^2 when the
// examples do not interact (BatchNorm in training mode adds small cross-example terms).
// createGraph keeps the graph of the vector-Jacobian products so the estimate can be trained.
torch::Tensor hutchinsonJacobianNorm(const torch::Tensor& y, const torch::Tensor& x, int64_t probes,
                                     torch::Generator& gen, bool createGraph,
                                     const std::string& distribution = "gaussian");

// The features' spread over the batch, E_i ||h_i - mean(h)||^2 of h [B,D] (biased). The contractive
// penalty divides by it when scale_free is on: the decoder starts with BatchNorm, so it ignores
// the features' scale, and the raw ||J||_F^2 could be met by shrinking every feature.
torch::Tensor featureSpread(const torch::Tensor& h);

}  // namespace pretext
