// Relative patch location (Doersch, Gupta, Efros 2015): given the centre patch of a 3x3 grid and
// one of its eight neighbours, the network must say where the neighbour lies. Answering needs to
// know what object parts look like and how they are arranged.
#include "core/methods/relpatch.h"

#include <torch/torch.h>

#include <cstdio>

#include "core/methods/patches.h"
#include "core/methods/registry.h"
#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

std::pair<torch::Tensor, torch::Tensor> allNeighbourPairs(const torch::Tensor& f) {
  const int64_t b = f.size(0), d = f.size(2);
  auto cells = torch::tensor(std::vector<int64_t>(kNeighbourCell, kNeighbourCell + 8),
                             torch::TensorOptions().dtype(torch::kLong).device(f.device()));
  auto centre = f.select(1, 4).unsqueeze(1).expand({b, 8, d});
  auto pairs = torch::cat({centre, f.index_select(1, cells)}, 2).reshape({8 * b, 2 * d});
  return {pairs, torch::arange(8, cells.options()).repeat({b})};
}

torch::Tensor neighbourPatches(const torch::Tensor& patches, const torch::Tensor& labels) {
  auto cells = torch::tensor(std::vector<int64_t>(kNeighbourCell, kNeighbourCell + 8),
                             torch::TensorOptions().dtype(torch::kLong).device(patches.device()));
  auto cell = cells.index_select(0, labels.to(patches.device()));
  return patches.index({torch::arange(patches.size(0), cell.options()), cell});
}

namespace {

class RelPatch : public Method {
 public:
  explicit RelPatch(const MethodSetup& s) : Method(s) {
    grid_ = patchGridFromParams(s.params, s.backbone.name(), "relpatch");
    colour_ = s.params["colour"].get<std::string>();
    allEight_ = s.params["all_neighbours"].get<bool>();
    const int64_t d = encoder_->featureDim();
    head_ = register_module("head", makeMlp(2 * d, s.params["hidden"].get<int64_t>(), 8, 2, true));
  }

  // The nine (jittered, colour-defended) patches of each image, and where they were cut.
  torch::Tensor patches(const torch::Tensor& x, torch::Generator& gen,
                        torch::Tensor* shifts = nullptr) {
    auto sh = randomShifts(x.size(0), grid_, gen);
    if (shifts) *shifts = sh;
    return colourDefence(extractPatches(fitToGrid(x, grid_), grid_, sh), colour_, gen);
  }
  // Logits [B,8] for the pairs (centre [B,C,P,P], neighbour [B,C,P,P]).
  torch::Tensor pairLogits(const torch::Tensor& centre, const torch::Tensor& neighbour) {
    auto f = encoder_->forward(torch::cat({centre, neighbour}, 0));
    return head_->forward(torch::cat(f.chunk(2, 0), 1));
  }

  // The probes' view: the whole image at the scale the patches were cut from (the resize that
  // fits the grid), so the encoder meets its parts at the size it learned them.
  torch::Tensor features(const torch::Tensor& images) override {
    return encoder_->forward(fitToGrid(images, grid_));
  }
  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto tiles = patches(x, *ctx.gen);
    torch::Tensor logits, labels;
    if (allEight_) {
      auto f = encoder_->forward(tiles.flatten(0, 1)).view({x.size(0), 9, -1});
      torch::Tensor pairs;
      std::tie(pairs, labels) = allNeighbourPairs(f);
      logits = head_->forward(pairs);
    } else {
      labels = torch::randint(0, 8, {x.size(0)}, *ctx.gen, torch::kLong).to(x.device());
      logits = pairLogits(tiles.select(1, 4), neighbourPatches(tiles, labels));
    }
    auto loss = torch::nn::functional::cross_entropy(logits, labels);
    auto acc = logits.argmax(1).eq(labels).to(torch::kFloat).mean().detach();
    return {loss, {{"position_acc", acc}}};
  }

