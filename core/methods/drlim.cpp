// DrLIM (Hadsell, Chopra, LeCun 2006, "Dimensionality Reduction by Learning an Invariant
// Mapping"): the first contrastive loss. A network maps images to a low-dimensional space (2-D
// by default, so the map itself is the picture); pairs of similar images are pulled together
// by 1/2 D^2, pairs of dissimilar images are pushed apart by 1/2 max(0, m - D)^2 until they are
// a margin m apart. Unlike InfoNCE there is no normalisation and no softmax: the embedding is the
// raw output of a linear layer, and the margin sets the scale of the map.
//
// Which pairs are similar: the paper takes, for each training image, its nearest neighbours in
// pixel space (5 on MNIST, over the whole set) and calls every other pair dissimilar. Here:
// "dataset-neighbours" is the paper's (the k nearest of every training image found once, before
// the first step, by one exact search over the set, kept in the checkpoint; each step adds to its
// batch one of each image's k neighbours, drawn at random); "pixel-neighbours" (the default)
// searches within the global batch only (each image and its nearest other image of the batch);
// "augmentations" pairs two augmentations of one image (SimCLR's pairs). Every other pair of the
// batch is dissimilar. Several processes: the embeddings (and for the neighbour search the raw images)
// of the whole global batch are gathered, so every rank computes the loss of the global batch,
// as one process would.
//
// The probes evaluate the encoder's features (before the head), as for the other embedding
// methods; the 2-D output is what the Method views tab draws.
#include "core/methods/drlim.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/dist/step_group.h"
#include "core/methods/registry.h"
#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

namespace {

// Euclidean distances of every pair of rows, differentiable, with a zero gradient (not NaN) at
// zero distance; the exact differences, not |x|^2 + |y|^2 - 2xy, which loses small distances.
torch::Tensor drlimDistances(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::cdist(a, b, 2.0, /*compute_mode: never the matrix-product form*/ 2);
}

}  // namespace

torch::Tensor drlimPairLoss(const torch::Tensor& a, const torch::Tensor& b,
                            const torch::Tensor& dissimilar, double margin) {
  auto diff = a.to(torch::kFloat) - b.to(torch::kFloat);
  auto d2 = diff.pow(2).sum(1);
  // sqrt with a zero gradient at D = 0 (where max(0, m - D) has no direction to push).
  auto d = torch::where(d2 > 0, d2.clamp_min(1e-30).sqrt(), torch::zeros_like(d2));
  auto y = dissimilar.to(torch::kFloat);
  auto loss = (1 - y) * 0.5 * d2 + y * 0.5 * (margin - d).clamp_min(0).pow(2);
  return loss.mean();
}

torch::Tensor drlimBatchLoss(const torch::Tensor& z, const torch::Tensor& similar, double margin,
                             DrlimStats* stats) {
  const int64_t n = z.size(0);
  auto zf = z.to(torch::kFloat);
  auto d = drlimDistances(zf, zf);  // [N,N]
  auto upper = torch::ones({n, n}, torch::TensorOptions().dtype(torch::kBool).device(z.device())).triu(1);
  auto sim = (similar.to(torch::kBool) & upper).to(torch::kFloat);
  auto dis = ((~similar.to(torch::kBool)) & upper).to(torch::kFloat);
  auto nSim = sim.sum().clamp_min(1), nDis = dis.sum().clamp_min(1);
  auto pull = (0.5 * d.pow(2) * sim).sum() / nSim;
  auto push = (0.5 * (margin - d).clamp_min(0).pow(2) * dis).sum() / nDis;
  if (stats) {
    auto dd = d.detach();
    stats->similarDistance = (dd * sim).sum() / nSim;
    stats->dissimilarDistance = (dd * dis).sum() / nDis;
    stats->insideMargin = (dd.lt(margin).to(torch::kFloat) * dis).sum() / nDis;
  }
  return pull + push;
}

