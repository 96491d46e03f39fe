// Barlow Twins (Zbontar, Jing, Misra, LeCun, Deny 2021): redundancy reduction. The
// cross-correlation between the embedding dimensions of two views, measured over the batch, is
// pushed towards the identity: invariance on the diagonal, decorrelation off it.
#include "core/methods/barlow.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

#include "core/dist/step_group.h"
#include "core/methods/registry.h"
#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

namespace {
// Standardise along the batch with the biased variance (BatchNorm1d(affine=False), training mode).
torch::Tensor standardiseOverBatch(const torch::Tensor& z, double eps) {
  auto mean = z.mean(0, /*keepdim=*/true);
  auto var = z.var(0, /*unbiased=*/false, /*keepdim=*/true);
  return (z - mean) / (var + eps).sqrt();
}
}  // namespace

torch::Tensor barlowTwinsLoss(const torch::Tensor& z1, const torch::Tensor& z2, double lambda,
                              torch::Tensor* c, double eps) {
  if (z1.dim() != 2 || z1.sizes() != z2.sizes())
    throw Error(
        "Barlow Twins loss: the two views' embeddings must both be [N,D] of the same shape, got " +
        std::string(c10::str(z1.sizes())) + " and " + std::string(c10::str(z2.sizes())));
  const int64_t n = z1.size(0);
  if (n < 2)
    throw Error(
        "Barlow Twins standardises the embeddings along the batch and needs at least 2 "
        "images per batch, got " +
        std::to_string(n) + "; raise schedule.batch_size");
  auto cc = torch::mm(standardiseOverBatch(z1, eps).t(), standardiseOverBatch(z2, eps)) / static_cast<double>(n);
  if (c) *c = cc.detach();
  auto diag = cc.diagonal();
  auto onDiag = (1 - diag).pow(2).sum();
  auto offDiag = cc.pow(2).sum() - diag.pow(2).sum();
  return onDiag + lambda * offDiag;
}

torch::Tensor correlationHeatmap(const torch::Tensor& c, int64_t scale) {
  if (c.dim() != 2)
    throw Error("correlationHeatmap: expected a 2-D matrix, got " +
                std::string(c10::str(c.sizes())));
  if (scale < 1)
    throw Error("correlationHeatmap: the scale must be at least 1, got " + std::to_string(scale));
  torch::NoGradGuard ng;
  auto v = c.detach().to(torch::kFloat).cpu().clamp(-1, 1);
  auto pos = v.clamp_min(0), neg = (-v).clamp_min(0);
  auto rgb = torch::stack({1 - neg, 1 - pos - neg, 1 - pos}, 0).unsqueeze(0);
  return rgb.repeat_interleave(scale, 2).repeat_interleave(scale, 3).contiguous();
}

namespace {

class BarlowTwins : public Method {
 public:
  explicit BarlowTwins(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    lambda_ = p["lambda"].get<double>();
    projector_ = register_module(
        "projector", makeMlp(encoder_->featureDim(), p["proj_hidden"].get<int64_t>(),
                             p["proj_dim"].get<int64_t>(), p["proj_layers"].get<int64_t>(),
                             p["proj_bn"].get<bool>()));
  }
  torch::Tensor embed(const torch::Tensor& x) { return projector_->forward(encoder_->forward(x)); }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto v1 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto v2 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    // One forward pass over both views: BatchNorm sees the 2N images together (as SimCLR here).
    // The reference implementation passes the views separately; on the CPU one batch of 2N is
    // about a quarter cheaper, and the loss standardises each view on its own either way.
    auto z = embed(torch::cat({v1, v2}, 0)).chunk(2, 0);
    auto z1 = z[0], z2 = z[1];
    torch::Tensor c;
    // Several processes: the cross-correlation and the standardisation over the global batch,
    // with their gradients (the gathered views; the gather's backward pass sums over ranks).
    // The reference code all-reduces C without a gradient, which makes the gradients 1/W too small.
    auto loss = barlowTwinsLoss(gatherAcrossRanks(z1), gatherAcrossRanks(z2), lambda_, &c);
    StepResult r{loss, diagonalMetrics(c)};
    for (auto& m : collapseMetrics(z1)) r.metrics.push_back(m);
    return r;
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    return twoViews(images, augment, gen, "barlow twins views",
            "each row: an image and its two views; over the batch, every embedding dimension of "
            "view 1 should correlate with the same dimension of view 2 and with no other");
  }

