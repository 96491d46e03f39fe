// DeepCluster (Caron, Bojanowski, Joulin, Douze 2018): alternate clustering and classification.
// Before every epoch the whole training set goes through the encoder; the features are centred,
// reduced by PCA, whitened and l2-normalised, and k-means cuts them into k clusters. The cluster
// indices become pseudo-labels, a freshly initialised linear classifier on top of the encoder
// learns them for one epoch (with the encoder), and the next epoch starts again from the better
// features. Two ways out of the trivial solutions are built in as in the paper: empty clusters
// are re-seeded by splitting the largest one, and the loss is balanced over clusters (each
// image weighted by the inverse of its cluster's size, the same in expectation as sampling the
// clusters uniformly, which the paper does), so one giant cluster cannot win by itself.
//
// The clustering between epochs runs on one process: the method trains data-parallel only once
// that step is shared by the ranks (it is not yet). sobel = true puts the paper's fixed Sobel
// filter in front of the backbone (SobelEncoder): the encoder itself holds it, so the probes,
// the random-init baseline and the window's panels read the same gradients the training saw.
#include "core/methods/deepcluster.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/eval/probes.h"
#include "core/methods/registry.h"
#include "core/methods/swav.h"  // clusterPurity
#include "core/util/error.h"

namespace pretext {

namespace F = torch::nn::functional;

KMeansResult kMeans(const torch::Tensor& input, int64_t k, int64_t iterations, torch::Generator& gen) {
  torch::NoGradGuard ng;
  const auto x = input.to(torch::kFloat);
  const int64_t n = x.size(0), d = x.size(1);
  if (k < 1 || n < k)
    throw Error("k-means: " + std::to_string(k) + " clusters need at least as many points (there are " +
                std::to_string(n) + ")");
  const auto start = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong)).slice(0, 0, k);
  auto centroids = x.index_select(0, start.to(x.device())).clone();
  KMeansResult r;
  auto nearest = [&](const torch::Tensor& c) {
    // argmin_j |x - c_j|^2 = argmin_j (|c_j|^2 - 2 x.c_j)
    return (c.pow(2).sum(1).unsqueeze(0) - 2 * torch::matmul(x, c.t())).argmin(1);
  };
  for (int64_t it = 0; it < iterations; ++it) {
    const auto assign = nearest(centroids);
    auto counts = torch::bincount(assign, {}, k).to(torch::kFloat);
    const auto sums = torch::zeros({k, d}, x.options()).index_add_(0, assign, x);
    centroids = sums / counts.clamp_min(1).unsqueeze(1);
    const auto empty = counts.eq(0).nonzero().flatten().cpu();
    for (int64_t e = 0; e < empty.size(0); ++e) {
      // Split the largest cluster: its centroid and the empty one's move apart by a small step.
      const int64_t j = empty[e].item<int64_t>();
      const int64_t m = counts.argmax().item<int64_t>();
      const auto step = (torch::randn({d}, gen) * 1e-3).to(x.device());
      centroids[j] = centroids[m] + step;
      centroids[m] -= step;
      counts[j] = counts[m] / 2;
      counts[m] -= counts[j];
      ++r.reseeded;
    }
  }
  r.assignments = nearest(centroids);
  r.centroids = centroids;
  return r;
}

torch::Tensor pcaWhiten(const torch::Tensor& x, int64_t dims) {
  torch::NoGradGuard ng;
  auto xd = x.to(torch::kDouble);
  xd = xd - xd.mean(0, /*keepdim=*/true);
  const int64_t n = xd.size(0), d = xd.size(1);
  const auto cov = torch::matmul(xd.t(), xd) / double(std::max<int64_t>(1, n - 1));
  const auto [values, vectors] = at::linalg_eigh(cov, "L");  // ascending eigenvalues
  const int64_t p = dims <= 0 || dims >= d ? d : dims;
  const auto basis = vectors.slice(1, d - p, d).flip({1});
  const auto scale = (values.slice(0, d - p, d).flip({0}).clamp_min(0) + 1e-5).sqrt();
  const auto y = torch::matmul(xd, basis) / scale;
  return F::normalize(y, F::NormalizeFuncOptions().dim(1)).to(x.scalar_type());
}

