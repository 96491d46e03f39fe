#pragma once
// PIRL (Misra & van der Maaten 2020): the loss and its negatives, for the tests.
#include <torch/types.h>

#include <cstdint>
#include <utility>

namespace pretext {

// PIRL's loss with NPID's softmax over memory-bank rows (npidLoss) as L_NCE:
//   L = lambda * L_NCE(m_I, g(I^t)) + (1 - lambda) * L_NCE(m_I, f(I))
//   L_NCE(m_I, z) = -log[ exp(m_I.z/T) / sum_j exp(m_j.z/T) ]
// f [B,d]: the whole images' embeddings, g [B,d]: their jigsaw tiles' embeddings (both
// l2-normalised inside), bank [N,d] (a constant), targets [B]: each image's own row of the bank.
// `accuracy` (if given) gets the share of tile embeddings whose own row scores highest.
struct PirlLoss {
  torch::Tensor loss, tileTerm, imageTerm;  // 0-dim: L, L_NCE(m_I, g), L_NCE(m_I, f)
};
PirlLoss pirlLoss(const torch::Tensor& f, const torch::Tensor& g, const torch::Tensor& bank,
                  const torch::Tensor& targets, double lambda, double temperature,
                  torch::Tensor* accuracy = nullptr);

// The rows the loss contrasts against when it samples its negatives (the paper's 32,000 of
// ImageNet's 1.28M rows): the batch's own rows first, then `negatives` rows drawn uniformly with
// replacement from the whole bank with `gen`, shared by the batch (so each image's negatives are
// those rows and the other images' own rows). Returns {rows [B + negatives, d], targets 0..B-1}.
std::pair<torch::Tensor, torch::Tensor> pirlSampledBank(const torch::Tensor& bank, const torch::Tensor& indices,
                                                        int64_t negatives, torch::Generator& gen);

}  // namespace pretext
