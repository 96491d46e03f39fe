#include "core/methods/simclr.h"

#include <torch/torch.h>

#include <limits>

#include "core/dist/step_group.h"
#include "core/methods/registry.h"
#include "core/models/heads.h"

namespace pretext {

torch::Tensor ntXentLoss(const torch::Tensor& z1, const torch::Tensor& z2, double temperature,
                         torch::Tensor* accuracy) {
  const int64_t n = z1.size(0);
  auto z = torch::nn::functional::normalize(torch::cat({z1, z2}, 0),
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto logits = torch::matmul(z, z.t()) / temperature;
  // An anchor is never its own candidate: 2N-1 candidates per anchor.
  auto self = torch::eye(2 * n, torch::TensorOptions().dtype(torch::kBool).device(z.device()));
  logits = logits.masked_fill(self, -std::numeric_limits<float>::infinity());
  auto idx = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(z.device()));
  auto targets = torch::cat({idx + n, idx});
  if (accuracy) *accuracy = logits.argmax(1).eq(targets).to(torch::kFloat).mean().detach();
  return torch::nn::functional::cross_entropy(logits, targets);
}

LossAnatomy ntXentAnatomy(const torch::Tensor& z1, const torch::Tensor& z2, double temperature,
                          const torch::Tensor& views) {
  torch::NoGradGuard ng;
  namespace F = torch::nn::functional;
  const int64_t n = z1.size(0);
  auto z = F::normalize(torch::cat({z1, z2}, 0).to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
  auto sim = torch::matmul(z, z.t());
  auto positives = torch::cat({torch::arange(n, 2 * n), torch::arange(0, n)}).to(torch::kLong);
  auto self = torch::eye(2 * n, torch::kBool).to(sim.device());
  auto logits = (sim / temperature).masked_fill(self, -std::numeric_limits<float>::infinity());
  auto logp = torch::log_softmax(logits, 1);
  auto perRow = -logp.gather(1, positives.to(sim.device()).unsqueeze(1)).squeeze(1);
  auto best = sim.masked_fill(self, -2).argmax(1);
  LossAnatomy a;
  a.title = "NT-Xent over 2N = " + std::to_string(2 * n) + " views";
  a.explanation =
      "Row i: the cosine similarity of view i to every other view (rows 1..N are the first views, N+1..2N "
      "the second). The ringed entry is its positive, the other view of the same image; every other "
      "entry is a negative. The loss of row i is -log of the softmax of the row (divided by T) at the "
      "positive: small when the positive stands out from the negatives.";
  a.matrix = sim.masked_fill(self, std::numeric_limits<float>::quiet_NaN()).cpu();
  a.rowsTitle = "anchor view";
  a.columnsTitle = "candidate view";
  a.positives = positives;
  a.perRow = perRow.cpu();
  a.perRowTitle = "-log p(positive)";
  a.images = views.detach().to(torch::kFloat).cpu();
  a.columnImages = a.images;  // the candidates are the same 2N views
  a.terms = {{"loss", perRow.mean().item<double>()},
             {"accuracy", 100.0 * best.eq(positives.to(best.device())).to(torch::kFloat).mean().item<double>()},
             {"temperature", temperature}};
  return a;
}

namespace {

class SimClr : public Method {
 public:
  explicit SimClr(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    temperature_ = p["temperature"].get<double>();
    probeFeatures_ = p["probe_features"].get<std::string>();
    projector_ = register_module(
        "projector", makeMlp(encoder_->featureDim(), p["proj_hidden"].get<int64_t>(),
                             p["proj_dim"].get<int64_t>(), p["proj_layers"].get<int64_t>(),
                             p["proj_bn"].get<bool>()));
  }
  // What the probes read: the encoder's features (the paper's choice), every stage pooled, or the
  // projection head's output (the paper's Figure 8: the features before the head probe better).
  torch::Tensor features(const torch::Tensor& images) override {
    if (probeFeatures_ == "projector") return projector_->forward(encoder_->forward(images));
    return stageFeatures(images, probeFeatures_);
  }
  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto v1 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto v2 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    // One forward pass over both views (BatchNorm sees the 2N images together, as in SimCLR).
    auto z = projector_->forward(encoder_->forward(torch::cat({v1, v2}, 0)));
    auto parts = z.chunk(2, 0);
    torch::Tensor acc;
    // Several processes: the negatives of the whole global batch (every rank computes the loss
    // of the gathered batch; the gather's backward pass sums the gradients over ranks).
    auto loss = ntXentLoss(gatherAcrossRanks(parts[0]), gatherAcrossRanks(parts[1]), temperature_, &acc);
    StepResult r{loss, {{"contrastive_acc", acc}}};
    for (auto& m : collapseMetrics(parts[0])) r.metrics.push_back(m);
    return r;
  }
  std::vector<LossAnatomy> lossAnatomy(const torch::Tensor& images, const AugmentOptions& augment,
                                       torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto views = torch::cat({augmentBatch(images, augment, gen), augmentBatch(images, augment, gen)}, 0);
    auto parts = projector_->forward(encoder_->forward(views)).chunk(2, 0);
    return {ntXentAnatomy(parts[0], parts[1], temperature_, views)};
  }
  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    return twoViews(images, augment, gen, "simclr pairs", "each row: an image and its two views, a positive pair; the other rows are its negatives");
  }
  // The contrastive task as a picture: for each anchor view, the view the model finds most
  // similar among the 2N-1 others (right when it is the anchor's own pair).
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                               const PreviewSettings&) override {
    torch::NoGradGuard ng;
    AugmentOptions aug = previewAugment(images);
    const int64_t n = std::min<int64_t>(images.size(0), 16);
    auto x = images.slice(0, 0, n);
    auto views = torch::cat({augmentBatch(x, aug, gen), augmentBatch(x, aug, gen)}, 0);
    auto z = torch::nn::functional::normalize(projector_->forward(encoder_->forward(views)),
                                              torch::nn::functional::NormalizeFuncOptions().dim(1));
    auto sim = torch::matmul(z, z.t());
    sim.fill_diagonal_(-2);
    auto [best, picked] = sim.slice(0, 0, n).max(1);
    picked = picked.cpu();
    best = best.cpu();
    auto cpuViews = views.cpu();
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    int64_t right = 0;
    char buf[48];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = picked[i].item<int64_t>();
      const bool ok = j == i + n;
      right += ok;
      cells.insert(cells.end(), {cpuViews[i], cpuViews[j], cpuViews[i + n]});
      std::snprintf(buf, sizeof buf, "%s%.2f", ok ? "" : "x ", best[i].item<float>());
      labels.insert(labels.end(), {"anchor", buf, "its pair"});
    }
    std::snprintf(buf, sizeof buf, "%lld of %lld", static_cast<long long>(right), static_cast<long long>(n));
    return {{"contrastive predictions",
             std::string("each row: an anchor view, the view most similar to it among the 2N-1 others "
                         "(cosine similarity; red = not its pair), and its true pair. Found: ") + buf,
             torch::stack(cells), labels, 6}};
  }

 private:
  double temperature_;
  std::string probeFeatures_ = "last";
  torch::nn::Sequential projector_{nullptr};
};

}  // namespace

