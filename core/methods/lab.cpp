// CIE Lab conversion (sRGB, D65) and the quantised ab plane of Zhang, Isola, Efros (2016).
#include "core/methods/lab.h"

#include <torch/torch.h>

#include <map>
#include <mutex>
#include <utility>

#include "core/util/error.h"

namespace pretext {

namespace {

// sRGB primaries, D65 white (IEC 61966-2-1): linear RGB -> XYZ, and its inverse.
const float kRgbToXyz[3][3] = {{0.4124564f, 0.3575761f, 0.1804375f},
                               {0.2126729f, 0.7151522f, 0.0721750f},
                               {0.0193339f, 0.1191920f, 0.9503041f}};
const float kXyzToRgb[3][3] = {{3.2404542f, -1.5371385f, -0.4985314f},
                               {-0.9692660f, 1.8760108f, 0.0415560f},
                               {0.0556434f, -0.2040259f, 1.0572252f}};
const float kWhite[3] = {0.95047f, 1.0f, 1.08883f};  // D65 reference white (Y = 1)
constexpr double kDelta = 6.0 / 29.0;

torch::Tensor mix(const torch::Tensor& x, const float m[3][3]) {  // [N,3,H,W] x 3x3
  auto mat = torch::tensor(
                 {m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2], m[2][0], m[2][1], m[2][2]},
                 x.options())
                 .view({3, 3});
  return torch::einsum("ij,njhw->nihw", {mat, x});
}

torch::Tensor whiteOf(const torch::Tensor& x) {
  return torch::tensor({kWhite[0], kWhite[1], kWhite[2]}, x.options()).view({1, 3, 1, 1});
}

void checkImages(const torch::Tensor& x, const char* what) {
  if (x.dim() != 4 || x.size(1) != 3)
    throw Error(std::string(what) + ": expected images [N,3,H,W]");
}

}  // namespace

torch::Tensor rgbToLab(const torch::Tensor& rgb) {
  checkImages(rgb, "rgbToLab");
  auto c = rgb.to(torch::kFloat).clamp(0, 1);
  auto lin = torch::where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055).pow(2.4));
  auto t = mix(lin, kRgbToXyz) / whiteOf(c);
  const double d3 = kDelta * kDelta * kDelta;
  auto f =
      torch::where(t > d3, t.clamp_min(d3).pow(1.0 / 3.0), t / (3 * kDelta * kDelta) + 4.0 / 29.0);
  auto fx = f.select(1, 0), fy = f.select(1, 1), fz = f.select(1, 2);
  return torch::stack({116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)}, 1);
}

torch::Tensor labToRgb(const torch::Tensor& lab) {
  checkImages(lab, "labToRgb");
  auto x = lab.to(torch::kFloat);
  auto fy = (x.select(1, 0) + 16) / 116;
  auto f = torch::stack({fy + x.select(1, 1) / 500, fy, fy - x.select(1, 2) / 200}, 1);
  auto t = torch::where(f > kDelta, f.pow(3), 3 * kDelta * kDelta * (f - 4.0 / 29.0));
  auto lin = mix(t * whiteOf(x), kXyzToRgb).clamp(0, 1);
  return torch::where(lin <= 0.0031308, lin * 12.92, 1.055 * lin.pow(1 / 2.4) - 0.055).clamp(0, 1);
}

torch::Tensor lightness(const torch::Tensor& images) {
  if (images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3))
    throw Error("lightness: expected images [N,1,H,W] or [N,3,H,W]");
  auto rgb = images.size(1) == 1 ? images.expand({-1, 3, -1, -1}) : images;
  return rgbToLab(rgb).slice(1, 0, 1);
}

