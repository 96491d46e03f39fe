// Jigsaw puzzles (Noroozi & Favaro 2016): the image is cut into 3x3 tiles, the tiles are shuffled
// by one permutation of a fixed set, and the network must say which permutation it was. Telling
// where each tile belongs needs the parts of objects and how they fit together.
#include "core/methods/jigsaw.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <vector>

#include "core/methods/patches.h"
#include "core/methods/registry.h"
#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

torch::Tensor maximalHammingPermutations(int64_t n, uint64_t seed, int64_t length) {
  if (length < 2 || length > 9)
    throw Error("jigsaw: permutations of " + std::to_string(length) + " tiles: expected 2..9");
  int64_t total = 1;
  for (int64_t i = 2; i <= length; ++i) total *= i;
  if (n < 1 || n > total)
    throw Error("method.params.permutations = " + std::to_string(n) + ": expected 1.." +
                std::to_string(total) + " (there are " + std::to_string(total) +
                " permutations of " + std::to_string(length) + " tiles)");
  // Every permutation in lexicographic order, one row of `length` bytes each.
  std::vector<uint8_t> all(static_cast<size_t>(total * length));
  std::vector<uint8_t> p(static_cast<size_t>(length));
  std::iota(p.begin(), p.end(), 0);
  for (int64_t k = 0; k < total; ++k, std::next_permutation(p.begin(), p.end()))
    std::copy(p.begin(), p.end(), all.begin() + k * length);
  std::vector<uint8_t> minDist(static_cast<size_t>(total), static_cast<uint8_t>(length + 1));
  std::vector<uint32_t> sumDist(static_cast<size_t>(total), 0);
  std::vector<char> chosen(static_cast<size_t>(total), 0);
  std::mt19937_64 rng(seed);
  int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(total));
  auto out = torch::empty({n, length}, torch::kLong);
  auto acc = out.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    chosen[j] = 1;
    const uint8_t* pj = &all[j * length];
    for (int64_t t = 0; t < length; ++t) acc[i][t] = pj[t];
    if (i + 1 == n) break;
    int64_t best = -1;
    for (int64_t k = 0; k < total; ++k) {
      const uint8_t* pk = &all[k * length];
      uint8_t d = 0;
      for (int64_t t = 0; t < length; ++t) d += pk[t] != pj[t];
      minDist[k] = std::min(minDist[k], d);
      sumDist[k] += d;
      if (chosen[k]) continue;
      if (best < 0 || minDist[k] > minDist[best] ||
          (minDist[k] == minDist[best] && sumDist[k] > sumDist[best]))
        best = k;
    }
    j = best;
  }
  return out;
}

int64_t minHammingDistance(const torch::Tensor& perms) {
  auto p = perms.to(torch::kLong).contiguous();
  int64_t best = p.size(1) + 1;
  for (int64_t a = 0; a < p.size(0); ++a)
    for (int64_t b = a + 1; b < p.size(0); ++b)
      best = std::min(best, p[a].ne(p[b]).sum().item<int64_t>());
  return best;
}

namespace {

torch::Tensor expandIndex(const torch::Tensor& perm, const torch::Tensor& tiles) {
  std::vector<int64_t> shape(perm.sizes().begin(), perm.sizes().end());
  shape.resize(tiles.dim(), 1);
  return perm.to(tiles.device()).view(shape).expand(tiles.sizes());
}

}  // namespace

torch::Tensor shuffleTiles(const torch::Tensor& tiles, const torch::Tensor& perm) {
  return tiles.gather(1, expandIndex(perm, tiles));
}

torch::Tensor unshuffleTiles(const torch::Tensor& shuffled, const torch::Tensor& perm) {
  return torch::empty_like(shuffled).scatter_(1, expandIndex(perm, shuffled), shuffled);
}

namespace {

// The set depends only on (n, seed); a 1000-permutation set takes seconds, so it is kept.
torch::Tensor cachedPermutations(int64_t n, uint64_t seed) {
  static std::mutex mutex;
  static std::map<std::pair<int64_t, uint64_t>, torch::Tensor> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& t = cache[{n, seed}];
  if (!t.defined()) t = maximalHammingPermutations(n, seed);
  return t.clone();
}

// Each [C,P,P] block (the last `dims` dimensions) to zero mean and unit deviation, mapped back
// to the [0,1] convention the encoders expect (they see (x - 0.5) / 0.5, i.e. the z-score). The
// paper normalises every tile on its own so that the puzzle cannot be solved from tiles' mean
// brightness and contrast (a low-level shortcut).
torch::Tensor standardiseBlocks(const torch::Tensor& x, int64_t dims) {
  std::vector<int64_t> axes;
  for (int64_t d = x.dim() - dims; d < x.dim(); ++d) axes.push_back(d);
  auto mean = x.mean(axes, true);
  auto std = (x - mean).pow(2).mean(axes, true).sqrt();
  // A flat block (within a grey level) is exactly 0.5: dividing its rounding residue by a tiny
  // deviation would leak the block's brightness into the input, and batch norm amplifies it.
  auto flat = std.lt(1.0 / 512);
  return (x - mean).div(std.clamp_min(1.0 / 512)).mul(0.5).add(0.5).masked_fill(flat, 0.5);
}

}  // namespace

