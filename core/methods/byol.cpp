// BYOL (Grill et al. 2020): an online network (encoder, projector, predictor) learns to predict
// the projection that a slowly moving average of itself, the target network (encoder,
// projector), gives to another view of the same image. No negatives: the predictor and the
// moving target keep the embeddings from collapsing to a point.
#include "core/methods/byol.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/methods/registry.h"
#include "core/methods/siamese_preview.h"
#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

torch::Tensor byolLoss(const torch::Tensor& p, const torch::Tensor& z) {
  namespace F = torch::nn::functional;
  auto cos = F::cosine_similarity(p, z, F::CosineSimilarityFuncOptions().dim(1));
  return (2 - 2 * cos).mean();
}

double byolTau(double tauBase, double progress) {
  const double t = std::clamp(progress, 0.0, 1.0);
  return 1 - (1 - tauBase) * (std::cos(M_PI * t) + 1) / 2;
}

void byolEmaUpdate(const std::vector<torch::Tensor>& target,
                   const std::vector<torch::Tensor>& online, double tau) {
  if (target.size() != online.size())
    throw Error("EMA update: the target network has " + std::to_string(target.size()) +
                " tensors but the online network " + std::to_string(online.size()));
  torch::NoGradGuard ng;
  for (size_t i = 0; i < target.size(); ++i) {
    if (!target[i].sizes().equals(online[i].sizes()))
      throw Error("EMA update: tensor " + std::to_string(i) +
                  " differs in shape between the target and the online network");
    target[i].mul_(tau).add_(online[i].detach(), 1 - tau);
  }
}

