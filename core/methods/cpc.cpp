// CPC on images (van den Oord, Li, Vinyals 2018, "Representation Learning with Contrastive
// Predictive Coding"; the image recipe of Henaff et al. 2020, scaled down): contrastive learning
// as prediction in a sequence. The image is cut into an overlapping grid of patches (28 px padded
// to 32: 7 x 7 patches of 8 px every 4 px), the encoder maps every patch to a vector z, and an
// autoregressive context network reads the rows from the top: its output c[i,j] has seen rows
// 0..i only (causal convolutions, padded above and never below). From c[i,j] a linear map W_k
// predicts z[i+k,j], the patch k rows further down, and InfoNCE asks it to pick that patch out
// of all the batch's patches at that offset (the other positions of the same image and every
// position of the others). k starts at 2: with stride 4 and 8-px patches, the next row
// overlaps the current one by half, and predicting pixels the context already holds teaches
// nothing.
//
// The representation the probes evaluate is the patch vectors averaged over the grid (the
// paper's evaluation pools the grid of patch features spatially).
#include "core/methods/cpc.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

#include "core/dist/step_group.h"
#include "core/methods/registry.h"
#include "core/util/error.h"

namespace pretext {

namespace F = torch::nn::functional;

namespace {

// Zeros evenly on both sides up to side x side.
torch::Tensor padTo(const torch::Tensor& images, int64_t side) {
  const int64_t h = images.size(2), w = images.size(3);
  TORCH_CHECK(side >= h && side >= w, "cpcPatchGrid: padded size below the image size");
  const int64_t top = (side - h) / 2, left = (side - w) / 2;
  return F::pad(images, F::PadFuncOptions({left, side - w - left, top, side - h - top}));
}

}  // namespace

torch::Tensor cpcPatchGrid(const torch::Tensor& images, int64_t paddedSize, int64_t patch, int64_t stride) {
  TORCH_CHECK(images.dim() == 4, "cpcPatchGrid: images must be [B,C,H,W]");
  const auto x = padTo(images, paddedSize);
  // [B,C,G,G,patch,patch] -> [B,G,G,C,patch,patch]
  return x.unfold(2, patch, stride).unfold(3, patch, stride).permute({0, 2, 3, 1, 4, 5});
}

torch::Tensor cpcInfoNce(const torch::Tensor& predictions, const torch::Tensor& targets,
                         torch::Tensor* accuracy) {
  TORCH_CHECK(predictions.sizes() == targets.sizes(), "cpcInfoNce: predictions and targets differ in shape");
  const auto logits = torch::matmul(predictions.to(torch::kFloat), targets.to(torch::kFloat).t());  // [M,M]
  const auto labels = torch::arange(predictions.size(0), torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
  if (accuracy) *accuracy = logits.argmax(1).eq(labels).to(torch::kFloat).mean().detach();
  return F::cross_entropy(logits, labels);
}

torch::Tensor cpcContext(torch::nn::Sequential& layers, const torch::Tensor& z) {
  torch::Tensor x = z;
  const size_t n = layers->size();
  for (size_t l = 0; l < n; ++l) {
    x = layers[l]->as<torch::nn::Conv2d>()->forward(F::pad(x, F::PadFuncOptions({1, 1, 2, 0})));
    if (l + 1 < n) x = torch::relu(x);
  }
  return x;
}

namespace {

class Cpc : public Method {
 public:
  explicit Cpc(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    patch_ = p["patch_size"].get<int64_t>();
    stride_ = p["patch_stride"].get<int64_t>();
    padded_ = p["padded_size"].get<int64_t>();
    steps_ = p["prediction_steps"].get<int64_t>();
    if (s.backbone.name() == "vit")
      throw Error("method cpc encodes " + std::to_string(patch_) +
                  "-pixel patches, which a ViT sized for whole images cannot take: use backbone "
                  "convnet or resnet18");
    if (padded_ == 0) {
      // The image rounded up to a multiple of 16 (28 -> 32), then to a whole number of strides.
      padded_ = (s.imageSize + 15) / 16 * 16;
      if (padded_ < patch_) padded_ = patch_;
      padded_ += (stride_ - (padded_ - patch_) % stride_) % stride_;
    }
    if (padded_ < s.imageSize || (padded_ - patch_) % stride_ != 0)
      throw Error("method.params.padded_size = " + std::to_string(padded_) + ": must be at least the image size (" +
                  std::to_string(s.imageSize) + ") and leave a whole number of patch_stride steps after one patch (" +
                  std::to_string(patch_) + " + n x " + std::to_string(stride_) + "); 0 picks one");
    grid_ = (padded_ - patch_) / stride_ + 1;
    firstOffset_ = (patch_ + stride_ - 1) / stride_;  // the first row that does not overlap
    if (grid_ - firstOffset_ < 1)
      throw Error("method cpc: a grid of " + std::to_string(grid_) + " rows leaves nothing to predict " +
                  std::to_string(firstOffset_) + " rows below; use smaller patches or a larger padded_size");
    steps_ = std::min(steps_, grid_ - firstOffset_);
    const int64_t d = encoder_->featureDim();
    for (int64_t l = 0; l < p["context_layers"].get<int64_t>(); ++l)
      context_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(d, d, 3)));
    register_module("context", context_);
    for (int64_t k = 0; k < steps_; ++k)
      predictors_->push_back(torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
    register_module("predictors", predictors_);
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    const auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    const auto z = patchVectors(x);  // [B,D,G,G]
    const auto c = contextOf(z);
    torch::Tensor loss, acc;
    for (int64_t s = 0; s < steps_; ++s) {
      torch::Tensor a;
      auto [pred, target] = pairsAt(z, c, s);
      // Several processes: the candidates are the whole global batch's patches.
      auto l = cpcInfoNce(gatherAcrossRanks(pred), gatherAcrossRanks(target), &a);
      loss = loss.defined() ? loss + l : l;
      acc = acc.defined() ? acc + a : a;
    }
    return {loss / double(steps_), {{"cpc_acc", acc / double(steps_)}}};
  }

  torch::Tensor features(const torch::Tensor& images) override { return patchVectors(images).mean({2, 3}); }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    // Each row: the augmented image, then its patch grid's first column, top to bottom.
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(images.size(0), 6);
    const auto x = augmentBatch(images.slice(0, 0, n), augment, gen);
    const auto grid = cpcPatchGrid(x, padded_, patch_, stride_);
    const int64_t side = padded_;
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels{"image"};
    for (int64_t r = 0; r < grid_; ++r) labels.push_back("row " + std::to_string(r));
    for (int64_t i = 0; i < n; ++i) {
      cells.push_back(padded(x[i].unsqueeze(0))[0].cpu());
      for (int64_t r = 0; r < grid_; ++r) cells.push_back(upscale(grid[i][r][grid_ / 2], side).cpu());
    }
    return {"cpc patches",
            "each row: an image (padded) and the patches of its middle column from the top; the context "
            "reads rows from the top and predicts rows " + std::to_string(firstOffset_) + " and more below",
            torch::stack(cells), labels, grid_ + 1};
  }

  // For a few images: the context so far (rows below it dimmed, the patch to predict framed),
  // the patch, and the candidates the model ranks first among the same row of every image.
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator&,
                               const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const int64_t n = images.size(0);
    if (n < 1) return {};
    const auto z = patchVectors(images);
    const auto c = contextOf(z);
    const int64_t row = std::max<int64_t>(0, (grid_ - firstOffset_ - 1) / 2), col = grid_ / 2;
    const int64_t target = row + firstOffset_;
    const auto pred = predictors_[0]->as<torch::nn::Linear>()->forward(c.select(2, row).select(2, col));  // [n,D]
    const auto cand = z.select(2, target).permute({0, 2, 1}).reshape({n * grid_, -1});  // every image's row
    const auto scores = torch::matmul(pred, cand.t()).cpu();                             // [n, n*G]
    const auto patches = cpcPatchGrid(images, padded_, patch_, stride_).cpu();
    const auto rgb = toRgb(padded(images)).cpu();
    const int64_t rows = std::min<int64_t>(n, 6), top = std::min<int64_t>(5, n * grid_);
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    int64_t right = 0;
    char buf[48];
    for (int64_t i = 0; i < rows; ++i) {
      cells.push_back(contextPicture(rgb[i], row, target, col));
      labels.emplace_back("context");
      cells.push_back(upscale(toRgb(patches[i][target][col].unsqueeze(0))[0], padded_));
      labels.emplace_back("the patch");
      const auto best = scores[i].topk(top);
      const int64_t truth = i * grid_ + col;
      right += std::get<1>(best)[0].item<int64_t>() == truth;
      for (int64_t r = 0; r < top; ++r) {
        const int64_t j = std::get<1>(best)[r].item<int64_t>();
        cells.push_back(upscale(toRgb(patches[j / grid_][target][j % grid_].unsqueeze(0))[0], padded_));
        std::snprintf(buf, sizeof buf, "%s#%lld %.1f", j == truth ? "" : "x ", static_cast<long long>(r + 1),
                      std::get<0>(best)[r].item<float>());
        labels.emplace_back(buf);
      }
    }
    std::snprintf(buf, sizeof buf, "%lld of %lld", static_cast<long long>(right), static_cast<long long>(rows));
    return {{"cpc predictions",
             "each row: what the context has read (rows " + std::to_string(row + 1) + " and below dimmed) and, framed, "
             "the patch " + std::to_string(firstOffset_) + " rows down that it must predict; then the model's top " +
                 std::to_string(top) + " among row " + std::to_string(target) + " of every image (red: another patch). "
                 "First pick right: " + buf,
             torch::stack(cells), labels, 2 + top}};
  }

