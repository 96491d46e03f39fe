#include <torch/torch.h>

#include "core/eval/checks.h"
#include "core/eval/probes.h"
#include "core/util/error.h"

namespace pretext {

ProbeResult summariseScores(const torch::Tensor& scores, const torch::Tensor& labels,
                            int64_t numClasses) {
  detail::checkFeatures("scores", "class", scores);
  detail::checkLabels("scores", "test", scores, labels, numClasses);
  if (scores.size(1) != numClasses) {
    throw Error("scores: expected " + std::to_string(numClasses) + " class columns, got " +
                std::to_string(scores.size(1)));
  }
  const auto y = labels.to(torch::kCPU, torch::kLong);
  const auto s = scores.to(torch::kCPU);
  ProbeResult result;
  result.predictions = s.argmax(1);
  result.confusion = confusionMatrix(result.predictions, y, numClasses);
  const double n = static_cast<double>(y.size(0));
  result.top1 = 100.0 * result.predictions.eq(y).sum().item<double>() / n;
  if (numClasses >= 5) {
    const auto top5 = std::get<1>(s.topk(5, 1));
    result.top5 = 100.0 * top5.eq(y.unsqueeze(1)).any(1).sum().item<double>() / n;
  }
  return result;
}

torch::Tensor confusionMatrix(const torch::Tensor& predictions, const torch::Tensor& labels,
                              int64_t numClasses) {
  const auto p = predictions.to(torch::kCPU, torch::kLong);
  const auto y = labels.to(torch::kCPU, torch::kLong);
  if (p.dim() != 1 || y.dim() != 1 || p.size(0) != y.size(0)) {
    throw Error("confusion: " + std::to_string(p.numel()) + " predictions but " +
                std::to_string(y.numel()) + " labels");
  }
  if (p.numel() == 0) return torch::zeros({numClasses, numClasses}, torch::kLong);
  return torch::bincount(y * numClasses + p, {}, numClasses * numClasses)
      .view({numClasses, numClasses});
}

}  // namespace pretext
