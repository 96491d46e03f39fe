// Photometric augmentations: colour jitter (torchvision semantics), grayscale, Gaussian blur,
// solarize, Gaussian noise and the Sobel filter, batched with per-sample parameters.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/augment/augment.h"
#include "core/augment/augment_internal.h"
#include "core/util/error.h"

namespace pretext {
namespace {

// ITU-R 601 luma, [B,1,H,W].
torch::Tensor luma(const torch::Tensor& x) {
  if (x.size(1) == 1) return x;
  return x.select(1, 0).mul(0.299).add_(x.select(1, 1), 0.587).add_(x.select(1, 2), 0.114)
      .unsqueeze(1);
}

// torchvision's _blend: f * a + (1 - f) * b, clamped to [0, 1]. f [B,1,1,1].
torch::Tensor blend(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& f) {
  return (a * f).add_(b * (1 - f)).clamp_(0, 1);
}

// Given a bool [B] CPU mask, runs fn on the selected samples only (all / none / subset).
template <typename Fn>
torch::Tensor onSubset(const torch::Tensor& x, const torch::Tensor& mask, Fn fn) {
  auto idx = mask.nonzero().squeeze(1);
  if (idx.numel() == 0) return x;
  if (idx.numel() == x.size(0)) return fn(x, idx);
  auto dev = idx.to(x.device());
  auto out = x.clone();
  out.index_copy_(0, dev, fn(x.index_select(0, dev), idx));
  return out;
}

}  // namespace

torch::Tensor toGrayscale(const torch::Tensor& x) {
  detail::checkBatch(x, "toGrayscale");
  if (x.size(1) == 1) return x;
  return luma(x).expand_as(x).contiguous();
}

torch::Tensor rgbToHsv(const torch::Tensor& x) {
  auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  auto maxc = torch::maximum(r, torch::maximum(g, b));
  auto minc = torch::minimum(r, torch::minimum(g, b));
  auto cr = maxc - minc;
  auto flat = cr == 0;
  auto ones = torch::ones_like(maxc);
  auto s = cr / torch::where(flat, ones, maxc);
  auto crd = torch::where(flat, ones, cr);
  auto h6 = torch::where(maxc == r, (g - b) / crd,
                         torch::where(maxc == g, (b - r) / crd + 2.0, (r - g) / crd + 4.0));
  auto h = (h6 / 6.0).remainder(1.0);
  return torch::stack({h, s, maxc}, 1);
}

torch::Tensor hsvToRgb(const torch::Tensor& x) {
  auto h6 = x.select(1, 0) * 6.0, s = x.select(1, 1), v = x.select(1, 2);
  auto vs = v * s;
  // f(n) = v - v s clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6; R,G,B = f(5), f(3), f(1).
  auto channel = [&](double n) {
    auto k = (h6 + n).remainder(6.0);
    return v - vs * torch::minimum(k, 4.0 - k).clamp_(0, 1);
  };
  return torch::stack({channel(5), channel(3), channel(1)}, 1).clamp_(0, 1);
}

int64_t blurKernelSize(int64_t height, int64_t width) {
  int64_t k = std::llround(0.1 * double(std::min(height, width)));
  if (k % 2 == 0) ++k;
  return std::max<int64_t>(3, k);
}

torch::Tensor gaussianBlur(const torch::Tensor& x, const torch::Tensor& sigma) {
  detail::checkBatch(x, "gaussianBlur");
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  if (sigma.dim() != 1 || sigma.size(0) != B)
    throw Error("gaussianBlur: sigma must be float [B] with B = " + std::to_string(B));
  if (std::min(H, W) < 2) return x;
  const int64_t k = std::min(blurKernelSize(H, W), 2 * std::min(H, W) - 1);
  const int64_t pad = k / 2;
  auto offsets = torch::arange(k, torch::kFloat64) - double(pad);
  auto s = sigma.to(torch::kCPU, torch::kFloat64).clamp_min(1e-6).view({B, 1});
  auto weights = (-(offsets * offsets).view({1, k}) / (2 * s * s)).exp();
  weights = (weights / weights.sum(1, true)).to(x.device(), x.scalar_type());  // [B,k]
  // Separable: k shifted multiply-adds per direction; reflect padding keeps constants constant.
  auto pass = [&](const torch::Tensor& in, int64_t dim) {
    auto padded = dim == 3 ? torch::reflection_pad2d(in, {pad, pad, 0, 0})
                           : torch::reflection_pad2d(in, {0, 0, pad, pad});
    const int64_t n = in.size(dim);
    auto out = padded.narrow(dim, 0, n) * weights.select(1, 0).view({B, 1, 1, 1});
    for (int64_t j = 1; j < k; ++j)
      out.addcmul_(padded.narrow(dim, j, n), weights.select(1, j).view({B, 1, 1, 1}));
    return out;
  };
  return pass(pass(x, 3), 2).clamp_(0, 1);
}

torch::Tensor solarize(const torch::Tensor& x, double threshold, const torch::Tensor& mask) {
  auto m = mask.to(x.device(), torch::kBool).view({-1, 1, 1, 1});
  return torch::where(m & (x >= threshold), 1 - x, x);
}

torch::Tensor sobelFilter(const torch::Tensor& x) {
  detail::checkBatch(x, "sobelFilter");
  auto gray = torch::replication_pad2d(luma(x), {1, 1, 1, 1});
  auto kx = torch::tensor({-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0}).view({3, 3});
  auto weight = torch::stack({kx, kx.t()}).view({2, 1, 3, 3}).to(x.device(), x.scalar_type());
  return torch::conv2d(gray, weight).div_(8.0).add_(0.5).clamp_(0, 1);
}

namespace detail {

void checkBatch(const torch::Tensor& x, const char* where) {
  if (!x.defined() || x.dim() != 4 || !x.is_floating_point() ||
      (x.size(1) != 1 && x.size(1) != 3)) {
    std::string got = !x.defined() ? "an undefined tensor"
                                   : std::string(c10::toString(x.scalar_type())) + " " +
                                         c10::str(x.sizes());
    throw Error(std::string(where) +
                ": expected a float batch [B,C,H,W] in [0,1] with C = 1 or 3, got " + got);
  }
}

// Brightness, contrast, saturation, hue in a per-batch random order; jitterProb per sample.
// Samples that are not jittered get neutral factors (exactly the identity) and no hue shift.
torch::Tensor colorJitterStage(const torch::Tensor& x, const AugmentOptions& o,
                               torch::Generator& gen) {
  const bool rgb = x.size(1) == 3;
  const bool any = o.brightness() > 0 || o.contrast() > 0 ||
                   (rgb && (o.saturation() > 0 || o.hue() > 0));
  if (o.jitterProb() <= 0 || !any) return x;
  const int64_t B = x.size(0);
  auto apply = randMask(gen, B, o.jitterProb());
  auto applyF = apply.to(torch::kFloat64);
  auto factor = [&](double s) {
    auto f = randUniform(gen, {B}, std::max(0.0, 1 - s), 1 + s);
    return f * applyF + (1 - applyF);
  };
  auto fb = factor(o.brightness());
  auto fc = factor(o.contrast());
  auto fs = factor(o.saturation());
  auto hueShift = randUniform(gen, {B}, -o.hue(), o.hue()) * applyF;
  auto order = torch::randperm(4, gen, torch::kLong);
  auto orderAcc = order.accessor<int64_t, 1>();

  torch::Tensor out = x;
  for (int64_t i = 0; i < 4; ++i) {
    switch (orderAcc[i]) {
      case 0:
        if (o.brightness() > 0) out = (out * perSample(fb, out)).clamp_(0, 1);
        break;
      case 1:
        if (o.contrast() > 0)
          out = blend(out, luma(out).mean({1, 2, 3}, true), perSample(fc, out));
        break;
      case 2:
        if (rgb && o.saturation() > 0) out = blend(out, luma(out), perSample(fs, out));
        break;
      case 3:
        if (rgb && o.hue() > 0) {
          out = onSubset(out, apply, [&](const torch::Tensor& sub, const torch::Tensor& idx) {
            auto hsv = rgbToHsv(sub);
            auto shift = perSample(hueShift.index_select(0, idx), sub).view({-1, 1, 1});
            auto h = (hsv.select(1, 0) + shift).remainder(1.0);
            return hsvToRgb(torch::stack({h, hsv.select(1, 1), hsv.select(1, 2)}, 1));
          });
        }
        break;
    }
  }
  return out;
}

torch::Tensor grayscaleStage(const torch::Tensor& x, double prob, torch::Generator& gen) {
  if (prob <= 0 || x.size(1) == 1) return x;
  auto apply = randMask(gen, x.size(0), prob).to(x.device()).view({-1, 1, 1, 1});
  return torch::where(apply, luma(x), x);
}

torch::Tensor blurStage(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen) {
  if (o.blurProb() <= 0) return x;
  auto apply = randMask(gen, x.size(0), o.blurProb());
  auto sigma = randUniform(gen, {x.size(0)}, o.blurSigmaMin(), o.blurSigmaMax());
  return onSubset(x, apply, [&](const torch::Tensor& sub, const torch::Tensor& idx) {
    return gaussianBlur(sub, sigma.index_select(0, idx));
  });
}

torch::Tensor solarizeStage(const torch::Tensor& x, const AugmentOptions& o,
                            torch::Generator& gen) {
  if (o.solarizeProb() <= 0) return x;
  return solarize(x, o.solarizeThreshold(), randMask(gen, x.size(0), o.solarizeProb()));
}

// The noise is drawn on the CPU (from the CPU generator) and moved to the batch's device.
torch::Tensor noiseStage(const torch::Tensor& x, double std, torch::Generator& gen) {
  if (std <= 0) return x;
  auto noise = torch::randn(x.sizes(), gen, torch::TensorOptions().dtype(x.scalar_type()));
  return x.add(noise.to(x.device()), std).clamp_(0, 1);
}

}  // namespace detail
}  // namespace pretext