double normalizedMutualInformation(const torch::Tensor& a, const torch::Tensor& b) {
  torch::NoGradGuard ng;
  const auto x = a.to(torch::kCPU, torch::kLong), y = b.to(torch::kCPU, torch::kLong);
  TORCH_CHECK(x.numel() == y.numel() && x.numel() > 0, "normalizedMutualInformation: labellings of different sizes");
  const int64_t ka = x.max().item<int64_t>() + 1, kb = y.max().item<int64_t>() + 1;
  const auto joint = torch::zeros({ka * kb}, torch::kDouble)
                         .index_add_(0, x * kb + y, torch::ones({x.numel()}, torch::kDouble))
                         .view({ka, kb}) / double(x.numel());
  const auto pa = joint.sum(1), pb = joint.sum(0);
  auto entropy = [](const torch::Tensor& p) {
    const auto q = p.masked_select(p.gt(0));
    return -(q * q.log()).sum().item<double>();
  };
  const auto outer = torch::outer(pa, pb);
  const auto mask = joint.gt(0);
  const double mi = (joint.masked_select(mask) * (joint.masked_select(mask) / outer.masked_select(mask)).log())
                        .sum()
                        .item<double>();
  const double ha = entropy(pa), hb = entropy(pb);
  if (ha <= 0 || hb <= 0) return ha == hb ? 1.0 : 0.0;
  return std::clamp(mi / std::sqrt(ha * hb), 0.0, 1.0);
}

namespace {

torch::Tensor sobelKernels() {
  return torch::tensor({1.f, 0.f, -1.f, 2.f, 0.f, -2.f, 1.f, 0.f, -1.f,  // Gx
                        1.f, 2.f, 1.f, 0.f, 0.f, 0.f, -1.f, -2.f, -1.f},  // Gy
                       torch::kFloat)
      .view({2, 1, 3, 3});
}

torch::Tensor applySobel(const torch::Tensor& images, const torch::Tensor& kernels) {
  if (images.dim() != 4)
    throw Error("sobel filter: expected images [N,C,H,W], got " + std::to_string(images.dim()) + " dimensions");
  const auto gray = images.mean(1, /*keepdim=*/true);
  return F::conv2d(gray, kernels.to(gray.device(), gray.scalar_type()), F::Conv2dFuncOptions().padding(1));
}

}  // namespace

torch::Tensor sobelGradients(const torch::Tensor& images) { return applySobel(images, sobelKernels()); }

SobelEncoder::SobelEncoder(BackboneOptions backbone) {
  backbone.inChannels(2);
  kernels_ = register_buffer("sobel", sobelKernels());
  inner_ = register_module("backbone", makeBackbone(backbone));
  featureDim_ = inner_->featureDim();
}

torch::Tensor SobelEncoder::input(const torch::Tensor& images) const {
  return applySobel(images, kernels_) / 8 + 0.5;
}

namespace {

class DeepCluster : public Method {
 public:
  explicit DeepCluster(const MethodSetup& s) : Method(s), numClasses_(s.numClasses) {
    const auto& p = s.params;
    k_ = p["clusters"].get<int64_t>();
    pcaDims_ = p["pca_dim"].get<int64_t>();
    iterations_ = p["kmeans_iterations"].get<int64_t>();
    balanced_ = p["balanced"].get<bool>();
    if (p["sobel"].get<bool>()) {
      BackboneOptions b = s.backbone;
      b.imageSize(s.imageSize);
      encoder_ = replace_module("encoder", std::shared_ptr<Encoder>(std::make_shared<SobelEncoder>(b)));
    }
    classifier_ = register_module("classifier", torch::nn::Linear(encoder_->featureDim(), k_));
    assignments_ = register_buffer("assignments", torch::full({std::max<int64_t>(0, s.trainImages)}, -1, torch::kLong));
    clusterWeights_ = register_buffer("cluster_weights", torch::ones({k_}));
    stats_ = register_buffer("clustering_stats", torch::full({3}, -1.0));  // purity, NMI labels, NMI previous
  }

