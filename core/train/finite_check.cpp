#include "core/train/finite_check.h"

#include <utility>
#include <vector>

namespace pretext {

namespace {

// NAME (nan|inf) of the first tensor holding a non-finite value, after one summed read of all.
std::string firstNonFinite(const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> counts;
  for (const auto& [name, t] : named)
    counts.push_back(torch::isfinite(t).logical_not().sum());
  if (counts.empty() || torch::stack(counts).sum().item<int64_t>() == 0) return "";
  for (size_t i = 0; i < named.size(); ++i) {
    if (counts[i].item<int64_t>() == 0) continue;
    const bool nan = torch::isnan(named[i].second).any().item<bool>();
    return named[i].first + (nan ? " (nan)" : " (inf)");
  }
  return "";
}

}  // namespace

std::string firstNonFiniteGradient(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    if (p.value().grad().defined() && p.value().grad().is_floating_point())
      named.emplace_back(p.key(), p.value().grad());
  return firstNonFinite(named);
}

std::string firstNonFiniteTensor(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    if (p.value().is_floating_point()) named.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    if (b.value().is_floating_point()) named.emplace_back(b.key(), b.value());
  return firstNonFinite(named);
}

}  // namespace pretext
