// Masked autoencoder (He, Chen, Xie, Li, Dollár, Girshick 2022): hide most of an image's patches
// and reconstruct their pixels. The ViT encoder sees only the visible patches; a light decoder
// takes their encodings plus a learned mask token at every hidden position and predicts pixels.
#include "core/methods/mae.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>

#include "core/methods/registry.h"
#include "core/models/vit.h"
#include "core/util/error.h"

namespace pretext {

namespace nn = torch::nn;

torch::Tensor patchify(const torch::Tensor& images, int64_t patch) {
  if (images.dim() != 4 || patch < 1 || images.size(2) % patch != 0 || images.size(3) % patch != 0)
    throw Error("patchify: expected images [N,C,H,W] whose sides are multiples of the patch size " +
                std::to_string(patch));
  const int64_t n = images.size(0), c = images.size(1);
  const int64_t h = images.size(2) / patch, w = images.size(3) / patch;
  return images.reshape({n, c, h, patch, w, patch})
      .permute({0, 2, 4, 3, 5, 1})
      .reshape({n, h * w, patch * patch * c});
}

torch::Tensor unpatchify(const torch::Tensor& patches, int64_t patch, int64_t channels) {
  const int64_t n = patches.size(0), l = patches.size(1);
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(double(l))));
  if (patches.dim() != 3 || g * g != l || patches.size(2) != patch * patch * channels)
    throw Error("unpatchify: expected patches [N, L, p*p*C] on a square grid");
  return patches.reshape({n, g, g, patch, patch, channels})
      .permute({0, 5, 1, 3, 2, 4})
      .reshape({n, channels, g * patch, g * patch});
}

int64_t visiblePatches(int64_t length, double maskRatio) {
  const auto k = static_cast<int64_t>(std::llround(double(length) * (1.0 - maskRatio)));
  return std::clamp<int64_t>(k, 1, std::max<int64_t>(1, length - 1));
}

PatchMask randomMasking(int64_t n, int64_t length, double maskRatio, torch::Generator& gen) {
  const int64_t k = visiblePatches(length, maskRatio);
  auto noise = torch::rand({n, length}, gen, torch::kFloat);
  auto shuffle = torch::argsort(noise, int64_t(1));  // ascending: the first K are kept
  PatchMask m;
  m.restore = torch::argsort(shuffle, int64_t(1));
  m.keep = shuffle.slice(1, 0, k).contiguous();
  auto shuffledMask = torch::ones({n, length});
  shuffledMask.slice(1, 0, k).zero_();
  m.mask = shuffledMask.gather(1, m.restore);
  return m;
}

torch::Tensor normalizePatches(const torch::Tensor& patches) {
  auto x = patches.to(torch::kFloat);
  auto mean = x.mean(-1, /*keepdim=*/true);
  auto var =
      x.size(-1) > 1 ? x.var(-1, /*unbiased=*/true, /*keepdim=*/true) : torch::zeros_like(mean);
  return (x - mean) / (var + 1e-6).sqrt();
}

torch::Tensor maePatchErrors(const torch::Tensor& pred, const torch::Tensor& target, bool normPix) {
  auto t = normPix ? normalizePatches(target) : target.to(torch::kFloat);
  return (pred.to(torch::kFloat) - t).pow(2).mean(-1);  // [N,L]
}

torch::Tensor maeLoss(const torch::Tensor& pred, const torch::Tensor& target,
                      const torch::Tensor& mask, bool normPix) {
  auto perPatch = maePatchErrors(pred, target, normPix);
  auto m = mask.to(torch::kFloat);
  return (perPatch * m).sum() / m.sum().clamp_min(1);
}

torch::Tensor meanPatchLoss(const torch::Tensor& target, const torch::Tensor& mask, bool normPix) {
  torch::NoGradGuard ng;
  auto t = normPix ? normalizePatches(target) : target.to(torch::kFloat);
  auto m = mask.to(torch::kFloat).unsqueeze(-1);                                  // [N,L,1]
  auto meanPatch = (t * m).sum(torch::IntArrayRef{0, 1}) / m.sum().clamp_min(1);  // [P]
  return maeLoss(meanPatch.expand_as(t), t, mask, /*normPix=*/false);
}

