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
  detail::checkFeatures("knn", "train", trainFeatures);
  detail::checkFeatures("knn", "test", testFeatures);
  if (trainFeatures.size(1) != testFeatures.size(1)) {
    throw Error("knn: train features have dimension " + std::to_string(trainFeatures.size(1)) +
                " but test features have dimension " + std::to_string(testFeatures.size(1)));
  }
  detail::checkLabels("knn", "train", trainFeatures, trainLabels, numClasses);
  detail::checkLabels("knn", "test", testFeatures, testLabels, numClasses);
  if (options.k() < 1) throw Error("knn: k must be at least 1, got " + std::to_string(options.k()));
  if (!(options.temperature() > 0)) {
    throw Error("knn: temperature must be positive, got " + std::to_string(options.temperature()));
  }
  if (options.chunk() < 1) {
    throw Error("knn: chunk must be at least 1, got " + std::to_string(options.chunk()));
  }

  torch::NoGradGuard noGrad;
  const auto fopts = torch::nn::functional::NormalizeFuncOptions().dim(1);
  // Train [Ntrain,D] row-major: mm(test, train.t()) is one sgemm with a transposed operand.
  const auto train = torch::nn::functional::normalize(
      trainFeatures.to(torch::kCPU, torch::kFloat), fopts).contiguous();
  const auto test = torch::nn::functional::normalize(
      testFeatures.to(torch::kCPU, torch::kFloat), fopts).contiguous();
  const auto yTrain = trainLabels.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t nTrain = train.size(0);
  const int64_t nTest = test.size(0);
  const int64_t k = std::min(options.k(), nTrain);
  const double invT = 1.0 / options.temperature();

  // Per test row: select the k most similar training rows with a size-k min-heap (one
  // compare per candidate once the heap is full; faster than Tensor::topk, which copies and
  // sorts (value,index) pairs), then add the weights exp(sim/T) to the neighbours' classes.
  // Weights are shifted by the row's best similarity, exp((sim - max)/T), so a small T cannot
  // overflow; a per-row factor does not change the vote.
  auto scores = torch::zeros({nTest, numClasses}, torch::kDouble);
  const int64_t* labelPtr = yTrain.data_ptr<int64_t>();
  for (int64_t start = 0; start < nTest; start += options.chunk()) {
    const int64_t end = std::min(nTest, start + options.chunk());
    const auto sim = torch::mm(test.slice(0, start, end), train.t()).contiguous();  // [c,Ntrain]
    const float* simPtr = sim.data_ptr<float>();
    double* scorePtr = scores.data_ptr<double>() + start * numClasses;
    at::parallel_for(0, end - start, 16, [&](int64_t rowBegin, int64_t rowEnd) {
      using Entry = std::pair<float, int64_t>;
      const auto greater = [](const Entry& a, const Entry& b) { return a.first > b.first; };
      std::vector<Entry> heap;
      heap.reserve(static_cast<size_t>(k));
      for (int64_t row = rowBegin; row < rowEnd; ++row) {
        const float* r = simPtr + row * nTrain;
        heap.clear();
        for (int64_t j = 0; j < k; ++j) heap.emplace_back(r[j], j);
        std::make_heap(heap.begin(), heap.end(), greater);  // heap.front() = k-th best so far
        float threshold = heap.front().first;
        for (int64_t j = k; j < nTrain; ++j) {
          if (r[j] > threshold) {
            std::pop_heap(heap.begin(), heap.end(), greater);
            heap.back() = Entry(r[j], j);
            std::push_heap(heap.begin(), heap.end(), greater);
            threshold = heap.front().first;
          }
        }
        float best = heap.front().first;
        for (const auto& e : heap) best = std::max(best, e.first);
        double* out = scorePtr + row * numClasses;
        for (const auto& e : heap) {
          out[labelPtr[e.second]] += std::exp((static_cast<double>(e.first) - best) * invT);
        }
      }
    });
  }
  return summariseScores(scores, testLabels, numClasses);
}

}  // namespace pretext
