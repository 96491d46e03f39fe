// SwAV (Caron, Misra, Mairal, Goyal, Bojanowski, Joulin 2020): "swapping assignments between
// views". Each view's l2-normalised embedding z is scored against K learned prototypes (unit
// vectors, the weight of a bias-free linear layer renormalised before every step). The scores of
// a view are turned into a soft cluster assignment q by Sinkhorn-Knopp, which forces the batch to
// spread equally over the prototypes (without it, every image goes to one prototype and the
// embeddings collapse: the `equipartition` setting turns it off to show exactly that). Each view
// then predicts the other view's assignment from its own scores (a cross-entropy through a
// softmax at temperature T). Online clustering: no pass over the data set, no pseudo-label
// epochs as in DeepCluster, no negatives as in SimCLR.
//
// As in the official code: the prototypes get no gradient for the first steps (they would chase
// a random network), the equipartition runs over the whole global batch (ranks gathered), a
// queue of earlier embeddings can join the Sinkhorn batch when the batch is small next to K, and
// multi-crop adds small low-resolution crops that predict the two global views' assignments
// (the assignments themselves come from the global views only). Each rank keeps its own queue;
// a checkpoint saves rank 0's.
#include "core/methods/swav.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

#include "core/dist/step_group.h"
#include "core/methods/registry.h"
#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

namespace F = torch::nn::functional;

torch::Tensor sinkhornKnopp(const torch::Tensor& scores, double epsilon, int64_t iterations) {
  torch::NoGradGuard ng;
  TORCH_CHECK(scores.dim() == 2, "sinkhornKnopp: scores must be [B,K]");
  const auto B = static_cast<double>(scores.size(0));
  const auto K = static_cast<double>(scores.size(1));
  auto s = scores.detach().to(torch::kDouble) / epsilon;
  // exp of the scores shifted by their maximum: the same after normalisation, and no overflow.
  auto q = (s - s.max()).exp().t();  // [K,B]
  q = q / q.sum();
  for (int64_t it = 0; it < iterations; ++it) {
    q = q / (q.sum(1, /*keepdim=*/true) * K);  // every prototype holds 1/K of the mass
    q = q / (q.sum(0, /*keepdim=*/true) * B);  // every sample holds 1/B
  }
  return (q * B).t().to(scores.dtype());  // [B,K], rows sum to 1
}

namespace {

// -sum_k q[i,k] log softmax(s[i]/T)_k, averaged over the rows.
torch::Tensor predictionLoss(const torch::Tensor& q, const torch::Tensor& scores, double temperature) {
  return -(q.detach() * F::log_softmax(scores / temperature, F::LogSoftmaxFuncOptions(1))).sum(1).mean();
}

}  // namespace

torch::Tensor swavSwappedLoss(const torch::Tensor& scores1, const torch::Tensor& scores2,
                              const torch::Tensor& q1, const torch::Tensor& q2, double temperature) {
  return 0.5 * (predictionLoss(q2, scores1, temperature) + predictionLoss(q1, scores2, temperature));
}

torch::Tensor clusterPurity(const torch::Tensor& counts) {
  return std::get<0>(counts.max(1)).sum() / counts.sum().clamp_min(1e-12);
}

