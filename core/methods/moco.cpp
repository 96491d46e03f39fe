// MoCo v2 (He, Fan, Wu, Xie, Girshick 2020; Chen, Fan, Girshick, He 2020): contrastive learning
// against a large dictionary of negatives kept in a queue. The queries come from the trained
// encoder + MLP head; the keys come from a momentum copy of both, which changes slowly, so the
// keys in the queue (computed over the last K/N steps) stay consistent with each other.
//
// Batch norm and "shuffle BN": the paper shuffles the key batch across GPUs so that a query and
// its positive key are normalised with statistics of different sub-batches; otherwise the
// current batch's statistics mark the one key in the K+1 candidates that was computed with them
// (the positive), and the network can find it by that mark instead of by content. On one
// device, shuffling the key batch changes nothing (batch statistics do not depend on order), so
// it is not done there. On several ranks with per-rank batch norm (run.sync_batch_norm off) the
// keys are shuffled across ranks as in the paper (mocoShuffledKeys); with synchronised batch
// norm (the default on several ranks) every key sees the global batch's statistics, exactly as
// on one process, and shuffling would change nothing. The leak matters less in this setting: BN statistics over a whole batch
// of 256 small grayscale images vary far less from batch to batch than over the 32-image
// per-GPU batches of the paper, and queries and keys go through separate forwards of separate
// views (BN never sees a query's own key view). The symptom to watch for is a contrastive_acc
// near 1 with a kNN accuracy that stops improving.
//
// BN running statistics of the key network: copied from the query network at the start; after
// that the momentum update moves only the weights, and the key network's own forward passes
// (train mode, as in the paper's code) keep its running statistics. They are used only in eval
// mode (the previews); in training, BN normalises with the batch's statistics.
//
// Symmetric loss (default on): each view is once the query and once the key, as in MoCo v3.
// A step costs about twice an asymmetric one (two query and two key forwards), so for the same
// time it sees each image half as often but learns from both directions of every pair. Measured
// on moco-fashion, 3 symmetric epochs and 6 asymmetric epochs (the same compute) reach the same
// probes (kNN 80.7 vs 80.9, linear 87.4 vs 87.4): a wash per unit of compute, while per epoch
// (what the window shows and a classroom waits for) the symmetric loss learns more, for ~10%
// less CPU (half the optimiser steps and online kNN passes). Set it off for the paper's MoCo v2
// (one loss term per step).
#include "core/methods/moco.h"

#include <torch/torch.h>

#include <cstdio>

#include "core/dist/step_group.h"
#include "core/methods/registry.h"
#include "core/models/heads.h"
#include "core/util/error.h"
#include "core/util/seed.h"

