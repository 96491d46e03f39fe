#include <torch/torch.h>

#include <cmath>

#include "core/eval/checks.h"
#include "core/eval/probes.h"
#include "core/util/error.h"

namespace pretext {

ProbeResult linearProbe(const torch::Tensor& trainFeatures, const torch::Tensor& trainLabels,
                        const torch::Tensor& testFeatures, const torch::Tensor& testLabels,
                        int64_t numClasses, const LinearProbeOptions& options) {
  detail::checkProbeInputs("linear probe", trainFeatures, trainLabels, testFeatures, testLabels, numClasses);
  if (options.maxIterations() < 1) {
    throw Error("linear probe: maxIterations must be at least 1, got " +
                std::to_string(options.maxIterations()));
  }
  if (!(options.weightDecay() >= 0)) {
    throw Error("linear probe: weightDecay must be >= 0, got " +
                std::to_string(options.weightDecay()));
  }

  // Standardise with the training statistics (constant dimensions stay at 0).
  torch::Tensor xTrain, xTest;
  {
    torch::NoGradGuard noGrad;
    const auto train = trainFeatures.to(torch::kCPU, torch::kFloat);
    const auto mean = train.mean(0, /*keepdim=*/true);
    const auto invStd = train.std(0, /*unbiased=*/false, /*keepdim=*/true).add_(1e-6).reciprocal_();
    xTrain = (train - mean).mul_(invStd).contiguous();
    xTest = (testFeatures.to(torch::kCPU, torch::kFloat) - mean).mul_(invStd).contiguous();
  }
  const auto yTrain = trainLabels.to(torch::kCPU, torch::kLong);
  const int64_t dim = xTrain.size(1);

  // Multinomial logistic regression, zero init (deterministic, and the loss is convex so
  // the start does not matter): mean cross-entropy + weightDecay/2 * ||W||^2.
  auto weight = torch::zeros({dim, numClasses}, torch::kFloat).requires_grad_(true);
  auto bias = torch::zeros({numClasses}, torch::kFloat).requires_grad_(true);
  const double wd = options.weightDecay();

  auto lbfgsOptions = torch::optim::LBFGSOptions(1.0)
                          .max_iter(options.maxIterations())
                          .max_eval(options.maxIterations() * 5 / 4 + 1)
                          .tolerance_grad(1e-7)
                          .tolerance_change(options.tolerance())
                          .history_size(20)
                          .line_search_fn("strong_wolfe");
  torch::optim::LBFGS optimizer({weight, bias}, lbfgsOptions);
  int64_t evaluations = 0;
  auto closure = [&]() {
    ++evaluations;
    optimizer.zero_grad();
    auto logits = torch::addmm(bias, xTrain, weight);
    auto loss = torch::nn::functional::cross_entropy(logits, yTrain);
    if (wd > 0) loss = loss + 0.5 * wd * weight.pow(2).sum();
    loss.backward();
    return loss;
  };
  optimizer.step(closure);
  // step() returns the loss at the start; evaluate the objective at the solution.
  const double finalLoss = closure().item<double>();
  if (!std::isfinite(finalLoss)) {
    throw Error("linear probe: the loss diverged (non-finite); check the features for NaN/inf");
  }

  torch::NoGradGuard noGrad;
  const auto scores = torch::addmm(bias, xTest, weight);
  auto result = summariseScores(scores, testLabels, numClasses);
  result.trainLoss = finalLoss;
  result.lossEvaluations = evaluations - 1;
  return result;
}

}  // namespace pretext
