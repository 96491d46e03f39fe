// Context encoder (Pathak, Krähenbühl, Donahue, Darrell, Efros 2016): a block of the image is cut
// out, the encoder sees the rest, and a decoder paints the block back from the encoder's vector.
// To fill a hole convincingly it must understand what surrounds it. The L2 loss alone gives
// blurry fills; an optional adversarial loss (a discriminator judging the filled images) makes
// them sharper.
#include "core/methods/inpainting.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

#include "core/methods/dcgan.h"
#include "core/methods/registry.h"
#include "core/models/decoder.h"
#include "core/util/error.h"

namespace pretext {

namespace {

void checkBlock(int64_t block, int64_t overlap, int64_t height, int64_t width) {
  if (block < 1 || block >= std::min(height, width))
    throw Error("method.params.block_size = " + std::to_string(block) +
                ": expected a block smaller than the images (" + std::to_string(height) + "x" +
                std::to_string(width) + " px); lower it, or the encoder sees nothing");
  if (overlap < 0 || block - 2 * overlap < 1)
    throw Error("method.params.overlap = " + std::to_string(overlap) +
                ": leaves no hole in a block of " + std::to_string(block) +
                " px; expected overlap < block_size / 2");
}

// Rows (or columns) [start, start + len) of a length-`size` axis as [N,size] floats.
torch::Tensor band(const torch::Tensor& start, int64_t len, int64_t size) {
  auto idx = torch::arange(size, torch::kLong).unsqueeze(0);
  auto s = start.unsqueeze(1);
  return (idx >= s).logical_and(idx < s + len).to(torch::kFloat);
}

}  // namespace

BlockMask blockMask(int64_t n, int64_t height, int64_t width, int64_t block, int64_t overlap,
                    const std::string& mode, torch::Generator& gen) {
  checkBlock(block, overlap, height, width);
  torch::Tensor top, left;
  if (mode == "center") {
    top = torch::full({n}, (height - block) / 2, torch::kLong);
    left = torch::full({n}, (width - block) / 2, torch::kLong);
  } else if (mode == "random") {
    top = torch::randint(0, height - block + 1, {n}, gen, torch::kLong);
    left = torch::randint(0, width - block + 1, {n}, gen, torch::kLong);
  } else {
    throw Error("method.params.mask = \"" + mode + "\": expected center or random");
  }
  auto rect = [&](int64_t inset) {
    return (band(top + inset, block - 2 * inset, height).unsqueeze(2) *
            band(left + inset, block - 2 * inset, width).unsqueeze(1))
        .unsqueeze(1);
  };
  return {rect(0), rect(overlap)};
}

torch::Tensor maskImages(const torch::Tensor& images, const torch::Tensor& hole, double fill) {
  return images * (1 - hole) + fill * hole;
}

torch::Tensor inpaintingWeights(const BlockMask& mask, double overlapWeight) {
  return mask.hole + overlapWeight * (mask.region - mask.hole);
}

torch::Tensor inpaintingLoss(const torch::Tensor& pred, const torch::Tensor& target,
                             const torch::Tensor& weights) {
  auto w = weights.to(torch::kFloat);
  auto se = (pred.to(torch::kFloat) - target.to(torch::kFloat)).pow(2) * w;
  return se.sum() / (w.sum() * pred.size(1)).clamp_min(1e-12);
}

namespace {

namespace nn = torch::nn;

// Hidden pixels in a muted blue (as in the MAE viewer), so they differ from any image pixel.
torch::Tensor paint(const torch::Tensor& rgb, const torch::Tensor& where) {
  auto tint = torch::tensor({0.22f, 0.28f, 0.5f}, rgb.options()).view({1, 3, 1, 1});
  return rgb * (1 - where) + tint * where;
}

class Inpainting : public Method {
 public:
  explicit Inpainting(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    mode_ = p["mask"].get<std::string>();
    block_ = p["block_size"].get<int64_t>();
    overlap_ = p["overlap"].get<int64_t>();
    overlapWeight_ = p["overlap_weight"].get<double>();
    lambdaAdv_ = p["lambda_adv"].get<double>();
    imageSize_ = s.imageSize;
    checkBlock(block_, overlap_, s.imageSize, s.imageSize);
    decoder_ = register_module("decoder", ConvDecoder(DecoderOptions()
                                                          .inDim(encoder_->featureDim())
                                                          .outChannels(s.channels)
                                                          .imageSize(s.imageSize)
                                                          .width(p["dec_width"].get<int64_t>())
                                                          .output("sigmoid")));
    if (lambdaAdv_ > 0) {
      // Its own small ConvNet, whatever the encoder's architecture: it only judges the fills.
      disc_ =
          register_module("discriminator", makeBackbone(BackboneOptions()
                                                            .name("convnet")
                                                            .inChannels(s.channels)
                                                            .imageSize(s.imageSize)
                                                            .width(p["d_width"].get<int64_t>())));
      discHead_ = register_module("discriminator_head", nn::Linear(disc_->featureDim(), 1));
      auto ps = disc_->parameters();
      for (auto& t : discHead_->parameters()) ps.push_back(t);
      dOpt_ = std::make_unique<torch::optim::Adam>(
          ps, torch::optim::AdamOptions(p["d_lr"].get<double>())
                  .betas({p["d_beta1"].get<double>(), 0.999}));
    }
  }

