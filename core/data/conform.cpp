#include "core/data/conform.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/augment/augment.h"
#include "core/util/error.h"

namespace pretext {

Dataset conformImages(const Dataset& d, int64_t channels, int64_t size) {
  if (!d.images.defined() || d.size() == 0) return d;
  const int64_t from = d.channels();
  auto badChannels = [&] {
    return Error(d.name + ": cannot convert images of " + std::to_string(from) + " channel(s) to " +
                 std::to_string(channels) + ": only gray (1) and RGB (3) convert into each other");
  };
  if ((channels != 1 && channels != 3) || (from != 1 && from != 3)) throw badChannels();
  if (size < 1) throw Error(d.name + ": image size must be at least 1, got " + std::to_string(size));
  if (from == channels && d.height() == size && d.width() == size) return d;

  Dataset out = d;
  out.images = torch::empty({d.size(), channels, size, size}, torch::kUInt8);
  // In chunks, so a large set never exists as one float tensor.
  constexpr int64_t kChunk = 2048;
  torch::NoGradGuard noGrad;
  for (int64_t start = 0; start < d.size(); start += kChunk) {
    const int64_t end = std::min(d.size(), start + kChunk);
    auto x = d.images.slice(0, start, end).to(torch::kFloat);
    if (from == 3 && channels == 1) x = toGrayscale(x).slice(1, 0, 1);  // ITU-R 601 luma
    if (x.size(2) != size || x.size(3) != size) {
      const bool shrink = x.size(2) > size || x.size(3) > size;
      x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                    .size(std::vector<int64_t>{size, size})
                                                    .mode(torch::kBilinear)
                                                    .align_corners(false)
                                                    .antialias(shrink));
    }
    if (from == 1 && channels == 3) x = x.expand({-1, 3, -1, -1});
    out.images.slice(0, start, end).copy_(x.round().clamp_(0, 255));
  }
  out.name = d.name + " (as " + std::to_string(channels) + "x" + std::to_string(size) + "x" +
             std::to_string(size) + ")";
  return out;
}

}  // namespace pretext
