// PIRL (Misra & van der Maaten 2020, "Self-Supervised Learning of Pretext-Invariant
// Representations"): instead of predicting the jigsaw permutation (which makes the features
// covary with the transformation), the representation of an image and that of its jigsaw-
// transformed version must agree. f(I): the encoder on the whole (augmented) image, then a linear
// map to 128-d. g(I^t): the encoder on each of the 9 tiles of a second augmented view, shuffled by
// a random permutation of all 9! (jigsaw's tiles: jigsawTiles), each tile's features mapped to a
// small dimension, the 9 concatenated in the shuffled order and mapped to 128-d. Both must pick out
// the image's row m_I of a memory bank of f embeddings among the other images' rows (NPID's
// softmax, npidLoss, temperature 0.07), weighted lambda = 0.5:
//   L = lambda L_NCE(m_I, g(I^t)) + (1 - lambda) L_NCE(m_I, f(I))
// and after the step m_I <- normalise(0.5 m_I + 0.5 f(I)) (npidUpdateBank), as in the official
// code (VISSL's pirl configs: memory momentum 0.5, 128-d, T 0.07, loss weights [0.5, 0.5]).
//
// Negatives: the paper samples 32,000 of ImageNet's 1.28M rows; at Fashion-MNIST's 60,000 rows
// the exact softmax over the whole bank costs one [B,N] product per term, so it is the default
// (negatives = 0), as for NPID; negatives = K samples K rows per step instead (pirlSampledBank).
//
// The bank starts random in the official code: for a run of one or two epochs most of its rows
// are still noise when their image comes round (NPID's trouble on this CPU budget): pirl-fashion
// with it ended below the random encoder (71.38 / 82.14 against 78.88 / 84.18, BENCHMARKS.md).
// bank_init = "encoder" fills it before the first step with f of every training image through
// the untrained network (batch statistics as in a step; the batch-norm buffers are restored):
// the preset's setting, 82.17 / 87.04 after the same two epochs.
//
// The bank is keyed by Batch::indices and sized by MethodSetup::trainImages, a buffer saved with
// checkpoints; several processes: the update applies the whole global batch (gatherAcrossRanks),
// so every rank's bank stays the same. The probes evaluate the encoder on the whole image.
#include "core/methods/pirl.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/dist/step_group.h"
#include "core/methods/jigsaw.h"
#include "core/methods/npid.h"
#include "core/methods/patches.h"
#include "core/methods/registry.h"
#include "core/util/error.h"

namespace pretext {

namespace F = torch::nn::functional;

PirlLoss pirlLoss(const torch::Tensor& f, const torch::Tensor& g, const torch::Tensor& bank,
                  const torch::Tensor& targets, double lambda, double temperature, torch::Tensor* accuracy) {
  PirlLoss r;
  r.tileTerm = npidLoss(g, bank, targets, temperature, accuracy);
  r.imageTerm = npidLoss(f, bank, targets, temperature);
  r.loss = lambda * r.tileTerm + (1.0 - lambda) * r.imageTerm;
  return r;
}

std::pair<torch::Tensor, torch::Tensor> pirlSampledBank(const torch::Tensor& bank, const torch::Tensor& indices,
                                                        int64_t negatives, torch::Generator& gen) {
  auto idx = indices.to(torch::kLong).to(bank.device());
  auto drawn = torch::randint(0, bank.size(0), {negatives}, gen, torch::kLong).to(bank.device());
  return {torch::cat({bank.index_select(0, idx), bank.index_select(0, drawn)}),
          torch::arange(idx.size(0), torch::TensorOptions().dtype(torch::kLong).device(bank.device()))};
}

namespace {

// Every name here carries the method's name: the file shares a unity batch with others.
constexpr int64_t kPirlKnnK = 200;
constexpr double kPirlKnnT = 0.1;

// A uniformly random permutation of the 9 tiles per image [B,9] (int64, CPU), from `gen`.
torch::Tensor pirlRandomPermutations(int64_t batch, torch::Generator& gen) {
  return torch::rand({batch, 9}, gen).argsort(1, /*descending=*/false);
}

class PirlMethod : public Method {
 public:
  explicit PirlMethod(const MethodSetup& s) : Method(s), numClasses_(s.numClasses) {
    const auto& p = s.params;
    if (s.trainImages <= 0)
      throw Error("pirl keeps one memory-bank row per training image, but the number of training images is "
                  "unknown (MethodSetup::trainImages is 0)");
    grid_ = patchGridFromParams(p, s.backbone.name(), "pirl");
    lambda_ = p["lambda"].get<double>();
    temperature_ = p["temperature"].get<double>();
    momentum_ = p["memory_momentum"].get<double>();
    negatives_ = p["negatives"].get<int64_t>();
    colour_ = p["colour"].get<std::string>();
    tileNorm_ = p["tile_norm"].get<bool>();
    bankInit_ = p["bank_init"].get<std::string>();
    const int64_t dim = p["embed_dim"].get<int64_t>(), tileDim = p["tile_dim"].get<int64_t>();
    const int64_t d = encoder_->featureDim();
    imageHead_ = register_module("image_head", torch::nn::Linear(d, dim));
    tileHead_ = register_module("tile_head", torch::nn::Linear(d, tileDim));
    jigsawHead_ = register_module("jigsaw_head", torch::nn::Linear(9 * tileDim, dim));
    bank_ = register_buffer("memory_bank",
                            F::normalize(torch::randn({s.trainImages, dim}), F::NormalizeFuncOptions().dim(1)));
    bankLabels_ = register_buffer("bank_labels", torch::full({s.trainImages}, -1, torch::kLong));
    cache_ = std::make_unique<BankImageCache>(s.trainImages, s.channels, s.imageSize);
  }