namespace {

// Each image's nearest other image in pixel space: [N] indices.
torch::Tensor drlimPixelNearest(const torch::Tensor& images) {
  torch::NoGradGuard ng;
  const int64_t n = images.size(0);
  TORCH_CHECK(n >= 2, "drlimPixelNeighbours: needs at least 2 images, got ", n);
  auto x = images.detach().to(torch::kFloat).reshape({n, -1});
  auto d = drlimDistances(x, x);
  d.fill_diagonal_(std::numeric_limits<float>::infinity());
  return d.argmin(1);
}

}  // namespace

torch::Tensor drlimTableSimilar(const torch::Tensor& ids, const torch::Tensor& table) {
  torch::NoGradGuard ng;
  const auto id = ids.to(torch::kLong).cpu();
  const auto nb = table.to(torch::kLong).cpu().index_select(0, id);  // [M,k]
  auto s = nb.unsqueeze(2).eq(id.view({1, 1, -1})).any(1);          // [M,M]: id_b among a's neighbours
  s = s | s.t() | id.unsqueeze(1).eq(id.unsqueeze(0));
  s.fill_diagonal_(false);
  return s;
}

torch::Tensor drlimPixelNeighbours(const torch::Tensor& images) {
  torch::NoGradGuard ng;
  const int64_t n = images.size(0);
  auto nearest = drlimPixelNearest(images);
  auto s = torch::zeros({n, n}, torch::TensorOptions().dtype(torch::kBool).device(images.device()));
  s.scatter_(1, nearest.unsqueeze(1), true);
  return s | s.t();
}

torch::Tensor drlimDatasetNeighbours(const torch::Tensor& images, int64_t k, int64_t chunk) {
  torch::NoGradGuard ng;
  const int64_t n = images.size(0);
  if (k < 1 || n < k + 1)
    throw Error("drlim: " + std::to_string(k) + " pixel-space neighbours per image need at least " +
                std::to_string(k + 1) + " training images (there are " + std::to_string(n) + ")");
  auto x = images.reshape({n, -1}).to(torch::kFloat);
  if (images.scalar_type() == torch::kUInt8) x.div_(255);
  const auto sq = x.pow(2).sum(1);
  auto out = torch::empty({n, k}, torch::kLong);
  for (int64_t a = 0; a < n; a += chunk) {
    const int64_t b = std::min(n, a + chunk);
    // |x_i - x_j|^2 = |x_i|^2 - 2 x_i.x_j + |x_j|^2; |x_i|^2 is the same along a row.
    auto d = sq.unsqueeze(0) - 2 * torch::matmul(x.slice(0, a, b), x.t());
    d.diagonal(/*offset=*/a).fill_(std::numeric_limits<float>::infinity());  // not itself
    out.slice(0, a, b).copy_(std::get<1>(d.topk(k, 1, /*largest=*/false, /*sorted=*/true)));
  }
  return out;
}

namespace {

// The embedding map: each image's thumbnail pasted at its 2-D position on a square canvas
// (equal axes, y up), with a red bar as long as the margin. Returns [3,S,S] in [0,1] and the
// side of the points' bounding box in units of the map.
std::pair<torch::Tensor, double> drlimMap(const torch::Tensor& images, const torch::Tensor& xy,
                                          double margin, int64_t side, int64_t thumb) {
  auto rgb = toRgb(images.detach().to(torch::kFloat).cpu()).clamp(0, 1);
  auto thumbs = torch::nn::functional::interpolate(
      rgb, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{thumb, thumb})
               .mode(torch::kArea));
  auto p = xy.detach().to(torch::kDouble).cpu();
  const int64_t n = p.size(0);
  auto lo = std::get<0>(p.min(0)), hi = std::get<0>(p.max(0));
  const double x0 = lo[0].item<double>(), y1 = hi[1].item<double>();
  const double w = (hi[0] - lo[0]).item<double>(), h = (hi[1] - lo[1]).item<double>();
  const double extent = std::max({w, h, 1e-9});
  const double scale = double(side - thumb) / extent;
  const double offX = (double(side - thumb) - w * scale) / 2, offY = (double(side - thumb) - h * scale) / 2;
  auto canvas = torch::full({3, side, side}, 0.85f);
  auto acc = p.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t px = std::clamp<int64_t>(std::llround(offX + (acc[i][0] - x0) * scale), 0, side - thumb);
    const int64_t py = std::clamp<int64_t>(std::llround(offY + (y1 - acc[i][1]) * scale), 0, side - thumb);
    canvas.slice(1, py, py + thumb).slice(2, px, px + thumb).copy_(thumbs[i]);
  }
  // The margin, to scale, along the bottom edge (clipped when the margin exceeds the map).
  const int64_t bar = std::clamp<int64_t>(std::llround(margin * scale), 1, side - 4);
  auto strip = canvas.slice(1, side - 3, side - 1).slice(2, 2, 2 + bar);
  strip[0].fill_(1.0f);
  strip[1].fill_(0.0f);
  strip[2].fill_(0.0f);
  return {canvas, extent};
}

