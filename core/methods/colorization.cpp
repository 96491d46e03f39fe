// Colorization (Zhang, Isola, Efros 2016): the network sees only the lightness L of a photo and
// predicts, for every pixel of a quarter-resolution grid, a distribution over the Q in-gamut bins
// of the ab plane; a multinomial cross-entropy against soft-encoded targets, reweighted so rare
// (saturated) colours count more. Decoding takes the annealed mean of the distribution.
#include "core/models/batch_norm.h"
#include "core/methods/colorization.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "core/methods/lab.h"
#include "core/methods/registry.h"
#include "core/util/error.h"

namespace pretext {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// ------------------------------------------------------------------ shared pieces

LabEncoder::LabEncoder(BackboneOptions backbone, LabInput input) : input_(input) {
  backbone.inChannels(input == LabInput::L ? 1 : 2);
  inner_ = register_module("backbone", makeBackbone(backbone));
  featureDim_ = inner_->featureDim();
}

torch::Tensor LabEncoder::fromLab(const torch::Tensor& lab) const {
  return input_ == LabInput::L ? lab.slice(1, 0, 1) / 100 : (lab.slice(1, 1, 3) + 110) / 220;
}

torch::Tensor LabEncoder::channels(const torch::Tensor& images) const {
  if (images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3))
    throw Error("colour encoder: expected images [N,1,H,W] or [N,3,H,W], got " +
                std::to_string(images.dim()) + " dimensions");
  auto rgb = images.size(1) == 1 ? images.expand({-1, 3, -1, -1}) : images;
  return fromLab(rgbToLab(rgb));
}

int64_t predictionSize(int64_t imageSize) { return std::max<int64_t>(1, imageSize / 4); }

DenseHeadImpl::DenseHeadImpl(Encoder& encoder, int64_t imageSize, int64_t width, int64_t out) {
  std::vector<torch::Tensor> probe;
  {
    torch::NoGradGuard ng;
    const bool was = encoder.is_training();
    encoder.eval();
    probe = encoder.stages(torch::full({1, 3, imageSize, imageSize}, 0.5));
    encoder.train(was);
  }
  if (probe.empty())
    throw Error(
        "this backbone exposes no feature maps (Encoder::stages); colorization needs one "
        "with spatial maps: backbone.name convnet, resnet18, resnet34 or vit");
  mid_ = std::max<int64_t>(0, int64_t(probe.size()) / 2 - 1);
  last_ = register_module("last", nn::Conv2d(nn::Conv2dOptions(probe.back().size(1), width, 1)));
  middle_ = register_module("middle", nn::Conv2d(nn::Conv2dOptions(probe[mid_].size(1), width, 1)));
  tail_ = register_module(
      "tail", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(width, width, 3).padding(1).bias(false)),
                             SyncableBatchNorm2d(width), nn::ReLU(nn::ReLUOptions(true)),
                             nn::Conv2d(nn::Conv2dOptions(width, out, 1))));
}

torch::Tensor DenseHeadImpl::forward(const std::vector<torch::Tensor>& stages, int64_t outSize) {
  auto resize = [&](const torch::Tensor& x) {
    if (x.size(2) == outSize && x.size(3) == outSize) return x;
    return F::interpolate(x, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{outSize, outSize})
                                 .mode(torch::kBilinear)
                                 .align_corners(false));
  };
  return tail_->forward(resize(last_->forward(stages.back())) +
                        resize(middle_->forward(stages[mid_])));
}