namespace {

// What one masked pass produces.
struct MaskedPass {
  torch::Tensor pred;    // [N,L,P] predicted patch pixels (normalised patches under norm_pix)
  torch::Tensor mask;    // [N,L] 1 = masked
  torch::Tensor latent;  // [N,K,D] the encoder's tokens of the visible patches
};

// Pictures: masked areas in a muted blue on colour/grey images, so they differ from any pixel.
torch::Tensor paintMasked(const torch::Tensor& rgb, const torch::Tensor& where) {
  if (rgb.size(1) != 3) return rgb * (1 - where) + 0.5 * where;
  auto tint = torch::tensor({0.22f, 0.28f, 0.5f}, rgb.options()).view({1, 3, 1, 1});
  return rgb * (1 - where) + tint * where;
}

class Mae : public Method {
 public:
  explicit Mae(const MethodSetup& s) : Method(s) {
    vit_ = std::dynamic_pointer_cast<VisionTransformer>(encoder_);
    if (!vit_)
      throw Error("method mae needs a Vision Transformer: set backbone.name to \"vit\" (it is \"" +
                  s.backbone.name() +
                  "\"); MAE drops the tokens of the masked patches, which "
                  "only a transformer can do");
    const auto& p = s.params;
    maskRatio_ = p["mask_ratio"].get<double>();
    normPix_ = p["norm_pix_loss"].get<bool>();
    const int64_t decDim = p["dec_dim"].get<int64_t>();
    const int64_t decHeads = p["dec_heads"].get<int64_t>();
    if (decDim % 4 != 0)
      throw Error("method.params.dec_dim = " + std::to_string(decDim) +
                  ": expected a multiple of 4 (2-D sin-cos position embeddings)");
    if (decDim % decHeads != 0)
      throw Error("method.params.dec_heads = " + std::to_string(decHeads) +
                  ": must divide method.params.dec_dim = " + std::to_string(decDim));
    const int64_t g = vit_->gridSize(), patch = vit_->patchSize();
    decoderEmbed_ = register_module("decoder_embed", nn::Linear(vit_->dim(), decDim));
    maskToken_ = register_parameter("mask_token", torch::zeros({1, 1, decDim}));
    decoderPos_ = register_buffer("decoder_pos_embed", sincosPosEmbed2d(decDim, g, g).unsqueeze(0));
    decoderBlocks_ = register_module("decoder_blocks", nn::ModuleList());
    for (int64_t i = 0; i < p["dec_depth"].get<int64_t>(); ++i)
      decoderBlocks_->push_back(TransformerBlock(decDim, decHeads));
    decoderNorm_ =
        register_module("decoder_norm", nn::LayerNorm(nn::LayerNormOptions({decDim}).eps(1e-6)));
    decoderPred_ =
        register_module("decoder_pred", nn::Linear(decDim, patch * patch * vit_->inChannels()));
    for (auto* m : std::initializer_list<nn::Module*>{decoderEmbed_.get(), decoderBlocks_.get(),
                                                      decoderNorm_.get(), decoderPred_.get()})
      initTransformerWeights(*m);
    torch::NoGradGuard ng;
    nn::init::normal_(maskToken_, 0, 0.02);
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto out = maskedPass(x, maskRatio_, *ctx.gen);
    auto target = patchify(x, vit_->patchSize());
    auto loss = maeLoss(out.pred, target, out.mask, normPix_);
    StepResult r{loss, {{"mean_patch_loss", meanPatchLoss(target, out.mask, normPix_)}}};
    // The encoder's pooled features of the masked input: an autoencoder cannot collapse (no
    // alarm), but a representation that barely varies across images is still worth seeing.
    for (auto& m : collapseMetrics(out.latent.detach().mean(1), /*canCollapse=*/false)) r.metrics.push_back(m);
    return r;
  }