  // The loss of one batch taken apart: C of the batch's two views, each embedding dimension's
  // share of the loss ((1 - C_ii)^2 + lambda sum_{j != i} C_ij^2), and the two terms.
  std::vector<LossAnatomy> lossAnatomy(const torch::Tensor& images, const AugmentOptions& augment,
                                       torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto v1 = augmentBatch(images, augment, gen), v2 = augmentBatch(images, augment, gen);
    torch::Tensor c;
    const double loss = barlowTwinsLoss(embed(v1), embed(v2), lambda_, &c).item<double>();
    c = c.to(torch::kFloat).cpu();
    const auto diag = c.diagonal();
    const auto onDiag = (1 - diag).square();
    const auto offDiag = c.square().sum(1) - diag.square();
    LossAnatomy a;
    a.title = "Barlow Twins' cross-correlation over " + std::to_string(images.size(0)) + " view pairs";
    a.explanation =
        "C[i][j]: the correlation, over the batch, of dimension i of the first views' embeddings with "
        "dimension j of the second views'. The loss pulls the diagonal to 1 (each dimension the same for "
        "both views) and the rest to 0 (dimensions that carry different information). The bars: each "
        "dimension's share, (1 - C_ii)^2 + lambda * sum_j C_ij^2.";
    a.matrix = c;
    a.rowsTitle = "dimension (first views)";
    a.columnsTitle = "dimension (second views)";
    a.positives = torch::arange(c.size(0), torch::kLong);
    a.perRow = onDiag + lambda_ * offDiag;
    a.perRowTitle = "dimension's loss";
    a.terms = {{"loss", loss},
               {"on-diagonal: sum (1 - C_ii)^2", onDiag.sum().item<double>()},
               {"off-diagonal: lambda * sum C_ij^2", lambda_ * offDiag.sum().item<double>()},
               {"mean C_ii", diag.mean().item<double>()}};
    return {a};
  }

