#include <torch/torch.h>

#include <sstream>

#include "core/eval/probes.h"
#include "core/util/error.h"

namespace pretext {

torch::Tensor extractFeatures(const EncodeFn& encode, const Dataset& data, torch::Device device,
                              int64_t batchSize,
                              const std::function<void(int64_t done, int64_t total)>& progress) {
  if (!encode) throw Error("extractFeatures: no encoder given");
  const int64_t n = data.size();
  if (n == 0) {
    throw Error("extractFeatures: data set '" + data.name + "' is empty");
  }
  if (data.images.dim() != 4) {
    std::ostringstream msg;
    msg << "extractFeatures: images of '" << data.name << "' must be [N,C,H,W], got "
        << data.images.sizes();
    throw Error(msg.str());
  }
  if (batchSize < 1) {
    throw Error("extractFeatures: batch size must be at least 1, got " + std::to_string(batchSize));
  }
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> parts;
  parts.reserve(static_cast<size_t>((n + batchSize - 1) / batchSize));
  for (int64_t start = 0; start < n; start += batchSize) {
    const int64_t end = std::min(n, start + batchSize);
    torch::Tensor batch = data.images.slice(0, start, end).to(device).to(torch::kFloat).div_(255);
    torch::Tensor out = encode(batch);
    if (!out.defined() || out.dim() != 2 || out.size(0) != end - start) {
      std::ostringstream msg;
      msg << "extractFeatures: the encoder must return [B,D] features with B = " << end - start
          << ", got " << (out.defined() ? out.sizes() : torch::IntArrayRef{});
      throw Error(msg.str());
    }
    parts.push_back(out.detach().to(torch::kCPU, torch::kFloat));
    if (progress) progress(end, n);
  }
  return torch::cat(parts, 0).contiguous();
}

Dataset headOf(const Dataset& d, int64_t limit) {
  if (limit <= 0 || limit >= d.size()) return d;
  Dataset out = d;
  out.images = d.images.slice(0, 0, limit);
  if (d.labelled()) out.labels = d.labels.slice(0, 0, limit);
  return out;
}

}  // namespace pretext
