// Split-brain autoencoder (Zhang, Isola, Efros 2017): the network is split into two halves; one
// predicts the colour (ab) from the lightness (L), the other the lightness from the colour. Each
// half is a cross-channel classifier (ab over the in-gamut bins, soft-encoded; L over 50 bins of
// width 2): the paper found classification gives better features than regression. The
// representation is both halves' features side by side.
#include "core/methods/splitbrain.h"

#include <torch/torch.h>

#include <cstdio>

#include "core/methods/colorization.h"
#include "core/methods/lab.h"
#include "core/methods/registry.h"
#include "core/util/error.h"

namespace pretext {

SplitBrainEncoder::SplitBrainEncoder(const BackboneOptions& backbone) {
  BackboneOptions half = backbone;
  half.width(std::max<int64_t>(1, backbone.width() / 2));
  l_ = register_module("l_half", std::make_shared<LabEncoder>(half, LabInput::L));
  ab_ = register_module("ab_half", std::make_shared<LabEncoder>(half, LabInput::AB));
  featureDim_ = l_->featureDim() + ab_->featureDim();
}

torch::Tensor SplitBrainEncoder::forward(torch::Tensor x) {
  auto rgb = x.size(1) == 1 ? x.expand({-1, 3, -1, -1}) : x;
  auto lab = rgbToLab(rgb);
  return torch::cat(
      {l_->inner().forward(l_->fromLab(lab)), ab_->inner().forward(ab_->fromLab(lab))}, 1);
}

std::vector<torch::Tensor> SplitBrainEncoder::stages(torch::Tensor x) {
  auto rgb = x.size(1) == 1 ? x.expand({-1, 3, -1, -1}) : x;
  auto lab = rgbToLab(rgb);
  auto a = l_->stagesFromLab(lab), b = ab_->stagesFromLab(lab);
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < a.size(); ++i) out.push_back(torch::cat({a[i], b[i]}, 1));
  return out;
}

std::vector<torch::Tensor> SplitBrainEncoder::stageParameters(int64_t stage) {
  auto p = l_->stageParameters(stage);
  for (auto& t : ab_->stageParameters(stage)) p.push_back(t);
  return p;
}

namespace {

namespace F = torch::nn::functional;


class SplitBrain : public Method {
 public:
  explicit SplitBrain(const MethodSetup& s) : Method(s) {
    BackboneOptions b = s.backbone;
    b.imageSize(s.imageSize);
    split_ = std::make_shared<SplitBrainEncoder>(b);
    probeFeatures_ = s.params["probe_features"].get<std::string>();
    encoder_ = replace_module("encoder", std::shared_ptr<Encoder>(split_));
    lBins_ = s.params["l_bins"].get<int64_t>();
    bins_ = register_buffer("ab_bins", abGamutBins());
    const int64_t width = s.params["head_width"].get<int64_t>();
    toAb_ =
        register_module("l_to_ab", DenseHead(split_->lHalf(), s.imageSize, width, bins_.size(0)));
    toL_ = register_module("ab_to_l", DenseHead(split_->abHalf(), s.imageSize, width, lBins_));
  }

  struct Pass {
    torch::Tensor abLogits, lLogits;  // [N,Q,g,g], [N,lBins,g,g]
  };
  Pass pass(const torch::Tensor& lab) {
    const int64_t g = predictionSize(lab.size(2));
    return {toAb_->forward(split_->lHalf().stagesFromLab(lab), g),
            toL_->forward(split_->abHalf().stagesFromLab(lab), g)};
  }
  // L in [0,100] -> bin index in 0..lBins-1.
  torch::Tensor lBin(const torch::Tensor& l) const {
    return (l / 100 * double(lBins_)).floor().clamp(0, double(lBins_ - 1)).to(torch::kLong);
  }
  torch::Tensor lCentres(const torch::Tensor& like) const {
    return (torch::arange(lBins_, like.options()) + 0.5) * (100.0 / double(lBins_));
  }

