#pragma once
// How good a generator's samples are, measured the way MNIST-scale GAN papers do: the Fréchet
// distance between Gaussians fitted to the features of generated and real images (Heusel et al.
// 2017's FID, with a classifier trained on the data set in place of ImageNet's Inception
// network), and how many classes a classifier finds among the samples (mode coverage).
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pretext {

// Mean and covariance of features [N,D] (N >= 2), in float64: the covariance is the unbiased
// one (divided by N - 1), as numpy.cov and pytorch-fid compute it.
struct GaussianStats {
  torch::Tensor mean;  // [D]
  torch::Tensor cov;   // [D,D]
};
GaussianStats gaussianStats(const torch::Tensor& features);

// The square root of a symmetric positive semi-definite matrix, from its eigendecomposition
// S = V diag(l) V^T: V diag(sqrt(max(l, 0))) V^T (rounding can make tiny eigenvalues negative).
torch::Tensor sqrtSymmetricPsd(const torch::Tensor& s);

// The Fréchet (2-Wasserstein) distance between N(m1, S1) and N(m2, S2):
//   ||m1 - m2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2),
// with tr((S1 S2)^1/2) computed as tr((S1^1/2 S2 S1^1/2)^1/2): the same eigenvalues, but a
// symmetric matrix whose square root the eigendecomposition gives stably. For one dimension:
// (m1 - m2)^2 + (s1 - s2)^2. Not a square root itself (FID's convention).
double frechetDistance(const GaussianStats& a, const GaussianStats& b);
double frechetDistance(const torch::Tensor& featuresA, const torch::Tensor& featuresB);

// The classes a classifier assigns to a set of samples: the count of each, how many classes got
// at least `minCount` samples, and the entropy of the class histogram in nats (log(numClasses)
// when every class is equally common, 0 when all samples fall in one class).
struct ClassCoverage {
  std::vector<int64_t> counts;  // per class
  int64_t classesFound = 0;
  double entropy = 0;
  double maxEntropy = 0;        // log(numClasses)
};
ClassCoverage classCoverage(const torch::Tensor& predictions, int64_t numClasses,
                            int64_t minCount = 1);

// A set of images' features and class predictions under a classifier, computed in batches
// without gradients on `device`. `features` maps float images [B,C,H,W] in [0,1] to [B,D];
// `logits` to [B,numClasses]. Both run on the same images in one pass.
struct ClassifierView {
  torch::Tensor features;     // float32 [N,D], CPU
  torch::Tensor predictions;  // int64 [N], CPU
};
using ImagesFn = std::function<torch::Tensor(const torch::Tensor&)>;
ClassifierView classifierView(const ImagesFn& features, const ImagesFn& logits,
                              const torch::Tensor& images, torch::Device device,
                              int64_t batchSize = 500);

}  // namespace pretext
