#pragma once
#include <torch/types.h>

#include <cstdint>

namespace pretext {

// Lloyd's k-means on the rows of x [N,D] (any device; no Python loop, no host round trip per
// point): k distinct rows drawn from `gen` start the centroids, then `iterations` times every
// row goes to its nearest centroid (squared Euclidean distance, by matrix products) and every
// centroid to the mean of its rows. A cluster left empty is re-seeded as Caron et al. do: the
// largest cluster's centroid is split in two, nudged apart by a small random step.
struct KMeansResult {
  torch::Tensor assignments;  // int64 [N]
  torch::Tensor centroids;    // [k,D]
  int64_t reseeded = 0;       // empty clusters re-seeded over all iterations
};
KMeansResult kMeans(const torch::Tensor& x, int64_t k, int64_t iterations, torch::Generator& gen);

// DeepCluster's preprocessing of the features before k-means: centred, projected on the top
// `dims` principal components and whitened (each divided by the square root of its eigenvalue),
// then l2-normalised. dims <= 0 or >= D keeps every dimension (whitened all the same).
torch::Tensor pcaWhiten(const torch::Tensor& x, int64_t dims);

// Normalised mutual information between two labellings of the same N items (int64 [N], values
// 0..): I(A;B) / sqrt(H(A) H(B)), 1 for the same partition, 0 for independent ones.
double normalizedMutualInformation(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace pretext