namespace {

// Mean chroma sqrt(a^2 + b^2) of ab maps [N,2,H,W]: how saturated a picture is.
double chroma(const torch::Tensor& ab) { return ab.pow(2).sum(1).sqrt().mean().item<double>(); }
torch::Tensor withL(const torch::Tensor& lab, const torch::Tensor& ab) {
  return labToRgb(torch::cat({lab.slice(1, 0, 1), ab}, 1));
}

class Colorization : public Method {
 public:
  explicit Colorization(const MethodSetup& s) : Method(s) {
    BackboneOptions b = s.backbone;
    b.imageSize(s.imageSize);
    lab_ = std::make_shared<LabEncoder>(b, LabInput::L);
    encoder_ = replace_module("encoder", std::shared_ptr<Encoder>(lab_));
    l2_ = s.params["loss"].get<std::string>() == "l2";
    probeFeatures_ = s.params["probe_features"].get<std::string>();
    lambda_ = s.params["rebalance_lambda"].get<double>();
    temperature_ = s.params["temperature"].get<double>();
    bins_ = register_buffer("ab_bins", abGamutBins());
    counts_ = register_buffer("ab_counts", torch::zeros({bins_.size(0)}));
    head_ =
        register_module("head", DenseHead(*lab_, s.imageSize, s.params["head_width"].get<int64_t>(),
                                          l2_ ? 2 : bins_.size(0)));
    // The side-by-side L2 head: regresses ab from the same (detached) features, so the two
    // losses are compared on one representation and the L2 head never shapes it.
    if (!l2_ && s.params["compare_l2"].get<bool>())
      l2Head_ = register_module(
          "l2_head", DenseHead(*lab_, s.imageSize, s.params["head_width"].get<int64_t>(), 2));
  }

  // L = 1/|P| sum_p 1/2 ||ab_hat_p - ab_p / 100||^2 of a regression output [N,2,g,g] (ab / 100)
  // against target rows [N*g*g, 2].
  static torch::Tensor l2Loss(const torch::Tensor& out, const torch::Tensor& targetAb) {
    return 0.5 * (pixelRows(out) - targetAb / 100).pow(2).sum(1).mean();
  }

  static std::vector<torch::Tensor> detached(std::vector<torch::Tensor> stages) {
    for (auto& t : stages) t = t.detach();
    return stages;
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
    auto stages = lab_->stagesFromLab(lab);
    auto out = head_->forward(stages, g);  // [N,Q|2,g,g]
    auto trueAb = lab.slice(1, 1, 3);
    auto targetAb = pixelRows(resizeMaps(trueAb, g));  // [N*g*g, 2]
    StepResult r;
    torch::Tensor predAb;
    if (l2_) {
      r.loss = l2Loss(out, targetAb);
      predAb = out.detach() * 100;
    } else {
      torch::Tensor z, w;
      {
        torch::NoGradGuard ng;
        z = softEncode(targetAb, bins_);
        counts_ += torch::bincount(z.argmax(1), {}, bins_.size(0)).to(counts_.dtype());
        w = rebalanceWeights(smoothBinDistribution(counts_ / counts_.sum(), bins_), lambda_);
      }
      auto logits = pixelRows(out);
      r.loss = rebalancedCrossEntropy(logits, z, w);
      if (l2Head_) {
        auto l2Out = l2Head_->forward(detached(stages), g);
        auto headLoss = l2Loss(l2Out, targetAb);
        r.loss = r.loss + headLoss;  // its gradient reaches only the L2 head
        torch::NoGradGuard ng;
        r.metrics.push_back({"l2_head_loss", headLoss.detach()});
        r.metrics.push_back(
            {"l2_ab_auc", abErrorAuc(resizeMaps(l2Out.detach() * 100, x.size(2)), trueAb)});
      }
      torch::NoGradGuard ng;
      r.metrics.push_back({"bin_acc", logits.argmax(1).eq(z.argmax(1)).to(torch::kFloat).mean()});
      predAb = pixelMaps(annealedMean(torch::softmax(logits, 1), bins_, temperature_), n, g, g);
    }
    torch::NoGradGuard ng;
    auto full = resizeMaps(predAb, x.size(2));
    r.metrics.push_back({"ab_auc", abErrorAuc(full, trueAb)});
    r.metrics.push_back({"gray_auc", abErrorAuc(torch::zeros_like(trueAb), trueAb)});
    return r;
  }

