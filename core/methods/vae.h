#pragma once
#include <torch/types.h>

namespace pretext {

// The variational autoencoder's building blocks, exposed for the tests.

// VAE: closed-form KL(N(mu, diag exp(logvar)) || N(0, I)) per example, averaged over the batch:
//   1/B sum_i -1/2 sum_j (1 + logvar_ij - mu_ij^2 - exp(logvar_ij)).
torch::Tensor gaussianKl(const torch::Tensor& mu, const torch::Tensor& logvar);
// Its per-dimension mean over the batch [D] (which latent dimensions carry information).
torch::Tensor gaussianKlPerDim(const torch::Tensor& mu, const torch::Tensor& logvar);
// z = mu + exp(logvar / 2) * eps: the sample is a differentiable function of mu and logvar.
torch::Tensor reparameterize(const torch::Tensor& mu, const torch::Tensor& logvar,
                             const torch::Tensor& eps);
// Quantiles of N(0,1) at probabilities p: sqrt(2) * erfinv(2p - 1).
torch::Tensor normalQuantile(const torch::Tensor& p);

}  // namespace pretext