 private:
  torch::Tensor padded(const torch::Tensor& images) const { return padTo(images, padded_); }

  static torch::Tensor upscale(const torch::Tensor& patch, int64_t side) {
    return F::interpolate(patch.unsqueeze(0), F::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{side, side})
                                                  .mode(torch::kNearest))[0];
  }

  // The padded image with the rows the context has not read dimmed and the target framed green.
  torch::Tensor contextPicture(torch::Tensor rgb, int64_t row, int64_t target, int64_t col) const {
    rgb = rgb.clone();
    const int64_t seen = row * stride_ + patch_;  // pixels down to the end of the context's last row
    if (seen < padded_) rgb.slice(1, seen).mul_(0.3);
    const int64_t y0 = target * stride_, x0 = col * stride_, y1 = y0 + patch_ - 1, x1 = x0 + patch_ - 1;
    const auto green = torch::tensor({0.1f, 0.9f, 0.2f}).view({3, 1});
    rgb.select(1, y0).slice(1, x0, x1 + 1).copy_(green.expand({3, patch_}));
    rgb.select(1, y1).slice(1, x0, x1 + 1).copy_(green.expand({3, patch_}));
    rgb.select(2, x0).slice(1, y0, y1 + 1).copy_(green.expand({3, patch_}));
    rgb.select(2, x1).slice(1, y0, y1 + 1).copy_(green.expand({3, patch_}));
    return rgb;
  }

  // Every patch through the encoder: [B,D,G,G].
  torch::Tensor patchVectors(const torch::Tensor& images) {
    const auto grid = cpcPatchGrid(images, padded_, patch_, stride_);
    const int64_t b = images.size(0);
    const auto flat = grid.reshape({b * grid_ * grid_, images.size(1), patch_, patch_});
    return encoder_->forward(flat).view({b, grid_, grid_, -1}).permute({0, 3, 1, 2});
  }

  torch::Tensor contextOf(const torch::Tensor& z) { return cpcContext(context_, z); }

  // Offset number s (k = firstOffset_ + s rows down): predictions from the context rows that have
  // a row k below them, and those rows' patch vectors, both [M,D] with rows aligned.
  std::pair<torch::Tensor, torch::Tensor> pairsAt(const torch::Tensor& z, const torch::Tensor& c, int64_t s) {
    const int64_t k = firstOffset_ + s, rows = grid_ - k, d = z.size(1);
    const auto ctx = c.slice(2, 0, rows).permute({0, 2, 3, 1}).reshape({-1, d});
    const auto target = z.slice(2, k, grid_).permute({0, 2, 3, 1}).reshape({-1, d});
    return {predictors_[s]->as<torch::nn::Linear>()->forward(ctx), target};
  }

  int64_t patch_ = 8, stride_ = 4, padded_ = 0, steps_ = 3, grid_ = 7, firstOffset_ = 2;
  torch::nn::Sequential context_;
  torch::nn::ModuleList predictors_;
};

}  // namespace

