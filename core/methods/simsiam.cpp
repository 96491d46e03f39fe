// SimSiam (Chen & He 2021): one network sees two views; a predictor on one branch regresses the
// other branch's projection, which is held fixed (stop-gradient). No negatives, no momentum
// encoder: the stop-gradient alone keeps the embeddings from collapsing.
#include "core/methods/simsiam.h"

#include <torch/torch.h>

#include "core/methods/registry.h"
#include "core/methods/siamese_preview.h"
#include "core/models/heads.h"

namespace pretext {

torch::Tensor simsiamLoss(const torch::Tensor& p1, const torch::Tensor& p2, const torch::Tensor& z1,
                          const torch::Tensor& z2, bool stopGradient) {
  namespace F = torch::nn::functional;
  auto d = [&](const torch::Tensor& p, const torch::Tensor& z) {
    return -F::cosine_similarity(p, stopGradient ? z.detach() : z,
                                 F::CosineSimilarityFuncOptions().dim(1))
                .mean();
  };
  return d(p1, z2) / 2 + d(p2, z1) / 2;
}

namespace {

class SimSiam : public Method {
 public:
  explicit SimSiam(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    stopGradient_ = p["stop_gradient"].get<bool>();
    const int64_t dim = p["proj_dim"].get<int64_t>();
    projector_ = register_module(
        "projector", makeMlp(encoder_->featureDim(), p["proj_hidden"].get<int64_t>(), dim,
                             p["proj_layers"].get<int64_t>(), true, p["proj_last_bn"].get<bool>()));
    predictor_ =
        register_module("predictor", makeMlp(dim, p["pred_hidden"].get<int64_t>(), dim, 2, true));
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    const int64_t n = batch.images.size(0);
    auto v1 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto v2 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto z = projector_->forward(encoder_->forward(torch::cat({v1, v2}, 0)));
    auto p = predictor_->forward(z);
    auto zz = z.split(n, 0), pp = p.split(n, 0);
    auto loss = simsiamLoss(pp[0], pp[1], zz[0], zz[1], stopGradient_);
    StepResult r{loss, {}};
    for (auto& m : collapseMetrics(zz[0])) r.metrics.push_back(m);
    return r;
  }

  // The loss taken apart: the cosine of each image's prediction (first view) with the projection
  // of every image's second view. Only the diagonal enters the loss (-cos, both ways round, halved);
  // the rest shows collapse: without the stop-gradient the whole matrix goes to 1.
  std::vector<LossAnatomy> lossAnatomy(const torch::Tensor& images, const AugmentOptions& augment,
                                       torch::Generator& gen) override {
    torch::NoGradGuard ng;
    const int64_t n = images.size(0);
    auto views = torch::cat({augmentBatch(images, augment, gen), augmentBatch(images, augment, gen)}, 0);
    auto z = projector_->forward(encoder_->forward(views));
    auto p = predictor_->forward(z).split(n, 0);
    auto zz = z.split(n, 0);
    LossAnatomy a = predictionAnatomy(p[0], zz[1], p[1], zz[0], [](const torch::Tensor& c1, const torch::Tensor& c2) {
      return -(c1 + c2) / 2;
    });
    a.title = std::string("SimSiam") + (stopGradient_ ? "" : " without its stop-gradient") +
              ": predictions against projections, " + std::to_string(n) + " images";
    a.explanation =
        "Row i: the cosine of image i's prediction (first view) with the projection of each image's second "
        "view. Only the ringed diagonal enters the loss, -cos averaged over both directions; there are no "
        "negatives. Off the diagonal: whether images are still told apart — a collapsed network makes the "
        "whole matrix 1.";
    a.rowsTitle = "image (prediction)";
    a.columnsTitle = "image (projection)";
    a.perRowTitle = "-cos, both directions, halved";
    return {a};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    return twoViews(images, augment, gen, "simsiam views",
        "each row: an image and its two views; the network predicts the projection of each view "
        "from the other, holding the target side fixed (stop-gradient)");
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings&) override {
    torch::NoGradGuard ng;
    AugmentOptions aug = previewAugment(images);
    const int64_t n = std::min<int64_t>(images.size(0), 16);
    auto x = images.slice(0, 0, n);
    auto v1 = augmentBatch(x, aug, gen), v2 = augmentBatch(x, aug, gen);
    auto z1 = projector_->forward(encoder_->forward(v1));
    auto z2 = projector_->forward(encoder_->forward(v2));
    return {pairPredictionPreview(v1, v2, predictor_->forward(z1), z2, "simsiam predictions",
                                  "projection")};
  }

 private:
  bool stopGradient_ = true;
  torch::nn::Sequential projector_{nullptr}, predictor_{nullptr};
};

}  // namespace

MethodInfo simsiamMethodInfo() {
  MethodInfo m;
  m.name = "simsiam";
  m.title = "SimSiam";
  m.family = "siamese";
  m.summary =
      "One network sees two views of an image; a small predictor on one branch must output the "
      "other branch's projection, which is held fixed (stop-gradient), both ways round. There are "
      "no negatives and no momentum encoder: without the stop-gradient the network makes every "
      "output the same and collapses (switch stop_gradient off to see it).";
  m.formula = "L = D(p1, sg(z2))/2 + D(p2, sg(z1))/2,  D(p, z) = -cos(p, z),  sg = stop-gradient";
  m.paper = "Chen, He. Exploring Simple Siamese Representation Learning. CVPR 2021.";
  m.defaultAugment = "simclr";
  using T = ParamSpec::Type;
  m.params = {
      {"stop_gradient",
       T::Bool,
       true,
       0,
       0,
       {},
       "hold the target branch fixed; off lets the gradient flow into z too, and the embeddings "
       "collapse"},
      {"proj_hidden", T::Int, 512, 8, 8192, {}, "hidden width of the projector (the paper: 2048)"},
      {"proj_dim",
       T::Int,
       128,
       2,
       4096,
       {},
       "output dimension of the projector and predictor (the paper: 2048)"},
      {"proj_layers",
       T::Int,
       3,
       1,
       4,
       {},
       "linear layers in the projector, batch norm after each hidden one (the paper: 3)"},
      {"proj_last_bn",
       T::Bool,
       true,
       0,
       0,
       {},
       "batch norm (no affine) on the projector's output, as in the paper; it re-spreads every "
       "dimension, so without the stop-gradient a collapse to one point takes far longer"},
      {"pred_hidden",
       T::Int,
       32,
       2,
       8192,
       {},
       "hidden width of the predictor's bottleneck (the paper: 512 = a quarter of the output)"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<SimSiam>(s); };
  return m;
}

}  // namespace pretext