  torch::Tensor features(const torch::Tensor& images) override {
    return stageFeatures(images, probeFeatures_);
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    torch::Tensor lab;
    {
      torch::NoGradGuard ng;
      lab = rgbToLab(x);
    }
    const int64_t n = x.size(0), g = predictionSize(x.size(2));
    auto out = pass(lab);
    auto small = resizeMaps(lab, g);
    torch::Tensor z, lTarget;
    {
      torch::NoGradGuard ng;
      z = softEncode(pixelRows(small.slice(1, 1, 3)), bins_);
      lTarget = lBin(pixelRows(small.slice(1, 0, 1)).squeeze(1));
    }
    auto abLogits = pixelRows(out.abLogits), lLogits = pixelRows(out.lLogits);
    auto abLoss = rebalancedCrossEntropy(abLogits, z, {});
    auto lLoss = F::cross_entropy(lLogits, lTarget);
    StepResult r{abLoss + lLoss, {}};
    torch::NoGradGuard ng;
    r.metrics.push_back({"ab_loss", abLoss.detach()});
    r.metrics.push_back({"l_loss", lLoss.detach()});
    r.metrics.push_back({"l_acc", lLogits.argmax(1).eq(lTarget).to(torch::kFloat).mean()});
    auto trueAb = lab.slice(1, 1, 3);
    auto ab =
        resizeMaps(pixelMaps(annealedMean(torch::softmax(abLogits, 1), bins_, 0.38), n, g, g), x.size(2));
    r.metrics.push_back({"ab_auc", abErrorAuc(ab, trueAb)});
    r.metrics.push_back({"gray_auc", abErrorAuc(torch::zeros_like(trueAb), trueAb)});
    return r;
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator&,
                                const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(images.size(0), 8);
    auto x = images.slice(0, 0, n).to(torch::kFloat);
    auto rgb = x.size(1) == 1 ? x.expand({-1, 3, -1, -1}) : x;
    auto lab = rgbToLab(rgb);
    const int64_t size = x.size(2);
    auto out = pass(lab);
    const int64_t g = out.abLogits.size(2);
    auto ab = resizeMaps(
        pixelMaps(annealedMean(torch::softmax(pixelRows(out.abLogits), 1), bins_, 0.38), n, g, g), size);
    auto lProb = torch::softmax(out.lLogits, 1);  // [n,B,g,g]
    auto l = resizeMaps((lProb * lCentres(lProb).view({1, -1, 1, 1})).sum(1, true), size);  // mean L
    auto zeroAb = torch::zeros_like(ab);
    auto trueL = lab.slice(1, 0, 1), trueAb = lab.slice(1, 1, 3);
    auto grid = torch::stack(
                    {labToRgb(torch::cat({trueL, zeroAb}, 1)), labToRgb(torch::cat({trueL, ab}, 1)),
                     labToRgb(torch::cat({torch::full_like(trueL, 60), trueAb}, 1)),
                     labToRgb(torch::cat({l, zeroAb}, 1)), rgb},
                    1)
                    .flatten(0, 1);
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "each row: the L half's input and its colours (L -> ab, T = 0.38); the ab half's "
                  "input (shown at L = 60) and the lightness it predicts (ab -> L); the truth. ab "
                  "AuC %.3f vs %.3f for gray; L error %.1f (of 100) vs %.1f for the mean L",
                  abErrorAuc(ab, trueAb).item<double>(),
                  abErrorAuc(torch::zeros_like(trueAb), trueAb).item<double>(),
                  (l - trueL).abs().mean().item<double>(),
                  (trueL - trueL.mean()).abs().mean().item<double>());
    return {{"split-brain predictions",
             buf,
             grid.cpu(),
             {"L (input)", "L -> ab", "ab (input)", "ab -> L", "truth"},
             5}};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto view = augmentBatch(images, augment, gen).to(torch::kFloat);
    auto rgb = view.size(1) == 1 ? view.expand({-1, 3, -1, -1}) : view;
    auto lab = rgbToLab(rgb);
    auto l = lab.slice(1, 0, 1), ab = lab.slice(1, 1, 3);
    auto in = images.size(1) == 1 ? images.expand({-1, 3, -1, -1}) : images;
    auto grid = torch::stack(
                    {in.to(torch::kFloat), rgb, labToRgb(torch::cat({l, torch::zeros_like(ab)}, 1)),
                     labToRgb(torch::cat({torch::full_like(l, 60), ab}, 1))},
                    1)
                    .flatten(0, 1);
    return {"split-brain inputs",
            "each row: an image, its augmented view, what the L half sees (and the ab half must "
            "predict), what the ab half sees (shown at L = 60; the L half must predict it)",
            grid.cpu(),
            {"image", "view", "L half sees", "ab half sees"},
            4};
  }

 private:
  std::shared_ptr<SplitBrainEncoder> split_;
  std::string probeFeatures_ = "all-max";
  DenseHead toAb_{nullptr}, toL_{nullptr};
  torch::Tensor bins_;
  int64_t lBins_ = 50;
};

}  // namespace

MethodInfo splitbrainMethodInfo() {
  MethodInfo m;
  m.name = "splitbrain";
  m.title = "Split-brain autoencoder";
  m.family = "autoencoder";
  m.summary =
      "The network is cut into two halves that see different channels of a Lab photo: one "
      "predicts the colour (ab) from the lightness (L), the other the lightness from the colour. "
      "Each half must understand the picture to fill in what it does not see; the features are "
      "the two halves' features side by side.";
  m.formula =
      "L = CE(F_1(L), soft-encoded ab over the in-gamut bins) + CE(F_2(ab), L bin); "
      "features = [F_1 features, F_2 features]";
  m.paper =
      "Zhang, Isola, Efros. Split-Brain Autoencoders: Unsupervised Learning by Cross-Channel "
      "Prediction. CVPR 2017.";
  m.needsColour = true;
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      probeFeaturesParam("all-max", "Zhang et al. probe every layer"),
      {"l_bins",
       T::Int,
       50,
       2,
       200,
       {},
       "classes of the ab -> L half (L from 0 to 100 cut in equal bins): more = finer lightness"},
      {"head_width", T::Int, 64, 4, 1024, {}, "channels of each half's dense head"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<SplitBrain>(s); };
  return m;
}

}  // namespace pretext