namespace {

class SwAV : public Method {
 public:
  explicit SwAV(const MethodSetup& s) : Method(s), numClasses_(s.numClasses) {
    const auto& p = s.params;
    temperature_ = p["temperature"].get<double>();
    epsilon_ = p["epsilon"].get<double>();
    iterations_ = p["sinkhorn_iterations"].get<int64_t>();
    equipartition_ = p["equipartition"].get<bool>();
    freezeSteps_ = p["freeze_prototypes_steps"].get<int64_t>();
    queueLength_ = p["queue_length"].get<int64_t>();
    smallCrops_ = p["small_crops"].get<int64_t>();
    smallCropSize_ = p["small_crop_size"].get<int64_t>();
    if (smallCrops_ > 0 && s.backbone.name() == "vit")
      throw Error("method.params.small_crops = " + std::to_string(smallCrops_) +
                  ": multi-crop needs a convolutional backbone (a ViT's patch grid is fixed to the "
                  "image size); use backbone convnet or resnet, or small_crops 0");
    const int64_t dim = p["proj_dim"].get<int64_t>();
    const int64_t K = p["prototypes"].get<int64_t>();
    projector_ = register_module(
        "projector", makeMlp(encoder_->featureDim(), p["proj_hidden"].get<int64_t>(), dim,
                             p["proj_layers"].get<int64_t>(), p["proj_bn"].get<bool>()));
    prototypes_ = register_module("prototypes", torch::nn::Linear(torch::nn::LinearOptions(dim, K).bias(false)));
    normalizePrototypes();
    if (queueLength_ > 0) {
      // Earlier embeddings of the two global views, newest first, and how many rows are real.
      queue_ = register_buffer("queue", torch::zeros({2, queueLength_, dim}));
      queueFill_ = register_buffer("queue_fill", torch::zeros({}, torch::kLong));
    }
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    normalizePrototypes();
    auto v1 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto v2 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    // The two global views in one forward (one batch-norm batch), the small crops in another.
    std::vector<torch::Tensor> z = embed(torch::cat({v1, v2}, 0)).chunk(2, 0);
    if (smallCrops_ > 0) {
      AugmentOptions small = *ctx.augment;
      small.size(smallCropSize_).cropProb(1).cropScaleMin(0.1).cropScaleMax(0.4);
      std::vector<torch::Tensor> crops;
      for (int64_t c = 0; c < smallCrops_; ++c) crops.push_back(augmentBatch(batch.images, small, *ctx.gen));
      for (auto& zc : embed(torch::cat(crops, 0)).chunk(smallCrops_, 0)) z.push_back(zc);
    }
    // Frozen prototypes: the scores still use them, but no gradient reaches them.
    const bool frozen = ctx.step < freezeSteps_;
    const torch::Tensor C = frozen ? prototypes_->weight.detach() : prototypes_->weight;
    std::vector<torch::Tensor> scores;
    for (const auto& zv : z) scores.push_back(torch::matmul(zv, C.t()));
    torch::Tensor q[2];
    for (int v = 0; v < 2; ++v) q[v] = assign(scores[v].detach(), v);
    // Each global view's assignment is predicted by every other view.
    const auto views = static_cast<int64_t>(z.size());
    torch::Tensor loss;
    for (int v = 0; v < 2; ++v)
      for (int64_t w = 0; w < views; ++w) {
        if (w == v) continue;
        auto term = predictionLoss(q[v], scores[w], temperature_);
        loss = loss.defined() ? loss + term : term;
      }
    loss = loss / double(2 * (views - 1));
    if (queueLength_ > 0) enqueue(z[0].detach(), z[1].detach());

    StepResult r{loss, {}};
    torch::NoGradGuard ng;
    const int64_t K = prototypes_->weight.size(0);
    const auto hard = q[0].argmax(1);
    r.metrics.emplace_back("prototypes_used", torch::zeros({K}, q[0].options()).index_fill_(0, hard, 1).sum());
    if (numClasses_ > 0 && batch.labels.defined()) {
      // Purity over the last ~100 batches: a decayed prototype x label table (no host sync).
      if (!purityCounts_.defined()) purityCounts_ = torch::zeros({K, numClasses_}, q[0].options());
      const auto labels = batch.labels.to(hard.device());
      const auto known = labels.ge(0).to(purityCounts_.dtype());
      purityCounts_.mul_(0.99).view(-1).index_add_(0, hard * numClasses_ + labels.clamp(0, numClasses_ - 1), known);
      r.metrics.emplace_back("cluster_purity", clusterPurity(purityCounts_));
    }
    for (auto& m : collapseMetrics(z[0])) r.metrics.push_back(m);
    return r;
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    return twoViews(images, augment, gen, "swav views",
                    "each row: an image and two views; each view must predict the other's cluster");
  }

  // Enough test images that the most used prototypes each hold several.
  int64_t previewImageCount() const override { return 256; }

