#include "core/eval/sample_quality.h"

#include <torch/torch.h>

#include <cmath>

#include "core/util/error.h"

namespace pretext {

GaussianStats gaussianStats(const torch::Tensor& features) {
  if (!features.defined() || features.dim() != 2 || features.size(0) < 2)
    throw Error("Fréchet distance: expected features [N,D] of at least two images");
  auto f = features.to(torch::kCPU).to(torch::kDouble);
  auto mean = f.mean(0);
  auto c = f - mean;
  auto cov = c.t().mm(c) / double(f.size(0) - 1);
  return {mean, cov};
}

torch::Tensor sqrtSymmetricPsd(const torch::Tensor& s) {
  auto sym = ((s + s.t()) / 2).to(torch::kDouble);
  auto [l, v] = torch::linalg::eigh(sym, "L");
  return (v * l.clamp_min(0).sqrt().unsqueeze(0)).mm(v.t());
}

double frechetDistance(const GaussianStats& a, const GaussianStats& b) {
  if (a.mean.sizes() != b.mean.sizes())
    throw Error("Fréchet distance: the two sets' features differ in dimension (" +
                std::to_string(a.mean.size(0)) + " and " + std::to_string(b.mean.size(0)) + ")");
  const double meanTerm = (a.mean - b.mean).pow(2).sum().item<double>();
  auto root1 = sqrtSymmetricPsd(a.cov);
  auto inner = root1.mm(b.cov).mm(root1);
  // tr(M^1/2) of the symmetric PSD M: the sum of the square roots of its eigenvalues.
  auto l = torch::linalg::eigvalsh((inner + inner.t()) / 2, "L");
  const double trRoot = l.clamp_min(0).sqrt().sum().item<double>();
  const double d =
      meanTerm + a.cov.trace().item<double>() + b.cov.trace().item<double>() - 2 * trRoot;
  return std::max(0.0, d);  // rounding can take identical sets a hair below 0
}

double frechetDistance(const torch::Tensor& featuresA, const torch::Tensor& featuresB) {
  return frechetDistance(gaussianStats(featuresA), gaussianStats(featuresB));
}

ClassCoverage classCoverage(const torch::Tensor& predictions, int64_t numClasses,
                            int64_t minCount) {
  if (numClasses < 1) throw Error("class coverage: expected at least one class");
  if (minCount < 1) throw Error("class coverage: a class is found with at least one sample");
  ClassCoverage c;
  c.counts.assign(static_cast<size_t>(numClasses), 0);
  auto p = predictions.to(torch::kCPU).to(torch::kLong).flatten();
  const auto acc = p.accessor<int64_t, 1>();
  for (int64_t i = 0; i < p.size(0); ++i) {
    if (acc[i] < 0 || acc[i] >= numClasses)
      throw Error("class coverage: prediction " + std::to_string(acc[i]) + " is not a class of " +
                  std::to_string(numClasses));
    ++c.counts[static_cast<size_t>(acc[i])];
  }
  const double n = double(p.size(0));
  for (int64_t k : c.counts) {
    if (k >= minCount) ++c.classesFound;
    if (k > 0) c.entropy -= (double(k) / n) * std::log(double(k) / n);
  }
  c.maxEntropy = std::log(double(numClasses));
  return c;
}

ClassifierView classifierView(const ImagesFn& features, const ImagesFn& logits,
                              const torch::Tensor& images, torch::Device device,
                              int64_t batchSize) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> f, p;
  for (int64_t i = 0; i < images.size(0); i += batchSize) {
    auto x = images.slice(0, i, std::min(i + batchSize, images.size(0))).to(device);
    if (x.scalar_type() == torch::kByte) x = x.to(torch::kFloat) / 255.0;
    x = x.to(torch::kFloat);
    f.push_back(features(x).to(torch::kFloat).cpu());
    p.push_back(logits(x).argmax(1).cpu());
  }
  if (f.empty()) throw Error("classifier view: no images");
  return {torch::cat(f), torch::cat(p)};
}

}  // namespace pretext
