#pragma once
// Internal: the neighbour searches behind knnClassify (not part of the public API; the
// benchmark and the tests use them to compare the two searches' neighbour sets).
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <utility>

namespace pretext::detail {

using KnnEntry = std::pair<float, int64_t>;  // (cosine similarity, training row)

// Receives one test row's k neighbours (in no particular order). The int8 search calls it
// from several threads at once, for different rows.
using KnnRowFn = std::function<void(int64_t row, const KnnEntry* neighbours, int64_t count)>;

// Exact search: float32 similarities of `chunk` test x `trainBlock` training rows per sgemm,
// a size-k heap per test row. train [N,D], test [M,D]: l2-normalised float32, contiguous;
// 1 <= k <= N.
void knnSearchExact(const torch::Tensor& train, const torch::Tensor& test, int64_t k, int64_t chunk,
                    int64_t trainBlock, const KnnRowFn& onRow);

// Whether this CPU runs the int8 search (it needs AVX-512 VNNI: vpdpbusd).
bool knnInt8Supported();

// Whether knnClassify's default (non-exact) path uses the int8 search for this problem:
// supported CPU, enough work to pay for the quantisation, k small next to N.
bool knnInt8Worthwhile(int64_t nTrain, int64_t nTest, int64_t dim, int64_t k);

struct KnnInt8Stats {
  double meanCandidates = 0;   // training rows re-ranked in float32 per test row
  int64_t reSearchedRows = 0;  // rows whose threshold seed failed (re-ranked over all rows)
};

// Int8 search: every row is quantised to int8 with its own scale (symmetric, max|x| -> 127),
// similarities s~ come from an int8 kernel (vpdpbusd), and the quantisation errors e bound
// the true similarity: |s - s~| <= b = |e_x| |y| + |x~| |e_y| (Cauchy-Schwarz). A training
// row can only be among a test row's k nearest if its upper bound s~ + b reaches the k-th
// largest lower bound s~ - b; those candidates are re-ranked with float32 dot products.
// rigorous: that bound, so the result is exactly the float32 search's (up to float32 rounding
// at near-ties), but the bound is ~sqrt(d) times the typical error and the candidates are many.
// Otherwise (knnClassify's default) b is scaled by 5/sqrt(d), ~7 standard deviations of the
// rounding error: measured neighbour recall 99.9998% (blobs) and 99.98% (Fashion-MNIST
// random-ConvNet features, misses = ties between duplicate images), bench_knn, k=200. Rows
// are centred on the mean training row before quantising (see knn_int8.cpp), and each test
// row's threshold is seeded from a sample and verified (re-searched when the seed was too
// high). Same arguments as knnSearchExact; throws pretext::Error when the CPU is not
// supported.
KnnInt8Stats knnSearchInt8(const torch::Tensor& train, const torch::Tensor& test, int64_t k,
                           const KnnRowFn& onRow, bool rigorous = false);

// The k nearest training rows of every test row by cosine similarity (features need not be
// normalised): indices int64 [M,k] and similarities float [M,k], by decreasing similarity.
// exact: knnSearchExact, else knnSearchInt8 (throws when unsupported) with `rigorous`.
std::pair<torch::Tensor, torch::Tensor> knnNeighbours(const torch::Tensor& trainFeatures,
                                                      const torch::Tensor& testFeatures, int64_t k,
                                                      bool exact, bool rigorous = false,
                                                      KnnInt8Stats* stats = nullptr);

}  // namespace pretext::detail