  std::vector<PreviewControl> previewControls() const override {
    return {{"mask_ratio", "mask ratio", 0.05, 0.95, 0.05, maskRatio_,
             "share of the patches hidden from the encoder (trained with " +
                 std::to_string(int(std::lround(maskRatio_ * 100))) + "%)"}};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings& settings) override {
    torch::NoGradGuard ng;
    const double ratio = previewSetting(settings, previewControls(), "mask_ratio");
    const int64_t n = std::min<int64_t>(images.size(0), 8), patch = vit_->patchSize();
    auto x = images.slice(0, 0, n).to(torch::kFloat);
    auto out = maskedPass(x, ratio, gen);
    auto target = patchify(x, patch);
    auto pred = out.pred.to(torch::kFloat);
    const double loss = maeLoss(pred, target, out.mask, normPix_).item<double>();
    const double base = meanPatchLoss(target, out.mask, normPix_).item<double>();
    if (normPix_) {  // back to pixels with each true patch's own mean and spread
      auto mean = target.mean(-1, true);
      auto var = target.size(-1) > 1 ? target.var(-1, true, true) : torch::zeros_like(mean);
      pred = pred * (var + 1e-6).sqrt() + mean;
    }
    const int64_t c = x.size(1);
    auto recon = unpatchify(pred.clamp(0, 1), patch, c);
    auto where = unpatchify(out.mask.unsqueeze(-1).expand({-1, -1, patch * patch}).contiguous(),
                            patch, 1);  // [n,1,H,W], 1 = masked
    auto pasted = x * (1 - where) + recon * where;
    auto grid =
        torch::stack({toRgb(x), paintMasked(toRgb(x), where), toRgb(recon), toRgb(pasted)}, 1)
            .flatten(0, 1);
    const int64_t l = vit_->numPatches(), k = visiblePatches(l, ratio);
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "each row: an image; the %lld of %lld patches the encoder sees (blue = hidden, "
                  "%.0f%%); the decoder's guess for every patch; the guess with the visible "
                  "patches pasted back. Hidden-patch MSE %.4f vs %.4f for the mean patch%s",
                  static_cast<long long>(k), static_cast<long long>(l), ratio * 100, loss, base,
                  normPix_ ? " (normalised pixels; shown with each true patch's mean and spread)"
                           : "");
    return {{"mae reconstructions", buf, grid.cpu(),
             {"original", "masked", "predicted", "+ visible"}, 4}};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    const int64_t patch = vit_->patchSize();
    auto view = augmentBatch(images, augment, gen).to(torch::kFloat);
    auto m = randomMasking(view.size(0), vit_->numPatches(), maskRatio_, gen).mask;
    auto where = unpatchify(
        m.unsqueeze(-1).expand({-1, -1, patch * patch}).contiguous().to(view.device()), patch, 1);
    auto rgb = toRgb(view);
    auto grid = torch::stack({toRgb(images.to(torch::kFloat)), rgb, paintMasked(rgb, where),
                              paintMasked(rgb, 1 - where)},
                             1)
                    .flatten(0, 1);
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "each row: an image, its augmented view, the %lld of %lld patches the encoder "
                  "sees, and the hidden patches it must reconstruct (blue = left out)",
                  static_cast<long long>(visiblePatches(vit_->numPatches(), maskRatio_)),
                  static_cast<long long>(vit_->numPatches()));
    return {"mae inputs", buf, grid.cpu(), {"image", "view", "encoder sees", "to predict"}, 4};
  }

  // One batch's loss taken apart: each image's patches, the hidden ones coloured by how badly
  // they were painted back (the visible ones take no part), and each image's share of the loss.
  std::vector<LossAnatomy> lossAnatomy(const torch::Tensor& images, const AugmentOptions& augment,
                                       torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto x = augmentBatch(images.slice(0, 0, std::min<int64_t>(images.size(0), 16)), augment, gen);
    auto out = maskedPass(x, maskRatio_, gen);
    auto target = patchify(x, vit_->patchSize());
    auto perPatch = maePatchErrors(out.pred, target, normPix_);
    auto m = out.mask.to(torch::kFloat);
    auto perRow = (perPatch * m).sum(1) / m.sum(1).clamp_min(1);
    auto shown = perPatch.masked_fill(out.mask.logical_not(), std::numeric_limits<float>::quiet_NaN());
    LossAnatomy a;
    a.title = "Masked patches painted back: " + std::to_string(int(std::lround(maskRatio_ * 100))) + "% of " +
              std::to_string(vit_->numPatches()) + " patches hidden";
    a.explanation =
        std::string("Row i: one image, its patches in reading order. A grey entry is a visible patch: the "
                    "encoder saw it and the loss ignores it. A coloured entry is a hidden patch, coloured by the "
                    "mean squared error of the decoder's guess at its pixels") +
        (normPix_ ? " (each patch normalised to mean 0, std 1 first)" : "") +
        ". The loss of row i is the mean over its hidden patches; the batch's loss is their mean. The "
        "mean-patch baseline predicts every hidden patch as the average patch.";
    a.matrix = shown.cpu();
    a.vmin = 0;
    a.vmax = std::max(1e-6, perPatch.masked_select(out.mask.to(torch::kBool)).max().item<double>());
    a.rowsTitle = "image";
    a.columnsTitle = "patch (reading order)";
    a.perRow = perRow.cpu();
    a.perRowTitle = "mean error over its hidden patches";
    a.images = x.detach().to(torch::kFloat).cpu();
    a.terms = {{"loss", maeLoss(out.pred, target, out.mask, normPix_).item<double>()},
               {"mean-patch baseline", meanPatchLoss(target, out.mask, normPix_).item<double>()},
               {"mask ratio", maskRatio_}};
    return {a};
  }

 private:
  // Encode the visible patches only, then decode all positions (MAE's forward).
  MaskedPass maskedPass(const torch::Tensor& x, double ratio, torch::Generator& gen) {
    auto tokens = vit_->patchTokens(x);  // [N,L,D]
    const int64_t n = tokens.size(0), l = tokens.size(1), d = tokens.size(2);
    PatchMask pm = randomMasking(n, l, ratio, gen);
    auto keep = pm.keep.to(x.device());
    auto restore = pm.restore.to(x.device());
    MaskedPass out;
    out.mask = pm.mask.to(x.device());
    auto visible = tokens.gather(1, keep.unsqueeze(-1).expand({-1, -1, d}));
    out.latent = vit_->encodeTokens(visible);  // [N,K,D]
    auto y = tokenLinear(decoderEmbed_, out.latent);
    const int64_t dd = y.size(2), k = y.size(1);
    y = torch::cat({y, maskToken_.to(y.dtype()).expand({n, l - k, dd})}, 1);
    y = y.gather(1, restore.unsqueeze(-1).expand({-1, -1, dd}));  // unshuffle
    y = y + decoderPos_;
    for (const auto& block : *decoderBlocks_) y = block->as<TransformerBlock>()->forward(y);
    out.pred = tokenLinear(decoderPred_, decoderNorm_->forward(y));
    return out;
  }

  std::shared_ptr<VisionTransformer> vit_;
  double maskRatio_ = 0.75;
  bool normPix_ = false;
  nn::Linear decoderEmbed_{nullptr}, decoderPred_{nullptr};
  torch::Tensor maskToken_, decoderPos_;
  nn::ModuleList decoderBlocks_{nullptr};
  nn::LayerNorm decoderNorm_{nullptr};
};

}  // namespace