// The first two principal axes of z [N,d] (d > 2), for the map of a wider embedding.
torch::Tensor drlimPlane(const torch::Tensor& z) {
  if (z.size(1) == 2) return z;
  if (z.size(1) == 1) return torch::cat({z, torch::zeros_like(z)}, 1);
  auto c = (z - z.mean(0, true)).to(torch::kDouble);
  auto [values, vectors] = at::linalg_eigh(torch::mm(c.t(), c), "L");  // ascending
  return torch::mm(c, vectors.slice(1, z.size(1) - 2).flip({1})).to(torch::kFloat);
}

class DrlimMethod : public Method {
 public:
  explicit DrlimMethod(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    margin_ = p["margin"].get<double>();
    augmentPairs_ = p["pairs"].get<std::string>() == "augmentations";
    datasetPairs_ = p["pairs"].get<std::string>() == "dataset-neighbours";
    if (datasetPairs_) {
      if (s.trainImages <= 0)
        throw Error("drlim pairs = dataset-neighbours keeps each training image's pixel-space neighbours, but "
                    "the number of training images is unknown (MethodSetup::trainImages is 0)");
      k_ = p["neighbours"].get<int64_t>();
      neighbours_ = register_buffer("pixel_neighbours", torch::full({s.trainImages, k_}, -1, torch::kLong));
    }
    head_ = register_module(
        "head", makeMlp(encoder_->featureDim(), p["proj_hidden"].get<int64_t>(), p["embed_dim"].get<int64_t>(),
                        p["proj_layers"].get<int64_t>(), p["proj_bn"].get<bool>()));
  }

  torch::Tensor embed(const torch::Tensor& x) { return head_->forward(encoder_->forward(x)); }