  // The trainer's optimiser trains the encoder and the decoder; the discriminator has its own.
  std::vector<torch::Tensor> trainableParameters() override {
    auto ps = encoder_->parameters();
    for (auto& t : decoder_->parameters()) ps.push_back(t);
    return ps;
  }

  torch::Tensor fill(const torch::Tensor& masked) {
    return decoder_->forward(encoder_->forward(masked));
  }
  torch::Tensor discLogits(const torch::Tensor& x) {
    return discHead_->forward(disc_->forward(x)).squeeze(1);
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen).to(torch::kFloat);
    auto m = blockMask(x.size(0), x.size(2), x.size(3), block_, overlap_, mode_, *ctx.gen);
    m.region = m.region.to(x.device());
    m.hole = m.hole.to(x.device());
    auto pred = fill(maskImages(x, m.hole)).to(torch::kFloat);
    auto w = inpaintingWeights(m, overlapWeight_);
    auto rec = inpaintingLoss(pred, x, w);
    StepResult r{rec, {{"rec_loss", rec.detach()}, {"mean_fill_loss", meanFillLoss(x, w)}}};
    if (!dOpt_) return r;
    auto filled = x * (1 - m.hole) + pred * m.hole;
    // The discriminator's step first, with its own Adam. Its grads are zeroed before: the
    // trainer's backward of the previous step's adversarial term reached them too.
    dOpt_->zero_grad();
    auto realLogits = discLogits(x);
    auto fakeLogits = discLogits(filled.detach());
    auto lossD = ganDiscriminatorLoss(realLogits, fakeLogits);
    lossD.backward();
    dOpt_->step();
    // Then the filler's adversarial term against the updated discriminator.
    auto adv = ganGeneratorLoss(discLogits(filled));
    r.loss = (1 - lambdaAdv_) * rec + lambdaAdv_ * adv;
    r.metrics.push_back({"adv_loss", adv.detach()});
    r.metrics.push_back({"d_loss", lossD.detach()});
    r.metrics.push_back({"d_real", torch::sigmoid(realLogits.detach()).mean()});
    r.metrics.push_back({"d_fake", torch::sigmoid(fakeLogits.detach()).mean()});
    return r;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    Method::save(archive);
    if (dOpt_) saveInnerOptimizer(archive, "discriminator_optimizer", *dOpt_);
  }
  void load(torch::serialize::InputArchive& archive) override {
    Method::load(archive);
    if (dOpt_) loadInnerOptimizer(archive, "discriminator_optimizer", *dOpt_);
  }

  std::vector<PreviewControl> previewControls() const override {
    return {{"block_size", "block size", 1, double(imageSize_ - 1), 1, double(block_),
             "side of the hidden block in pixels (trained with " + std::to_string(block_) + ")"}};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings& settings) override {
    torch::NoGradGuard ng;
    const auto block =
        static_cast<int64_t>(previewSetting(settings, previewControls(), "block_size"));
    const int64_t overlap = std::min(overlap_, (block - 1) / 2);
    const int64_t n = std::min<int64_t>(images.size(0), 8);
    auto x = images.slice(0, 0, n).to(torch::kFloat);
    // One opened image: the central block; test images: the training's placement.
    auto m = blockMask(n, x.size(2), x.size(3), block, overlap, n == 1 ? "center" : mode_, gen);
    m.region = m.region.to(x.device());
    m.hole = m.hole.to(x.device());
    auto pred = fill(maskImages(x, m.hole)).to(torch::kFloat);
    auto filled = x * (1 - m.hole) + pred * m.hole;
    const double err = inpaintingLoss(pred, x, m.hole).item<double>();  // on the hidden pixels
    const double base = meanFillLoss(x, m.hole).item<double>();
    auto grid = torch::stack({paint(toRgb(x), m.hole), toRgb(filled), toRgb(x)}, 1).flatten(0, 1);
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "each image: with a %lld px block hidden (blue; the encoder sees grey), "
                  "the hole filled by the decoder, the original. Hidden-pixel MSE %.4f vs %.4f "
                  "for filling with the mean",
                  static_cast<long long>(block), err, base);
    // Two images a row when there are several: the grid then fits the panel without scrolling.
    std::vector<std::string> headers{"masked", "filled", "original"};
    if (n >= 2) headers.insert(headers.end(), {"masked", "filled", "original"});
    const auto columns = static_cast<int64_t>(headers.size());
    return {{"inpainting", buf, grid.cpu(), headers, columns}};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto view = augmentBatch(images, augment, gen).to(torch::kFloat);
    auto m = blockMask(view.size(0), view.size(2), view.size(3), block_, overlap_, mode_, gen);
    auto hole = m.hole.to(view.device()), region = m.region.to(view.device());
    auto grid = torch::stack({toRgb(images.to(torch::kFloat)), toRgb(maskImages(view, hole)),
                              paint(toRgb(view), 1 - region)},
                             1)
                    .flatten(0, 1);
    return {"inpainting inputs",
            "each row: an image, what the encoder sees (the block grey), and the block the "
            "decoder must paint back (the rest blue)",
            grid.cpu(),
            {"image", "encoder sees", "to predict"},
            3};
  }