  // f(I): the whole image's embedding; g(I^t): the shuffled tiles' [B,9,C,P,P].
  torch::Tensor imageEmbed(const torch::Tensor& x) { return imageHead_->forward(encoder_->forward(x)); }
  torch::Tensor tileEmbed(const torch::Tensor& shuffled) {
    auto h = tileHead_->forward(encoder_->forward(shuffled.flatten(0, 1)));
    return jigsawHead_->forward(h.view({shuffled.size(0), -1}));
  }
  // The jigsaw view of images [B,C,H,W]: the tiles in cell order and shuffled, and the permutation.
  struct Puzzle {
    torch::Tensor tiles, shuffled, perm;
  };
  Puzzle puzzle(const torch::Tensor& x, torch::Generator& gen) { return puzzle(x, gen, {0, x.size(0), x.size(0)}, gen); }
  // A training step's puzzles: the tiles' jitter and order drawn for the whole global batch from
  // `shared` and this rank's `slice` kept, so two processes puzzle their images as one process
  // does (the colour defence, per tile, draws from `gen`).
  Puzzle puzzle(const torch::Tensor& x, torch::Generator& shared, const BatchSlice& slice, torch::Generator& gen) {
    Puzzle p;
    const auto shifts = randomShifts(slice.global, grid_, shared).slice(0, slice.begin, slice.begin + slice.local);
    p.tiles = jigsawTiles(x, grid_, colour_, tileNorm_, shifts, gen);
    p.perm = pirlRandomPermutations(slice.global, shared).slice(0, slice.begin, slice.begin + slice.local).to(x.device());
    p.shuffled = shuffleTiles(p.tiles, p.perm);
    return p;
  }

  std::string beginEpoch(const EpochContext& ctx) override {
    if (ctx.epoch != 0 || bankInit_ != "encoder") return {};
    fillBankFromNetwork(bank_, ctx.train->images, ctx.device, *this,
                        [this](const torch::Tensor& x) { return imageEmbed(x); }, "pirl");
    const Dataset& train = *ctx.train;
    return "pirl: memory bank filled with the untrained network's embeddings of " + std::to_string(train.size()) +
           " images";
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    if (!batch.indices.defined())
      throw Error("pirl needs each batch's rows in the training set (Batch::indices) to address its memory bank");
    auto xf = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto xt = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto f = imageEmbed(xf);
    auto g = tileEmbed(puzzle(xt, ctx.shared ? *ctx.shared : *ctx.gen, sharedSlice(xt.size(0)), *ctx.gen).shuffled);
    auto idx = batch.indices.to(torch::kLong);
    torch::Tensor acc;
    // The bank enters the logits, so autograd keeps it for the backward pass: it changes only in
    // afterStep (after the optimiser step).
    PirlLoss l = negatives_ > 0 ? [&] {
      auto [rows, targets] = pirlSampledBank(bank_, idx, negatives_, *ctx.gen);
      return pirlLoss(f, g, rows, targets, lambda_, temperature_, &acc);
    }()
                                : pirlLoss(f, g, bank_, idx, lambda_, temperature_, &acc);
    StepResult r{l.loss,
                 {{"pirl_tile_loss", l.tileTerm.detach()},
                  {"pirl_image_loss", l.imageTerm.detach()},
                  {"pirl_acc", acc},
                  {"cos_f_g", F::cosine_similarity(f.detach(), g.detach(), F::CosineSimilarityFuncOptions().dim(1))
                                  .mean()}}};
    const bool labelled = batch.labels.defined() && numClasses_ > 1;
    if (labelled)
      r.metrics.emplace_back("pirl_bank_knn", npidBankKnn(f, idx, batch.labels, bank_, bankLabels_, numClasses_,
                                                          kPirlKnnK, kPirlKnnT));
    for (auto& m : collapseMetrics(f)) r.metrics.push_back(m);
    {
      torch::NoGradGuard ng;
      pending_.stage(f, idx, labelled ? batch.labels : torch::Tensor());
      cache_->remember(batch.images, idx);
    }
    return r;
  }