MethodInfo simclrMethodInfo() {
  MethodInfo m;
  m.name = "simclr";
  m.title = "SimCLR";
  m.family = "contrastive";
  m.summary =
      "Two random augmentations of the same image should map to nearby embeddings, and "
      "away from the other 2N-2 images of the batch. The encoder's features, before the "
      "projection head, are the representation.";
  m.formula = "l(i,j) = -log[ exp(sim(z_i,z_j)/T) / sum_{k!=i} exp(sim(z_i,z_k)/T) ], averaged over the 2N views";
  m.paper = "Chen, Kornblith, Norouzi, Hinton. A Simple Framework for Contrastive Learning of "
            "Visual Representations. ICML 2020.";
  m.defaultAugment = "simclr";
  using T = ParamSpec::Type;
  m.params = {
      {"temperature", T::Float, 0.5, 0.01, 10.0, {}, "softmax temperature T of NT-Xent"},
      {"proj_hidden", T::Int, 512, 8, 8192, {}, "hidden width of the projection MLP"},
      {"proj_dim", T::Int, 128, 2, 4096, {}, "output dimension of the projection MLP"},
      {"proj_layers", T::Int, 2, 1, 4, {}, "linear layers in the projector (1 = linear)"},
      {"proj_bn", T::Bool, true, 0, 0, {}, "batch norm in the projector's hidden layers"},
      {"probe_features", T::Choice, "last", 0, 0, {"last", "all-max", "all-mean", "projector"},
       "what the probes evaluate: the encoder's features (last stage, the paper's choice), every "
       "stage pooled to 1x1 by max or mean and concatenated, or the projection head's output "
       "(the paper finds it worse: the head discards what the augmentations vary)"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<SimClr>(s); };
  return m;
}

}  // namespace pretext
