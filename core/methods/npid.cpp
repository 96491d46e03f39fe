// NPID (Wu, Xiong, Yu, Lin 2018, "Unsupervised Feature Learning via Non-Parametric Instance
// Discrimination"): every training image is a class of its own. A memory bank keeps one
// l2-normalised 128-d vector per training image; an image's feature must pick out its own bank
// row among all N rows through a softmax with temperature T. After the step, the rows of the
// step's images move towards their new features: v <- normalise(m v + (1 - m) f), m = 0.5 as in
// the official code (lemniscate.pytorch). The paper approximates the N-way softmax with NCE for
// ImageNet's 1.28M rows; at Fashion-MNIST's 60,000 rows the exact softmax costs one [B,N] matrix
// product, so it is computed exactly (the official code's LinearAverage + cross-entropy).
//
// The bank is keyed by each image's row in the training set (Batch::indices) and sized by
// MethodSetup::trainImages; it is a buffer, so checkpoints save and resume it. Several processes:
// every rank's loss reads the whole (identical) bank, and the update applies the features and
// indices of the whole global batch (gathered across ranks), so every rank's bank stays the same.
//
// The probes evaluate the encoder's features (before the 128-d head), as for the other methods.
// With labelled data the step also reports the paper's kNN monitor read from the bank
// (npid_bank_knn: each batch image classified by its 200 most similar bank rows of other images,
// weighted by exp(s/0.1)); the labels only feed that number, never the loss.
#include "core/methods/npid.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "core/dist/step_group.h"
#include "core/methods/registry.h"
#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

namespace F = torch::nn::functional;

torch::Tensor npidLoss(const torch::Tensor& features, const torch::Tensor& bank,
                       const torch::Tensor& indices, double temperature, torch::Tensor* accuracy) {
  auto f = F::normalize(features.to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
  auto logits = torch::matmul(f, bank.detach().to(torch::kFloat).t()) / temperature;  // [B,N]
  auto targets = indices.to(torch::kLong);
  if (accuracy) *accuracy = logits.detach().argmax(1).eq(targets).to(torch::kFloat).mean();
  return F::cross_entropy(logits, targets);
}

void npidUpdateBank(torch::Tensor& bank, const torch::Tensor& indices, const torch::Tensor& features,
                    double momentum) {
  torch::NoGradGuard ng;
  auto idx = indices.to(torch::kLong).to(bank.device());
  auto f = F::normalize(features.detach().to(bank.dtype()).to(bank.device()), F::NormalizeFuncOptions().dim(1));
  auto mixed = bank.index_select(0, idx).mul_(momentum).add_(f, 1.0 - momentum);
  bank.index_copy_(0, idx, F::normalize(mixed, F::NormalizeFuncOptions().dim(1)));
}

void fillBankFromNetwork(torch::Tensor& bank, const torch::Tensor& trainImages, c10::Device device,
                         torch::nn::Module& net, const std::function<torch::Tensor(const torch::Tensor&)>& embed,
                         const std::string& method) {
  if (trainImages.size(0) != bank.size(0))
    throw Error(method + ": bank_init \"encoder\": the memory bank has " + std::to_string(bank.size(0)) +
                " rows but the training set " + std::to_string(trainImages.size(0)) + " images");
  torch::NoGradGuard ng;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved;  // (buffer, its values)
  for (auto& b : net.buffers())
    if (!b.is_same(bank)) saved.emplace_back(b, b.clone());
  const bool wasTraining = net.is_training();
  net.train(true);
  const int64_t chunk = 256, n = trainImages.size(0);
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t end = std::min<int64_t>(n, start + chunk);
    auto x = trainImages.slice(0, start, end).to(device).to(torch::kFloat).div(255);
    auto idx = torch::arange(start, end, torch::TensorOptions().dtype(torch::kLong).device(bank.device()));
    bank.index_copy_(0, idx, F::normalize(embed(x).to(bank.dtype()).to(bank.device()), F::NormalizeFuncOptions().dim(1)));
  }
  net.train(wasTraining);
  for (auto& [b, v] : saved) b.copy_(v);
}