torch::Tensor jigsawTiles(const torch::Tensor& images, const PatchGrid& grid, const std::string& colour,
                          bool tileNorm, torch::Generator& gen) {
  return jigsawTiles(images, grid, colour, tileNorm, randomShifts(images.size(0), grid, gen), gen);
}

torch::Tensor jigsawTiles(const torch::Tensor& images, const PatchGrid& grid, const std::string& colour,
                          bool tileNorm, const torch::Tensor& shifts, torch::Generator& gen) {
  auto tiles = extractPatches(fitToGrid(images, grid), grid, shifts);
  tiles = colourDefence(tiles, colour, gen);
  return tileNorm ? standardiseBlocks(tiles, 3) : tiles;
}

namespace {

class Jigsaw : public Method {
 public:
  explicit Jigsaw(const MethodSetup& s) : Method(s) {
    grid_ = patchGridFromParams(s.params, s.backbone.name(), "jigsaw");
    colour_ = s.params["colour"].get<std::string>();
    tileNorm_ = s.params["tile_norm"].get<bool>();
    probeTiles_ = s.params["probe_features"].get<std::string>() == "tiles";
    const int64_t n = s.params["permutations"].get<int64_t>();
    perms_ = register_buffer("permutations",
                             cachedPermutations(n, s.params["perm_seed"].get<uint64_t>()));
    const int64_t d = encoder_->featureDim();
    head_ = register_module("head", makeMlp(9 * d, s.params["hidden"].get<int64_t>(), n, 2, true));
  }

  // Tiles [B,9,C,P,P] of the (augmented) images, each image's tiles shuffled by one permutation
  // of the set; returns the shuffled tiles and the permutation indices [B].
  std::pair<torch::Tensor, torch::Tensor> puzzles(const torch::Tensor& x, torch::Generator& gen,
                                                  torch::Tensor* tilesOut = nullptr) {
    auto tiles = jigsawTiles(x, grid_, colour_, tileNorm_, gen);
    auto labels = torch::randint(0, perms_.size(0), {x.size(0)}, gen, torch::kLong);
    if (tilesOut) *tilesOut = tiles;
    return {shuffleTiles(tiles, perms_.index_select(0, labels).to(x.device())),
            labels.to(x.device())};
  }
  torch::Tensor logits(const torch::Tensor& shuffled) {
    auto f = encoder_->forward(shuffled.flatten(0, 1));
    return head_->forward(f.view({shuffled.size(0), -1}));
  }

  // The probes' view, at the scale the tiles were cut from (the resize that fits the grid):
  // probe_features "image": the encoder on the whole image (standardised too with tile_norm);
  // "tiles": its features of the nine tiles in place (no jitter), concatenated in cell order:
  // the input statistics the encoder learned on, and the layout the puzzle is about.
  torch::Tensor features(const torch::Tensor& images) override {
    auto x = fitToGrid(images, grid_);
    if (!probeTiles_) return encoder_->forward(tileNorm_ ? standardiseBlocks(x, 3) : x);
    auto tiles = extractPatches(x, grid_, torch::zeros({x.size(0), 9, 2}, torch::kLong));
    if (tileNorm_) tiles = standardiseBlocks(tiles, 3);
    return encoder_->forward(tiles.flatten(0, 1)).view({x.size(0), -1});
  }
  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto [shuffled, labels] = puzzles(x, *ctx.gen);
    auto out = logits(shuffled);
    auto loss = torch::nn::functional::cross_entropy(out, labels);
    auto acc = out.argmax(1).eq(labels).to(torch::kFloat).mean().detach();
    return {loss, {{"jigsaw_acc", acc}}};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto x = augmentBatch(images, augment, gen);
    torch::Tensor tiles;
    auto [shuffled, labels] = puzzles(x, gen, &tiles);
    const int64_t sep = grid_.gap + grid_.jitter;
    // Standardised tiles (tile_norm) are shown as the network sees them, clipped to [0,1].
    auto grid = torch::stack({fitToGrid(images, grid_), assemblePatches(tiles.clamp(0, 1), sep),
                              assemblePatches(shuffled.clamp(0, 1), sep)},
                             1)
                    .flatten(0, 1);
    return {"jigsaw inputs",
            "each row: an image, its 9 tiles (cut with gap and jitter after the augmentation, each "
            "standardised on its own when tile_norm is on), "
            "and the puzzle: the tiles in the order of one of the " +
                std::to_string(perms_.size(0)) + " permutations, which the network must name",
            grid.cpu(),
            {"image", "tiles", "puzzle"},
            3};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(images.size(0), 8);
    auto x = images.slice(0, 0, n);
    auto [shuffled, labels] = puzzles(x, gen);
    auto prob = torch::softmax(logits(shuffled), 1).cpu();
    auto [conf, pred] = prob.max(1);
    auto predPerm = perms_.index_select(0, pred.to(perms_.device())).cpu();
    auto truePerm = perms_.index_select(0, labels.to(perms_.device())).cpu();
    const int64_t sep = grid_.gap + grid_.jitter, p = grid_.patch;
    auto fitted = asRgb(fitToGrid(x, grid_).cpu());
    auto shown = shuffled.cpu().clamp(0, 1);
    auto puzzle = asRgb(assemblePatches(shown, sep));
    auto solved = asRgb(assemblePatches(unshuffleTiles(shown, predPerm), sep));
    Preview out{"jigsaw solutions",
                "each: the image, the puzzle (number of its permutation), and the network's "
                "reassembly by its most likely permutation: tiles in place of how many, "
                "confidence; red frames and a cross mark misplaced tiles",
                {},
                {},
                6};
    std::vector<torch::Tensor> cells;
    int64_t right = 0;
    for (int64_t i = 0; i < n; ++i) {
      auto sol = solved[i];
      int64_t placed = 0;
      for (int64_t k = 0; k < 9; ++k) {
        // Puzzle position k holds tile truePerm[k]; the reassembly puts it at cell predPerm[k].
        const int64_t at = predPerm[i][k].item<int64_t>();
        const bool ok = at == truePerm[i][k].item<int64_t>();
        placed += ok;
        if (!ok)
          drawFrame(sol, (at / 3) * (p + sep), (at % 3) * (p + sep), p, p, 0.85f, 0.15f, 0.15f);
      }
      right += placed == 9;
      char label[48];
      std::snprintf(label, sizeof label, "%s%lld/9 (%d%%)", placed == 9 ? "" : "x ",
                    static_cast<long long>(placed), int(conf[i].item<float>() * 100));
      cells.insert(cells.end(), {fitted[i], puzzle[i], sol});
      out.labels.insert(out.labels.end(),
                        {"image", "puzzle #" + std::to_string(labels[i].item<int64_t>()), label});
    }
    out.caption += "; " + std::to_string(right) + " of " + std::to_string(n) + " solved";
    out.images = torch::stack(cells);
    return {out};
  }