namespace {

std::vector<torch::Tensor> concat(std::vector<torch::Tensor> a,
                                  const std::vector<torch::Tensor>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class Byol : public Method {
 public:
  explicit Byol(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    tauBase_ = p["tau_base"].get<double>();
    const int64_t hidden = p["proj_hidden"].get<int64_t>(), dim = p["proj_dim"].get<int64_t>();
    const bool bn = p["proj_bn"].get<bool>();
    projector_ = register_module("projector", makeMlp(encoder_->featureDim(), hidden, dim, 2, bn));
    predictor_ =
        register_module("predictor", makeMlp(dim, p["pred_hidden"].get<int64_t>(), dim, 2, bn));
    // The target starts as an exact copy of the online encoder and projector and from then on
    // only follows them by EMA: no gradient, not in the optimiser.
    BackboneOptions b = s.backbone;
    b.inChannels(s.channels).imageSize(s.imageSize);
    targetEncoder_ = register_module("target_encoder", makeBackbone(b));
    targetProjector_ =
        register_module("target_projector", makeMlp(encoder_->featureDim(), hidden, dim, 2, bn));
    torch::NoGradGuard ng;
    for (auto& t : targetParameters()) t.set_requires_grad(false);
    auto copy = [](const std::vector<torch::Tensor>& to, const std::vector<torch::Tensor>& from) {
      for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
    };
    copy(targetParameters(), onlineParameters());
    copy(concat(targetEncoder_->buffers(), targetProjector_->buffers()),
         concat(encoder_->buffers(), projector_->buffers()));
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    const int64_t n = batch.images.size(0);
    auto v1 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto v2 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto views = torch::cat({v1, v2}, 0);
    // Both views through both networks: p = online prediction, zt = target projection.
    auto z = projector_->forward(encoder_->forward(views));
    auto p = predictor_->forward(z);
    torch::Tensor zt;
    {
      torch::NoGradGuard ng;
      zt = targetProjector_->forward(targetEncoder_->forward(views));
    }
    auto pp = p.split(n, 0), tt = zt.split(n, 0);
    auto loss = byolLoss(pp[0], tt[1]) + byolLoss(pp[1], tt[0]);
    auto tau =
        torch::scalar_tensor(byolTau(tauBase_, ctx.progress),
                             torch::TensorOptions().dtype(torch::kFloat).device(loss.device()));
    StepResult r{loss, {{"tau", tau}}};
    for (auto& m : collapseMetrics(z.slice(0, 0, n))) r.metrics.push_back(m);
    return r;
  }

  void afterStep(const StepContext& ctx) override {
    byolEmaUpdate(targetParameters(), onlineParameters(), byolTau(tauBase_, ctx.progress));
  }

  std::vector<torch::Tensor> trainableParameters() override {
    return concat(onlineParameters(), predictor_->parameters());
  }

  // The loss taken apart: the cosine of each image's online prediction (first view) with the
  // target's projection of every image's second view. Only the diagonal enters the loss; the rest
  // shows whether the embeddings still tell images apart (all near 1: collapsed).
  std::vector<LossAnatomy> lossAnatomy(const torch::Tensor& images, const AugmentOptions& augment,
                                       torch::Generator& gen) override {
    torch::NoGradGuard ng;
    const int64_t n = images.size(0);
    auto views = torch::cat({augmentBatch(images, augment, gen), augmentBatch(images, augment, gen)}, 0);
    auto p = predictor_->forward(projector_->forward(encoder_->forward(views))).split(n, 0);
    auto zt = targetProjector_->forward(targetEncoder_->forward(views)).split(n, 0);
    LossAnatomy a = predictionAnatomy(p[0], zt[1], p[1], zt[0], [](const torch::Tensor& c1, const torch::Tensor& c2) {
      return (2 - 2 * c1) + (2 - 2 * c2);
    });
    a.title = "BYOL: online predictions against target projections, " + std::to_string(n) + " images";
    a.explanation =
        "Row i: the cosine of image i's online prediction (first view) with the target network's projection "
        "of each image's second view. Only the ringed diagonal enters the loss, 2 - 2 cos, both ways round; "
        "there are no negatives. The rest of the row shows whether the embeddings still tell images apart: "
        "a matrix that turns uniformly high has collapsed.";
    a.rowsTitle = "image (online prediction)";
    a.columnsTitle = "image (target projection)";
    a.perRowTitle = "2 - 2 cos, both directions";
    return {a};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    return twoViews(images, augment, gen, "byol views",
            "each row: an image and its two views; the online network sees one and predicts the "
            "target network's projection of the other, both ways round");
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings&) override {
    torch::NoGradGuard ng;
    AugmentOptions aug = previewAugment(images);
    const int64_t n = std::min<int64_t>(images.size(0), 16);
    auto x = images.slice(0, 0, n);
    auto v1 = augmentBatch(x, aug, gen), v2 = augmentBatch(x, aug, gen);
    auto p1 = predictor_->forward(projector_->forward(encoder_->forward(v1)));
    auto z2 = targetProjector_->forward(targetEncoder_->forward(v2));
    return {pairPredictionPreview(v1, v2, p1, z2, "byol predictions", "target projection")};
  }

 private:
  std::vector<torch::Tensor> onlineParameters() {
    return concat(encoder_->parameters(), projector_->parameters());
  }
  std::vector<torch::Tensor> targetParameters() {
    return concat(targetEncoder_->parameters(), targetProjector_->parameters());
  }

  double tauBase_ = 0.99;
  torch::nn::Sequential projector_{nullptr}, predictor_{nullptr}, targetProjector_{nullptr};
  std::shared_ptr<Encoder> targetEncoder_;
};

}  // namespace

MethodInfo byolMethodInfo() {
  MethodInfo m;
  m.name = "byol";
  m.title = "BYOL";
  m.family = "siamese";
  m.summary =
      "The online network sees one view of an image and predicts, through a small predictor, "
      "the projection that the target network gives to another view. The target is no trained "
      "network but a slow moving average of the online one, and no negatives are needed: the "
      "predictor and the lagging target keep the embeddings from collapsing.";
  m.formula =
      "L = mean_i [ ||p1/|p1| - z2'/|z2'| ||^2 + ||p2/|p2| - z1'/|z1'| ||^2 ] with ||a - b||^2 = 2 "
      "- 2cos; "
      "target <- tau target + (1 - tau) online, tau = 1 - (1 - tau_base)(cos(pi progress) + 1)/2";
  m.paper =
      "Grill et al. Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning. "
      "NeurIPS 2020.";
  m.defaultAugment = "simclr";
  using T = ParamSpec::Type;
  m.params = {
      {"tau_base",
       T::Float,
       0.99,
       0.0,
       1.0,
       {},
       "EMA rate of the target network at the start, rising to 1 by a cosine schedule (the paper's "
       "0.996 is for runs of hundreds of epochs; 0.99 lets the target keep up in short runs)"},
      {"proj_hidden", T::Int, 512, 8, 8192, {}, "hidden width of the projector (the paper: 4096)"},
      {"proj_dim",
       T::Int,
       128,
       2,
       4096,
       {},
       "output dimension of the projector and predictor (the paper: 256)"},
      {"pred_hidden", T::Int, 512, 8, 8192, {}, "hidden width of the predictor (the paper: 4096)"},
      {"proj_bn",
       T::Bool,
       true,
       0,
       0,
       {},
       "batch norm in the hidden layers of the projector and predictor"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Byol>(s); };
  return m;
}

}  // namespace pretext
