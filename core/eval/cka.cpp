#include "core/eval/cka.h"

#include <torch/torch.h>

#include <sstream>

#include "core/models/backbone.h"
#include "core/util/error.h"

namespace pretext {

torch::Tensor centeredGram(const torch::Tensor& x) {
  if (!x.defined() || x.dim() < 1 || x.size(0) < 2)
    throw Error("CKA: a representation needs at least 2 inputs (rows)");
  torch::NoGradGuard ng;
  auto flat = x.reshape({x.size(0), -1}).to(torch::kDouble);
  // Centring the columns first is the same as H K H, and keeps the numbers small.
  flat = flat - flat.mean(0, /*keepdim=*/true);
  return torch::matmul(flat, flat.t());
}

double ckaFromGrams(const torch::Tensor& kc, const torch::Tensor& lc) {
  if (!kc.defined() || !lc.defined() || kc.dim() != 2 || !kc.sizes().equals(lc.sizes()) ||
      kc.size(0) != kc.size(1)) {
    std::ostringstream msg;
    msg << "CKA: the two Gram matrices must be square and of the same size, got "
        << (kc.defined() ? kc.sizes() : c10::IntArrayRef{}) << " and "
        << (lc.defined() ? lc.sizes() : c10::IntArrayRef{});
    throw Error(msg.str());
  }
  torch::NoGradGuard ng;
  auto k = kc.to(torch::kDouble);
  auto l = lc.to(torch::kDouble).to(k.device());
  const double kk = k.norm().item<double>(), ll = l.norm().item<double>();
  if (kk == 0 || ll == 0) return 0;
  return (k * l).sum().item<double>() / (kk * ll);
}

double linearCka(const torch::Tensor& x, const torch::Tensor& y) {
  if (x.defined() && y.defined() && x.size(0) != y.size(0)) {
    std::ostringstream msg;
    msg << "CKA: the two representations must be of the same inputs, got " << x.size(0) << " and "
        << y.size(0) << " rows";
    throw Error(msg.str());
  }
  return ckaFromGrams(centeredGram(x), centeredGram(y));
}

LayerGrams encoderLayerGrams(Encoder& encoder, const torch::Tensor& images, torch::Device device,
                             int64_t batchSize) {
  if (!images.defined() || images.dim() != 4 || images.size(0) < 2)
    throw Error("CKA: expected at least 2 images [N,C,H,W]");
  if (batchSize < 1) throw Error("CKA: batch size must be at least 1");
  torch::NoGradGuard ng;
  const int64_t n = images.size(0);
  std::vector<std::vector<torch::Tensor>> parts;  // per layer, per batch: [b, D] float on the CPU
  for (int64_t start = 0; start < n; start += batchSize) {
    auto batch = images.slice(0, start, std::min(n, start + batchSize)).to(device);
    batch = batch.is_floating_point() ? batch.to(torch::kFloat) : batch.to(torch::kFloat).div_(255);
    auto layers = encoder.stages(batch);
    layers.push_back(encoder.forward(batch));
    if (parts.empty()) parts.resize(layers.size());
    for (size_t i = 0; i < layers.size(); ++i)
      parts[i].push_back(layers[i].reshape({layers[i].size(0), -1}).to(torch::kCPU, torch::kFloat));
  }
  LayerGrams out;
  for (size_t i = 0; i < parts.size(); ++i) {
    out.names.push_back(i + 1 == parts.size() ? "features" : "stage " + std::to_string(i + 1));
    auto whole = torch::cat(parts[i], 0);
    parts[i].clear();  // the flattened maps can be large: free each once its Gram is made
    out.grams.push_back(centeredGram(whole));
  }
  return out;
}

torch::Tensor ckaMatrix(const LayerGrams& a, const LayerGrams& b) {
  if (a.grams.empty() || b.grams.empty()) throw Error("CKA: no layers to compare");
  if (a.grams.front().size(0) != b.grams.front().size(0)) {
    std::ostringstream msg;
    msg << "CKA: the two encoders saw different numbers of images (" << a.grams.front().size(0) << " and "
        << b.grams.front().size(0) << ")";
    throw Error(msg.str());
  }
  auto m = torch::zeros({static_cast<int64_t>(a.grams.size()), static_cast<int64_t>(b.grams.size())},
                        torch::kDouble);
  auto acc = m.accessor<double, 2>();
  for (size_t i = 0; i < a.grams.size(); ++i)
    for (size_t j = 0; j < b.grams.size(); ++j) acc[i][j] = ckaFromGrams(a.grams[i], b.grams[j]);
  return m;
}

}  // namespace pretext