MethodInfo maeMethodInfo() {
  MethodInfo m;
  m.name = "mae";
  m.title = "Masked autoencoder (MAE)";
  m.family = "masked";
  m.summary =
      "Most of the image's patches (75%) are hidden and the network must paint them back. The "
      "ViT encoder sees only the few visible patches; a small decoder gets their encodings plus "
      "a learned mask token at each hidden place and predicts the hidden pixels. Only the "
      "encoder is kept: to fill in so much it has to learn what things look like.";
  m.formula =
      "L = 1/|M| sum_{i in M} mean_j (xhat_ij - x_ij)^2 over the masked patches M "
      "(x_i normalised per patch when norm_pix_loss)";
  m.paper =
      "He, Chen, Xie, Li, Dollar, Girshick. Masked Autoencoders Are Scalable Vision "
      "Learners. CVPR 2022.";
  m.requiredBackbone = "vit";
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      {"mask_ratio",
       T::Float,
       0.75,
       0.05,
       0.95,
       {},
       "share of the patches hidden from the encoder"},
      {"norm_pix_loss",
       T::Bool,
       false,
       0,
       0,
       {},
       "predict each patch normalised by its own mean and std (the paper's choice; slightly "
       "better probes on mae-fashion, but a reconstruction can then only be shown with the "
       "hidden patches' true mean and contrast)"},
      {"dec_dim", T::Int, 64, 4, 2048, {}, "decoder width (a multiple of 4 and of dec_heads)"},
      {"dec_depth", T::Int, 2, 1, 32, {}, "decoder transformer blocks"},
      {"dec_heads", T::Int, 4, 1, 64, {}, "decoder attention heads"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Mae>(s); };
  return m;
}

}  // namespace pretext
