#pragma once
// t-SNE (van der Maaten & Hinton 2008), exact O(N^2) version for the window's embedding view
// (N up to a few thousand). Tensor ops on the CPU; the optimisation loop uses element-wise ops
// only (no BLAS), so the number of threads it uses is the calling thread's OpenMP setting.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "core/util/options.h"

namespace pretext {

struct TsneOptions {
  PRETEXT_ARG(int64_t, dims) = 2;
  // Effective number of neighbours. Clamped to (N - 1) / 3 for small N, where the calibration
  // could not reach it.
  PRETEXT_ARG(double, perplexity) = 30;
  PRETEXT_ARG(int64_t, iterations) = 1000;
  PRETEXT_ARG(double, learningRate) = 0;  // 0 = N / earlyExaggeration (at least 1)
  PRETEXT_ARG(double, earlyExaggeration) = 12;
  PRETEXT_ARG(int64_t, exaggerationIterations) = 250;
  PRETEXT_ARG(double, initialMomentum) = 0.5;
  PRETEXT_ARG(double, finalMomentum) = 0.8;
  PRETEXT_ARG(int64_t, momentumSwitch) = 250;  // iteration at which momentum becomes final
  PRETEXT_ARG(int64_t, pcaDims) = 50;  // inputs wider than this are PCA-reduced first (0 = never)
  PRETEXT_ARG(std::string, init) = "pca";  // pca | random (seeded)
  PRETEXT_ARG(uint64_t, seed) = 0;
  PRETEXT_ARG(int64_t, callbackEvery) = 10;  // iterations between callbacks
  // > 0: run the calling thread's intra-op work on this many threads (OpenMP, this thread
  // only); the window passes 1 while training uses the cores. 0 leaves the setting alone.
  PRETEXT_ARG(int, threads) = 0;

 public:
  void validate() const;  // throws pretext::Error naming tsne.<field>
};

// Called every callbackEvery iterations and after the last one with the iteration count done,
// the current embedding [N,dims] (float, CPU; a copy the callee may keep) and KL(P||Q) of the
// un-exaggerated P. Returning false stops the optimisation.
using TsneCallback =
    std::function<bool(int64_t iteration, const torch::Tensor& embedding, double kl)>;

struct TsneResult {
  torch::Tensor embedding;  // float [N,dims]
  double kl = 0;            // KL(P||Q) at the end
  int64_t iterations = 0;   // iterations done
  bool cancelled = false;   // the callback stopped it
};

// Conditional affinities p_{j|i} (rows sum to 1, zero diagonal) from squared distances [N,N],
// each row's Gaussian precision beta_i found by bisection so that the row's entropy is
// log(perplexity) (natural log) within `tolerance`. Returns {P [N,N] double, beta [N] double}.
std::pair<torch::Tensor, torch::Tensor> tsneConditionalAffinities(const torch::Tensor& sqDistances,
                                                                  double perplexity,
                                                                  double tolerance = 1e-5,
                                                                  int maxSteps = 200);

// The symmetrised joint P = (P_cond + P_cond^T) / 2N (sums to 1) of features x [N,D].
torch::Tensor tsneJointAffinities(const torch::Tensor& x, double perplexity);

// Embeds features x [N,D] (N >= 4, finite) in options.dims() dimensions. Deterministic for a seed
// and thread count. Throws pretext::Error for bad input or options.
TsneResult tsne(const torch::Tensor& x, const TsneOptions& options = {},
                const TsneCallback& callback = {});

// Sets the calling thread's OpenMP thread count (intra-op parallelism of LibTorch's CPU
// kernels) without touching other threads. No-op when OpenMP is absent.
void setThisThreadIntraOpThreads(int threads);

}  // namespace pretext
