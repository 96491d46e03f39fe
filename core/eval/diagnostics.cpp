#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "core/eval/checks.h"
#include "core/eval/probes.h"
#include "core/util/error.h"

namespace pretext {

namespace {
const auto kRows = torch::nn::functional::NormalizeFuncOptions().dim(1);
}

CollapseStats collapseStats(const torch::Tensor& z) {
  detail::checkFeatures("collapse stats", "embedding", z);
  CollapseStats stats;
  if (z.size(0) < 2) return stats;  // one sample has no spread: both measures stay 0
  torch::NoGradGuard noGrad;
  const auto x = z.to(torch::kCPU, torch::kDouble);
  const auto zn = torch::nn::functional::normalize(x, kRows);
  stats.normalizedStd = zn.std(0, /*unbiased=*/true).mean().item<double>();

  // Effective rank of the *centered* embeddings: how many directions the spread around the
  // mean really uses. All rows identical (nothing left after centering) reads as rank 1,
  // one point. Note that tiny isotropic noise around one point still reads as high rank
  // (the measure is scale-free); normalizedStd near 0 flags that kind of collapse.
  const auto centered = x - x.mean(0, /*keepdim=*/true);
  const double scale = x.abs().max().item<double>();
  if (centered.abs().max().item<double>() <= 1e-9 * std::max(scale, 1e-30)) {
    stats.effectiveRank = 1.0;
    return stats;
  }
  const auto s = at::linalg_svdvals(centered);
  const auto p = s / s.sum();
  const auto nz = p.masked_select(p > 0);
  stats.effectiveRank = std::exp(-(nz * nz.log()).sum().item<double>());
  return stats;
}

torch::Tensor pcaProject(const torch::Tensor& x, int64_t dims) {
  detail::checkFeatures("pca", "input", x);
  if (dims < 1 || dims > x.size(1)) {
    std::ostringstream msg;
    msg << "pca: dims must lie in 1.." << x.size(1) << " for " << x.size(1)
        << "-dimensional input, got " << dims;
    throw Error(msg.str());
  }
  torch::NoGradGuard noGrad;
  // Eigendecomposition of the DxD covariance: O(N D^2) and cheap for large N (versus an SVD
  // of the NxD matrix). Computed in double for accuracy.
  const auto xd = x.to(torch::kCPU, torch::kDouble);
  const auto centered = xd - xd.mean(0, /*keepdim=*/true);
  const auto cov = torch::mm(centered.t(), centered);
  auto [eigenvalues, eigenvectors] = at::linalg_eigh(cov);     // ascending
  auto components = eigenvectors.flip({1}).slice(1, 0, dims);  // [D,dims], descending
  // Deterministic sign: the largest-|value| entry of each component is positive.
  const auto argmax = components.abs().argmax(0, /*keepdim=*/true);
  const auto sign = components.gather(0, argmax).sign();
  components = components * torch::where(sign == 0, torch::ones_like(sign), sign);
  return torch::mm(centered, components).to(torch::kFloat).contiguous();
}

std::pair<torch::Tensor, torch::Tensor> retrieveTopK(const torch::Tensor& gallery,
                                                     const torch::Tensor& queries, int64_t k) {
  detail::checkFeatures("retrieval", "gallery", gallery);
  detail::checkFeatures("retrieval", "query", queries);
  if (gallery.size(1) != queries.size(1)) {
    throw Error("retrieval: gallery features have dimension " + std::to_string(gallery.size(1)) +
                " but query features have dimension " + std::to_string(queries.size(1)));
  }
  if (k < 1) throw Error("retrieval: k must be at least 1, got " + std::to_string(k));
  torch::NoGradGuard noGrad;
  const auto g = torch::nn::functional::normalize(gallery.to(torch::kCPU, torch::kFloat), kRows);
  const auto q = torch::nn::functional::normalize(queries.to(torch::kCPU, torch::kFloat), kRows);
  const int64_t kk = std::min(k, g.size(0));
  const int64_t nq = q.size(0);
  auto indices = torch::empty({nq, kk}, torch::kLong);
  auto sims = torch::empty({nq, kk}, torch::kFloat);
  constexpr int64_t kChunk = 1024;
  for (int64_t start = 0; start < nq; start += kChunk) {
    const int64_t end = std::min(nq, start + kChunk);
    auto [v, i] = torch::mm(q.slice(0, start, end), g.t()).topk(kk, 1, true, true);
    sims.slice(0, start, end).copy_(v);
    indices.slice(0, start, end).copy_(i);
  }
  return {indices, sims};
}

}  // namespace pretext