torch::Tensor abGamutBins(double grid, int64_t samples) {
  static std::mutex mutex;
  static std::map<std::pair<double, int64_t>, torch::Tensor> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& hit = cache[{grid, samples}];
  if (hit.defined()) return hit;
  torch::NoGradGuard ng;
  auto levels = torch::linspace(0, 1, samples);
  auto mesh = torch::meshgrid({levels, levels, levels}, "ij");
  auto rgb = torch::stack({mesh[0].flatten(), mesh[1].flatten(), mesh[2].flatten()}, 0)
                 .view({1, 3, -1, 1});
  auto ab = rgbToLab(rgb).slice(1, 1, 3).view({2, -1}).t();  // [S,2]
  auto cells = torch::round(ab.to(torch::kDouble) / grid).to(torch::kLong);
  auto unique = std::get<0>(torch::unique_dim(cells, 0, /*sorted=*/true));  // lexicographic
  hit = (unique.to(torch::kFloat) * grid).contiguous();
  return hit;
}

torch::Tensor nearestBin(const torch::Tensor& ab, const torch::Tensor& bins) {
  return torch::cdist(ab.to(torch::kFloat), bins.to(ab.device())).argmin(1);
}

torch::Tensor softEncode(const torch::Tensor& ab, const torch::Tensor& bins, int64_t k,
                         double sigma) {
  auto b = bins.to(ab.device());
  auto d2 = torch::cdist(ab.to(torch::kFloat), b).pow(2);  // [N,Q]
  k = std::min<int64_t>(k, b.size(0));
  auto [near, idx] = d2.topk(k, 1, /*largest=*/false);
  auto w = torch::softmax(-near / (2 * sigma * sigma), 1);  // Gaussian weights, normalised
  return torch::zeros_like(d2).scatter_(1, idx, w);
}

torch::Tensor smoothBinDistribution(const torch::Tensor& p, const torch::Tensor& bins,
                                    double sigma) {
  auto b = bins.to(p.device());
  auto kernel = torch::exp(-torch::cdist(b, b).pow(2) / (2 * sigma * sigma));  // [Q,Q]
  auto s = torch::mv(kernel, p.to(torch::kFloat));
  return s / s.sum().clamp_min(1e-30);
}

torch::Tensor rebalanceWeights(const torch::Tensor& p, double lambda) {
  const auto q = static_cast<double>(p.size(0));
  auto w = 1.0 / ((1 - lambda) * p.to(torch::kFloat) + lambda / q);
  return w / (p * w).sum();
}

torch::Tensor rebalancedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                     const torch::Tensor& weights) {
  auto perPixel = -(targets * torch::log_softmax(logits, 1)).sum(1);  // [N]
  if (weights.defined())
    perPixel = perPixel * weights.to(logits.device()).index({targets.argmax(1)});
  return perPixel.mean();
}

torch::Tensor annealedMean(const torch::Tensor& probs, const torch::Tensor& bins, double T) {
  if (!(T > 0)) throw Error("annealed mean: the temperature must be > 0");
  auto f = torch::softmax(probs.to(torch::kFloat).clamp_min(1e-30).log() / T, 1);
  return torch::mm(f, bins.to(probs.device()));
}

torch::Tensor abErrorAuc(const torch::Tensor& predAb, const torch::Tensor& trueAb) {
  // A pixel with error e counts at the thresholds t = ceil(e), ..., 150: 151 - ceil(e) of the 151
  // (none past 150), so the mean over thresholds needs no 151 x N comparison.
  auto err = (predAb.to(torch::kFloat) - trueAb.to(torch::kFloat)).pow(2).sum(1).sqrt();
  return ((151 - err.ceil()).clamp(0, 151) / 151).mean();
}

torch::Tensor pixelRows(const torch::Tensor& x) {
  return x.permute({0, 2, 3, 1}).reshape({-1, x.size(1)});
}
torch::Tensor pixelMaps(const torch::Tensor& p, int64_t n, int64_t h, int64_t w) {
  return p.reshape({n, h, w, p.size(1)}).permute({0, 3, 1, 2});
}
torch::Tensor resizeMaps(const torch::Tensor& x, int64_t size) {
  if (x.size(2) == size) return x;
  if (x.size(2) > size) return torch::nn::functional::adaptive_avg_pool2d(x, torch::nn::functional::AdaptiveAvgPool2dFuncOptions(size));
  return torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{size, size})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace pretext