  // Each row: one prototype and the given images it scores highest, for the prototypes these
  // images use most (one opened image alone: its own best prototypes' scores).
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                               const PreviewSettings&) override {
    torch::NoGradGuard ng;
    normalizePrototypes();
    const torch::Tensor& pool = images;
    const auto scores = torch::matmul(embed(pool), prototypes_->weight.t()).cpu();  // [N,K]
    const int64_t N = scores.size(0), K = scores.size(1);
    const auto hard = scores.argmax(1);
    const auto usage = torch::bincount(hard, {}, K);
    const int64_t used = usage.gt(0).sum().item<int64_t>();
    const int64_t rows = std::min<int64_t>(8, used), cols = std::min<int64_t>(8, N);
    const auto order = usage.argsort(0, /*descending=*/true);
    const auto cpuPool = pool.cpu();
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    char buf[48];
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t k = order[r].item<int64_t>();
      const auto best = scores.select(1, k).topk(cols);
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = std::get<1>(best)[c].item<int64_t>();
        cells.push_back(cpuPool[i]);
        std::snprintf(buf, sizeof buf, "%s%lld: %.2f", hard[i].item<int64_t>() == k ? "" : "x ",
                      static_cast<long long>(k), std::get<0>(best)[c].item<float>());
        labels.emplace_back(buf);
      }
    }
    if (cells.empty()) return {};
    std::snprintf(buf, sizeof buf, "%lld of %lld prototypes", static_cast<long long>(used), static_cast<long long>(K));
    return {{"prototypes",
             std::string("each row: one prototype and the ") + std::to_string(N) + " test images' ones it scores highest (cosine; red: assigned to another prototype), for the prototypes "
                 "these images use most. In use: " + buf + " (collapse: one)",
             torch::stack(cells), labels, cols}};
  }

 private:
  torch::Tensor embed(const torch::Tensor& x) {
    return F::normalize(projector_->forward(encoder_->forward(x)), F::NormalizeFuncOptions().dim(1));
  }

  void normalizePrototypes() {
    torch::NoGradGuard ng;
    auto& w = prototypes_->weight;
    w.copy_(F::normalize(w, F::NormalizeFuncOptions().dim(1)));
  }

  // A view's soft assignment [n,K] (no gradient): Sinkhorn over the global batch (and the queue,
  // once it is full), or, without equipartition, the plain softmax of the scores at epsilon.
  torch::Tensor assign(const torch::Tensor& scores, int view) {
    torch::NoGradGuard ng;
    if (!equipartition_) return F::softmax(scores / epsilon_, F::SoftmaxFuncOptions(1));
    torch::Tensor local = scores;
    int64_t offset = 0;
    if (queueLength_ > 0 && queueFill_.item<int64_t>() >= queueLength_) {
      local = torch::cat({torch::matmul(queue_[view], prototypes_->weight.t()), scores}, 0);
      offset = queueLength_;
    }
    const torch::Tensor all = gatherAcrossRanks(local);  // the equipartition spans every rank
    const torch::Tensor Q = sinkhornKnopp(all, epsilon_, iterations_);
    const int64_t rank = stepGroup() ? stepGroup()->rank() : 0;
    const int64_t rows = local.size(0);
    return Q.slice(0, rank * rows + offset, (rank + 1) * rows);
  }

  void enqueue(const torch::Tensor& z1, const torch::Tensor& z2) {
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(z1.size(0), queueLength_);
    const torch::Tensor fresh = torch::stack({z1.slice(0, 0, n), z2.slice(0, 0, n)}).to(queue_.dtype());
    queue_.copy_(torch::cat({fresh, queue_.slice(1, 0, queueLength_ - n)}, 1));
    queueFill_.add_(n).clamp_max_(queueLength_);
  }

  double temperature_ = 0.1, epsilon_ = 0.05;
  int64_t iterations_ = 3, freezeSteps_ = 0, queueLength_ = 0, smallCrops_ = 0, smallCropSize_ = 16;
  bool equipartition_ = true;
  int64_t numClasses_ = 0;
  torch::nn::Sequential projector_{nullptr};
  torch::nn::Linear prototypes_{nullptr};
  torch::Tensor queue_, queueFill_;
  torch::Tensor purityCounts_;  // decayed prototype x label counts (monitoring only)
};

}  // namespace

MethodInfo swavMethodInfo() {
  MethodInfo m;
  m.name = "swav";
  m.title = "SwAV";
  m.family = "clustering";
  m.summary =
      "Online clustering: each view is scored against learned prototypes, Sinkhorn-Knopp turns "
      "the scores into cluster assignments that share the batch equally among the prototypes, "
      "and each view predicts the other view's assignment. No negatives; the equal partition is "
      "what keeps it from collapsing.";
  m.formula =
      "q = Sinkhorn(exp(z.C / eps)) (rows: assignments, prototypes equally used); "
      "L = -1/2 sum_i [ q2_i . log softmax(z1_i.C / T) + q1_i . log softmax(z2_i.C / T) ]";
  m.paper = "Caron, Misra, Mairal, Goyal, Bojanowski, Joulin. Unsupervised Learning of Visual "
            "Features by Contrasting Cluster Assignments. NeurIPS 2020.";
  m.defaultAugment = "simclr";
  using T = ParamSpec::Type;
  m.params = {
      {"prototypes", T::Int, 100, 2, 100000, {}, "K, the number of prototypes (clusters); paper: 3000 on ImageNet"},
      {"temperature", T::Float, 0.1, 0.01, 10.0, {}, "softmax temperature T of the swapped prediction"},
      {"epsilon", T::Float, 0.05, 0.001, 1.0, {}, "Sinkhorn's entropy regularisation (smaller: harder assignments)"},
      {"sinkhorn_iterations", T::Int, 3, 1, 100, {}, "Sinkhorn-Knopp iterations"},
      {"equipartition", T::Bool, true, 0, 0, {},
       "spread every batch equally over the prototypes (Sinkhorn); off: plain softmax, which collapses"},
      {"freeze_prototypes_steps", T::Int, 200, 0, 100000000, {},
       "steps at the start during which the prototypes get no gradient (paper: the first epoch)"},
      {"queue_length", T::Int, 0, 0, 65536, {},
       "earlier embeddings per view added to the Sinkhorn batch once full (0: none; for batches small next to K)"},
      {"small_crops", T::Int, 0, 0, 10, {}, "multi-crop: extra small crops per image that predict both views' assignments"},
      {"small_crop_size", T::Int, 16, 8, 512, {}, "side of the small crops in pixels"},
      {"proj_hidden", T::Int, 512, 8, 8192, {}, "hidden width of the projection MLP"},
      {"proj_dim", T::Int, 128, 2, 4096, {}, "dimension of the embedding scored against the prototypes"},
      {"proj_layers", T::Int, 2, 1, 4, {}, "linear layers in the projector (1 = linear)"},
      {"proj_bn", T::Bool, true, 0, 0, {}, "batch norm in the projector's hidden layers"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<SwAV>(s); };
  return m;
}

}  // namespace pretext
