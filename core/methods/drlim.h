#pragma once
#include <torch/types.h>

namespace pretext {

// DrLIM's contrastive loss (Hadsell, Chopra, LeCun 2006) of one pair of embeddings a, b at
// Euclidean distance D = ||a - b||, with Y = 0 for a similar pair and Y = 1 for a dissimilar one:
//   L(a, b, Y) = (1 - Y) * 1/2 * D^2  +  Y * 1/2 * max(0, m - D)^2
// Similar pairs are pulled together; dissimilar pairs are pushed apart until they are at least
// the margin m apart, and no further. a, b [P,d], dissimilar [P] (bool, or 0/1): returns the
// mean over the P pairs (0-dim).
torch::Tensor drlimPairLoss(const torch::Tensor& a, const torch::Tensor& b,
                            const torch::Tensor& dissimilar, double margin);

// The loss of a batch of N embeddings z [N,d] over all its N(N-1)/2 unordered pairs, `similar`
// [N,N] bool saying which pairs are similar (read above the diagonal; any other pair is
// dissimilar). A batch has a few similar pairs and very many dissimilar ones, so each term is
// averaged over its own pairs (the paper's sum with both kinds weighted equally):
//   L = mean_{similar (i,j)} 1/2 D_ij^2  +  mean_{dissimilar (i,j)} 1/2 max(0, m - D_ij)^2
// (a term without pairs counts 0). Optional outputs (0-dim, detached): the mean distance of the
// similar and of the dissimilar pairs, and the share of dissimilar pairs closer than the margin.
struct DrlimStats {
  torch::Tensor similarDistance, dissimilarDistance, insideMargin;
};
torch::Tensor drlimBatchLoss(const torch::Tensor& z, const torch::Tensor& similar, double margin,
                             DrlimStats* stats = nullptr);

// The similar pairs the paper uses, within a batch: each image and its nearest neighbour in
// pixel space among the other images of the batch (Euclidean distance of the raw pixels).
// images [N,C,H,W] (N >= 2): returns [N,N] bool, symmetric, false on the diagonal.
torch::Tensor drlimPixelNeighbours(const torch::Tensor& images);

// The paper's similar pairs over the whole training set: the k nearest other images of each
// image in pixel space (squared Euclidean distance of the raw pixels; uint8 images are read as
// /255). images [N,C,H,W] -> int64 [N,k], nearest first; `chunk` rows at a time.
torch::Tensor drlimDatasetNeighbours(const torch::Tensor& images, int64_t k, int64_t chunk = 1024);

// Which of M images, given by their training-set rows `ids` [M], are similar under the
// neighbour table [N,k]: a and b are similar when b is among a's neighbours or a among b's, or
// they are the same training image. [M,M] bool, symmetric, false on the diagonal.
torch::Tensor drlimTableSimilar(const torch::Tensor& ids, const torch::Tensor& table);

}  // namespace pretext
