// Tracking emerges by colorizing videos (Vondrick et al. 2018). A clip of T frames: the first
// T-1 are the references, the last the target. Every frame is seen in gray (L); a shared network
// gives each location an embedding f; the target's colour at location i is predicted by copying
// from the references, y_i = sum_j A_ij c_j with A = softmax_j(f_i . f_j / T) and c_j the one-hot
// of reference location j's colour cluster (k-means over the training clips' ab values). The loss
// is the cross-entropy of y against the target's true clusters. Since copying the right colour
// means pointing at the same surface in the earlier frames, the attention learns to track.
#include "core/methods/video_colorization.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "core/data/video.h"
#include "core/methods/colorization.h"
#include "core/methods/lab.h"
#include "core/methods/registry.h"
#include "core/models/batch_norm.h"
#include "core/util/error.h"

namespace pretext {

namespace nn = torch::nn;

torch::Tensor kmeans(const torch::Tensor& points, int64_t k, int64_t iters, torch::Generator& gen) {
  const auto x = points.to(torch::kFloat).contiguous();
  const int64_t n = x.size(0);
  if (k < 1 || n < k)
    throw Error("k-means: " + std::to_string(n) + " points are too few for " + std::to_string(k) + " clusters");
  // k-means++: each next centre drawn with probability proportional to the squared distance to
  // the nearest centre so far.
  std::vector<int64_t> chosen{torch::randint(n, {1}, gen, torch::kLong).item<int64_t>()};
  auto d2 = (x - x[chosen[0]]).pow(2).sum(1);
  for (int64_t c = 1; c < k; ++c) {
    const double total = d2.sum().item<double>();
    const int64_t next = total > 0 ? torch::multinomial(d2 / total, 1, false, gen).item<int64_t>()
                                   : torch::randint(n, {1}, gen, torch::kLong).item<int64_t>();
    chosen.push_back(next);
    d2 = torch::minimum(d2, (x - x[next]).pow(2).sum(1));
  }
  auto centres = x.index_select(0, torch::tensor(chosen)).clone();
  for (int64_t it = 0; it < iters; ++it) {
    auto assign = torch::cdist(x, centres).argmin(1);
    auto sums = torch::zeros_like(centres).index_add_(0, assign, x);
    auto counts = torch::bincount(assign, {}, k).to(torch::kFloat).unsqueeze(1);
    centres = torch::where(counts > 0, sums / counts.clamp_min(1), centres);
  }
  return centres;
}

torch::Tensor copyAttention(const torch::Tensor& target, const torch::Tensor& refs, double temperature) {
  return torch::softmax(torch::bmm(target.transpose(1, 2), refs) / temperature, 2);
}

torch::Tensor colourCopyLoss(const torch::Tensor& attention, const torch::Tensor& refClusters,
                             const torch::Tensor& targetClusters, int64_t numClusters) {
  // y = A C: [B,P,Q] x [B,Q,K] -> [B,P,K]; the gathered probability of each true cluster.
  auto onehot = torch::one_hot(refClusters, numClusters).to(attention.dtype());
  auto y = torch::bmm(attention, onehot);
  auto p = y.gather(2, targetClusters.unsqueeze(2)).squeeze(2);
  return -p.clamp_min(1e-8).log().mean();
}

namespace {

// The frames of a batch as the method reads them: clips [B,T*3,H,W] -> [B,T,3,H,W]; a gray
// channel is repeated.
torch::Tensor clipBatchFrames(const torch::Tensor& images, int64_t T) {
  auto c = unpackClips(images, T);
  return c.size(2) == 1 ? c.expand({-1, -1, 3, -1, -1}) : c;
}

class VideoColorization : public Method {
 public:
  explicit VideoColorization(const MethodSetup& s) : Method(s), frames_(s.frames) {
    if (s.frames < 2)
      throw Error("method \"video-colorization\" trains on clips of at least 2 frames (references, then "
                  "the target), but the data has " + std::to_string(s.frames) +
                  ": set data.source to a video source (moving-fashion, video:FILE) and data.clip_frames >= 2");
    BackboneOptions b = s.backbone;
    b.imageSize(s.imageSize);
    lab_ = std::make_shared<LabEncoder>(b, LabInput::L);
    encoder_ = replace_module("encoder", std::shared_ptr<Encoder>(lab_));
    temperature_ = s.params["temperature"].get<double>();
    clusters_ = s.params["clusters"].get<int64_t>();
    stage_ = s.params["feature_stage"].get<int64_t>() - 1;
    if (stage_ >= lab_->numStages())
      throw Error("method.params.feature_stage = " + std::to_string(stage_ + 1) + ": the backbone has " +
                  std::to_string(lab_->numStages()) + " stages");
    int64_t channels = 0;
    {
      torch::NoGradGuard ng;
      const bool was = lab_->is_training();
      lab_->eval();
      auto probe = lab_->stages(torch::full({1, 3, s.imageSize, s.imageSize}, 0.5));
      lab_->train(was);
      if (probe.empty() || probe.size() <= size_t(stage_) || probe[size_t(stage_)].dim() != 4)
        throw Error("video colorization needs a backbone with spatial feature maps (backbone.name convnet, "
                    "resnet18 or resnet34)");
      channels = probe[size_t(stage_)].size(1);
    }
    const int64_t width = s.params["head_width"].get<int64_t>(), dim = s.params["embedding_dim"].get<int64_t>();
    head_ = register_module(
        "embed", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(channels, width, 3).padding(1).bias(false)),
                                SyncableBatchNorm2d(width), nn::ReLU(nn::ReLUOptions(true)),
                                nn::Conv2d(nn::Conv2dOptions(width, dim, 1))));
    centres_ = register_buffer("colour_clusters", torch::zeros({clusters_, 2}));
    ready_ = register_buffer("clusters_ready", torch::zeros({1}));
  }