  // The ab prediction at full resolution for images [N,3|1,H,W], at temperature T.
  torch::Tensor predictAb(const torch::Tensor& lab, double T) {
    auto out = head_->forward(lab_->stagesFromLab(lab), predictionSize(lab.size(2)));
    if (l2_) return resizeMaps(out * 100, lab.size(2));
    const int64_t n = out.size(0), g = out.size(2);
    auto probs = torch::softmax(pixelRows(out), 1);
    return resizeMaps(pixelMaps(annealedMean(probs, bins_, T), n, g, g), lab.size(2));
  }

  // The side-by-side L2 head's prediction (undefined without it).
  torch::Tensor predictAbL2(const torch::Tensor& lab) {
    if (!l2Head_) return {};
    auto out = l2Head_->forward(lab_->stagesFromLab(lab), predictionSize(lab.size(2)));
    return resizeMaps(out * 100, lab.size(2));
  }

  std::vector<PreviewControl> previewControls() const override {
    if (l2_) return {};
    return {
        {"temperature", "annealed-mean T", 0.01, 1.0, 0.01, temperature_,
         "decoding temperature: near 0 takes each pixel's most likely colour (vivid, patchy), 1 "
         "its mean colour (smooth, desaturated like the L2 loss)"}};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator&,
                                const PreviewSettings& settings) override {
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(images.size(0), 8);
    auto x = images.slice(0, 0, n).to(torch::kFloat);
    auto rgb = x.size(1) == 1 ? x.expand({-1, 3, -1, -1}) : x;
    auto lab = rgbToLab(rgb);
    auto trueAb = lab.slice(1, 1, 3);
    auto gray = withL(lab, torch::zeros_like(trueAb));
    const bool colourless = chroma(trueAb) < 1;  // an old black-and-white photo
    char buf[600];
    if (l2_) {
      auto ab = predictAb(lab, 1);
      std::snprintf(
          buf, sizeof buf,
          "each row: the L channel the network sees, its L2-regressed colours, the truth%s. "
          "ab AuC %.3f vs %.3f for gray; mean chroma %.1f vs %.1f true: the mean of "
          "all plausible colours is a washed-out one",
          colourless ? " (this image has no colour: its truth is gray)" : "",
          abErrorAuc(ab, trueAb).item<double>(),
          abErrorAuc(torch::zeros_like(trueAb), trueAb).item<double>(), chroma(ab), chroma(trueAb));
      auto grid = torch::stack({gray, withL(lab, ab), rgb}, 1).flatten(0, 1);
      return {
          {"colorizations", buf, grid.cpu(), {"gray input (L)", "prediction (L2)", "truth"}, 3}};
    }
    const double T = previewSetting(settings, previewControls(), "temperature");
    auto ab = predictAb(lab, T);
    auto mean = predictAb(lab, 1);
    std::snprintf(
        buf, sizeof buf,
        "each row: the L channel the network sees, its colours decoded at T = %.2f, the "
        "plain mean of its distribution (T = 1, what an L2 loss aims at), the truth%s. ab "
        "AuC %.3f (T = 1: %.3f) vs %.3f for gray; mean chroma %.1f, T = 1: %.1f, true %.1f",
        T, colourless ? " (this image has no colour: its truth is gray)" : "",
        abErrorAuc(ab, trueAb).item<double>(), abErrorAuc(mean, trueAb).item<double>(),
        abErrorAuc(torch::zeros_like(trueAb), trueAb).item<double>(), chroma(ab), chroma(mean),
        chroma(trueAb));
    std::vector<torch::Tensor> cols{gray, withL(lab, ab), withL(lab, mean)};
    std::vector<std::string> names{"gray input (L)", "prediction", "mean (T=1)"};
    std::string caption = buf;
    if (auto l2 = predictAbL2(lab); l2.defined()) {
      cols.push_back(withL(lab, l2));
      names.push_back("L2 head");
      std::snprintf(buf, sizeof buf,
                    ". L2 head (the same features, trained to regress ab): AuC %.3f, chroma %.1f: "
                    "averaging the plausible colours washes them out",
                    abErrorAuc(l2, trueAb).item<double>(), chroma(l2));
      caption += buf;
    }
    cols.push_back(rgb);
    names.push_back("truth");
    const int64_t columns = static_cast<int64_t>(cols.size());
    auto grid = torch::stack(cols, 1).flatten(0, 1);
    return {{"colorizations", caption, grid.cpu(), names, columns}};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto view = augmentBatch(images, augment, gen).to(torch::kFloat);
    auto rgb = view.size(1) == 1 ? view.expand({-1, 3, -1, -1}) : view;
    auto lab = rgbToLab(rgb);
    auto gray = withL(lab, torch::zeros_like(lab.slice(1, 1, 3)));
    auto abOnly =
        labToRgb(torch::cat({torch::full_like(lab.slice(1, 0, 1), 60), lab.slice(1, 1, 3)}, 1));
    auto in = images.size(1) == 1 ? images.expand({-1, 3, -1, -1}) : images;
    auto grid = torch::stack({in.to(torch::kFloat), rgb, gray, abOnly}, 1).flatten(0, 1);
    return {"colorization inputs",
            "each row: an image, its augmented view, the lightness L the network sees, and the "
            "colour (ab, shown at a constant L = 60) it must predict",
            grid.cpu(),
            {"image", "view", "input: L", "target: ab"},
            4};
  }

