#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "core/data/dataset.h"
#include "core/util/options.h"

namespace pretext {

// Runs `encode` (float images in [0,1] [B,C,H,W] on `device` -> features [B,D]) over a data
// set in batches, in eval mode and without gradients; returns float32 features [N,D] on CPU.
// The first `limit` images (and labels) of a data set, as views (limit <= 0: all of it): the
// subsets the probes and the online kNN evaluate on.
Dataset headOf(const Dataset& d, int64_t limit);

using EncodeFn = std::function<torch::Tensor(const torch::Tensor&)>;
torch::Tensor extractFeatures(
    const EncodeFn& encode, const Dataset& data, torch::Device device, int64_t batchSize = 512,
    const std::function<void(int64_t done, int64_t total)>& progress = {});

struct KnnOptions {
  PRETEXT_ARG(int64_t, k) = 200;
  PRETEXT_ARG(double, temperature) = 0.1;
  PRETEXT_ARG(int64_t, chunk) = 1024;       // test rows per similarity block
  PRETEXT_ARG(int64_t, trainBlock) = 4096;  // training rows per block (cache blocking; 0 = all)
  // true: always the float32 search (chunk and trainBlock apply to it). false (default): on
  // CPUs with AVX-512 VNNI and problems of >= 1e8 multiply-adds with k <= N/8, an int8
  // search (core/eval/knn_search.h): candidates within a bound on the quantisation error,
  // re-ranked in float32. It is the default because it matches the float32 search where
  // measured (bench_knn, 60k x 10k, d=256, k=200): neighbour recall 99.9999% (blobs) and
  // 99.98% (Fashion-MNIST random-ConvNet features; the misses are equal similarities of
  // duplicate images), top-1 equal (99.43/99.43) and within 0.01 points (75.82/75.81).
  PRETEXT_ARG(bool, exact) = false;
};

struct ProbeResult {
  double top1 = 0;            // percent
  double top5 = 0;            // percent (0 when fewer than 5 classes)
  torch::Tensor predictions;  // int64 [Ntest]
  torch::Tensor confusion;    // int64 [C,C], rows = true class
  // Linear probe only: the final training objective (cross-entropy + L2 term) and how many
  // times the solver evaluated it.
  double trainLoss = 0;
  int64_t lossEvaluations = 0;
};

// Scores a classifier: predictions = argmax of `scores` [N,C], top-1/top-5 accuracy in
// percent against `labels` [N] (top-5 is 0 when C < 5) and the confusion matrix.
ProbeResult summariseScores(const torch::Tensor& scores, const torch::Tensor& labels,
                            int64_t numClasses);

// Confusion matrix int64 [C,C]: entry (t,p) counts samples of true class t predicted as p.
torch::Tensor confusionMatrix(const torch::Tensor& predictions, const torch::Tensor& labels,
                              int64_t numClasses);

// Weighted kNN (Wu et al. 2018, as in the SimCLR/MoCo evaluations): cosine similarity on
// l2-normalised features, the top-k training neighbours vote for their class with weight
// exp(sim / T). Labels int64 in 0..numClasses-1. k larger than the training set is clamped.
// Similarities are computed in blocks of `chunk` test x `trainBlock` training rows, or by the
// int8 search (see KnnOptions::exact and core/eval/knn_search.h). Throws
// pretext::Error on mismatched shapes, labels out of range or non-finite features.
ProbeResult knnClassify(const torch::Tensor& trainFeatures, const torch::Tensor& trainLabels,
                        const torch::Tensor& testFeatures, const torch::Tensor& testLabels,
                        int64_t numClasses, const KnnOptions& options = {});

struct LinearProbeOptions {
  PRETEXT_ARG(int64_t, epochs) = 100;         // reserved for a minibatch solver (L-BFGS ignores it)
  PRETEXT_ARG(double, weightDecay) = 1e-4;    // L2 on the weights
  PRETEXT_ARG(int64_t, maxIterations) = 500;  // full-batch L-BFGS iterations cap
  PRETEXT_ARG(double, tolerance) = 1e-6;      // stop when the loss changes by less
};

// Linear probe on frozen features: standardise with the training mean/std, then fit a
// softmax regression (multinomial logistic, L2-regularised) to convergence; reports test
// accuracy. Solver: full-batch L-BFGS (strong Wolfe line search, history 20) from zero
// weights, at most maxIterations iterations, stopping when the loss changes by less than
// `tolerance`. Deterministic for given inputs (and thread count).
ProbeResult linearProbe(const torch::Tensor& trainFeatures, const torch::Tensor& trainLabels,
                        const torch::Tensor& testFeatures, const torch::Tensor& testLabels,
                        int64_t numClasses, const LinearProbeOptions& options = {});

// Collapse diagnostics for a batch of embeddings z [N,D]: the mean per-dimension std of the
// l2-normalised embeddings (1/sqrt(D) when healthy, 0 when collapsed) and the effective rank
// exp(H(p)) of the normalised singular values (Roy & Vetterli 2007) of the *centered* z
// (rows all identical -> 1). N < 2 gives zeros.
struct CollapseStats {
  double normalizedStd = 0;
  double effectiveRank = 0;
};
CollapseStats collapseStats(const torch::Tensor& z);

// PCA to `dims` dimensions (centered; eigendecomposition of the DxD covariance); returns
// float32 [N,dims], components by decreasing variance, each with the sign that makes its
// largest-|value| loading positive (deterministic).
torch::Tensor pcaProject(const torch::Tensor& x, int64_t dims = 2);

// Top-k retrieval by cosine similarity: indices int64 [Q,k] and similarities float [Q,k],
// sorted by decreasing similarity; k larger than the gallery is clamped.
std::pair<torch::Tensor, torch::Tensor> retrieveTopK(const torch::Tensor& gallery,
                                                     const torch::Tensor& queries, int64_t k);

}  // namespace pretext