  // Embeddings of frames [N,1|3,H,W] in [0,1]: [N,D,h,w].
  torch::Tensor embed(const torch::Tensor& frames) {
    auto st = lab_->stages(frames.size(1) == 1 ? frames.expand({-1, 3, -1, -1}) : frames);
    return head_->forward(st[size_t(stage_)]);
  }

  torch::Tensor clusters() const { return ready_.item<float>() > 0 ? centres_ : torch::Tensor(); }

  // The probes' representation (of a clip: its last frame): every encoder stage max-pooled and
  // concatenated ("all-max"), so the stages up to feature_stage, the ones this loss trains, count.
  torch::Tensor features(const torch::Tensor& images) override {
    if (images.size(1) == 3 * frames_)
      return stageFeatures(clipBatchFrames(images, frames_).select(1, frames_ - 1), "all-max");
    return stageFeatures(images, "all-max");
  }

  // The colour clusters: k-means over the ab values of (up to) 256 training clips at the
  // embedding's resolution, once (the checkpoint keeps them).
  std::string beginEpoch(const EpochContext& ctx) override {
    if (ready_.item<float>() > 0 || !ctx.train || ctx.train->size() == 0) return {};
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(256, ctx.train->size());
    auto idx = torch::randperm(ctx.train->size(), *ctx.gen).slice(0, 0, n);
    auto clips = ctx.train->images.index_select(0, idx).to(torch::kFloat).div_(255);
    fitClusters(clips, *ctx.gen);
    char buf[160];
    std::snprintf(buf, sizeof buf, "video colorization: %lld colour clusters by k-means over the ab values of %lld clips",
                  (long long)clusters_, (long long)n);
    return buf;
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = batch.images;
    if (ready_.item<float>() == 0) {  // a step without an epoch start (a method built by hand)
      torch::NoGradGuard ng;
      fitClusters(x.cpu(), *ctx.gen);
    }
    const int64_t B = x.size(0), T = frames_;
    auto frames = clipBatchFrames(x, T).flatten(0, 1);  // [B*T,3,H,W]
    auto emb = embed(frames);                      // [B*T,D,h,w]
    const int64_t D = emb.size(1), h = emb.size(2), w = emb.size(3);
    torch::Tensor cl;
    {
      torch::NoGradGuard ng;
      cl = colourClusters(frames, h).view({B, T, h * w});
    }
    emb = emb.view({B, T, D, h * w});
    auto refs = emb.slice(1, 0, T - 1).permute({0, 2, 1, 3}).reshape({B, D, (T - 1) * h * w});
    auto target = emb.select(1, T - 1);                                    // [B,D,P]
    auto A = copyAttention(target, refs, temperature_);                    // [B,P,Q]
    auto refCl = cl.slice(1, 0, T - 1).reshape({B, (T - 1) * h * w});
    auto tgtCl = cl.select(1, T - 1);
    StepResult r;
    r.loss = colourCopyLoss(A, refCl, tgtCl, clusters_);
    torch::NoGradGuard ng;
    auto y = torch::bmm(A.detach(), torch::one_hot(refCl, clusters_).to(A.dtype()));
    r.metrics.push_back({"cluster_acc", y.argmax(2).eq(tgtCl).to(torch::kFloat).mean()});
    // How sharp the pointers are: the attention's mean entropy in nats (log Q for uniform).
    r.metrics.push_back({"attn_entropy", -(A * A.clamp_min(1e-12).log()).sum(2).mean()});
    return r;
  }