void PendingBankWrite::stage(const torch::Tensor& features, const torch::Tensor& indices,
                             const torch::Tensor& labels) {
  torch::NoGradGuard ng;
  features_ = gatherAcrossRanks(features.detach().to(torch::kFloat));
  indices_ = gatherAcrossRanks(indices.to(torch::kDouble)).to(torch::kLong);
  labels_ = labels.defined() ? gatherAcrossRanks(labels.to(torch::kDouble)).to(torch::kLong) : torch::Tensor();
}

void PendingBankWrite::apply(torch::Tensor& bank, torch::Tensor& bankLabels, double momentum) {
  if (!features_.defined()) return;
  npidUpdateBank(bank, indices_, features_, momentum);
  if (labels_.defined()) {
    torch::NoGradGuard ng;
    bankLabels.index_copy_(0, indices_.to(bankLabels.device()), labels_.to(bankLabels.device()));
  }
  features_ = indices_ = labels_ = torch::Tensor();
}

torch::Tensor npidBankKnn(const torch::Tensor& features, const torch::Tensor& indices,
                          const torch::Tensor& labels, const torch::Tensor& bank,
                          const torch::Tensor& bankLabels, int64_t numClasses, int64_t k,
                          double temperature) {
  torch::NoGradGuard ng;
  auto f = F::normalize(features.detach().to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
  auto sim = torch::matmul(f, bank.to(torch::kFloat).t());  // [B,N]
  const double none = -std::numeric_limits<float>::infinity();
  sim.masked_fill_(bankLabels.lt(0).unsqueeze(0), none);
  sim.scatter_(1, indices.to(torch::kLong).unsqueeze(1), none);  // not its own row
  auto [top, rows] = sim.topk(std::min<int64_t>(k, sim.size(1)), 1);
  auto votes = torch::zeros({f.size(0), numClasses}, f.options());
  auto known = top.isfinite();
  auto weight = torch::where(known, (top / temperature).exp(), torch::zeros_like(top));
  auto cls = bankLabels.index_select(0, rows.flatten()).view_as(rows).clamp_min(0);
  votes.scatter_add_(1, cls, weight);
  return votes.argmax(1).eq(labels.to(torch::kLong)).to(torch::kFloat).mean();
}

namespace {
constexpr int64_t kBankCacheBytes = 64 << 20;  // training images kept for the neighbours pictures
}  // namespace

BankImageCache::BankImageCache(int64_t trainImages, int64_t channels, int64_t imageSize) {
  const int64_t perImage = channels * imageSize * imageSize;
  rows_ = std::min<int64_t>(trainImages, kBankCacheBytes / std::max<int64_t>(1, perImage));
}

void BankImageCache::remember(const torch::Tensor& images, const torch::Tensor& indices) {
  torch::NoGradGuard ng;
  if (rows_ <= 0) return;
  if (!images_.defined()) {
    images_ = torch::zeros({rows_, images.size(1), images.size(2), images.size(3)},
                           torch::TensorOptions().dtype(torch::kUInt8).device(images.device()));
    seen_ = torch::zeros({rows_}, torch::TensorOptions().dtype(torch::kBool).device(images.device()));
  }
  auto idx = indices.to(torch::kLong);
  auto keep = idx.lt(rows_);
  auto rows = idx.masked_select(keep);
  auto pics = images.detach().index_select(0, keep.nonzero().flatten()).mul(255).round().clamp(0, 255).to(torch::kUInt8);
  images_.index_copy_(0, rows.to(images_.device()), pics.to(images_.device()));
  seen_.index_fill_(0, rows.to(seen_.device()), true);
}

int64_t BankImageCache::seen() const { return seen_.defined() ? seen_.sum().item<int64_t>() : 0; }

std::pair<torch::Tensor, torch::Tensor> BankImageCache::nearest(const torch::Tensor& sim, int64_t k) const {
  torch::NoGradGuard ng;
  if (!seen_.defined() || rows_ <= 0)
    return {torch::full({sim.size(0), 0}, 0.f), torch::zeros({sim.size(0), 0}, torch::kLong)};
  auto visible = sim.slice(1, 0, rows_).to(torch::kFloat).masked_fill(~seen_.to(sim.device()).unsqueeze(0),
                                                                      -std::numeric_limits<float>::infinity());
  auto [top, rows] = visible.topk(std::min<int64_t>(k, rows_), 1);
  return {top.cpu(), rows.cpu()};
}

torch::Tensor BankImageCache::image(int64_t row) const {
  return images_[row].to(torch::kCPU).to(torch::kFloat).div(255);
}

namespace {

// Every name here carries the method's name: the file shares a unity batch with others.
constexpr int64_t kNpidKnnK = 200;
constexpr double kNpidKnnT = 0.1;

class NpidMethod : public Method {
 public:
  explicit NpidMethod(const MethodSetup& s) : Method(s), numClasses_(s.numClasses) {
    const auto& p = s.params;
    if (s.trainImages <= 0)
      throw Error("npid keeps one memory-bank row per training image, but the number of training images is "
                  "unknown (MethodSetup::trainImages is 0)");
    temperature_ = p["temperature"].get<double>();
    momentum_ = p["memory_momentum"].get<double>();
    bankInit_ = p["bank_init"].get<std::string>();
    const int64_t dim = p["embed_dim"].get<int64_t>();
    head_ = register_module("head", makeMlp(encoder_->featureDim(), p["proj_hidden"].get<int64_t>(), dim,
                                            p["proj_layers"].get<int64_t>(), p["proj_bn"].get<bool>()));
    // One l2-normalised row per training image (random until the image's first step writes it),
    // and each row's label for the kNN monitor (-1: not seen, or unlabelled data).
    bank_ = register_buffer("memory_bank",
                            F::normalize(torch::randn({s.trainImages, dim}), F::NormalizeFuncOptions().dim(1)));
    bankLabels_ = register_buffer("bank_labels", torch::full({s.trainImages}, -1, torch::kLong));
    cache_ = std::make_unique<BankImageCache>(s.trainImages, s.channels, s.imageSize);
  }

  torch::Tensor embed(const torch::Tensor& x) { return head_->forward(encoder_->forward(x)); }

  // bank_init "encoder": before the first step, every row from the untrained network.
  std::string beginEpoch(const EpochContext& ctx) override {
    if (ctx.epoch != 0 || bankInit_ != "encoder") return {};
    fillBankFromNetwork(bank_, ctx.train->images, ctx.device, *this, [this](const torch::Tensor& x) { return embed(x); },
                        "npid");
    return "npid: memory bank filled with the untrained network's embeddings of " +
           std::to_string(ctx.train->size()) + " images";
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    if (!batch.indices.defined())
      throw Error("npid needs each batch's rows in the training set (Batch::indices) to address its memory bank");
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto z = embed(x);
    auto idx = batch.indices.to(torch::kLong);
    torch::Tensor acc;
    // The bank enters the logits, so autograd keeps it for the backward pass: it changes only
    // in afterStep (after the optimiser step).
    auto loss = npidLoss(z, bank_, idx, temperature_, &acc);
    StepResult r{loss, {{"npid_acc", acc}}};
    const bool labelled = batch.labels.defined() && numClasses_ > 1;
    if (labelled)
      r.metrics.emplace_back("npid_bank_knn", npidBankKnn(z, idx, batch.labels, bank_, bankLabels_, numClasses_,
                                                          kNpidKnnK, kNpidKnnT));
    for (auto& m : collapseMetrics(z)) r.metrics.push_back(m);
    // The whole global batch's rows, for every rank's copy of the bank.
    {
      torch::NoGradGuard ng;
      pending_.stage(z, idx, labelled ? batch.labels : torch::Tensor());
      cache_->remember(batch.images, idx);
    }
    return r;
  }

  // After the optimiser step: the step's bank rows move towards their features.
  void afterStep(const StepContext&) override {
    pending_.apply(bank_, bankLabels_, momentum_);
  }

  // The bank as a picture: each test image and the training images whose bank rows are most
  // similar to its feature (among those this process has trained on since it started).
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator&, const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(images.size(0), 8);
    auto x = images.slice(0, 0, n);
    auto f = F::normalize(embed(x).to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
    auto sim = torch::matmul(f, bank_.to(torch::kFloat).t());  // [n,N]
    char buf[64];
    const int64_t seen = cache_->seen();
    if (seen == 0) {
      auto [best, row] = sim.max(1);
      std::vector<std::string> labels;
      for (int64_t i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, "row %lld: %.2f", static_cast<long long>(row[i].item<int64_t>()),
                      best[i].item<double>());
        labels.push_back(buf);
      }
      return {{"bank neighbours",
               "each image's most similar memory-bank row and its cosine similarity (the training images "
               "themselves appear here once this process has trained on them)",
               x.detach().to(torch::kFloat).cpu(), labels, 8}};
    }
    auto [top, rows] = cache_->nearest(sim, 6);
    auto xs = x.detach().to(torch::kFloat).cpu();
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    for (int64_t i = 0; i < n; ++i) {
      cells.push_back(xs[i]);
      labels.push_back("image");
      for (int64_t j = 0; j < rows.size(1); ++j) {
        const double s = top[i][j].item<double>();
        const bool ok = std::isfinite(s);
        cells.push_back(ok ? cache_->image(rows[i][j].item<int64_t>()) : torch::zeros_like(xs[i]));
        std::snprintf(buf, sizeof buf, "%.2f", ok ? s : 0.0);
        labels.push_back(ok ? buf : "-");
      }
    }
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(seen));
    return {{"bank neighbours",
             std::string("each row: an image, then the training images whose memory-bank rows are most similar "
                         "to its feature (cosine), among the ") + buf + " this process has trained on",
             torch::stack(cells), labels, 1 + rows.size(1)}};
  }

 private:
  double temperature_ = 0.07, momentum_ = 0.5;
  std::string bankInit_ = "random";
  int64_t numClasses_ = 0;
  torch::nn::Sequential head_{nullptr};
  torch::Tensor bank_, bankLabels_;
  PendingBankWrite pending_;  // the step's rows, written in afterStep
  std::unique_ptr<BankImageCache> cache_;  // not saved: the picture's training images
};

}  // namespace