  std::string beginEpoch(const EpochContext& ctx) override {
    torch::NoGradGuard ng;
    const Dataset& train = *ctx.train;
    const bool wasTraining = is_training();
    eval();
    const auto features = extractFeatures([&](const torch::Tensor& x) { return encoder_->forward(x); }, train,
                                          ctx.device, 512);
    this->train(wasTraining);
    const auto x = pcaWhiten(features.to(ctx.device), pcaDims_);
    KMeansResult km = kMeans(x, k_, iterations_, *ctx.gen);
    const int64_t n = train.size();
    const bool hadClusters = assignments_.numel() == n && n > 0 && assignments_.min().item<int64_t>() >= 0;
    const torch::Tensor previous = hadClusters ? assignments_.clone() : torch::Tensor();
    if (assignments_.numel() != n) assignments_.resize_({n});
    assignments_.copy_(km.assignments.to(assignments_.device()));
    const auto counts = torch::bincount(km.assignments, {}, k_).to(torch::kFloat);
    clusterWeights_.copy_(balanced_ ? (double(n) / double(k_)) / counts.clamp_min(1) : torch::ones({k_}));
    // New clusters, new classes: a fresh top layer (PyTorch's default init for a linear layer,
    // U(-1/sqrt(in), 1/sqrt(in)), drawn from the epoch's generator so that a resumed run
    // re-initialises it exactly as an uninterrupted one).
    const double bound = 1.0 / std::sqrt(double(classifier_->weight.size(1)));
    classifier_->weight.copy_((torch::rand(classifier_->weight.sizes(), *ctx.gen) * 2 - 1) * bound);
    classifier_->bias.copy_((torch::rand(classifier_->bias.sizes(), *ctx.gen) * 2 - 1) * bound);
    const auto cpuAssign = km.assignments.cpu();
    stats_.fill_(-1.0);
    std::ostringstream line;
    line.precision(3);
    line << "deepcluster: epoch " << ctx.epoch + 1 << ": k-means of " << n << " images into " << k_ << " clusters ("
         << iterations_ << " iterations, " << km.reseeded << " empty re-seeded); largest cluster "
         << 100.0 * counts.max().item<double>() / double(n) << "%";
    if (numClasses_ > 0 && train.labelled()) {
      const auto labels = train.labels.to(torch::kLong);
      const auto table = torch::zeros({k_ * numClasses_}, torch::kDouble)
                             .index_add_(0, cpuAssign * numClasses_ + labels, torch::ones({n}, torch::kDouble))
                             .view({k_, numClasses_});
      stats_[0] = clusterPurity(table).item<double>();
      stats_[1] = normalizedMutualInformation(cpuAssign, labels);
      line << ", purity " << 100 * stats_[0].item<double>() << "%, NMI with the labels " << stats_[1].item<double>();
    }
    if (previous.defined()) {
      stats_[2] = normalizedMutualInformation(cpuAssign, previous.cpu());
      line << ", with the previous epoch's clusters " << stats_[2].item<double>();
    }
    purity_ = stats_[0].item<double>();
    nmi_ = stats_[1].item<double>();
    clustered_ = true;
    return line.str();
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    if (!batch.indices.defined())
      throw Error("method deepcluster learns each training image's cluster: its batches need their "
                  "training-set indices (train it with pretext-cli train or the window)");
    if (!clustered_) {
      if (assignments_.numel() == 0 || assignments_.min().item<int64_t>() < 0)
        throw Error("method deepcluster: no clustering yet (beginEpoch makes it before the first step)");
      clustered_ = true;
      purity_ = stats_[0].item<double>();  // a resumed run: what its last clustering measured
      nmi_ = stats_[1].item<double>();
    }
    const auto targets = assignments_.index_select(0, batch.indices.to(assignments_.device()));
    const auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    const auto logits = classifier_->forward(encoder_->forward(x));
    auto options = F::CrossEntropyFuncOptions();
    if (balanced_) options.weight(clusterWeights_.to(logits.dtype()));
    auto loss = F::cross_entropy(logits, targets, options);
    StepResult r{loss, {{"pseudo_acc", logits.argmax(1).eq(targets).to(torch::kFloat).mean().detach()}}};
    if (purity_ >= 0) r.metrics.emplace_back("cluster_purity", torch::tensor(purity_));
    if (nmi_ >= 0) r.metrics.emplace_back("nmi_labels", torch::tensor(nmi_));
    return r;
  }

