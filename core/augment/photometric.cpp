// Photometric augmentations: colour jitter (torchvision semantics), grayscale, Gaussian blur,
// solarize, Gaussian noise and the Sobel filter, batched with per-sample parameters.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/augment/augment.h"
#include "core/augment/augment_internal.h"
#include "core/util/device.h"
#include "core/util/error.h"

namespace pretext {
namespace {

// ITU-R 601 luma, [B,1,H,W].
torch::Tensor luma(const torch::Tensor& x) {
  if (x.size(1) == 1) return x;
  return x.select(1, 0)
      .mul(0.299)
      .add_(x.select(1, 1), 0.587)
      .add_(x.select(1, 2), 0.114)
      .unsqueeze(1);
}

// torchvision's _blend: f * a + (1 - f) * b, clamped to [0, 1]. f [B,1,1,1].
torch::Tensor blend(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& f) {
  return torch::lerp(b, a, f).clamp_(0, 1);
}

// RGB from (v - c, c, 6h) with c = v * s (chroma): each channel is
// (v - c) + c * clamp(piecewise-linear(6h), 0, 1), 6h in [0, 6).
torch::Tensor rgbFromChroma(const torch::Tensor& base, const torch::Tensor& chroma,
                            const torch::Tensor& h6) {
  auto r = (h6 - 3.0).abs_().sub_(1.0).clamp_(0, 1);
  auto g = (h6 - 2.0).abs_().neg_().add_(2.0).clamp_(0, 1);
  auto b = (h6 - 4.0).abs_().neg_().add_(2.0).clamp_(0, 1);
  return torch::stack(
             {r.mul_(chroma).add_(base), g.mul_(chroma).add_(base), b.mul_(chroma).add_(base)}, 1)
      .clamp_(0, 1);
}

// Max, chroma and 6 * hue (in [-1, 5)) of an RGB batch, as torchvision's _rgb2hsv.
struct HueParts {
  torch::Tensor maxc, chroma, h6;
};
// (torch::where with a full-size condition is slow on the CPU in LibTorch 1.13; lerp with 0/1
// weights selects exactly and is vectorised.)
HueParts hueParts(const torch::Tensor& x) {
  auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  auto maxc = torch::maximum(r, torch::maximum(g, b));
  auto chroma = maxc - torch::minimum(r, torch::minimum(g, b));
  // chroma == 0 means r == g == b, where every numerator below is 0 as well.
  auto crd = chroma.clamp_min(1e-12);
  auto isR = (maxc == r).to(x.scalar_type()), isG = (maxc == g).to(x.scalar_type());
  auto hueR = (g - b).div_(crd);
  auto hueG = (b - r).div_(crd).add_(2.0);
  auto hueB = (r - g).div_(crd).add_(4.0);
  return {maxc, chroma, torch::lerp(torch::lerp(hueB, hueG, isG), hueR, isR)};
}

// Given a bool [B] CPU mask, runs fn(subset, indices) on the selected samples only.
template <typename Fn>
torch::Tensor onSubset(const torch::Tensor& x, const torch::Tensor& mask, Fn fn) {
  auto idx = mask.nonzero().squeeze(1);
  if (idx.numel() == 0) return x;
  if (idx.numel() == x.size(0)) return fn(x, idx);
  auto dev = toDevice(idx, x.device());
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
  auto p = hueParts(x);
  auto s = p.chroma / p.maxc.clamp_min(1e-12);
  return torch::stack({p.h6.div_(6.0).remainder_(1.0), s, p.maxc}, 1);
}

torch::Tensor hsvToRgb(const torch::Tensor& x) {
  auto v = x.select(1, 2);
  auto chroma = v * x.select(1, 1);
  return rgbFromChroma(v - chroma, chroma, x.select(1, 0).mul(6.0).remainder_(6.0));
}

torch::Tensor adjustHue(const torch::Tensor& x, const torch::Tensor& shift) {
  if (x.dim() != 4 || x.size(1) != 3) throw Error("adjustHue: expected an RGB batch [B,3,H,W]");
  auto p = hueParts(x);
  auto h6 = p.h6.add_(toDevice(shift, x.device(), x.scalar_type()).view({-1, 1, 1}) * 6.0)
                .remainder_(6.0);
  return rgbFromChroma(p.maxc - p.chroma, p.chroma, h6);
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
  weights = toDevice(weights / weights.sum(1, true), x.device(), x.scalar_type());  // [B,k]
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
  // Per-sample threshold (+inf where the mask is off), one comparison, one exact 0/1 lerp.
  auto thr = torch::full({mask.size(0)}, std::numeric_limits<double>::infinity(), torch::kFloat64)
                 .masked_fill_(mask.to(torch::kCPU, torch::kBool), threshold);
  auto hit = (x >= detail::perSample(thr, x)).to(x.scalar_type());
  return torch::lerp(x, 1 - x, hit);
}

// Separable Sobel with shifted slices (no conv2d): smoothing [1,2,1] across, difference along.
torch::Tensor sobelFilter(const torch::Tensor& x) {
  detail::checkBatch(x, "sobelFilter");
  const int64_t H = x.size(2), W = x.size(3);
  auto p = torch::replication_pad2d(luma(x), {1, 1, 1, 1});                      // [B,1,H+2,W+2]
  auto smoothV = p.narrow(2, 0, H) + p.narrow(2, 1, H) * 2 + p.narrow(2, 2, H);  // [B,1,H,W+2]
  auto smoothH = p.narrow(3, 0, W) + p.narrow(3, 1, W) * 2 + p.narrow(3, 2, W);  // [B,1,H+2,W]
  auto dx = smoothV.narrow(3, 2, W) - smoothV.narrow(3, 0, W);
  auto dy = smoothH.narrow(2, 2, H) - smoothH.narrow(2, 0, H);
  return torch::cat({dx, dy}, 1).div_(8.0).add_(0.5).clamp_(0, 1);
}

namespace detail {

void checkBatch(const torch::Tensor& x, const char* where) {
  if (!x.defined() || x.dim() != 4 || !x.is_floating_point() ||
      (x.size(1) != 1 && x.size(1) != 3)) {
    std::string got = !x.defined()
                          ? "an undefined tensor"
                          : std::string(c10::toString(x.scalar_type())) + " " + c10::str(x.sizes());
    throw Error(std::string(where) +
                ": expected a float batch [B,C,H,W] in [0,1] with C = 1 or 3, got " + got);
  }
}

// Brightness, contrast, saturation, hue in a per-batch random order; jitterProb per sample.
// Samples that are not jittered get neutral factors (exactly the identity) and no hue shift.
torch::Tensor colorJitterStage(const torch::Tensor& x, const AugmentOptions& o,
                               torch::Generator& gen) {
  const bool rgb = x.size(1) == 3;
  const bool any =
      o.brightness() > 0 || o.contrast() > 0 || (rgb && (o.saturation() > 0 || o.hue() > 0));
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
        if (o.contrast() > 0) out = blend(out, luma(out).mean({1, 2, 3}, true), perSample(fc, out));
        break;
      case 2:
        if (rgb && o.saturation() > 0) out = blend(out, luma(out), perSample(fs, out));
        break;
      case 3:
        if (rgb && o.hue() > 0) {
          out = onSubset(out, apply, [&](const torch::Tensor& sub, const torch::Tensor& idx) {
            return adjustHue(sub, hueShift.index_select(0, idx));
          });
        }
        break;
    }
  }
  return out;
}

torch::Tensor grayscaleStage(const torch::Tensor& x, double prob, torch::Generator& gen) {
  if (prob <= 0 || x.size(1) == 1) return x;
  auto apply = toDevice(randMask(gen, x.size(0), prob), x.device()).view({-1, 1, 1, 1});
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
  return x.add(toDevice(noise, x.device()), std).clamp_(0, 1);
}

}  // namespace detail
}  // namespace pretext