  // pairs = dataset-neighbours: the first epoch's start finds every training image's k nearest
  // others in pixel space (kept in the checkpoint); each step pairs its images with one of them.
  void attachTrainingSet(const Dataset& train) override {
    if (!datasetPairs_) return;
    if (neighbours_.size(0) != train.images.size(0))
      throw Error("drlim: the training set has " + std::to_string(train.images.size(0)) +
                  " images, the neighbour table " + std::to_string(neighbours_.size(0)) + " rows");
    trainImages_ = train.images;
  }
  std::string beginEpoch(const EpochContext& ctx) override {
    if (!datasetPairs_ || neighbours_.min().item<int64_t>() >= 0) return {};
    attachTrainingSet(*ctx.train);
    const auto t0 = std::chrono::steady_clock::now();
    neighbours_.copy_(drlimDatasetNeighbours(trainImages_, k_));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char buf[200];
    std::snprintf(buf, sizeof buf, "drlim: the %lld nearest images in pixel space of each of %lld training images, %.1f s",
                  static_cast<long long>(k_), static_cast<long long>(trainImages_.size(0)), seconds);
    std::string line = buf;
    if (ctx.train->labelled()) {
      const auto labels = ctx.train->labels.to(torch::kLong);
      const double same = labels.index_select(0, neighbours_.cpu().flatten()).view({-1, k_})
                              .eq(labels.unsqueeze(1)).to(torch::kDouble).mean().item<double>();
      std::snprintf(buf, sizeof buf, "; %.1f%% of them share the image's label", 100 * same);
      line += buf;
    }
    return line;
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    torch::Tensor z, similar;
    if (datasetPairs_) {
      if (!batch.indices.defined())
        throw Error("drlim pairs = dataset-neighbours needs each batch's rows in the training set (Batch::indices)");
      if (!trainImages_.defined() || neighbours_.min().item<int64_t>() < 0)
        throw Error("drlim pairs = dataset-neighbours: no training set or neighbour table yet (the trainer "
                    "attaches the set; the first epoch's start finds the neighbours)");
      const auto idx = batch.indices.to(torch::kLong).cpu();
      const auto table = neighbours_.cpu();
      const auto pick = torch::randint(0, k_, {idx.size(0), 1}, *ctx.gen, torch::kLong);
      const auto partner = table.index_select(0, idx).gather(1, pick).squeeze(1);
      const auto px = trainImages_.index_select(0, partner).to(batch.images.device()).to(batch.images.scalar_type());
      const auto pimages = trainImages_.scalar_type() == torch::kUInt8 ? px / 255 : px;
      auto v1 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
      auto v2 = augmentBatch(pimages, *ctx.augment, *ctx.gen);
      auto parts = embed(torch::cat({v1, v2}, 0)).chunk(2, 0);
      z = torch::cat({gatherAcrossRanks(parts[0]), gatherAcrossRanks(parts[1])}, 0);
      const auto ids = torch::cat({gatherAcrossRanks(idx.to(torch::kDouble)), gatherAcrossRanks(partner.to(torch::kDouble))})
                           .to(torch::kLong);
      similar = drlimTableSimilar(ids, table).to(z.device());
    } else if (augmentPairs_) {
      auto v1 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
      auto v2 = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
      auto parts = embed(torch::cat({v1, v2}, 0)).chunk(2, 0);
      // Several processes: the global batch's pairs (the gather's backward sums over ranks).
      auto z1 = gatherAcrossRanks(parts[0]), z2 = gatherAcrossRanks(parts[1]);
      const int64_t n = z1.size(0);
      z = torch::cat({z1, z2}, 0);
      auto eye = torch::eye(n, torch::TensorOptions().dtype(torch::kBool).device(z.device()));
      auto none = torch::zeros_like(eye);
      similar = torch::cat({torch::cat({none, eye}, 1), torch::cat({eye, none}, 1)}, 0);
    } else {
      // Neighbours in the raw pixels of the global batch, before augmentation (as the paper).
      similar = drlimPixelNeighbours(gatherAcrossRanks(batch.images.detach()));
      z = gatherAcrossRanks(embed(augmentBatch(batch.images, *ctx.augment, *ctx.gen)));
    }
    DrlimStats st;
    auto loss = drlimBatchLoss(z, similar, margin_, &st);
    return {loss,
            {{"drlim_similar_dist", st.similarDistance},
             {"drlim_dissimilar_dist", st.dissimilarDistance},
             {"drlim_inside_margin", st.insideMargin}}};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    if (augmentPairs_)
      return twoViews(images, augment, gen, "drlim pairs",
                      "each row: an image and two augmented views, a similar pair; views of "
                      "different images are dissimilar");
    torch::NoGradGuard ng;
    const int64_t n = images.size(0);
    if (datasetPairs_ && trainImages_.defined()) {
      // The step's partners: each image's nearest training images in pixel space.
      const int64_t k = std::min<int64_t>(k_, 4);
      auto flat = images.detach().to(torch::kFloat).cpu().reshape({n, -1});
      auto bank = trainImages_.reshape({trainImages_.size(0), -1});
      torch::Tensor bestD, bestI;
      for (int64_t a = 0; a < bank.size(0); a += 4096) {
        auto rows = bank.slice(0, a, std::min<int64_t>(bank.size(0), a + 4096)).to(torch::kFloat);
        if (trainImages_.scalar_type() == torch::kUInt8) rows.div_(255);
        auto d = torch::cdist(flat, rows);
        auto [v, i] = d.topk(std::min<int64_t>(k, d.size(1)), 1, /*largest=*/false);
        i = i + a;
        bestD = bestD.defined() ? torch::cat({bestD, v}, 1) : v;
        bestI = bestI.defined() ? torch::cat({bestI, i}, 1) : i;
        auto [keepV, keepAt] = bestD.topk(std::min<int64_t>(k, bestD.size(1)), 1, /*largest=*/false);
        bestI = bestI.gather(1, keepAt);
        bestD = keepV;
      }
      auto partners = trainImages_.index_select(0, bestI.flatten()).to(torch::kFloat);
      if (trainImages_.scalar_type() == torch::kUInt8) partners.div_(255);
      partners = partners.view({n, bestI.size(1), images.size(1), images.size(2), images.size(3)});
      auto grid = torch::cat({images.detach().to(torch::kFloat).cpu().unsqueeze(1), partners}, 1).flatten(0, 1);
      std::vector<std::string> headers{"image"};
      for (int64_t j = 0; j < bestI.size(1); ++j) headers.push_back("neighbour " + std::to_string(j + 1));
      return {"drlim pairs",
              "each row: an image and its nearest training images in pixel space; a step pairs each image with "
              "one of its " + std::to_string(k_) + " nearest (a similar pair: pulled together), and every other "
              "pair of the batch is dissimilar (pushed to the margin)",
              grid, headers, bestI.size(1) + 1};
    }
    auto x = augmentBatch(images, augment, gen);
    if (n < 2)
      return {"drlim pairs", "one image has no partner: the pairs need a batch", torch::stack({images[0], x[0]}),
              {"image", "view"}, 2};
    auto partner = drlimPixelNearest(images).cpu();
    // A dissimilar partner: the image half the batch away (the next one if that is the similar one).
    std::vector<int64_t> others;
    for (int64_t i = 0; i < n; ++i) {
      int64_t j = (i + n / 2) % n;
      if (j == partner[i].item<int64_t>() && n > 2) j = (j + 1) % n == i ? (j + 2) % n : (j + 1) % n;
      others.push_back(j);
    }
    partner = partner.to(images.device());
    auto other = torch::tensor(others, torch::kLong).to(images.device());
    auto grid = torch::stack({images, x, x.index_select(0, partner), x.index_select(0, other)}, 1).flatten(0, 1);
    return {"drlim pairs",
            "each row: an image, its training view, the view of its nearest image in pixel space "
            "among these (a similar pair: pulled together) and of another image (a dissimilar pair: "
            "pushed to the margin)",
            grid.cpu(),
            {"image", "view", "similar", "dissimilar"},
            4};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator&,
                                const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const int64_t n = images.size(0);
    auto z = embed(images).to(torch::kFloat).cpu();
    const int64_t d = z.size(1);
    auto [canvas, extent] = drlimMap(images, drlimPlane(z), margin_, 160, 16);
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "%lld test images at their embeddings (%s; equal axes, y up): the map is %.3g "
                  "units across, %.2g margins. Red bar: the margin m = %g, beyond which dissimilar "
                  "images are no longer pushed apart.",
                  static_cast<long long>(n),
                  d == 2 ? "the raw 2-D output" : d == 1 ? "the 1-D output along x" : "the first two principal axes of the output",
                  extent, extent / margin_, margin_);
    std::vector<Preview> out{{"embedding map", buf, canvas.unsqueeze(0), {}, 1}};
    if (n < 2) return out;
    // Does the map keep pixel neighbours together? Each image, its nearest other image in pixel
    // space and in the embedding (distances in margins).
    auto pixelNearest = drlimPixelNearest(images).cpu();
    auto dz = drlimDistances(z, z);
    dz.fill_diagonal_(std::numeric_limits<float>::infinity());
    auto [best, embedNearest] = dz.min(1);
    auto cpu = images.detach().to(torch::kFloat).cpu();
    std::vector<torch::Tensor> cells;
    std::vector<std::string> labels;
    int64_t agree = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t a = pixelNearest[i].item<int64_t>(), b = embedNearest[i].item<int64_t>();
      agree += a == b;
      std::snprintf(buf, sizeof buf, "%s%.2f m", a == b ? "" : "x ", best[i].item<double>() / margin_);
      const double da = (z[i] - z[a]).norm().item<double>() / margin_;
      char pixelLabel[32];
      std::snprintf(pixelLabel, sizeof pixelLabel, "%.2f m", da);
      cells.insert(cells.end(), {cpu[i], cpu[a], cpu[b]});
      labels.insert(labels.end(), {"image", pixelLabel, buf});
    }
    std::snprintf(buf, sizeof buf,
                  "each row: an image, its nearest image in pixel space among these %lld, and its "
                  "nearest in the embedding (distances in margins m; red = not the pixel neighbour). "
                  "The same for %lld of %lld.",
                  static_cast<long long>(n), static_cast<long long>(agree), static_cast<long long>(n));
    out.push_back({"neighbours: pixels vs embedding", buf, torch::stack(cells), labels, 3});
    return out;
  }

 private:
  double margin_ = 1.0;
  bool augmentPairs_ = false, datasetPairs_ = false;
  int64_t k_ = 5;
  torch::Tensor neighbours_;   // [N,k] each training image's nearest others (dataset-neighbours)
  torch::Tensor trainImages_;  // the training set's images (not saved: the epoch's start attaches them)
  torch::nn::Sequential head_{nullptr};
};

}  // namespace