  // Enough test images that the most frequent clusters each hold several.
  int64_t previewImageCount() const override { return 256; }

  // The clusters as the model sees them now: the given images grouped by the cluster the
  // classifier puts them in, the most frequent clusters first, the surest images first.
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator&, const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const auto probs = torch::softmax(classifier_->forward(encoder_->forward(images)), 1).cpu();
    const auto [sure, cluster] = probs.max(1);
    const auto counts = torch::bincount(cluster, {}, k_);
    const auto order = counts.argsort(0, /*descending=*/true);
    const auto cpu = images.cpu();
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    char buf[48];
    for (int64_t r = 0; r < std::min<int64_t>(8, k_); ++r) {
      const int64_t c = order[r].item<int64_t>();
      const auto members = cluster.eq(c).nonzero().flatten();
      if (members.numel() == 0) break;
      const auto ranked = members.index_select(0, sure.index_select(0, members).argsort(0, /*descending=*/true));
      for (int64_t i = 0; i < 8; ++i) {
        if (i < ranked.numel()) {
          const int64_t idx = ranked[i].item<int64_t>();
          cells.push_back(cpu[idx]);
          std::snprintf(buf, sizeof buf, "%s%.2f", i == 0 ? ("#" + std::to_string(c) + ": ").c_str() : "",
                        sure[idx].item<float>());
          labels.emplace_back(buf);
        } else {
          cells.push_back(torch::zeros_like(cpu[0]));
          labels.emplace_back("");
        }
      }
    }
    if (cells.empty()) return {};
    return {{"clusters",
             "each row: a cluster (#k) and the test images the classifier puts in it, surest first (its "
             "probability); the most frequent of the " + std::to_string(images.size(0)) +
                 " images' clusters first. The classifier learned this epoch's k-means clusters as classes",
             torch::stack(cells), labels, 8}};
  }

 private:
  int64_t k_ = 100, pcaDims_ = 256, iterations_ = 20, numClasses_ = 0;
  bool balanced_ = true, clustered_ = false;
  double purity_ = -1, nmi_ = -1;
  torch::nn::Linear classifier_{nullptr};
  torch::Tensor assignments_, clusterWeights_, stats_;
};

}  // namespace

MethodInfo deepclusterMethodInfo() {
  MethodInfo m;
  m.name = "deepcluster";
  m.title = "DeepCluster";
  m.family = "clustering";
  m.summary =
      "Alternate clustering and classification: before every epoch, k-means cuts the features of "
      "all training images into clusters, and the encoder with a fresh classifier learns to "
      "predict each image's cluster; better features make better clusters.";
  m.formula =
      "y_n = argmin_k |PCA-whiten(f(x_n)) - mu_k|^2 (k-means, every epoch); "
      "L = sum_n w_{y_n} CE(g(f(aug(x_n))), y_n) / sum_n w_{y_n}, w_k = N / (K |cluster k|)";
  m.paper = "Caron, Bojanowski, Joulin, Douze. Deep Clustering for Unsupervised Learning of Visual "
            "Features. ECCV 2018.";
  m.defaultAugment = "weak";
  m.dataParallel = false;  // the clustering between epochs is not shared by the ranks yet
  using T = ParamSpec::Type;
  m.params = {
      {"clusters", T::Int, 100, 2, 100000, {}, "k of k-means (paper: 10,000 on ImageNet, 10x its classes)"},
      {"pca_dim", T::Int, 256, 0, 4096, {}, "principal components kept before whitening (0: all)"},
      {"kmeans_iterations", T::Int, 20, 1, 1000, {}, "Lloyd iterations of k-means each epoch"},
      {"balanced", T::Bool, true, 0, 0, {},
       "weight each image by the inverse of its cluster's size (off: big clusters dominate)"},
      {"sobel", T::Bool, false, 0, 0, {},
       "the paper's fixed input filter: gray, then the two 3x3 Sobel gradients, in front of the "
       "backbone (not trained; part of the encoder the probes read)"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<DeepCluster>(s); };
  return m;
}

}  // namespace pretext