 private:
  PatchGrid grid_;
  std::string colour_;
  torch::Tensor perms_;
  bool tileNorm_ = false, probeTiles_ = false;
  torch::nn::Sequential head_{nullptr};
};

}  // namespace

MethodInfo jigsawMethodInfo() {
  MethodInfo m;
  m.name = "jigsaw";
  m.title = "Jigsaw puzzles";
  m.family = "pretext task";
  m.summary =
      "The image is cut into a 3x3 grid of tiles and the tiles are shuffled by one of a fixed set "
      "of permutations; a shared encoder looks at each tile and a classifier on the nine "
      "features, in the shuffled order, must say which permutation it was. Solving the puzzle "
      "needs the parts of objects and how they go together.";
  m.formula =
      "L = -log p(k | f(x_{pi_k(1)}), ..., f(x_{pi_k(9)})),  k ~ U{1..N},  pi_1..pi_N "
      "chosen greedily for maximal Hamming distance";
  m.paper =
      "Noroozi, Favaro. Unsupervised Learning of Visual Representations by Solving Jigsaw "
      "Puzzles. ECCV 2016.";
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      {"permutations",
       T::Int,
       100,
       2,
       1000,
       {},
       "size of the permutation set = classes: more is a harder puzzle, closer permutations"},
      {"perm_seed",
       T::Int,
       0,
       0,
       1000000,
       {},
       "seed of the permutation set's first permutation (the set is fixed by it)"},
      {"patch_size",
       T::Int,
       12,
       8,
       32,
       {},
       "tile side in pixels; the image is resized to 3 tiles + 2 gaps + 2 jitters first"},
      {"gap",
       T::Int,
       4,
       0,
       16,
       {},
       "pixels between tiles: hides the edges that would line up (a shortcut), costs context"},
      {"jitter",
       T::Int,
       1,
       0,
       8,
       {},
       "random shift of each tile (+- pixels): breaks exact alignment; 2 * jitter <= gap"},
      {"colour",
       T::Choice,
       "drop",
       0,
       0,
       {"drop", "grayscale", "none"},
       "defence against colour shortcuts on colour data: keep one random channel per tile, "
       "or gray"},
      {"hidden", T::Int, 512, 16, 4096, {}, "width of the classifier's hidden layer"},
      {"probe_features",
       T::Choice,
       "image",
       0,
       0,
       {"image", "tiles"},
       "what the probes evaluate: the encoder on the whole image (at the grid's scale), or its "
       "features of the nine tiles in place, concatenated (9 x the feature size)"},
      {"tile_norm",
       T::Bool,
       true,
       0,
       0,
       {},
       "standardise every tile on its own (the paper's defence against solving the puzzle from "
       "tiles' brightness and contrast); the probes see the image standardised alike"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Jigsaw>(s); };
  return m;
}

}  // namespace pretext