MethodInfo drlimMethodInfo() {
  MethodInfo m;
  m.name = "drlim";
  m.title = "DrLIM (contrastive loss with a margin)";
  m.family = "contrastive";
  m.summary =
      "Learn a mapping to a low-dimensional space (2-D: the map is the picture) in which similar "
      "images lie close together and dissimilar ones at least a margin apart. Similar pairs are "
      "neighbours in pixel space (as in the paper) or two augmentations of one image; every other "
      "pair is dissimilar. The first contrastive loss: pull together, push apart up to a margin.";
  m.formula = "L = (1-Y) * 1/2 * D^2 + Y * 1/2 * max(0, m - D)^2,  D = ||G(x1) - G(x2)||,  Y = 0 "
              "similar, 1 dissimilar; each term averaged over its pairs in the batch";
  m.paper = "Hadsell, Chopra, LeCun. Dimensionality Reduction by Learning an Invariant Mapping. "
            "CVPR 2006.";
  m.defaultAugment = "none";
  using T = ParamSpec::Type;
  m.params = {
      {"pairs", T::Choice, "pixel-neighbours", 0, 0, {"pixel-neighbours", "dataset-neighbours", "augmentations"},
       "similar pairs: each image and its nearest image in pixel space within the batch; each image "
       "and one of its k nearest in the whole training set (the paper; found once, before the first "
       "step); or two augmented views of one image"},
      {"neighbours", T::Int, 5, 1, 100, {},
       "dataset-neighbours: the k nearest training images in pixel space an image is paired with "
       "(paper: 5 on MNIST)"},
      {"margin", T::Float, 1.0, 0.01, 100.0, {},
       "margin m: dissimilar pairs closer than m are pushed apart (it sets the scale of the map)"},
      {"embed_dim", T::Int, 2, 1, 1024, {},
       "dimension of the embedding (2: the Method views tab draws the raw output)"},
      {"proj_hidden", T::Int, 512, 8, 8192, {}, "hidden width of the MLP head after the encoder"},
      {"proj_layers", T::Int, 2, 1, 4, {}, "linear layers in the head (1 = a linear map)"},
      {"proj_bn", T::Bool, true, 0, 0, {}, "batch norm in the head's hidden layers"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<DrlimMethod>(s); };
  return m;
}

}  // namespace pretext