 private:
  // The baseline the loss must beat: every weighted pixel filled with their weighted mean.
  static torch::Tensor meanFillLoss(const torch::Tensor& x, const torch::Tensor& w) {
    torch::NoGradGuard ng;
    auto mean = (x * w).sum() / (w.sum() * x.size(1)).clamp_min(1e-12);
    return inpaintingLoss(torch::zeros_like(x) + mean, x, w);
  }

  std::string mode_ = "random";
  int64_t block_ = 14, overlap_ = 0, imageSize_ = 28;
  double overlapWeight_ = 10, lambdaAdv_ = 0;
  ConvDecoder decoder_{nullptr};
  std::shared_ptr<Encoder> disc_;
  nn::Linear discHead_{nullptr};
  std::unique_ptr<torch::optim::Adam> dOpt_;
};

}  // namespace

MethodInfo inpaintingMethodInfo() {
  MethodInfo m;
  m.dataParallel = false;  // its step runs an optimiser of its own
  m.name = "inpainting";
  m.title = "Context encoder (inpainting)";
  m.family = "pretext task";
  m.summary =
      "A block of each image is hidden and the network must paint it back: the encoder sees the "
      "image with a hole, a decoder turns its vector into the missing pixels. Filling a hole "
      "needs an idea of what surrounds it. An optional discriminator judging the fills makes "
      "them sharper than the blurry L2 average.";
  m.formula =
      "L = (1 - lambda_adv) ||w * (x - F(x * (1 - M)))||^2 / sum w + lambda_adv (-log D(fill)), "
      "w = 1 in the hole M, overlap_weight on its ring";
  m.paper =
      "Pathak, Krahenbuhl, Donahue, Darrell, Efros. Context Encoders: Feature Learning by "
      "Inpainting. CVPR 2016.";
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      {"mask",
       T::Choice,
       "random",
       0,
       0,
       {"center", "random"},
       "where the block is cut: the centre (easy to view, but the encoder never needs the "
       "middle) or a random place per image (better features)"},
      {"block_size",
       T::Int,
       14,
       1,
       1024,
       {},
       "side of the hidden square in pixels (14 of 28 is Pathak's 64 of 128); larger is harder"},
      {"overlap",
       T::Int,
       0,
       0,
       512,
       {},
       "ring of the block the encoder still sees but the decoder must also predict (Pathak: 4 of "
       "64 px); ties the fill to its border"},
      {"overlap_weight",
       T::Float,
       10.0,
       0,
       1000,
       {},
       "loss weight of the overlap ring (paper: 10)"},
      {"dec_width",
       T::Int,
       32,
       4,
       512,
       {},
       "decoder channels (4w, 2w, w): sharper fills, more time"},
      {"lambda_adv",
       T::Float,
       0.0,
       0,
       0.999,
       {},
       "weight of the adversarial loss (0: L2 only; paper 0.001): sharper fills, less stable"},
      {"d_width", T::Int, 16, 4, 512, {}, "discriminator ConvNet width (only when lambda_adv > 0)"},
      {"d_lr", T::Float, 2e-4, 1e-6, 1, {}, "discriminator learning rate (its own Adam)"},
      {"d_beta1", T::Float, 0.5, 0, 0.999, {}, "discriminator Adam beta1 (DCGAN's 0.5)"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Inpainting>(s); };
  return m;
}

}  // namespace pretext
