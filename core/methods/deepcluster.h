#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>

#include "core/models/backbone.h"

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

// Caron et al.'s fixed input filter (their code's `sobel` module, frozen): the image made gray
// (the mean of its channels, their 1x1 convolution of weights 1/3), then the two 3x3 Sobel
// kernels, cross-correlated as nn.Conv2d does, zero padding 1:
//   Gx = [[1,0,-1],[2,0,-2],[1,0,-1]],  Gy = [[1,2,1],[0,0,0],[-1,-2,-1]]
// images [N,C,H,W] -> [N,2,H,W] (Gx, Gy); on images in [0,1] each lies in [-4,4].
torch::Tensor sobelGradients(const torch::Tensor& images);

// An encoder whose backbone sees the Sobel gradients instead of the pixels: the backbone takes
// 2 channels and gets 0.5 + G/8, so that its own input normalisation (x - 0.5) / 0.5 hands its
// first convolution G/4 in [-1,1]. The kernels are a buffer ("sobel", [2,1,3,3]), not a
// parameter: no optimiser sees them. Every caller of the method's encoder (the probes, the
// random-init baseline, fine-tuning, the window's panels) goes through the filter.
class SobelEncoder : public Encoder {
 public:
  explicit SobelEncoder(BackboneOptions backbone);  // backbone's inChannels is set to 2
  torch::Tensor forward(torch::Tensor x) override { return inner_->forward(input(x)); }
  std::vector<torch::Tensor> stages(torch::Tensor x) override { return inner_->stages(input(x)); }
  std::vector<torch::Tensor> stageParameters(int64_t stage) override { return inner_->stageParameters(stage); }
  int64_t numStages() const override { return inner_->numStages(); }
  // What the backbone gets: 0.5 + G/8 of images [N,C,H,W] in [0,1].
  torch::Tensor input(const torch::Tensor& images) const;
  Encoder& inner() { return *inner_; }

 private:
  torch::Tensor kernels_;
  std::shared_ptr<Encoder> inner_;
};

}  // namespace pretext
