// Geometric augmentations: random resized crop, horizontal flip and rotation composed into one
// per-sample affine matrix and one grid_sample; quarter turns; cutout.
#include <torch/torch.h>

#include <cmath>

#include "core/augment/augment.h"
#include "core/augment/augment_internal.h"
#include "core/util/device.h"
#include "core/util/error.h"

namespace pretext {
namespace detail {

namespace F = torch::nn::functional;

torch::Tensor randUniform(torch::Generator& gen, torch::IntArrayRef shape, double lo, double hi) {
  auto u = torch::rand(shape, gen, torch::kFloat64);
  return (lo == 0.0 && hi == 1.0) ? u : u * (hi - lo) + lo;
}

torch::Tensor randMask(torch::Generator& gen, int64_t n, double prob) {
  return torch::rand({n}, gen, torch::kFloat64) < prob;
}

torch::Tensor perSample(const torch::Tensor& p, const torch::Tensor& x) {
  return toDevice(p, x.device(), x.scalar_type()).view({-1, 1, 1, 1});
}

CropBoxes fullBoxes(int64_t batch, int64_t height, int64_t width) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  return {torch::full({batch}, width / 2.0, opts), torch::full({batch}, height / 2.0, opts),
          torch::full({batch}, double(width), opts), torch::full({batch}, double(height), opts)};
}

// torchvision's RandomResizedCrop.get_params, vectorised: 10 attempts per sample drawn at once,
// the first one that fits is taken; samples where none fits get torchvision's fallback (the
// centred box of the whole image with its aspect ratio clamped to the range). Boxes are
// continuous (sub-pixel), not rounded.
CropBoxes sampleCropBoxes(int64_t batch, int64_t height, int64_t width, double scaleMin,
                          double scaleMax, double ratioMin, double ratioMax, double prob,
                          torch::Generator& gen) {
  constexpr int64_t kAttempts = 10;
  const double H = double(height), W = double(width), area = H * W;
  auto scale = randUniform(gen, {batch, kAttempts}, scaleMin, scaleMax);
  auto logRatio = randUniform(gen, {batch, kAttempts}, std::log(ratioMin), std::log(ratioMax));
  auto posX = randUniform(gen, {batch}, 0.0, 1.0);
  auto posY = randUniform(gen, {batch}, 0.0, 1.0);
  auto apply = randMask(gen, batch, prob);

  auto ratio = logRatio.exp();
  auto w = (area * scale * ratio).sqrt();
  auto h = (area * scale / ratio).sqrt();
  constexpr double kTol = 1e-9;  // exp(log(r)) and sqrt round-off must not reject a full box
  auto valid = (w <= W * (1 + kTol)) & (h <= H * (1 + kTol));
  auto rank = valid.to(torch::kLong) * (kAttempts - torch::arange(kAttempts, torch::kLong));
  auto first = rank.argmax(1, /*keepdim=*/true);
  auto anyValid = valid.any(1);
  w = w.gather(1, first).squeeze(1).clamp_max(W);
  h = h.gather(1, first).squeeze(1).clamp_max(H);

  double fw = W, fh = H;  // fallback: centre crop with the ratio clamped to the range
  if (W / H < ratioMin) {
    fh = std::min(H, W / ratioMin);
  } else if (W / H > ratioMax) {
    fw = std::min(W, H * ratioMax);
  }
  w = torch::where(anyValid, w, torch::full_like(w, fw));
  h = torch::where(anyValid, h, torch::full_like(h, fh));
  auto cx = torch::where(anyValid, posX * (W - w) + w / 2, torch::full_like(w, W / 2));
  auto cy = torch::where(anyValid, posY * (H - h) + h / 2, torch::full_like(h, H / 2));

  CropBoxes full = fullBoxes(batch, height, width);
  return {torch::where(apply, cx, full.cx), torch::where(apply, cy, full.cy),
          torch::where(apply, w, full.w), torch::where(apply, h, full.h)};
}

// theta maps output coordinates normalised to [-1,1] (align_corners=false) to input ones:
// pixel = centre + R(angle) * (u * w/2 * flip, v * h/2), then normalised by the input size.
torch::Tensor affineResample(const torch::Tensor& x, int64_t outH, int64_t outW,
                             const CropBoxes& boxes, const torch::Tensor& flipSign,
                             const torch::Tensor& angle) {
  const int64_t B = x.size(0);
  const double H = double(x.size(2)), W = double(x.size(3));
  auto cosA = angle.defined() ? angle.cos() : torch::ones_like(boxes.w);
  auto sinA = angle.defined() ? angle.sin() : torch::zeros_like(boxes.w);
  auto sx = flipSign.defined() ? boxes.w * flipSign : boxes.w;
  auto theta = toDevice(torch::stack({cosA * sx / W, -sinA * boxes.h / W, 2 * boxes.cx / W - 1,
                                      sinA * sx / H, cosA * boxes.h / H, 2 * boxes.cy / H - 1},
                                     1)
                            .view({B, 2, 3}),
                        x.device(), x.scalar_type());
  // The grid of affine_grid (align_corners=false), built by broadcasting: cheaper than its bmm.
  auto opts = x.options();
  auto u = (torch::arange(outW, opts) * 2 + 1).div_(double(outW)).sub_(1).view({1, 1, outW});
  auto v = (torch::arange(outH, opts) * 2 + 1).div_(double(outH)).sub_(1).view({1, outH, 1});
  auto t = [&](int64_t i, int64_t j) { return theta.select(1, i).select(1, j).view({B, 1, 1}); };
  auto gx = (t(0, 0) * u + t(0, 1) * v).add_(t(0, 2));
  auto gy = (t(1, 0) * u + t(1, 1) * v).add_(t(1, 2));
  auto grid = torch::stack({gx, gy}, 3);  // [B,outH,outW,2]
  return F::grid_sample(x, grid,
                        F::GridSampleFuncOptions()
                            .mode(torch::kBilinear)
                            .padding_mode(torch::kReflection)
                            .align_corners(false));
}

torch::Tensor geometricStage(const torch::Tensor& x, const AugmentOptions& o,
                             torch::Generator& gen) {
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  const int64_t outH = o.size() > 0 ? o.size() : H;
  const int64_t outW = o.size() > 0 ? o.size() : W;
  const bool crop = o.cropProb() > 0;
  const bool flip = o.flipProb() > 0;
  const bool rotate = o.rotateProb() > 0 && o.rotateDegrees() > 0;
  const bool resize = outH != H || outW != W;
  if (!crop && !rotate && !resize) {
    return flip ? horizontalFlip(x, randMask(gen, B, o.flipProb())) : x;
  }
  CropBoxes boxes = crop ? sampleCropBoxes(B, H, W, o.cropScaleMin(), o.cropScaleMax(),
                                           o.cropRatioMin(), o.cropRatioMax(), o.cropProb(), gen)
                         : fullBoxes(B, H, W);
  torch::Tensor flipSign, angle;
  if (flip) {
    auto mask = randMask(gen, B, o.flipProb());
    flipSign = 1.0 - 2.0 * mask.to(torch::kFloat64);
  }
  if (rotate) {
    auto mask = randMask(gen, B, o.rotateProb());
    auto degrees = randUniform(gen, {B}, -o.rotateDegrees(), o.rotateDegrees());
    angle = degrees * mask.to(torch::kFloat64) * (M_PI / 180.0);
  }
  return affineResample(x, outH, outW, boxes, flipSign, angle);
}

torch::Tensor cutoutStage(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen) {
  if (o.cutoutProb() <= 0) return x;
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  auto apply = randMask(gen, B, o.cutoutProb());
  auto cy = randUniform(gen, {B}, 0.0, double(H));
  auto cx = randUniform(gen, {B}, 0.0, double(W));
  const double sideY = std::max(1.0, std::round(o.cutoutSize() * H));
  const double sideX = std::max(1.0, std::round(o.cutoutSize() * W));
  // The square is centred anywhere in the image and clipped at the borders (DeVries & Taylor).
  auto top = toDevice((cy - sideY / 2).floor(), x.device()).view({B, 1});
  auto left = toDevice((cx - sideX / 2).floor(), x.device()).view({B, 1});
  auto opts = torch::TensorOptions().dtype(torch::kFloat64).device(x.device());
  auto rows = torch::arange(H, opts).view({1, H});
  auto cols = torch::arange(W, opts).view({1, W});
  auto inY = ((rows >= top) & (rows < top + sideY)).to(x.scalar_type());    // [B,H]
  auto inX = ((cols >= left) & (cols < left + sideX)).to(x.scalar_type());  // [B,W]
  inY = inY * toDevice(apply, x.device(), x.scalar_type()).view({B, 1});
  auto box = inY.view({B, 1, H, 1}) * inX.view({B, 1, 1, W});  // 0/1, [B,1,H,W]
  // An exact 0/1 lerp towards grey (masked_fill with a broadcast mask is slow on the CPU).
  return torch::lerp(x, torch::full({}, 0.5, x.options()), box);
}

}  // namespace detail

