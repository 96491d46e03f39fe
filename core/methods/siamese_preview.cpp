#include "core/methods/siamese_preview.h"

#include <torch/torch.h>

#include <cstdio>

namespace pretext {

LossAnatomy predictionAnatomy(const torch::Tensor& p1, const torch::Tensor& t2, const torch::Tensor& p2,
                              const torch::Tensor& t1,
                              const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& rowLoss) {
  torch::NoGradGuard ng;
  namespace F = torch::nn::functional;
  auto unit = [](const torch::Tensor& x) { return F::normalize(x.to(torch::kFloat), F::NormalizeFuncOptions().dim(1)); };
  const int64_t n = p1.size(0);
  auto cos = torch::matmul(unit(p1), unit(t2).t()).cpu();
  auto back = (unit(p2) * unit(t1)).sum(1).cpu();
  auto offDiagonal = cos.masked_select(~torch::eye(n, torch::kBool));
  LossAnatomy a;
  a.matrix = cos;
  a.positives = torch::arange(n, torch::kLong);
  a.perRow = rowLoss(cos.diagonal(), back);
  a.terms = {{"loss", a.perRow.mean().item<double>()},
             {"mean cos, same image", cos.diagonal().mean().item<double>()},
             {"mean cos, other images", offDiagonal.numel() ? offDiagonal.mean().item<double>() : 0.0}};
  return a;
}

Preview pairPredictionPreview(const torch::Tensor& v1, const torch::Tensor& v2,
                              const torch::Tensor& p1, const torch::Tensor& z2,
                              const std::string& name, const std::string& target) {
  torch::NoGradGuard ng;
  namespace F = torch::nn::functional;
  const int64_t n = v1.size(0);
  auto p = F::normalize(p1.detach().to(torch::kFloat).cpu(), F::NormalizeFuncOptions().dim(1));
  auto z = F::normalize(z2.detach().to(torch::kFloat).cpu(), F::NormalizeFuncOptions().dim(1));
  auto sim = torch::matmul(p, z.t());  // [N,N]: prediction i against target j
  auto [best, picked] = sim.max(1);
  auto a = v1.detach().to(torch::kFloat).cpu(), b = v2.detach().to(torch::kFloat).cpu();
  std::vector<torch::Tensor> cells;
  std::vector<std::string> labels;
  int64_t right = 0;
  double ownSum = 0;
  char own[32], found[32];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = picked[i].item<int64_t>();
    const bool ok = j == i;
    right += ok;
    const double ownCos = sim[i][i].item<double>();
    ownSum += ownCos;
    std::snprintf(own, sizeof own, "own %.2f", ownCos);
    std::snprintf(found, sizeof found, "%sbest %.2f", ok ? "" : "x ", best[i].item<double>());
    cells.insert(cells.end(), {a[i], b[i], b[j]});
    labels.insert(labels.end(), {"view 1", own, found});
  }
  char summary[96];
  std::snprintf(
      summary, sizeof summary, " Mean own cosine %.2f; own pair closest for %lld of %lld.",
      n > 0 ? ownSum / double(n) : 0.0, static_cast<long long>(right), static_cast<long long>(n));
  return {name,
          "each row: view 1, its own view 2 (cosine of the prediction from view 1 with the " +
              target + " of view 2), and the view 2 whose " + target +
              " the prediction is closest to among the " + std::to_string(n) +
              " (red = not its own pair)." + summary,
          n > 0 ? torch::stack(cells) : torch::zeros({0, a.size(1), a.size(2), a.size(3)}), labels,
          6};
}

}  // namespace pretext
