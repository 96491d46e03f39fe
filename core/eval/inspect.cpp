#include "core/eval/inspect.h"

#include <torch/torch.h>

#include <algorithm>
#include <sstream>

#include "core/eval/checks.h"
#include "core/models/backbone.h"
#include "core/util/error.h"

namespace pretext {

torch::Tensor firstLayerFilters(Encoder& encoder) {
  torch::NoGradGuard noGrad;
  const auto normalised = [](const torch::Tensor& w) {
    auto f = w.detach().to(torch::kCPU, torch::kFloat);
    const auto maxAbs = f.abs().amax({1, 2, 3}, /*keepdim=*/true);
    const auto scale = torch::where(maxAbs > 0, 0.5 / maxAbs, torch::zeros_like(maxAbs));
    return (f * scale + 0.5).clamp(0, 1).contiguous();
  };
  if (const auto filters = encoder.inputFilters(); filters.defined()) return normalised(filters);
  // named_parameters lists a module's own parameters, then its children's in registration
  // order: the first 4-D one is the first convolution the input meets.
  for (const auto& item : encoder.named_parameters(/*recurse=*/true)) {
    const auto& w = item.value();
    if (w.dim() == 4) return normalised(w);
  }
  throw Error("first-layer filters: this encoder has no convolution weight to show");
}

std::vector<torch::Tensor> channelActivations(Encoder& encoder, const torch::Tensor& images,
                                              torch::Device device, int64_t batchSize) {
  if (!images.defined() || images.dim() != 4 || images.size(0) == 0)
    throw Error("channel activations: expected a non-empty image batch [N,C,H,W]");
  if (batchSize < 1) throw Error("channel activations: batch size must be at least 1");
  if (encoder.numStages() < 1)
    throw Error("channel activations: this encoder does not expose its stages");
  torch::NoGradGuard noGrad;
  const int64_t n = images.size(0);
  std::vector<std::vector<torch::Tensor>> parts;
  for (int64_t start = 0; start < n; start += batchSize) {
    auto batch = images.slice(0, start, std::min(n, start + batchSize)).to(device);
    batch = batch.is_floating_point() ? batch.to(torch::kFloat) : batch.to(torch::kFloat).div_(255);
    const auto maps = encoder.stages(batch);
    if (parts.empty()) parts.resize(maps.size());
    for (size_t s = 0; s < maps.size(); ++s)
      parts[s].push_back(maps[s].mean({2, 3}).to(torch::kCPU, torch::kFloat));
  }
  std::vector<torch::Tensor> out;
  for (auto& p : parts) out.push_back(torch::cat(p, 0).contiguous());
  return out;
}

std::pair<torch::Tensor, torch::Tensor> topActivating(const torch::Tensor& activations,
                                                      int64_t channel, int64_t k) {
  if (!activations.defined() || activations.dim() != 2)
    throw Error("top activations: expected activations [N,C]");
  if (channel < 0 || channel >= activations.size(1)) {
    std::ostringstream msg;
    msg << "top activations: channel " << channel << " out of range 0.." << activations.size(1) - 1;
    throw Error(msg.str());
  }
  if (k < 1) throw Error("top activations: k must be at least 1");
  const auto column = activations.select(1, channel).to(torch::kFloat);
  auto [values, indices] = column.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true);
  const int64_t kk = std::min(k, column.size(0));
  return {indices.slice(0, 0, kk).contiguous(), values.slice(0, 0, kk).contiguous()};
}

torch::Tensor classBalancedOrder(const torch::Tensor& labels, int64_t n, int64_t numClasses,
                                 int64_t m) {
  m = std::max<int64_t>(0, std::min(m, n));
  if (!labels.defined() || numClasses < 1) return torch::arange(m, torch::kLong);
  const auto l = labels.to(torch::kCPU, torch::kLong).contiguous();
  if (l.numel() != n) throw Error("class order: labels and data sizes differ");
  const int64_t* lp = l.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> byClass(static_cast<size_t>(numClasses));
  for (int64_t i = 0; i < n; ++i) {
    if (lp[i] < 0 || lp[i] >= numClasses) throw Error("class order: label out of range");
    byClass[static_cast<size_t>(lp[i])].push_back(i);
  }
  // Round-robin: the r-th image of every class before the (r+1)-th of any.
  std::vector<size_t> taken(byClass.size(), 0);
  int64_t count = 0;
  for (size_t round = 0; count < m; ++round) {
    bool any = false;
    for (size_t c = 0; c < byClass.size() && count < m; ++c) {
      if (round < byClass[c].size()) {
        ++taken[c];
        ++count;
        any = true;
      }
    }
    if (!any) break;
  }
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(count));
  for (size_t c = 0; c < byClass.size(); ++c)
    order.insert(order.end(), byClass[c].begin(), byClass[c].begin() + taken[c]);
  return torch::tensor(order, torch::kLong);
}

torch::Tensor cosineSimilarityMatrix(const torch::Tensor& features) {
  detail::checkFeatures("similarity", "input", features);
  torch::NoGradGuard noGrad;
  const auto f = features.to(torch::kCPU, torch::kFloat);
  const auto norms = f.norm(2, 1, /*keepdim=*/true);
  const auto unit = f / torch::where(norms > 0, norms, torch::ones_like(norms));
  auto sim = torch::mm(unit, unit.t()).clamp(-1, 1);
  sim.fill_diagonal_(1);
  return sim.contiguous();
}

double similarityContrast(const torch::Tensor& similarity, const torch::Tensor& labels) {
  const int64_t m = similarity.size(0);
  const auto l = labels.to(torch::kCPU, torch::kLong);
  const auto same = l.unsqueeze(1) == l.unsqueeze(0);
  const auto offDiag = torch::eye(m, torch::dtype(torch::kBool)).logical_not();
  const auto within = same & offDiag;
  const auto between = same.logical_not();
  const auto s = similarity.to(torch::kCPU, torch::kDouble);
  const int64_t nw = within.sum().item<int64_t>(), nb = between.sum().item<int64_t>();
  if (nw == 0 || nb == 0) return 0;
  return s.masked_select(within).mean().item<double>() -
         s.masked_select(between).mean().item<double>();
}

double neighbourAgreement(const torch::Tensor& points, const torch::Tensor& labels, int64_t k) {
  detail::checkFeatures("neighbour agreement", "embedding", points);
  const int64_t n = points.size(0);
  if (!labels.defined() || labels.numel() != n)
    throw Error("neighbour agreement: needs one label per point");
  if (n < 2 || k < 1) return 0;
  torch::NoGradGuard noGrad;
  const int64_t kk = std::min(k, n - 1);
  const auto p = points.to(torch::kCPU, torch::kFloat);
  auto d = torch::cdist(p, p);
  d.fill_diagonal_(std::numeric_limits<float>::infinity());
  const auto nearest = std::get<1>(d.topk(kk, 1, /*largest=*/false, /*sorted=*/true));
  const auto l = labels.to(torch::kCPU, torch::kLong);
  const auto agree = l.index({nearest}).eq(l.unsqueeze(1));
  return agree.to(torch::kDouble).mean().item<double>();
}

}  // namespace pretext