torch::Tensor randomResizedCrop(const torch::Tensor& x, int64_t outSize, double scaleMin,
                                double scaleMax, double ratioMin, double ratioMax, double prob,
                                torch::Generator& gen) {
  detail::checkBatch(x, "randomResizedCrop");
  if (outSize < 0)
    throw Error("randomResizedCrop: outSize = " + std::to_string(outSize) +
                ": expected >= 0 (0 keeps the input size)");
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  auto boxes = detail::sampleCropBoxes(B, H, W, scaleMin, scaleMax, ratioMin, ratioMax, prob, gen);
  return detail::affineResample(x, outSize > 0 ? outSize : H, outSize > 0 ? outSize : W, boxes, {},
                                {});
}

torch::Tensor horizontalFlip(const torch::Tensor& x, const torch::Tensor& mask) {
  if (mask.dim() != 1 || mask.size(0) != x.size(0))
    throw Error("horizontalFlip: mask must be bool [B] with B = " + std::to_string(x.size(0)));
  return torch::where(toDevice(mask, x.device(), torch::kBool).view({-1, 1, 1, 1}), x.flip({3}), x);
}

torch::Tensor rotateQuarter(const torch::Tensor& x, const torch::Tensor& k) {
  if (x.dim() != 4) throw Error("rotateQuarter: expected a [B,C,H,W] batch");
  if (k.dim() != 1 || k.size(0) != x.size(0))
    throw Error("rotateQuarter: k must be int64 [B] with B = " + std::to_string(x.size(0)));
  auto turns = k.to(torch::kCPU, torch::kLong).remainder(4);
  torch::Tensor out;
  for (int64_t q = 1; q <= 3; ++q) {
    auto idx = (turns == q).nonzero().squeeze(1);
    if (idx.numel() == 0) continue;
    if (q % 2 == 1 && x.size(2) != x.size(3))
      throw Error("rotateQuarter: odd quarter turns need square images, got " +
                  std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)));
    if (!out.defined()) out = x.clone();
    idx = toDevice(idx, x.device());
    out.index_copy_(0, idx, x.index_select(0, idx).rot90(q, {2, 3}));
  }
  return out.defined() ? out : x;
}

}  // namespace pretext