namespace pretext {

namespace F = torch::nn::functional;

torch::Tensor mocoLoss(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& queue,
                       double temperature, torch::Tensor* accuracy) {
  auto qn = F::normalize(q.to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
  auto kn = F::normalize(k.detach().to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
  auto positive = (qn * kn).sum(1, /*keepdim=*/true);                      // [N,1]
  auto negatives = torch::matmul(qn, queue.detach().to(torch::kFloat).t());  // [N,K]
  auto logits = torch::cat({positive, negatives}, 1) / temperature;
  auto targets = torch::zeros({q.size(0)}, torch::TensorOptions().dtype(torch::kLong).device(q.device()));
  if (accuracy) *accuracy = logits.argmax(1).eq(targets).to(torch::kFloat).mean().detach();
  return F::cross_entropy(logits, targets);
}

void mocoEnqueue(torch::Tensor& queue, torch::Tensor& ptr, const torch::Tensor& keys) {
  torch::NoGradGuard ng;
  const int64_t K = queue.size(0);
  const int64_t n = keys.size(0);
  TORCH_CHECK(n <= K, "mocoEnqueue: ", n, " keys do not fit a queue of ", K);
  auto rows = torch::arange(n, ptr.options()).add_(ptr).remainder_(K);
  queue.index_copy_(0, rows, keys.detach().to(queue.dtype()));
  ptr.add_(n).remainder_(K);
}

torch::Tensor mocoShuffledKeys(const std::function<torch::Tensor(const torch::Tensor&)>& encode,
                               const torch::Tensor& view, int64_t step) {
  torch::NoGradGuard ng;
  DistGroup* group = stepGroup();
  if (!group) return encode(view);
  const int64_t n = view.size(0), rank = group->rank();
  const torch::Tensor all = gatherAcrossRanks(view);  // [W*n,...]: every rank's views, in rank order
  // The same permutation on every rank: drawn from the step alone.
  auto gen = at::detail::createCPUGenerator(mixSeed(static_cast<uint64_t>(step), 0x5348'5546'464c'4542ull));
  const torch::Tensor perm = torch::randperm(all.size(0), gen, torch::TensorOptions().dtype(torch::kLong));
  const torch::Tensor mine = perm.slice(0, rank * n, (rank + 1) * n).to(view.device());
  // Row i of the shuffled keys is the key of global view perm[i]; index_copy puts it back there.
  const torch::Tensor shuffled = gatherAcrossRanks(encode(all.index_select(0, mine)));
  const torch::Tensor ordered = torch::empty_like(shuffled).index_copy_(0, perm.to(shuffled.device()), shuffled);
  return ordered.slice(0, rank * n, (rank + 1) * n);
}

namespace {

// Copies every parameter and buffer (BN running statistics too) of `from` into `to`, which
// has the same architecture.
void copyState(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard ng;
  auto fp = from.named_parameters(), tp = to.named_parameters();
  auto fb = from.named_buffers(), tb = to.named_buffers();
  TORCH_CHECK(fp.size() == tp.size() && fb.size() == tb.size(), "MoCo: key network differs from the query network");
  for (const auto& item : fp) tp[item.key()].copy_(item.value());
  for (const auto& item : fb) tb[item.key()].copy_(item.value());
}

class MoCo : public Method {
 public:
  explicit MoCo(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    temperature_ = p["temperature"].get<double>();
    momentum_ = p["momentum"].get<double>();
    symmetric_ = p["symmetric"].get<bool>();
    const int64_t dim = p["proj_dim"].get<int64_t>();
    auto head = [&] {
      return makeMlp(encoder_->featureDim(), p["proj_hidden"].get<int64_t>(), dim,
                     p["proj_layers"].get<int64_t>(), p["proj_bn"].get<bool>());
    };
    projector_ = register_module("projector", head());
    // The key network: the same architecture, started as an exact copy, then only moved by the
    // momentum update (never by the optimiser).
    BackboneOptions b = s.backbone;
    b.inChannels(s.channels).imageSize(s.imageSize);
    keyEncoder_ = register_module("key_encoder", makeBackbone(b));
    keyProjector_ = register_module("key_projector", head());
    copyState(*encoder_, *keyEncoder_);
    copyState(*projector_, *keyProjector_);
    for (auto& t : keyEncoder_->parameters()) t.set_requires_grad(false);
    for (auto& t : keyProjector_->parameters()) t.set_requires_grad(false);
    // The dictionary: K l2-normalised keys (random until real keys replace them) and the row the
    // next key goes to. Buffers, so a checkpoint resumes them exactly.
    const int64_t K = p["queue_size"].get<int64_t>();
    queue_ = register_buffer("queue", F::normalize(torch::randn({K, dim}), F::NormalizeFuncOptions().dim(1)));
    queuePtr_ = register_buffer("queue_ptr", torch::zeros({}, torch::kLong));
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    const int64_t n = batch.images.size(0);
    // Several processes: every rank enqueues the keys of the whole global batch.
    const int64_t ranks = stepGroup() ? stepGroup()->worldSize() : 1;
    const int64_t keysPerStep = (symmetric_ ? 2 * n : n) * ranks;
    if (keysPerStep > queue_.size(0))
      throw Error("method.params.queue_size = " + std::to_string(queue_.size(0)) + ": smaller than the " +
                  std::to_string(keysPerStep) + " keys one step adds to the queue (global batch of " + std::to_string(n * ranks) +
                  (symmetric_ ? " x 2 views, symmetric loss)" : ")") + "; set method.params.queue_size to at least " +
                  std::to_string(keysPerStep) + " (the paper uses 65536) or lower schedule.batch_size");
    auto v1 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto v2 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    // Keys: the momentum network, no gradient. Each view goes through its own forward (its own
    // BN batch), as in the paper.
    torch::Tensor k1, k2;
    {
      torch::NoGradGuard ng;
      auto encodeKeys = [this](const torch::Tensor& x) {
        return F::normalize(keyProjector_->forward(keyEncoder_->forward(x)), F::NormalizeFuncOptions().dim(1));
      };
      // Several ranks with per-rank batch norm: shuffle BN across them (see the top of the file).
      const bool shuffle = stepGroup() && !batchNormSyncActive();
      auto keys = [&](const torch::Tensor& view, int64_t stream) {
        return shuffle ? mocoShuffledKeys(encodeKeys, view, 2 * ctx.step + stream) : encodeKeys(view);
      };
      k2 = keys(v2, 0);
      if (symmetric_) k1 = keys(v1, 1);
    }
    auto z1 = projector_->forward(encoder_->forward(v1));
    torch::Tensor acc, loss;
    // The queue enters the logits, so autograd keeps it for the backward pass: it is only
    // changed in afterStep (after the optimiser step), never between forward and backward.
    loss = mocoLoss(z1, k2, queue_, temperature_, &acc);
    if (symmetric_) {
      auto z2 = projector_->forward(encoder_->forward(v2));
      torch::Tensor acc2;
      loss = 0.5 * (loss + mocoLoss(z2, k1, queue_, temperature_, &acc2));
      acc = 0.5 * (acc + acc2);
      pendingKeys_ = torch::cat({gatherAcrossRanks(k2), gatherAcrossRanks(k1)}, 0);
    } else {
      pendingKeys_ = gatherAcrossRanks(k2);
    }
    StepResult r{loss, {{"contrastive_acc", acc}}};
    for (auto& m : collapseMetrics(z1)) r.metrics.push_back(m);
    return r;
  }

  // One batch's InfoNCE taken apart: each query against its own key (the positive, column 1) and
  // the queue's keys (the negatives; the newest ones shown, the loss over all K).
  std::vector<LossAnatomy> lossAnatomy(const torch::Tensor& images, const AugmentOptions& augment,
                                       torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto v1 = augmentBatch(images, augment, gen);
    auto v2 = augmentBatch(images, augment, gen);
    auto q = F::normalize(projector_->forward(encoder_->forward(v1)).to(torch::kFloat),
                          F::NormalizeFuncOptions().dim(1));
    auto k = F::normalize(keyProjector_->forward(keyEncoder_->forward(v2)).to(torch::kFloat),
                          F::NormalizeFuncOptions().dim(1));
    auto queue = queue_.to(torch::kFloat);
    const int64_t n = q.size(0), K = queue.size(0), shown = std::min<int64_t>(K, 63);
    auto positive = (q * k).sum(1, /*keepdim=*/true);  // [N,1]
    auto negatives = torch::matmul(q, queue.t());       // [N,K]
    auto logits = torch::cat({positive, negatives}, 1) / temperature_;
    auto perRow = -torch::log_softmax(logits, 1).select(1, 0);
    // The newest keys first: the rows just before the queue's write position.
    const int64_t ptr = queuePtr_.item<int64_t>();
    auto newest = (torch::arange(ptr - 1, ptr - 1 - shown, -1, torch::kLong) + K).remainder(K);
    LossAnatomy a;
    a.title = "InfoNCE against a queue of K = " + std::to_string(K) + " keys";
    a.explanation =
        "Row i: the cosine similarity of query i (the query network on one view) to its own key (column 1, "
        "ringed: the momentum network on the other view of the same image) and to the " +
        std::to_string(shown) +
        " newest keys of the queue (earlier batches' images: the negatives). The batch's other keys are not "
        "negatives here; only the queue is. The loss of row i is -log of the softmax of the row (divided by "
        "T) at the positive, over all " +
        std::to_string(K) + " queue keys.";
    a.matrix = torch::cat({positive, negatives.index_select(1, newest.to(negatives.device()))}, 1).cpu();
    a.rowsTitle = "query";
    a.columnsTitle = "its key, then the queue (newest first)";
    a.positives = torch::zeros({n}, torch::kLong);
    a.perRow = perRow.cpu();
    a.perRowTitle = "-log p(own key)";
    a.images = v1.detach().to(torch::kFloat).cpu();
    a.terms = {{"loss", perRow.mean().item<double>()},
               {"accuracy", 100.0 * logits.argmax(1).eq(0).to(torch::kFloat).mean().item<double>()},
               {"temperature", temperature_},
               {"queue keys", double(K)}};
    return {a};
  }

  // After the optimiser step: move the key network towards the query network, then enqueue
  // this step's keys (the oldest keys leave).
  void afterStep(const StepContext&) override {
    torch::NoGradGuard ng;
    auto q = trainableParameters();
    auto k = keyEncoder_->parameters();
    for (auto& t : keyProjector_->parameters()) k.push_back(t);
    TORCH_CHECK(q.size() == k.size(), "MoCo: key network differs from the query network");
    for (size_t i = 0; i < q.size(); ++i) k[i].mul_(momentum_).add_(q[i].detach(), 1.0 - momentum_);
    if (pendingKeys_.defined()) {
      mocoEnqueue(queue_, queuePtr_, pendingKeys_);
      pendingKeys_ = torch::Tensor();
    }
  }

  std::vector<torch::Tensor> trainableParameters() override {
    auto params = encoder_->parameters();
    for (auto& t : projector_->parameters()) params.push_back(t);
    return params;
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    return twoViews(images, augment, gen, "moco query and key",
            "each row: an image, the view the query encoder sees and the view the momentum (key) encoder "
            "sees; the queue holds keys of earlier batches as negatives", {"image", "query view", "key view"});
  }

  // The dictionary look-up as a picture: each query view, the key (from the momentum encoder)
  // most similar to it among these images' keys, and its own key; the caption says how the
  // positive ranks against the queue's K negatives.
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                               const PreviewSettings&) override {
    torch::NoGradGuard ng;
    AugmentOptions aug = previewAugment(images);
    const int64_t n = std::min<int64_t>(images.size(0), 16);
    auto x = images.slice(0, 0, n);
    auto vq = augmentBatch(x, aug, gen), vk = augmentBatch(x, aug, gen);
    auto q = F::normalize(projector_->forward(encoder_->forward(vq)), F::NormalizeFuncOptions().dim(1));
    auto k = F::normalize(keyProjector_->forward(keyEncoder_->forward(vk)), F::NormalizeFuncOptions().dim(1));
    auto sim = torch::matmul(q, k.t());
    auto [best, picked] = sim.max(1);
    auto positive = sim.diagonal();
    // Share of the queue's negatives that a query finds less similar than its own key.
    auto beaten = torch::matmul(q, queue_.to(q.dtype()).t()).lt(positive.unsqueeze(1)).to(torch::kFloat).mean();
    picked = picked.cpu();
    best = best.cpu();
    auto cq = vq.cpu(), ck = vk.cpu();
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    int64_t right = 0;
    char buf[96];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = picked[i].item<int64_t>();
      const bool ok = j == i;
      right += ok;
      cells.insert(cells.end(), {cq[i], ck[j], ck[i]});
      std::snprintf(buf, sizeof buf, "%s%.2f", ok ? "" : "x ", best[i].item<float>());
      labels.insert(labels.end(), {"query", buf, "its key"});
    }
    std::snprintf(buf, sizeof buf, "%lld of %lld; a query's own key beats %.1f%% of the queue's %lld keys",
                  static_cast<long long>(right), static_cast<long long>(n), 100.0 * beaten.item<double>(),
                  static_cast<long long>(queue_.size(0)));
    return {{"dictionary look-up",
             std::string("each row: a query view, the most similar key among these images' keys (momentum "
                         "encoder, other view; cosine similarity; red = not its own) and its own key. Found: ") + buf,
             torch::stack(cells), labels, 6}};
  }

 private:
  double temperature_ = 0.2;
  double momentum_ = 0.99;
  bool symmetric_ = true;
  torch::nn::Sequential projector_{nullptr}, keyProjector_{nullptr};
  std::shared_ptr<Encoder> keyEncoder_;
  torch::Tensor queue_, queuePtr_;
  torch::Tensor pendingKeys_;  // this step's keys, enqueued in afterStep
};

}  // namespace

MethodInfo mocoMethodInfo() {
  MethodInfo m;
  m.name = "moco";
  m.title = "MoCo v2 (momentum contrast)";
  m.family = "contrastive";
  m.summary =
      "A query view must pick out the key of the same image (another view, encoded by a slowly "
      "moving momentum copy of the network) among a queue of thousands of keys from earlier "
      "batches. The queue gives many negatives without a large batch; the momentum encoder keeps "
      "the queued keys consistent.";
  m.formula = "L = -log[ exp(q.k+/T) / (exp(q.k+/T) + sum_{k- in queue} exp(q.k-/T)) ];  "
              "theta_k <- m*theta_k + (1-m)*theta_q";
  m.paper = "He, Fan, Wu, Xie, Girshick. Momentum Contrast for Unsupervised Visual Representation "
            "Learning. CVPR 2020. Chen, Fan, Girshick, He. Improved Baselines with Momentum "
            "Contrastive Learning. arXiv 2003.04297, 2020.";
  m.defaultAugment = "simclr";
  using T = ParamSpec::Type;
  m.params = {
      {"temperature", T::Float, 0.2, 0.01, 10.0, {}, "softmax temperature T of InfoNCE (MoCo v2: 0.2)"},
      {"momentum", T::Float, 0.99, 0.0, 1.0, {},
       "momentum m of the key encoder; 0.99 suits short CPU runs, the paper uses 0.999 for long runs"},
      {"queue_size", T::Int, 4096, 1, 1 << 20, {},
       "negative keys K in the queue (paper: 65536); at least the keys one step adds"},
      {"symmetric", T::Bool, true, 0, 0, {},
       "each view is query once and key once (two loss terms, both key sets enqueued)"},
      {"proj_hidden", T::Int, 512, 8, 8192, {}, "hidden width of the projection MLP"},
      {"proj_dim", T::Int, 128, 2, 4096, {}, "output dimension of the projection MLP (and of the keys)"},
      {"proj_layers", T::Int, 2, 1, 4, {}, "linear layers in the projector (MoCo v2: 2; 1 = MoCo v1's linear head)"},
      {"proj_bn", T::Bool, false, 0, 0, {}, "batch norm in the projector's hidden layers (MoCo v2: none)"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<MoCo>(s); };
  return m;
}

}  // namespace pretext
