#include <torch/torch.h>

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

  auto scores = torch::empty({nTest, numClasses}, torch::kFloat);
  for (int64_t start = 0; start < nTest; start += options.chunk()) {
    const int64_t end = std::min(nTest, start + options.chunk());
    const auto sim = torch::mm(test.slice(0, start, end), train.t());  // [c,Ntrain]
    auto [topSim, topIdx] = sim.topk(k, 1, /*largest=*/true, /*sorted=*/false);
    // exp(sim/T), shifted by the row maximum so a small T cannot overflow; a per-row
    // factor does not change the vote.
    const auto rowMax = std::get<0>(topSim.max(1, /*keepdim=*/true));
    const auto weights = topSim.sub_(rowMax).mul_(invT).exp_();
    const auto neighbourLabels = yTrain.index({topIdx});  // [c,k]
    scores.slice(0, start, end).zero_().scatter_add_(1, neighbourLabels, weights);
  }
  return summariseScores(scores, testLabels, numClasses);
}

}  // namespace pretext
