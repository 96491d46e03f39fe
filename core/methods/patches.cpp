#include "core/methods/patches.h"

#include <torch/torch.h>

#include "core/augment/augment.h"
#include "core/util/error.h"

namespace pretext {

const int64_t kNeighbourCell[8] = {0, 1, 2, 3, 5, 6, 7, 8};
const char* const kNeighbourName[8] = {"NW", "N", "NE", "W", "E", "SW", "S", "SE"};

PatchGrid patchGridFromParams(const nlohmann::json& params, const std::string& backbone,
                              const std::string& method) {
  if (backbone == "vit")
    throw Error("backbone.name = \"vit\": " + method + " feeds the encoder small patches, which "
                "a vit built for whole images cannot take; choose convnet or a resnet");
  PatchGrid g;
  g.patch = params["patch_size"].get<int64_t>();
  g.gap = params["gap"].get<int64_t>();
  g.jitter = params["jitter"].get<int64_t>();
  g.validate(method);
  return g;
}

void PatchGrid::validate(const std::string& method) const {
  const std::string p = "method.params.";
  if (patch < 8)
    throw Error(p + "patch_size = " + std::to_string(patch) + ": " + method +
                " needs patches of at least 8 pixels (the ConvNet's smallest input)");
  if (gap < 0) throw Error(p + "gap = " + std::to_string(gap) + ": expected a value >= 0");
  if (jitter < 0 || 2 * jitter > gap)
    throw Error(p + "jitter = " + std::to_string(jitter) + ": two neighbouring patches could " +
                "overlap (2 * jitter > gap = " + std::to_string(gap) +
                "), which gives away their position; lower jitter to at most " +
                std::to_string(gap / 2) + " or raise gap");
}

torch::Tensor fitToGrid(const torch::Tensor& images, const PatchGrid& grid) {
  const int64_t s = grid.side();
  if (images.size(2) == s && images.size(3) == s) return images;
  namespace F = torch::nn::functional;
  return F::interpolate(images, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{s, s})
                                    .mode(torch::kBilinear)
                                    .align_corners(false))
      .clamp(0, 1);
}

torch::Tensor randomShifts(int64_t batch, const PatchGrid& grid, torch::Generator& gen) {
  return torch::randint(-grid.jitter, grid.jitter + 1, {batch, 9, 2}, gen, torch::kLong);
}

torch::Tensor extractPatches(const torch::Tensor& images, const PatchGrid& grid,
                             const torch::Tensor& shifts) {
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t p = grid.patch;
  if (h < grid.side() || w < grid.side())
    throw Error("extractPatches: images of " + std::to_string(h) + "x" + std::to_string(w) +
                " are smaller than the grid's " + std::to_string(grid.side()) + " pixels");
  auto opt = torch::TensorOptions().dtype(torch::kLong).device(images.device());
  auto cell = torch::arange(9, opt);
  auto base = grid.jitter + torch::stack({cell.div(3, "floor"), cell.remainder(3)}, 1) *
                                (grid.patch + grid.gap);         // [9,2]
  auto origin = base.unsqueeze(0) + shifts.to(images.device());  // [B,9,2]
  auto r = torch::arange(p, opt);
  auto rows = origin.select(2, 0).unsqueeze(-1) + r;  // [B,9,P]
  auto cols = origin.select(2, 1).unsqueeze(-1) + r;  // [B,9,P]
  auto index = (rows.unsqueeze(-1) * w + cols.unsqueeze(-2)).reshape({b, 1, 9 * p * p});
  auto flat = images.reshape({b, c, h * w});
  return flat.gather(2, index.expand({b, c, 9 * p * p}))
      .reshape({b, c, 9, p, p})
      .permute({0, 2, 1, 3, 4})
      .contiguous();
}

torch::Tensor assemblePatches(const torch::Tensor& patches, int64_t sep, double fill) {
  const int64_t b = patches.size(0), c = patches.size(2), p = patches.size(3);
  const int64_t side = 3 * p + 2 * sep;
  auto out = torch::full({b, c, side, side}, fill, patches.options());
  using torch::indexing::Slice;
  for (int64_t t = 0; t < 9; ++t) {
    const int64_t y = (t / 3) * (p + sep), x = (t % 3) * (p + sep);
    out.index_put_({Slice(), Slice(), Slice(y, y + p), Slice(x, x + p)}, patches.select(1, t));
  }
  return out;
}

torch::Tensor colourDefence(const torch::Tensor& patches, const std::string& mode,
                            torch::Generator& gen) {
  const int64_t c = patches.size(-3);
  if (mode == "none" || c == 1) return patches;
  auto flat = patches.reshape({-1, c, patches.size(-2), patches.size(-1)});
  if (mode == "grayscale") return toGrayscale(flat).reshape(patches.sizes());
  if (mode != "drop")
    throw Error("colour defence \"" + mode + "\": expected none, grayscale or drop");
  const int64_t n = flat.size(0);
  auto keep = torch::randint(0, c, {n}, gen, torch::kLong).to(patches.device());
  auto kept = flat.gather(1, keep.view({n, 1, 1, 1}).expand({n, 1, flat.size(2), flat.size(3)}));
  auto mean = kept.mean({1, 2, 3}, true), std = kept.flatten(1).std(1).view({n, 1, 1, 1});
  auto noise = torch::randn(flat.sizes(), gen, torch::kFloat).to(patches.device());
  auto filled = (mean + noise.to(patches.dtype()) * std * 0.01).clamp(0, 1);
  auto isKept = torch::arange(c, keep.options()).view({1, c, 1, 1}).eq(keep.view({n, 1, 1, 1}));
  return torch::where(isKept, flat, filled).reshape(patches.sizes());
}

torch::Tensor asRgb(const torch::Tensor& images) {
  return images.size(1) == 3 ? images.clone() : images.expand({-1, 3, -1, -1}).contiguous();
}

void drawFrame(torch::Tensor& rgb, int64_t y, int64_t x, int64_t h, int64_t w, float r, float g,
               float b) {
  using torch::indexing::Slice;
  const int64_t H = rgb.size(1), W = rgb.size(2);
  const int64_t y0 = std::max<int64_t>(y, 0), x0 = std::max<int64_t>(x, 0);
  const int64_t y1 = std::min(y + h, H), x1 = std::min(x + w, W);
  if (y0 >= y1 || x0 >= x1) return;
  const float colour[3] = {r, g, b};
  for (int64_t k = 0; k < 3; ++k) {
    auto ch = rgb.select(0, k);
    ch.index_put_({y0, Slice(x0, x1)}, colour[k]);
    ch.index_put_({y1 - 1, Slice(x0, x1)}, colour[k]);
    ch.index_put_({Slice(y0, y1), x0}, colour[k]);
    ch.index_put_({Slice(y0, y1), x1 - 1}, colour[k]);
  }
}

}  // namespace pretext