MethodInfo npidMethodInfo() {
  MethodInfo m;
  m.name = "npid";
  m.title = "NPID (instance discrimination, memory bank)";
  m.family = "contrastive";
  m.summary =
      "Every training image is a class of its own. A memory bank keeps one normalised vector per "
      "image; an image's feature must pick out its own row among all N rows through a softmax, so "
      "every other image is a negative. The rows follow the features slowly (momentum), and the "
      "bank is also a ready-made kNN classifier.";
  m.formula = "L = -log[ exp(v_i.f/T) / sum_{j=1..N} exp(v_j.f/T) ];  v_i <- normalise(m v_i + (1-m) f)";
  m.paper = "Wu, Xiong, Yu, Lin. Unsupervised Feature Learning via Non-Parametric Instance "
            "Discrimination. CVPR 2018.";
  m.defaultAugment = "simclr-gray";
  using T = ParamSpec::Type;
  m.params = {
      {"temperature", T::Float, 0.07, 0.01, 10.0, {}, "softmax temperature T (official code: 0.07)"},
      {"memory_momentum", T::Float, 0.5, 0.0, 1.0, {},
       "momentum m of the bank rows: v <- normalise(m v + (1-m) f) (official code: 0.5)"},
      {"bank_init", T::Choice, "random", 0, 0, {"random", "encoder"},
       "the bank before the first step: random unit rows (official code), or every training image's "
       "embedding through the untrained network (rows that mean something from the first step)"},
      {"embed_dim", T::Int, 128, 2, 4096, {}, "dimension of the bank's vectors (paper: 128)"},
      {"proj_layers", T::Int, 1, 1, 4, {}, "layers of the head after the encoder (paper: 1, a linear map)"},
      {"proj_hidden", T::Int, 512, 8, 8192, {}, "hidden width of the head when it has more than one layer"},
      {"proj_bn", T::Bool, false, 0, 0, {}, "batch norm in the head's hidden layers"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<NpidMethod>(s); };
  return m;
}

}  // namespace pretext