  std::vector<PreviewControl> previewControls() const override {
    return {{"pixel_x", "target pixel x", 0, 1, 0.01, 0.5,
             "the target pixel whose attention over the reference frames is shown (left to right)"},
            {"pixel_y", "target pixel y", 0, 1, 0.01, 0.5,
             "the target pixel whose attention over the reference frames is shown (top to bottom)"}};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings& settings) override {
    torch::NoGradGuard ng;
    if (images.size(1) != 3 * frames_ || ready_.item<float>() == 0) return {};
    const int64_t n = std::min<int64_t>(images.size(0), 6), T = frames_;
    auto frames = clipBatchFrames(images.slice(0, 0, n).to(torch::kFloat), T);  // [n,T,3,H,W]
    const int64_t H = frames.size(3);
    auto emb = embed(frames.flatten(0, 1));
    const int64_t D = emb.size(1), h = emb.size(2), w = emb.size(3);
    auto cl = colourClusters(frames.flatten(0, 1), h).view({n, T, h * w});
    emb = emb.view({n, T, D, h * w});
    auto refs = emb.slice(1, 0, T - 1).permute({0, 2, 1, 3}).reshape({n, D, (T - 1) * h * w});
    auto A = copyAttention(emb.select(1, T - 1), refs, temperature_);
    auto y = torch::bmm(A, torch::one_hot(cl.slice(1, 0, T - 1).reshape({n, -1}), clusters_).to(A.dtype()));
    // Predicted ab: the expected cluster centre under y, upsampled; the target's own L.
    auto ab = torch::matmul(y, centres_).permute({0, 2, 1}).reshape({n, 2, h, w});
    auto lab = rgbToLab(frames.select(1, T - 1));
    auto pred = labToRgb(torch::cat({lab.slice(1, 0, 1), resizeMaps(ab, H)}, 1));
    auto gray = labToRgb(torch::cat({lab.slice(1, 0, 1), torch::zeros_like(lab.slice(1, 1, 3))}, 1));
    auto quant = centres_.index_select(0, cl.select(1, T - 1).flatten()).view({n, h * w, 2}).permute({0, 2, 1});
    auto truthQ = labToRgb(torch::cat({lab.slice(1, 0, 1), resizeMaps(quant.reshape({n, 2, h, w}), H)}, 1));
    std::vector<torch::Tensor> cols;
    std::vector<std::string> names;
    for (int64_t t = 0; t < T - 1; ++t) {
      cols.push_back(frames.select(1, t));
      names.push_back("reference " + std::to_string(t + 1));
    }
    cols.insert(cols.end(), {gray, pred, truthQ, frames.select(1, T - 1)});
    names.insert(names.end(), {"target (gray input)", "copied colours", "true clusters", "target"});
    const double acc = y.argmax(2).eq(cl.select(1, T - 1)).to(torch::kFloat).mean().item<double>();
    char buf[300];
    std::snprintf(buf, sizeof buf,
                  "each row: the reference frames, the target as the network sees it, the colours it copies "
                  "from the references through its attention (%lld clusters), the true clusters and the "
                  "target; %.0f%% of the target's locations copy their true cluster",
                  (long long)clusters_, 100 * acc);
    const int64_t columns = int64_t(cols.size());
    Preview copying{"colour copying", buf, torch::stack(cols, 1).flatten(0, 1).cpu(), names, columns};
    const int64_t shown = std::min<int64_t>(n, 3);
    return {pointers(frames.slice(0, 0, shown), A.slice(0, 0, shown), settings), copying};
  }