 private:
  std::shared_ptr<LabEncoder> lab_;
  DenseHead head_{nullptr}, l2Head_{nullptr};
  torch::Tensor bins_, counts_;
  bool l2_ = false;
  std::string probeFeatures_ = "all-max";
  double lambda_ = 0.5, temperature_ = 0.38;
};

}  // namespace

MethodInfo colorizationMethodInfo() {
  MethodInfo m;
  m.name = "colorization";
  m.title = "Colorization";
  m.family = "pretext task";
  m.summary =
      "The network sees only the lightness (L) of a colour photo and must predict its colours "
      "(the ab channels of Lab) as a distribution over the ~260 colour bins of the sRGB gamut per "
      "pixel. To know "
      "that grass is green and sky blue it has to recognise grass and sky. Rare, saturated "
      "colours are weighted up so the answer is not always brownish-gray.";
  m.formula =
      "L = -1/|P| sum_p w[argmax_q Z_pq] sum_q Z_pq log softmax(f(L))_pq; Z = soft-encoded true ab "
      "(5 nearest bins, Gaussian sigma 5), w ~ ((1-lambda) p~ + lambda/Q)^-1, E_p~[w] = 1; "
      "decode ab = sum_q softmax(log z / T)_q ab_q. l2: L = 1/|P| sum_p 1/2 ||ab_hat/100 - "
      "ab/100||^2";
  m.paper = "Zhang, Isola, Efros. Colorful Image Colorization. ECCV 2016.";
  m.needsColour = true;
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      probeFeaturesParam("all-max", "Zhang et al. find the middle layers transfer best"),
      {"loss",
       T::Choice,
       "classification",
       0,
       0,
       {"classification", "l2"},
       "classification over ab bins (vivid colours) or plain L2 regression of ab (the "
       "paper's baseline: it averages plausible colours into desaturated ones)"},
      {"rebalance_lambda",
       T::Float,
       0.5,
       0,
       1,
       {},
       "mix of the colour distribution with uniform in the class weights: 0 weighs rare colours "
       "the most, 1 turns rebalancing off"},
      {"temperature",
       T::Float,
       0.38,
       0.01,
       1,
       {},
       "annealed-mean decoding for the metrics and previews: lower = more vivid but patchier"},
      {"head_width", T::Int, 64, 4, 1024, {}, "channels of the dense colour head"},
      {"compare_l2",
       T::Bool,
       true,
       0,
       0,
       {},
       "with the classification loss, also train an L2 regression head on the same (detached) "
       "features and show its colours side by side: why classification is less desaturated"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Colorization>(s); };
  return m;
}

}  // namespace pretext