MethodInfo cpcMethodInfo() {
  MethodInfo m;
  m.name = "cpc";
  m.title = "CPC";
  m.family = "contrastive";
  m.summary =
      "Contrastive predictive coding: the image is a sequence of patch rows. A context network "
      "reads the rows from the top and predicts the patches further down; InfoNCE asks it to pick "
      "the true patch out of the batch's other patches. The averaged patch features are the "
      "representation.";
  m.formula = "L = -mean_{i,j,k} log( exp(z_{i+k,j} . W_k c_{i,j}) / sum_{z' in batch patches} exp(z' . W_k c_{i,j}) ), k >= 2";
  m.paper = "van den Oord, Li, Vinyals. Representation Learning with Contrastive Predictive Coding. "
            "2018; Henaff et al. Data-Efficient Image Recognition with Contrastive Predictive Coding. ICML 2020.";
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      {"patch_size", T::Int, 8, 2, 256, {}, "side of the square patches in pixels"},
      {"patch_stride", T::Int, 4, 1, 256, {}, "pixels between patches (half the patch: they overlap by half)"},
      {"padded_size", T::Int, 0, 0, 4096, {}, "the image is padded to this side before cutting (0: 28 -> 32, 32 -> 32, ...)"},
      {"prediction_steps", T::Int, 3, 1, 64, {}, "how many rows further down are predicted (from the first non-overlapping one)"},
      {"context_layers", T::Int, 3, 1, 8, {}, "causal 3x3 convolutions of the context network (each sees 2 more rows up)"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Cpc>(s); };
  return m;
}

}  // namespace pretext