  // Where one target pixel copies its colour from: its row of the attention over each reference
  // frame, in yellow (square root of the weight over the clip's largest, so weak pointers show)
  // over the darkened gray frame; the pixel's cell boxed in yellow in the target.
  Preview pointers(const torch::Tensor& frames, const torch::Tensor& A, const PreviewSettings& settings) {
    const int64_t n = frames.size(0), T = frames_, H = frames.size(3), cells = A.size(1);
    const int64_t h = int64_t(std::lround(std::sqrt(double(cells)))), w = cells / h;
    const double px = previewSetting(settings, previewControls(), "pixel_x");
    const double py = previewSetting(settings, previewControls(), "pixel_y");
    const int64_t cx = std::min<int64_t>(w - 1, int64_t(px * w)), cy = std::min<int64_t>(h - 1, int64_t(py * h));
    auto row = A.select(1, cy * w + cx).view({n, T - 1, h, w});
    auto peak = row.amax({1, 2, 3}, true).clamp_min(1e-12);
    auto heat = resizeMaps((row / peak).sqrt().reshape({n * (T - 1), 1, h, w}), H).view({n, T - 1, 1, H, H});
    auto yellow = torch::tensor({1.0f, 0.9f, 0.0f}).view({1, 1, 3, 1, 1});
    auto a = heat.clamp(0, 1);
    auto dark = 0.35 * frames.slice(1, 0, T - 1).mean(2, true).expand({-1, -1, 3, -1, -1});
    auto refs = dark * (1 - a) + yellow * a;
    auto target = frames.select(1, T - 1).clone();
    const int64_t s = H / h, m = 2;
    const int64_t y0 = std::max<int64_t>(0, cy * s - m), y1 = std::min<int64_t>(H, cy * s + s + m);
    const int64_t x0 = std::max<int64_t>(0, cx * s - m), x1 = std::min<int64_t>(H, cx * s + s + m);
    auto mark = [&](torch::Tensor region) { region.copy_(yellow.view({1, 3, 1, 1}).expand_as(region)); };
    mark(target.slice(2, y0, y0 + 1).slice(3, x0, x1));
    mark(target.slice(2, y1 - 1, y1).slice(3, x0, x1));
    mark(target.slice(2, y0, y1).slice(3, x0, x0 + 1));
    mark(target.slice(2, y0, y1).slice(3, x1 - 1, x1));
    std::vector<torch::Tensor> cols{target};
    std::vector<std::string> names{"target (pixel boxed)"};
    for (int64_t t = 0; t < T - 1; ++t) {
      cols.push_back(refs.select(1, t));
      names.push_back("attention on reference " + std::to_string(t + 1));
    }
    char buf[240];
    std::snprintf(buf, sizeof buf,
                  "where the boxed target cell (%lld, %lld) copies its colour from: its attention weights over "
                  "every reference location, bright = the clip's largest (square-root scale); move it with the pixel sliders",
                  (long long)cx, (long long)cy);
    return {"where it copies from", buf, torch::stack(cols, 1).flatten(0, 1).cpu(), names, int64_t(cols.size())};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions&, torch::Generator&) override {
    torch::NoGradGuard ng;
    const int64_t T = frames_;
    auto frames = clipBatchFrames(images.to(torch::kFloat), T);
    std::vector<torch::Tensor> cols;
    std::vector<std::string> names;
    for (int64_t t = 0; t < T; ++t) {
      cols.push_back(frames.select(1, t));
      names.push_back(t + 1 < T ? "reference " + std::to_string(t + 1) : "target");
    }
    auto lab = rgbToLab(frames.select(1, T - 1));
    cols.push_back(labToRgb(torch::cat({lab.slice(1, 0, 1), torch::zeros_like(lab.slice(1, 1, 3))}, 1)));
    names.push_back("input: gray");
    return {"clips", "each row: a clip's reference frames and its target, then the gray frame the network sees",
            torch::stack(cols, 1).flatten(0, 1).cpu(), names, int64_t(cols.size())};
  }