  // After the optimiser step: the step's bank rows move towards their images' f embeddings.
  void afterStep(const StepContext&) override {
    pending_.apply(bank_, bankLabels_, momentum_);
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment, torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto xf = augmentBatch(images, augment, gen);
    auto pz = puzzle(augmentBatch(images, augment, gen), gen);
    const int64_t sep = grid_.gap + grid_.jitter;
    // Standardised tiles (tile_norm) are shown as the network sees them, clipped to [0,1].
    auto grid = torch::stack({fitToGrid(images, grid_), fitToGrid(xf, grid_), assemblePatches(pz.tiles.clamp(0, 1), sep),
                              assemblePatches(pz.shuffled.clamp(0, 1), sep)},
                             1)
                    .flatten(0, 1);
    return {"pirl inputs",
            "each row: an image, the view whose embedding f(I) the bank remembers, the 9 tiles of a second view, "
            "and the jigsaw input: the tiles in a random order, whose embedding g(I^t) must match the image's bank row",
            grid.cpu(),
            {"image", "view: f", "tiles", "shuffled: g"},
            4};
  }

  // Each test image, its jigsaw input, how well f and g agree, and the training images whose
  // bank rows the tiles' embedding g picks out.
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen, const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(images.size(0), 8);
    auto x = images.slice(0, 0, n);
    auto pz = puzzle(x, gen);
    auto f = F::normalize(imageEmbed(x).to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
    auto g = F::normalize(tileEmbed(pz.shuffled).to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
    // The same tiles in another order: how much g depends on the arrangement.
    auto other = F::normalize(tileEmbed(shuffleTiles(pz.tiles, pirlRandomPermutations(n, gen).to(x.device())))
                                  .to(torch::kFloat),
                              F::NormalizeFuncOptions().dim(1));
    auto cos = torch::matmul(f, g.t()).cpu();  // [n,n]: diagonal the image's own tiles
    const double own = cos.diagonal().mean().item<double>();
    const double others = n > 1 ? (cos.sum().item<double>() - cos.diagonal().sum().item<double>()) / double(n * (n - 1)) : 0;
    const double reorder = (g * other).sum(1).mean().item<double>();
    const int64_t sep = grid_.gap + grid_.jitter;
    auto shownImages = fitToGrid(x.to(torch::kFloat), grid_).cpu();
    auto shownPuzzles = assemblePatches(pz.shuffled.clamp(0, 1), sep).cpu();
    const int64_t seen = cache_->seen();
    const int64_t k = seen > 0 ? 5 : 0;
    auto [top, rows] = cache_->nearest(torch::matmul(g, bank_.to(torch::kFloat).t()), k);
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    char buf[64];
    for (int64_t i = 0; i < n; ++i) {
      cells.push_back(shownImages[i]);
      labels.push_back("image");
      cells.push_back(shownPuzzles[i]);
      std::snprintf(buf, sizeof buf, "cos(f,g) %.2f", cos[i][i].item<double>());
      labels.push_back(buf);
      for (int64_t j = 0; j < rows.size(1); ++j) {
        const double s = top[i][j].item<double>();
        const bool ok = std::isfinite(s);
        cells.push_back(ok ? fitToGrid(cache_->image(rows[i][j].item<int64_t>()).unsqueeze(0), grid_)[0]
                           : torch::zeros_like(shownImages[i]));
        std::snprintf(buf, sizeof buf, "%.2f", ok ? s : 0.0);
        labels.push_back(ok ? buf : "-");
      }
    }
    std::string caption = std::string("each image and its shuffled tiles (the jigsaw input), with the cosine of "
                                      "f(image) and g(tiles)") +
                          (k > 0 ? ", then the training images whose bank rows g picks out (cosine, among the " +
                                       std::to_string(seen) + " this process has trained on)"
                                 : " (the bank's training images appear once this process has trained on them)");
    std::snprintf(buf, sizeof buf, "; mean cos(f,g) %.2f", own);
    caption += buf;
    if (n > 1) {
      std::snprintf(buf, sizeof buf, " (other images' tiles: %.2f)", others);
      caption += buf;
    }
    std::snprintf(buf, sizeof buf, "; the same tiles in another order: cos(g,g') %.2f", reorder);
    caption += buf;
    // Without neighbours (an opened run), four image-puzzle pairs to a row.
    return {{"pirl: image vs jigsaw", caption, torch::stack(cells), labels, k > 0 ? 2 + rows.size(1) : 8}};
  }

 private:
  PatchGrid grid_;
  double lambda_ = 0.5, temperature_ = 0.07, momentum_ = 0.5;
  int64_t negatives_ = 0, numClasses_ = 0;
  std::string colour_, bankInit_;
  bool tileNorm_ = false;
  torch::nn::Linear imageHead_{nullptr}, tileHead_{nullptr}, jigsawHead_{nullptr};
  torch::Tensor bank_, bankLabels_;
  PendingBankWrite pending_;  // the step's rows, written in afterStep
  std::unique_ptr<BankImageCache> cache_;  // not saved: the picture's training images
};

}  // namespace

MethodInfo pirlMethodInfo() {
  MethodInfo m;
  m.name = "pirl";
  m.title = "PIRL (pretext-invariant, jigsaw + memory bank)";
  m.family = "contrastive";
  m.summary =
      "Instead of solving the jigsaw puzzle, the features must not care about it: an image's "
      "embedding f and the embedding g of its nine tiles in a random order (each tile encoded "
      "alone, the nine concatenated) must both pick out the image's row of a memory bank of f "
      "embeddings among every other image's row. The bank follows f slowly (momentum 0.5).";
  m.formula =
      "L = lam * L_NCE(m_I, g(I^t)) + (1-lam) * L_NCE(m_I, f(I)),  L_NCE(m, z) = -log[ exp(m.z/T) / "
      "sum_j exp(m_j.z/T) ];  m_I <- normalise(0.5 m_I + 0.5 f(I))";
  m.paper =
      "Misra, van der Maaten. Self-Supervised Learning of Pretext-Invariant Representations. "
      "CVPR 2020.";
  m.defaultAugment = "simclr-gray";
  using T = ParamSpec::Type;
  m.params = {
      {"lambda", T::Float, 0.5, 0.0, 1.0, {}, "weight of the jigsaw term; 1 - lambda weighs the image term (paper: 0.5)"},
      {"temperature", T::Float, 0.07, 0.01, 10.0, {}, "softmax temperature T (paper: 0.07)"},
      {"memory_momentum", T::Float, 0.5, 0.0, 1.0, {},
       "momentum of the bank rows: m <- normalise(mom m + (1-mom) f) (official code: 0.5)"},
      {"negatives", T::Int, 0, 0, 1000000, {},
       "bank rows drawn as negatives per step; 0: the exact softmax over the whole bank (the paper "
       "samples 32,000 of ImageNet's 1.28M rows; 60,000 rows cost one matrix product)"},
      {"bank_init", T::Choice, "random", 0, 0, {"random", "encoder"},
       "the bank before the first step: random unit rows (official code), or every training image's f "
       "through the untrained network (rows that mean something from the first step)"},
      {"embed_dim", T::Int, 128, 2, 4096, {}, "dimension of f, g and the bank's rows (paper: 128)"},
      {"tile_dim", T::Int, 128, 2, 4096, {},
       "each tile's features are mapped to this dimension before the 9 are concatenated (official code: 128)"},
      {"patch_size", T::Int, 8, 8, 32, {},
       "tile side in pixels; the image is resized to 3 tiles + 2 gaps + 2 jitters first (8, 2, 1: 30 px, "
       "about the image's own scale, as the paper's 64 px tiles of a 255 px crop for a 224 px image)"},
      {"gap", T::Int, 2, 0, 16, {}, "pixels between tiles"},
      {"jitter", T::Int, 1, 0, 8, {}, "random shift of each tile (+- pixels); 2 * jitter <= gap"},
      {"colour", T::Choice, "none", 0, 0, {"drop", "grayscale", "none"},
       "jigsaw's per-tile colour defence on colour data (PIRL has no puzzle to short-cut: none)"},
      {"tile_norm", T::Bool, false, 0, 0, {},
       "standardise every tile on its own, as jigsaw does (the paper does not)"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<PirlMethod>(s); };
  return m;
}

}  // namespace pretext