  // The objective as a picture: the cross-correlation matrix of two views of the preview images
  // (each image repeated under fresh augmentations so that C is measured over enough samples),
  // next to its target, the identity; and a few view pairs with how much they agree.
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings&) override {
    torch::NoGradGuard ng;
    AugmentOptions aug = previewAugment(images);
    const int64_t n = images.size(0);
    const int64_t repeats = std::max<int64_t>(1, (kPreviewSamples + n - 1) / n);
    auto x = images.repeat({repeats, 1, 1, 1});
    auto v1 = augmentBatch(x, aug, gen), v2 = augmentBatch(x, aug, gen);
    auto z1 = embed(v1), z2 = embed(v2);
    torch::Tensor c;
    barlowTwinsLoss(z1, z2, lambda_, &c);
    c = c.cpu();
    const int64_t d = c.size(0);
    const int64_t k = std::min<int64_t>(d, kHeatmapBlock);
    const int64_t scale = std::max<int64_t>(1, kHeatmapPixels / k);
    auto block = c.slice(0, 0, k).slice(1, 0, k);
    auto heat =
        torch::cat({correlationHeatmap(block, scale), correlationHeatmap(torch::eye(k), scale)}, 0);
    auto stats = diagonalMetrics(c);
    char buf[200];
    std::snprintf(
        buf, sizeof buf,
        "should approach the identity (red diagonal, white elsewhere; blue = -1). "
        "%s%lld x %lld, over %lld view pairs: mean diagonal %.2f, mean |off-diagonal| %.3f",
        k < d ? "first block " : "", static_cast<long long>(k), static_cast<long long>(k),
        static_cast<long long>(x.size(0)), stats[0].second.item<double>(),
        stats[1].second.item<double>());
    Preview heatmap{"cross-correlation", buf, heat, {"C (view 1 x view 2)", "target: identity"}, 2};

    // Per pair, its share of the diagonal: the mean over dimensions of zn1 * zn2 (standardised
    // over the whole preview batch); averaged over pairs it is the mean of diag(C).
    const int64_t m = std::min<int64_t>(n, 8);
    auto agree = ((z1 - z1.mean(0)) / (z1.var(0, false) + kBarlowEps).sqrt() * (z2 - z2.mean(0)) /
                  (z2.var(0, false) + kBarlowEps).sqrt())
                     .mean(1)
                     .cpu();
    auto cv1 = v1.slice(0, 0, m).cpu(), cv2 = v2.slice(0, 0, m).cpu(),
         ci = images.slice(0, 0, m).cpu();
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    for (int64_t i = 0; i < m; ++i) {
      const double a = agree[i].item<double>();
      char lab[32];
      std::snprintf(lab, sizeof lab, "%sagree %.2f", a < 0 ? "x " : "", a);
      cells.insert(cells.end(), {ci[i], cv1[i], cv2[i]});
      labels.insert(labels.end(), {"image", "view 1", lab});
    }
    Preview pairs{
        "view agreement",
        "each row: an image and two views; agree = mean over dimensions of the product of "
        "their standardised embeddings (1 = every feature matches; red = they disagree)",
        torch::stack(cells), labels, 6};
    return {heatmap, pairs};
  }

 private:
  static constexpr int64_t kPreviewSamples = 256;  // views per side the preview's C is measured on
  static constexpr int64_t kHeatmapBlock = 64;
  static constexpr int64_t kHeatmapPixels = 256;

  // on_diag: mean C_ii (-> 1); off_diag: mean |C_ij| over i != j (-> 0).
  static std::vector<std::pair<std::string, torch::Tensor>> diagonalMetrics(
      const torch::Tensor& c) {
    const int64_t d = c.size(0);
    auto diag = c.diagonal();
    auto off =
        (c.abs().sum() - diag.abs().sum()) / static_cast<double>(std::max<int64_t>(1, d * (d - 1)));
    return {{"on_diag", diag.mean().detach()}, {"off_diag", off.detach()}};
  }

  double lambda_;
  torch::nn::Sequential projector_{nullptr};
};

}  // namespace

MethodInfo barlowMethodInfo() {
  MethodInfo m;
  m.name = "barlow";
  m.title = "Barlow Twins";
  m.family = "siamese";
  m.summary =
      "Two augmented views of each image go through the same network. Over the batch, the "
      "cross-correlation matrix between the two views' embedding dimensions is pushed towards "
      "the identity: a diagonal of 1 makes every feature invariant to the augmentations, zeros "
      "elsewhere make the features non-redundant, which rules out collapse without negatives or "
      "a momentum encoder.";
  m.formula =
      "zn = (z - mean_batch) / std_batch (biased);  C = zn1^T zn2 / N;  "
      "L = sum_i (1 - C_ii)^2 + lambda * sum_{i!=j} C_ij^2";
  m.paper =
      "Zbontar, Jing, Misra, LeCun, Deny. Barlow Twins: Self-Supervised Learning via "
      "Redundancy Reduction. ICML 2021.";
  m.defaultAugment = "simclr";
  using T = ParamSpec::Type;
  m.params = {
      {"lambda",
       T::Float,
       0.0051,
       0.0,
       1.0,
       {},
       "weight of the off-diagonal (redundancy) terms; the paper uses 0.0051 at D = 8192, about "
       "1/D"},
      {"proj_hidden", T::Int, 1024, 8, 8192, {}, "hidden width of the projector (paper: 8192)"},
      {"proj_dim", T::Int, 1024, 2, 8192, {}, "embedding dimension D, the size of C (paper: 8192)"},
      {"proj_layers", T::Int, 3, 1, 4, {}, "linear layers in the projector (1 = linear; paper: 3)"},
      {"proj_bn", T::Bool, true, 0, 0, {}, "batch norm in the projector's hidden layers"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<BarlowTwins>(s); };
  return m;
}

}  // namespace pretext