 private:
  // ab of frames [N,3,H,W] averaged over each embedding cell, as rows [N*h*h, 2].
  torch::Tensor cellAb(const torch::Tensor& frames, int64_t h) {
    return pixelRows(resizeMaps(rgbToLab(frames).slice(1, 1, 3), h));
  }
  // The cluster of each cell [N*h*h] int64.
  torch::Tensor colourClusters(const torch::Tensor& frames, int64_t h) {
    return torch::cdist(cellAb(frames, h), centres_).argmin(1);
  }
  void fitClusters(const torch::Tensor& clips, torch::Generator& gen) {
    auto frames = clipBatchFrames(clips, frames_).flatten(0, 1);
    int64_t h = 0;
    {
      const bool was = is_training();
      eval();
      h = embed(frames.slice(0, 0, 1).to(centres_.device())).size(2);
      train(was);
    }
    auto ab = cellAb(frames, h);
    if (ab.size(0) > 60000) ab = ab.index_select(0, torch::randperm(ab.size(0), gen).slice(0, 0, 60000));
    if (ab.size(0) < clusters_)
      throw Error("video colorization: " + std::to_string(ab.size(0)) + " colour samples are too few for " +
                  std::to_string(clusters_) + " clusters (method.params.clusters)");
    centres_.copy_(kmeans(ab, clusters_, 20, gen));
    ready_.fill_(1);
  }

  std::shared_ptr<LabEncoder> lab_;
  nn::Sequential head_{nullptr};
  torch::Tensor centres_, ready_;
  int64_t frames_ = 4, clusters_ = 16, stage_ = 1;
  double temperature_ = 1;
};

}  // namespace

torch::Tensor videoEmbeddings(Method& method, const torch::Tensor& frames) {
  auto* v = dynamic_cast<VideoColorization*>(&method);
  return v ? v->embed(frames) : torch::Tensor();
}

torch::Tensor videoColourClusters(Method& method) {
  auto* v = dynamic_cast<VideoColorization*>(&method);
  return v ? v->clusters() : torch::Tensor();
}

MethodInfo videoColorizationMethodInfo() {
  MethodInfo m;
  m.name = "video-colorization";
  m.title = "Video colorization (tracking emerges)";
  m.family = "pretext task";
  m.summary =
      "The network sees gray video frames and must colour the last frame of a clip by copying "
      "colours from the earlier frames: every target location points, through an attention over "
      "the reference locations' embeddings, at where its colour comes from. Copying the right "
      "colour means pointing at the same surface, so the pointers learn to track: at test time they "
      "carry segmentation masks from frame to frame without any labels.";
  m.formula =
      "A_ij = exp(f_i . f_j / T) / sum_k exp(f_i . f_k / T) (i: target locations, j: reference "
      "locations of the previous frames); y_i = sum_j A_ij c_j (c_j: one-hot of j's ab cluster, k-means "
      "over the training clips); L = -1/|P| sum_i log y_i[c_i true]";
  m.paper =
      "Vondrick, Shrivastava, Fathi, Guadarrama, Murphy. Tracking Emerges by Colorizing Videos. ECCV 2018.";
  m.needsColour = true;
  m.clips = true;
  m.defaultAugment = "none";
  using T = ParamSpec::Type;
  m.params = {
      {"temperature", T::Float, 1.0, 0.01, 100, {},
       "softmax temperature of the attention f_i . f_j / T (the paper's 1; lower = sharper pointers)"},
      {"clusters", T::Int, 16, 2, 256, {}, "colour clusters of the ab plane (k-means; the paper's 16)"},
      {"embedding_dim", T::Int, 64, 4, 1024, {}, "channels of the per-location embedding f (the paper's 64)"},
      {"head_width", T::Int, 64, 4, 1024, {}, "channels of the 3x3 convolution between the encoder and f"},
      {"feature_stage", T::Int, 2, 1, 8, {},
       "the encoder stage the embedding is read from (convnet: 1 = 1/2, 2 = 1/4, 3 = 1/8 of the frame): "
       "finer maps track finer but cost more"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<VideoColorization>(s); };
  return m;
}

}  // namespace pretext