  // Nine cells [B,9,C,P,P] of `fill`, with the centre and neighbour `labels` copied in.
  static torch::Tensor pairOnly(const torch::Tensor& tiles, const torch::Tensor& labels) {
    auto cells = torch::full_like(tiles, 0.5);
    cells.select(1, 4).copy_(tiles.select(1, 4));
    for (int64_t i = 0; i < tiles.size(0); ++i) {
      const int64_t c = kNeighbourCell[labels[i].item<int64_t>()];
      cells[i][c].copy_(tiles[i][c]);
    }
    return cells;
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto tiles = patches(augmentBatch(images, augment, gen), gen).cpu();
    auto labels = torch::randint(0, 8, {images.size(0)}, gen, torch::kLong);
    const int64_t sep = grid_.gap + grid_.jitter;
    auto grid = torch::stack({fitToGrid(images, grid_).cpu(), assemblePatches(tiles, sep),
                              assemblePatches(pairOnly(tiles, labels), sep)},
                             1)
                    .flatten(0, 1);
    return {"relative patch inputs",
            "each row: an image, its 9 patches (cut with gap and jitter after the augmentation), "
            "and one question: the centre and a neighbour, whose position the network must name",
            grid,
            {"image", "patches", "a pair"},
            3};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(images.size(0), 8);
    auto x = images.slice(0, 0, n);
    torch::Tensor shifts;
    auto tiles = patches(x, gen, &shifts);
    auto labels = torch::randint(0, 8, {n}, gen, torch::kLong).to(x.device());
    auto prob =
        torch::softmax(pairLogits(tiles.select(1, 4), neighbourPatches(tiles, labels)), 1).cpu();
    auto [conf, pred] = prob.max(1);
    tiles = tiles.cpu();
    labels = labels.cpu();
    const int64_t sep = grid_.gap + grid_.jitter, p = grid_.patch, step = p + sep;
    auto fitted = asRgb(fitToGrid(x, grid_).cpu());
    auto truth = asRgb(assemblePatches(pairOnly(tiles, labels), sep));
    // The guess: each neighbour cell shaded by its probability (dark grey 0 .. orange 1, on a
    // square-root scale so that small ones show), the centre, and the neighbour at the most
    // likely cell.
    auto tint = torch::zeros({n, 9, 3, p, p});
    const float orange[3] = {1.0f, 0.55f, 0.1f};
    for (int64_t k = 0; k < 8; ++k) {
      auto q = prob.select(1, k).sqrt().view({n, 1, 1});
      auto cell = tint.select(1, kNeighbourCell[k]);
      for (int64_t ch = 0; ch < 3; ++ch)
        cell.select(1, ch).copy_((0.2 + (orange[ch] - 0.2) * q).expand({n, p, p}));
    }
    auto rgbTiles = tiles.size(2) == 3 ? tiles : tiles.expand({-1, -1, 3, -1, -1});
    tint.select(1, 4).copy_(rgbTiles.select(1, 4));
    Preview out{"relative position guesses",
                "each: the image (centre framed blue, neighbour green), the question (the two "
                "patches in place) and the guess: the neighbour where the network puts it, the "
                "cells shaded by probability (dark 0 .. orange 1), the true cell framed green; a "
                "cross marks a wrong guess",
                {},
                {},
                6};
    std::vector<torch::Tensor> cells;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t l = labels[i].item<int64_t>(), g = pred[i].item<int64_t>();
      tint[i][kNeighbourCell[g]].copy_(rgbTiles[i][kNeighbourCell[l]]);
      auto guess = assemblePatches(tint[i].unsqueeze(0), sep)[0];
      const int64_t tc = kNeighbourCell[l], gc = kNeighbourCell[g];
      drawFrame(guess, (tc / 3) * step, (tc % 3) * step, p, p, 0.1f, 0.65f, 0.2f);
      if (g != l) drawFrame(guess, (gc / 3) * step, (gc % 3) * step, p, p, 0.85f, 0.15f, 0.15f);
      auto img = fitted[i];
      auto frame = [&](int64_t c, float r, float gr, float b) {
        drawFrame(img, grid_.jitter + (c / 3) * (p + grid_.gap) + shifts[i][c][0].item<int64_t>(),
                  grid_.jitter + (c % 3) * (p + grid_.gap) + shifts[i][c][1].item<int64_t>(), p, p,
                  r, gr, b);
      };
      frame(4, 0.2f, 0.4f, 1.f);
      frame(tc, 0.1f, 0.75f, 0.2f);
      char label[48];
      std::snprintf(label, sizeof label, "%s%s %d%%", g == l ? "" : "x ", kNeighbourName[g],
                    int(conf[i].item<float>() * 100));
      cells.insert(cells.end(), {img, truth[i], guess});
      out.labels.insert(out.labels.end(),
                        {"image", std::string("truth ") + kNeighbourName[l], label});
    }
    out.images = torch::stack(cells);
    return {out};
  }

 private:
  PatchGrid grid_;
  std::string colour_;
  bool allEight_ = true;
  torch::nn::Sequential head_{nullptr};
};

}  // namespace

MethodInfo relpatchMethodInfo() {
  MethodInfo m;
  m.name = "relpatch";
  m.title = "Relative patch location (context prediction)";
  m.family = "pretext task";
  m.summary =
      "Two patches are cut from a 3x3 grid on the image: the centre one and one of its eight "
      "neighbours. A shared encoder looks at each, and a classifier on the two features must say "
      "where the neighbour lies (NW, N, ... SE). Small images are first resized so that three "
      "patches, two gaps and the jitter fit (28 px -> 46 px for 12 px patches); the probes see "
      "the encoder on the whole image.";
  m.formula = "L = -log p(k | f(x_centre), f(x_neighbour k)),  k in {NW, N, NE, W, E, SW, S, SE}";
  m.paper =
      "Doersch, Gupta, Efros. Unsupervised Visual Representation Learning by Context "
      "Prediction. ICCV 2015.";
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      {"patch_size",
       T::Int,
       12,
       8,
       32,
       {},
       "patch side in pixels; the image is resized to 3 patches + 2 gaps + 2 jitters first"},
      {"gap",
       T::Int,
       4,
       0,
       16,
       {},
       "pixels between patches: hides edges that continue (a shortcut), costs context"},
      {"jitter",
       T::Int,
       1,
       0,
       8,
       {},
       "random shift of each patch (+- pixels): breaks exact alignment; 2 * jitter <= gap"},
      {"colour",
       T::Choice,
       "drop",
       0,
       0,
       {"drop", "grayscale", "none"},
       "defence against the chromatic-aberration shortcut on colour data: keep one random "
       "channel per patch, or gray"},
      {"all_neighbours",
       T::Bool,
       true,
       0,
       0,
       {},
       "ask all 8 positions of every image (9 patches encoded) rather than one random pair"},
      {"hidden", T::Int, 512, 16, 4096, {}, "width of the classifier's hidden layer"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<RelPatch>(s); };
  return m;
}

}  // namespace pretext
