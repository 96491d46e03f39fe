#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/eval/checks.h"
#include "core/eval/probes.h"
#include "core/util/error.h"

namespace pretext {

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
  const auto fopts = torch::nn::functional::NormalizeFuncOptions().dim(1);
  // Train [Ntrain,D] row-major: mm(test, train.t()) is one sgemm with a transposed operand.
  const auto train =
      torch::nn::functional::normalize(trainFeatures.to(torch::kCPU, torch::kFloat), fopts)
          .contiguous();
  const auto test =
      torch::nn::functional::normalize(testFeatures.to(torch::kCPU, torch::kFloat), fopts)
          .contiguous();
  const auto yTrain = trainLabels.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t nTrain = train.size(0);
  const int64_t nTest = test.size(0);
  const int64_t k = std::min(options.k(), nTrain);
  const double invT = 1.0 / options.temperature();

  // Per test row: select the k most similar training rows with a size-k min-heap (one
  // compare per candidate once the heap is full; cheaper than Tensor::topk, which copies and
  // sorts (value,index) pairs), then add the weights exp(sim/T) to the neighbours' classes.
  // Weights are shifted by the row's best similarity, exp((sim - max)/T), so a small T cannot
  // overflow; a per-row factor does not change the vote.
  // Cache blocking: the similarities of a chunk of test rows are computed against
  // `trainBlock` training rows at a time, so each block is consumed by the heaps while it is
  // still in cache instead of streaming a chunk x Ntrain matrix through memory.
  using Entry = std::pair<float, int64_t>;
  const auto greater = [](const Entry& a, const Entry& b) { return a.first > b.first; };
  const int64_t block = options.trainBlock() > 0 ? options.trainBlock() : nTrain;
  auto scores = torch::zeros({nTest, numClasses}, torch::kDouble);
  const int64_t* labelPtr = yTrain.data_ptr<int64_t>();
  // Heaps take chunk x k entries; keep them under ~256 MB when k is huge.
  constexpr int64_t kMaxHeapEntries = int64_t(16) << 20;
  const int64_t chunk =
      std::max<int64_t>(1, std::min({options.chunk(), nTest, kMaxHeapEntries / k}));
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
    double* scorePtr = scores.data_ptr<double>() + start * numClasses;
    for (int64_t row = 0; row < end - start; ++row) {
      const Entry* heap = heaps.data() + row * k;
      float best = heap[0].first;
      for (int64_t i = 0; i < k; ++i) best = std::max(best, heap[i].first);
      double* out = scorePtr + row * numClasses;
      for (int64_t i = 0; i < k; ++i) {
        out[labelPtr[heap[i].second]] +=
            std::exp((static_cast<double>(heap[i].first) - best) * invT);
      }
    }
  }
  return summariseScores(scores, testLabels, numClasses);
}

}  // namespace pretext
