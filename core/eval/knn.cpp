#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/eval/checks.h"
#include "core/eval/knn_search.h"
#include "core/eval/probes.h"
#include "core/util/error.h"

namespace pretext {

namespace detail {

void knnSearchExact(const torch::Tensor& train, const torch::Tensor& test, int64_t k,
                    int64_t chunkRows, int64_t trainBlock, const KnnRowFn& onRow) {
  const int64_t nTrain = train.size(0);
  const int64_t nTest = test.size(0);
  // Per test row: select the k most similar training rows with a size-k min-heap (one
  // compare per candidate once the heap is full; cheaper than Tensor::topk, which copies and
  // sorts (value,index) pairs).
  // Cache blocking: the similarities of a chunk of test rows are computed against
  // `trainBlock` training rows at a time, so each block is consumed by the heaps while it is
  // still in cache instead of streaming a chunk x Ntrain matrix through memory.
  // Train [Ntrain,D] row-major: mm(test, train.t()) is one sgemm with a transposed operand.
  using Entry = KnnEntry;
  const auto greater = [](const Entry& a, const Entry& b) { return a.first > b.first; };
  const int64_t block = trainBlock > 0 ? trainBlock : nTrain;
  // Heaps take chunk x k entries; keep them under ~256 MB when k is huge.
  constexpr int64_t kMaxHeapEntries = int64_t(16) << 20;
  const int64_t chunk = std::max<int64_t>(1, std::min({chunkRows, nTest, kMaxHeapEntries / k}));
  std::vector<Entry> heaps(static_cast<size_t>(chunk * k));  // row r: [r*k, r*k + k)
  std::vector<int64_t> heapSizes(static_cast<size_t>(chunk));
  for (int64_t start = 0; start < nTest; start += chunk) {
    const int64_t end = std::min(nTest, start + chunk);
    const auto testChunk = test.slice(0, start, end);
    std::fill(heapSizes.begin(), heapSizes.end(), 0);
    for (int64_t b0 = 0; b0 < nTrain; b0 += block) {
      const int64_t b1 = std::min(nTrain, b0 + block);
      const int64_t width = b1 - b0;
      const auto sim = torch::mm(testChunk, train.slice(0, b0, b1).t()).contiguous();  // [c,w]
      const float* simPtr = sim.data_ptr<float>();
      at::parallel_for(0, end - start, 16, [&](int64_t rowBegin, int64_t rowEnd) {
        for (int64_t row = rowBegin; row < rowEnd; ++row) {
          const float* r = simPtr + row * width;
          Entry* heap = heaps.data() + row * k;
          int64_t size = heapSizes[row];
          int64_t j = 0;
          for (; j < width && size < k; ++j) {  // fill the heap first
            heap[size++] = Entry(r[j], b0 + j);
            if (size == k) std::make_heap(heap, heap + k, greater);
          }
          if (size == k) {
            float threshold = heap[0].first;  // the k-th best so far
            for (; j < width; ++j) {
              if (r[j] > threshold) {
                std::pop_heap(heap, heap + k, greater);
                heap[k - 1] = Entry(r[j], b0 + j);
                std::push_heap(heap, heap + k, greater);
                threshold = heap[0].first;
              }
            }
          }
          heapSizes[row] = size;
        }
      });
    }
    for (int64_t row = start; row < end; ++row) onRow(row, heaps.data() + (row - start) * k, k);
  }
}

namespace {

torch::Tensor normalisedRows(const torch::Tensor& features) {
  return torch::nn::functional::normalize(features.to(torch::kCPU, torch::kFloat),
                                          torch::nn::functional::NormalizeFuncOptions().dim(1))
      .contiguous();
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> knnNeighbours(const torch::Tensor& trainFeatures,
                                                      const torch::Tensor& testFeatures, int64_t k,
                                                      bool exact, bool rigorous,
                                                      KnnInt8Stats* stats) {
  torch::NoGradGuard noGrad;
  const auto train = normalisedRows(trainFeatures);
  const auto test = normalisedRows(testFeatures);
  k = std::min(k, train.size(0));
  auto indices = torch::empty({test.size(0), k}, torch::kLong);
  auto sims = torch::empty({test.size(0), k}, torch::kFloat);
  int64_t* indexPtr = indices.data_ptr<int64_t>();
  float* simPtr = sims.data_ptr<float>();
  const KnnRowFn record = [&](int64_t row, const KnnEntry* nb, int64_t count) {
    std::vector<KnnEntry> sorted(nb, nb + count);
    std::sort(sorted.begin(), sorted.end(), [](const KnnEntry& a, const KnnEntry& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (int64_t i = 0; i < count; ++i) {
      simPtr[row * k + i] = sorted[i].first;
      indexPtr[row * k + i] = sorted[i].second;
    }
  };
  if (exact) {
    knnSearchExact(train, test, k, 1024, 4096, record);
  } else {
    const KnnInt8Stats s = knnSearchInt8(train, test, k, record, rigorous);
    if (stats) *stats = s;
  }
  return {indices, sims};
}

}  // namespace detail

ProbeResult knnClassify(const torch::Tensor& trainFeatures, const torch::Tensor& trainLabels,
                        const torch::Tensor& testFeatures, const torch::Tensor& testLabels,
                        int64_t numClasses, const KnnOptions& options) {
  detail::checkProbeInputs("knn", trainFeatures, trainLabels, testFeatures, testLabels, numClasses);
  if (options.k() < 1) throw Error("knn: k must be at least 1, got " + std::to_string(options.k()));
  if (!(options.temperature() > 0)) {
    throw Error("knn: temperature must be positive, got " + std::to_string(options.temperature()));
  }
  if (options.trainBlock() < 0) {
    throw Error("knn: trainBlock must be >= 0 (0 = all), got " +
                std::to_string(options.trainBlock()));
  }
  if (options.chunk() < 1) {
    throw Error("knn: chunk must be at least 1, got " + std::to_string(options.chunk()));
  }

  torch::NoGradGuard noGrad;
  const auto train = detail::normalisedRows(trainFeatures);
  const auto test = detail::normalisedRows(testFeatures);
  const auto yTrain = trainLabels.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t nTrain = train.size(0);
  const int64_t nTest = test.size(0);
  const int64_t k = std::min(options.k(), nTrain);
  const double invT = 1.0 / options.temperature();

  // The neighbours vote with weights exp(sim/T), shifted by the row's best similarity,
  // exp((sim - max)/T), so a small T cannot overflow; a per-row factor does not change the
  // vote. Each row writes only its own scores, so rows may vote concurrently.
  auto scores = torch::zeros({nTest, numClasses}, torch::kDouble);
  double* scorePtr = scores.data_ptr<double>();
  const int64_t* labelPtr = yTrain.data_ptr<int64_t>();
  const detail::KnnRowFn vote = [&](int64_t row, const detail::KnnEntry* nb, int64_t count) {
    float best = nb[0].first;
    for (int64_t i = 0; i < count; ++i) best = std::max(best, nb[i].first);
    double* out = scorePtr + row * numClasses;
    for (int64_t i = 0; i < count; ++i) {
      out[labelPtr[nb[i].second]] += std::exp((static_cast<double>(nb[i].first) - best) * invT);
    }
  };
  if (!options.exact() && detail::knnInt8Worthwhile(nTrain, nTest, train.size(1), k)) {
    detail::knnSearchInt8(train, test, k, vote);
  } else {
    detail::knnSearchExact(train, test, k, options.chunk(), options.trainBlock(), vote);
  }
  return summariseScores(scores, testLabels, numClasses);
}

}  // namespace pretext
