// PixelCNN (van den Oord, Kalchbrenner, Kavukcuoglu 2016): a fully visible belief network. The
// likelihood of an image is decomposed into one conditional per pixel in raster order,
// p(x) = prod_i p(x_i | x_1..x_{i-1}), each a 256-way softmax over the pixel's 8-bit value. Masked
// convolutions keep every prediction from seeing its own pixel and the ones after it, so one
// forward pass gives all the conditionals of an image at once in training; drawing an image takes
// one pass per pixel. The network: a 7x7 type-A masked convolution, residual blocks (ReLU, 1x1,
// ReLU, 3x3 type-B, ReLU, 1x1, as in the paper's PixelCNN blocks), then ReLU, 1x1, ReLU, 1x1 to
// 256 logits per pixel and channel. The probes read the middle block's feature map, pooled (over
// a 4x4 grid by default).
#include "core/methods/pixelcnn.h"

#include "core/methods/logistic_mixture.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "core/methods/registry.h"
#include "core/util/error.h"

namespace pretext {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

torch::Tensor pixelCnnMask(int64_t outChannels, int64_t inChannels, int64_t kernel, bool typeA,
                           int64_t colours) {
  if (kernel < 1 || kernel % 2 == 0)
    throw Error("pixelcnn: a masked convolution needs an odd kernel, got " + std::to_string(kernel));
  if (colours < 1 || inChannels < colours || outChannels < colours)
    throw Error("pixelcnn: a masked convolution of " + std::to_string(inChannels) + " -> " +
                std::to_string(outChannels) + " channels cannot be split into " +
                std::to_string(colours) + " colour groups");
  auto mask = torch::zeros({outChannels, inChannels, kernel, kernel});
  const int64_t c = kernel / 2;
  mask.slice(2, 0, c).fill_(1);                    // the rows above the centre
  mask.select(2, c).slice(2, 0, c).fill_(1);       // left of the centre on its row
  auto centre = mask.select(3, c).select(2, c);    // [out, in]
  auto gOut = torch::div(torch::arange(outChannels) * colours, outChannels, "floor");
  auto gIn = torch::div(torch::arange(inChannels) * colours, inChannels, "floor");
  auto later = gOut.unsqueeze(1) - gIn.unsqueeze(0);
  centre.copy_(typeA ? later.gt(0) : later.ge(0));
  return mask;
}

torch::Tensor pixelValues(const torch::Tensor& images) {
  return (images.to(torch::kFloat) * 255).round().clamp(0, 255).to(torch::kLong);
}

torch::Tensor pixelNll(const torch::Tensor& logits, const torch::Tensor& values) {
  if (logits.dim() != 5 || logits.size(2) != 256)
    throw Error("pixelcnn: expected logits [N,C,256,H,W], got " + std::to_string(logits.dim()) +
                " dimensions");
  auto lp = torch::log_softmax(logits.to(torch::kFloat), 2);
  return -lp.gather(2, values.unsqueeze(2)).squeeze(2).sum({1, 2, 3});
}

double bitsPerDim(double natsPerImage, int64_t dims) {
  return natsPerImage / (static_cast<double>(dims) * std::log(2.0));
}

PixelHistogram fitPixelHistogram(const torch::Tensor& images, double pseudoCount) {
  if (!images.defined() || images.dim() != 4 || images.scalar_type() != torch::kUInt8)
    throw Error("pixel histogram: expected uint8 images [N,C,H,W]");
  if (!(pseudoCount > 0))
    throw Error("pixel histogram: the pseudo-count must be > 0 (an unseen value would have "
                "probability 0), got " + std::to_string(pseudoCount));
  const int64_t n = images.size(0), d = images[0].numel();
  auto counts = torch::zeros({d, 256}, torch::kDouble);
  // In chunks: the [D, chunk] index of all 60,000 images at once would take 376 MB.
  for (int64_t s = 0; s < n; s += 4096) {
    auto idx = images.slice(0, s, std::min(n, s + 4096)).reshape({-1, d}).t().to(torch::kLong);
    counts.scatter_add_(1, idx, torch::ones(idx.sizes(), torch::kDouble));
  }
  auto p = (counts + pseudoCount) / (static_cast<double>(n) + 256 * pseudoCount);
  auto shape = images.sizes().vec();
  return {p.log().view({shape[1], shape[2], shape[3], 256})};
}

torch::Tensor histogramNll(const PixelHistogram& histogram, const torch::Tensor& images) {
  if (!images.defined() || images.dim() != 4 || images.scalar_type() != torch::kUInt8 ||
      images.sizes().slice(1).vec() != histogram.logProb.sizes().slice(0, 3).vec())
    throw Error("pixel histogram: expected uint8 images of the histogram's shape [N,C,H,W]");
  const int64_t n = images.size(0), d = images[0].numel();
  auto lp = histogram.logProb.reshape({d, 256});
  auto out = torch::empty({n}, torch::kDouble);
  for (int64_t s = 0; s < n; s += 4096) {
    auto idx = images.slice(0, s, std::min(n, s + 4096)).reshape({-1, d}).t().to(torch::kLong);
    out.slice(0, s, std::min(n, s + 4096)).copy_(-lp.gather(1, idx).sum(0));
  }
  return out;
}

namespace {

// A convolution whose weight is multiplied by a fixed mask at every call (pixelCnnMask), so the
// masked weights stay out of the function whatever the optimiser or a loaded checkpoint does.
class MaskedConv2dImpl : public nn::Module {
 public:
  MaskedConv2dImpl(int64_t in, int64_t out, int64_t kernel, bool typeA, int64_t colours)
      : pad_(kernel / 2) {
    conv_ = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, kernel)));
    mask_ = register_buffer("mask", pixelCnnMask(out, in, kernel, typeA, colours));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto w = conv_->weight * mask_;
    const auto cl = at::MemoryFormat::ChannelsLast;
    if (conv_->weight.suggest_memory_format() == cl && w.suggest_memory_format() != cl) {
      // Weights in channels-last layout (useChannelsLast): the masked copy must be read as NHWC
      // too, or the convolution answers in NCHW. With one input channel both orders are the same
      // memory, and only the strides useChannelsLast gives ([w,1,k,k]: k*k,1,k,1) say NHWC.
      w = w.contiguous(cl);
      if (w.suggest_memory_format() != cl) w = w.as_strided(w.sizes(), conv_->weight.strides());
    }
    return F::conv2d(x, w, F::Conv2dFuncOptions().bias(conv_->bias).padding(pad_));
  }

 private:
  int64_t pad_;
  nn::Conv2d conv_{nullptr};
  torch::Tensor mask_;
};
TORCH_MODULE(MaskedConv2d);

// The paper's residual block: 2h -> h (1x1), h -> h (3x3, type B), h -> 2h (1x1), each after a
// ReLU, added to its input.
class ResidualBlockImpl : public nn::Module {
 public:
  ResidualBlockImpl(int64_t width, int64_t colours) {
    const int64_t h = width / 2;
    in_ = register_module("reduce", MaskedConv2d(width, h, 1, false, colours));
    mid_ = register_module("conv", MaskedConv2d(h, h, 3, false, colours));
    out_ = register_module("expand", MaskedConv2d(h, width, 1, false, colours));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return x + out_->forward(torch::relu(mid_->forward(torch::relu(in_->forward(torch::relu(x))))));
  }

 private:
  MaskedConv2d in_{nullptr}, mid_{nullptr}, out_{nullptr};
};
TORCH_MODULE(ResidualBlock);

// The masked stack below the output head: the method's encoder (the export and the encoder panels
// read it). Its stages are the first layer's map and each block's; its own output is the middle
// stage's map pooled, the global mean and the global max side by side (2 x width). The probes go
// through PixelCnn::features, which reads the same map over a 4x4 grid by default.
class PixelCnnEncoder : public Encoder {
 public:
  PixelCnnEncoder(int64_t channels, int64_t width, int64_t blocks, int64_t firstKernel)
      : firstKernel_(firstKernel), middle_((blocks + 1) / 2) {
    first_ = register_module("first", MaskedConv2d(channels, width, firstKernel, true, channels));
    for (int64_t b = 0; b < blocks; ++b)
      blocks_.push_back(
          register_module("block" + std::to_string(b + 1), ResidualBlock(width, channels)));
    featureDim_ = 2 * width;
  }
  static torch::Tensor normalise(const torch::Tensor& x) { return (x - 0.5) / 0.5; }

  torch::Tensor forward(torch::Tensor x) override {
    auto m = middleMap(x);
    return torch::cat({m.mean({2, 3}), m.amax({2, 3})}, 1);
  }
  torch::Tensor middleMap(const torch::Tensor& x) {
    auto m = first_->forward(normalise(x));
    for (int64_t b = 0; b < middle_; ++b) m = blocks_[b]->forward(m);
    return m;
  }
  std::vector<torch::Tensor> stages(torch::Tensor x) override {
    std::vector<torch::Tensor> out{first_->forward(normalise(x))};
    for (auto& b : blocks_) out.push_back(b->forward(out.back()));
    return out;
  }
  torch::Tensor finalMap(const torch::Tensor& x) {
    auto m = first_->forward(normalise(x));
    for (auto& b : blocks_) m = b->forward(m);
    return m;
  }
  std::vector<torch::Tensor> stageParameters(int64_t stage) override {
    return stage == 0 ? first_->parameters() : blocks_.at(stage - 1)->parameters();
  }
  int64_t numStages() const override { return 1 + static_cast<int64_t>(blocks_.size()); }

  // The final map at one pixel [N,width,1,1], computed on shrinking crops: the input crop holds
  // the pixel's receptive field (rows up to R above, R columns either side, R = the kernels' radii
  // added up); after each layer the crop loses the border its zero padding spoiled (one layer's
  // radius on the top, left and right; nothing below: no layer looks down).
  torch::Tensor pixelMap(const torch::Tensor& x, int64_t row, int64_t col) {
    const int64_t width = x.size(3);
    int64_t radius = firstKernel_ / 2 + static_cast<int64_t>(blocks_.size());
    int64_t r0 = std::max<int64_t>(0, row - radius), c0 = std::max<int64_t>(0, col - radius);
    auto crop = x.slice(2, r0, row + 1).slice(3, c0, std::min(width, col + radius + 1));
    auto shrink = [&](const torch::Tensor& m) {
      const int64_t nr = std::max<int64_t>(0, row - radius), nc = std::max<int64_t>(0, col - radius);
      auto out = m.slice(2, nr - r0, row + 1 - r0)
                     .slice(3, nc - c0, std::min(width, col + radius + 1) - c0);
      r0 = nr;
      c0 = nc;
      return out;
    };
    auto m = first_->forward(normalise(crop));
    radius -= firstKernel_ / 2;
    m = shrink(m);
    for (auto& b : blocks_) {
      m = b->forward(m);
      radius -= 1;
      m = shrink(m);
    }
    return m;
  }

 private:
  int64_t firstKernel_, middle_;
  MaskedConv2d first_{nullptr};
  std::vector<ResidualBlock> blocks_;
};

constexpr int64_t kGrid = 4;  // probe_features "middle-grid": the middle map pooled to 4x4

// Paints the not-yet-drawn pixels (raster position >= `drawn`) mid-gray for display.
torch::Tensor shownUpTo(const torch::Tensor& x, int64_t drawn) {
  const int64_t h = x.size(2), w = x.size(3);
  auto order = torch::arange(h * w).view({1, 1, h, w});
  return torch::where(order < drawn, x.cpu(), torch::full_like(x.cpu(), 0.5));
}

// The setup the base class builds its encoder from: the smallest ConvNet, replaced at once by the
// masked stack (the backbone settings do not apply to a PixelCNN).
MethodSetup withPlaceholderBackbone(MethodSetup s) {
  s.backbone = BackboneOptions().name("convnet").width(1);
  return s;
}

class PixelCnn : public Method {
 public:
  explicit PixelCnn(const MethodSetup& s)
      : Method(withPlaceholderBackbone(s)), channels_(s.channels), size_(s.imageSize) {
    const auto& p = s.params;
    const int64_t width = p["width"].get<int64_t>();
    const int64_t blocks = p["blocks"].get<int64_t>();
    const int64_t kernel = p["first_kernel"].get<int64_t>();
    if (kernel % 2 == 0)
      throw Error("method.params.first_kernel = " + std::to_string(kernel) +
                  ": expected an odd kernel size (the masks need a centre)");
    if (width / 2 < channels_)
      throw Error("method.params.width = " + std::to_string(width) + ": the blocks' " +
                  std::to_string(width / 2) + " inner channels cannot be split into the image's " +
                  std::to_string(channels_) + " colour groups; use a width of at least " +
                  std::to_string(2 * channels_));
    probeFeatures_ = p["probe_features"].get<std::string>();
    net_ = std::make_shared<PixelCnnEncoder>(channels_, width, blocks, kernel);
    encoder_ = replace_module("encoder", std::shared_ptr<Encoder>(net_));
    head1_ = register_module("head1", MaskedConv2d(width, width, 1, false, channels_));
    mixtures_ = p["output"].get<std::string>() == "logistic-mixture" ? p["mixtures"].get<int64_t>() : 0;
    const int64_t perChannel = mixtures_ > 0 ? 3 * mixtures_ : 256;
    head2_ = register_module("head2", MaskedConv2d(width, perChannel * channels_, 1, false, channels_));
  }

  // The output per pixel and channel: 256 logits, or 3K mixture parameters [N,C,3K,H,W].
  torch::Tensor rawHead(const torch::Tensor& map) {
    auto out = head2_->forward(torch::relu(head1_->forward(torch::relu(map))));
    return out.view({out.size(0), channels_, -1, out.size(2), out.size(3)});
  }
  // Logits of the 256 values [N,C,256,H,W] (the mixture's log-probabilities).
  torch::Tensor head(const torch::Tensor& map) {
    auto out = rawHead(map);
    return mixtures_ > 0 ? logisticMixtureTable(out) : out;
  }
  // -log p(x) in nats per image [N].
  torch::Tensor nll(const torch::Tensor& x) {
    auto out = rawHead(net_->finalMap(x));
    return mixtures_ > 0 ? logisticMixtureNll(out, pixelValues(x)) : pixelNll(out, pixelValues(x));
  }
  torch::Tensor logits(const torch::Tensor& x) { return head(net_->finalMap(x)); }
  torch::Tensor pixelLogits(const torch::Tensor& x, int64_t row, int64_t col) {
    if (row < 0 || col < 0 || row >= x.size(2) || col >= x.size(3))
      throw Error("pixelcnn: pixel (" + std::to_string(row) + ", " + std::to_string(col) +
                  ") is outside the image");
    return head(net_->pixelMap(x, row, col)).flatten(2);  // [N,C,256]
  }

  torch::Tensor features(const torch::Tensor& images) override {
    if (probeFeatures_ == "middle") return net_->forward(images);
    if (probeFeatures_ == "middle-grid")
      return F::adaptive_avg_pool2d(net_->middleMap(images),
                                    F::AdaptiveAvgPool2dFuncOptions({kGrid, kGrid}))
          .flatten(1);
    return stageFeatures(images, probeFeatures_);
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen).to(torch::kFloat);
    const int64_t dims = x[0].numel();
    auto nll = this->nll(x);  // nats per image
    // The loss in nats per dimension (the mean cross-entropy of one pixel's 256-way softmax):
    // its scale does not change with the image size, so neither does a good learning rate.
    auto loss = nll.mean() / static_cast<double>(dims);
    return {loss, {{"bpd", loss.detach() / std::log(2.0)}}};
  }

  void sample(torch::Tensor& x, const torch::Tensor& known, double temperature,
              torch::Generator& gen, const std::function<void(int64_t)>& onRow) {
    torch::NoGradGuard ng;
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    auto open = known.defined() ? known.logical_not().to(torch::kCPU).view({n, h, w})
                                : torch::ones({n, h, w}, torch::kBool);
    auto openA = open.accessor<bool, 3>();
    for (int64_t i = 0; i < h; ++i) {
      for (int64_t j = 0; j < w; ++j) {
        bool any = false;
        for (int64_t k = 0; k < n && !any; ++k) any = openA[k][i][j];
        if (!any) continue;
        auto draw = open.select(2, j).select(1, i).to(x.device());  // [N]
        for (int64_t c = 0; c < channels_; ++c) {
          auto lg = pixelLogits(x, i, j).select(1, c).to(torch::kFloat).cpu();  // [N,256]
          auto probs = torch::softmax(lg / temperature, 1);
          auto v = torch::multinomial(probs, 1, false, gen).squeeze(1).to(torch::kFloat) / 255;
          auto cur = x.select(1, c).select(1, i).select(1, j);  // [N]
          cur.copy_(torch::where(draw, v.to(x.device()), cur));
        }
      }
      if (onRow) onRow(i);
    }
  }

  std::vector<PreviewControl> previewControls() const override {
    return {{"temperature", "sampling temperature", 0.1, 2, 0.05, 1,
             "each pixel is drawn from softmax(logits / T): below 1 sharper and safer, above 1 "
             "wilder (1: the model's own distribution)"},
            {"row", "pixel row", 0, double(size_ - 1), 1, double(size_ / 2),
             "the row of the pixel whose predicted distribution is drawn"},
            {"col", "pixel column", 0, double(size_ - 1), 1, double(size_ / 2),
             "the column of the pixel whose predicted distribution is drawn"}};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings& settings) override {
    torch::NoGradGuard ng;
    const auto controls = previewControls();
    const double temperature = previewSetting(settings, controls, "temperature");
    const int64_t h = images.size(2), w = images.size(3);
    const int64_t pr = std::min<int64_t>(h - 1, std::lround(previewSetting(settings, controls, "row")));
    const int64_t pc = std::min<int64_t>(w - 1, std::lround(previewSetting(settings, controls, "col")));
    auto real = images.to(torch::kFloat);
    const int64_t dims = real[0].numel();
    char buf[400];
    std::vector<Preview> out;

    // 1. Samples and completions in one raster pass over a batch: 4 images from nothing, and up
    //    to 4 test images whose bottom half is hidden.
    const int64_t ns = 4, nc = std::min<int64_t>(4, real.size(0));
    auto x = torch::zeros({ns + nc, channels_, h, w}, real.options());
    auto known = torch::zeros({ns + nc, 1, h, w}, torch::kBool);
    if (nc > 0) {
      x.slice(0, ns).copy_(real.slice(0, 0, nc));
      known.slice(0, ns).slice(2, 0, h / 2).fill_(true);
    }
    const std::vector<double> fractions{0.25, 0.5, 0.75, 1.0};
    std::vector<torch::Tensor> stages;
    std::vector<int64_t> stageRows;
    for (double f : fractions) stageRows.push_back(std::max<int64_t>(1, std::lround(f * h)) - 1);
    sample(x, known.to(x.device()), temperature, gen, [&](int64_t row) {
      for (auto r : stageRows)
        if (r == row) stages.push_back(shownUpTo(x.slice(0, 0, ns), (row + 1) * w));
    });
    std::vector<std::string> headers;
    for (double f : fractions) {
      std::snprintf(buf, sizeof buf, "%.0f%% of rows", 100 * f);
      headers.push_back(buf);
    }
    std::snprintf(buf, sizeof buf,
                  "each row: one image drawn pixel by pixel in raster order (one forward pass per "
                  "pixel, %lld in all) at temperature %.2f, shown as the rows are filled in "
                  "(gray: not drawn yet)",
                  static_cast<long long>(h * w * channels_), temperature);
    out.push_back({"pixelcnn samples", buf, torch::stack(stages, 1).flatten(0, 1), headers, 4});
    if (nc > 0) {
      auto orig = real.slice(0, 0, nc).cpu();
      auto done = x.slice(0, ns).cpu();
      auto hidden = shownUpTo(orig, (h / 2) * w);
      std::snprintf(buf, sizeof buf,
                    "each row: a test image, its top half (the bottom hidden), and the bottom "
                    "half drawn by the model given the top, pixel by pixel (temperature %.2f)",
                    temperature);
      out.push_back({"pixelcnn completions", buf, torch::stack({orig, hidden, done}, 1).flatten(0, 1),
                     {"original", "hidden", "completion"}, 3});
    }

    // 2. The predicted distribution of one pixel's value next to its true value.
    const int64_t nd = std::min<int64_t>(4, real.size(0));
    auto all = logits(real);  // [N,C,256,H,W]
    const double bpd = bitsPerDim(pixelNll(all, pixelValues(real)).mean().item<double>(), dims);
    auto probs = torch::softmax(all.slice(0, 0, nd).select(4, pc).select(3, pr).select(1, 0)
                                    .to(torch::kFloat), 1).cpu();  // [nd,256] (first channel)
    auto truth = pixelValues(real.slice(0, 0, nd).select(3, pc).select(2, pr).select(1, 0)).cpu();
    const int64_t ch = 64, cw = 64 + 8 + 256;
    auto canvas = torch::zeros({nd, 3, ch, cw});
    std::vector<std::string> labels;
    for (int64_t k = 0; k < nd; ++k) {
      auto img = toRgb(real.slice(0, k, k + 1)).cpu()[0];
      auto big = img.repeat_interleave(2, 1).repeat_interleave(2, 2);  // 2x, nearest
      const int64_t bh = std::min<int64_t>(56, big.size(1)), bw = std::min<int64_t>(56, big.size(2));
      canvas[k].slice(1, 4, 4 + bh).slice(2, 4, 4 + bw).copy_(big.slice(1, 0, bh).slice(2, 0, bw));
      if (2 * pr + 1 < bh && 2 * pc + 1 < bw) {
        auto dot = canvas[k].slice(1, 4 + 2 * pr, 6 + 2 * pr).slice(2, 4 + 2 * pc, 6 + 2 * pc);
        dot.select(0, 0).fill_(1);
        dot.slice(0, 1, 3).fill_(0);
      }
      auto p = probs[k];
      const double top = p.max().item<double>();
      const int64_t v = truth[k].item<int64_t>();
      for (int64_t b = 0; b < 256; ++b) {
        const auto bar = std::lround(double(ch - 4) * p[b].item<double>() / top);
        auto col = canvas[k].select(2, 72 + b);  // [3, ch]
        if (b == v) col.select(0, 0).fill_(0.45);  // the true value: a red column
        if (bar > 0) {
          auto filled = col.slice(1, ch - bar, ch);
          filled.fill_(b == v ? 0.0 : 0.85);
          if (b == v) filled.select(0, 0).fill_(1.0);  // its bar bright red
        }
      }
      std::snprintf(buf, sizeof buf, "(%lld,%lld) true %lld: p %.3f, mode %lld",
                    static_cast<long long>(pr), static_cast<long long>(pc),
                    static_cast<long long>(v), p[v].item<double>(),
                    static_cast<long long>(p.argmax().item<int64_t>()));
      labels.push_back(buf);
    }
    std::snprintf(buf, sizeof buf,
                  "each: a test image (the pixel in red) and the model's 256-way distribution of "
                  "that pixel's %svalue given the pixels before it (bars, 0..255 left to right; "
                  "the true value's column red). These %lld images: %.3f bits/dim",
                  channels_ > 1 ? "first channel's " : "", static_cast<long long>(real.size(0)),
                  bpd);
    out.push_back({"pixelcnn predicted distribution", buf, canvas, labels, 2});
    return out;
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    // What the prediction at the centre pixel depends on, found by backpropagating from its
    // logits to the input (the receptive field and its blind spot, up and to the right).
    auto x = augmentBatch(images, augment, gen).to(torch::kFloat).detach();
    torch::Tensor grad;
    {
      torch::AutoGradMode on(true);
      auto xi = x.clone().requires_grad_(true);
      logits(xi).select(4, x.size(3) / 2).select(3, x.size(2) / 2).sum().backward();
      grad = xi.grad().abs().sum(1, true).gt(0).cpu();  // [N,1,H,W]
    }
    torch::NoGradGuard ng;
    auto rgb = toRgb(x).cpu();
    auto seen = torch::where(grad, rgb, rgb * 0.25);
    auto field = grad.to(torch::kFloat).repeat({1, 3, 1, 1});
    for (auto* t : {&seen, &field}) {
      auto centre = t->select(3, x.size(3) / 2).select(2, x.size(2) / 2);  // [N,3]
      centre.select(1, 0).fill_(1);
      centre.slice(1, 1, 3).fill_(0);
    }
    return {"pixelcnn inputs",
            "each row: the image (the training input and its 256-way target at once), what the "
            "prediction at the centre pixel (red) may see, and that field alone: the rows above "
            "and the pixels to its left, found by backpropagating from its logits",
            torch::stack({rgb, seen, field}, 1).flatten(0, 1),
            {"image = target", "seen by the centre", "receptive field"},
            3};
  }

 private:
  int64_t channels_, size_;
  int64_t mixtures_ = 0;  // K of the logistic mixture output; 0: the 256-way softmax
  std::string probeFeatures_ = "middle-grid";
  std::shared_ptr<PixelCnnEncoder> net_;
  MaskedConv2d head1_{nullptr}, head2_{nullptr};
};

PixelCnn& asPixelCnn(Method& method) {
  auto* p = dynamic_cast<PixelCnn*>(&method);
  if (!p) throw Error("pixelcnn: this function needs a method made by makeMethod(\"pixelcnn\")");
  return *p;
}

}  // namespace

torch::Tensor pixelCnnLogits(Method& method, const torch::Tensor& images) {
  return asPixelCnn(method).logits(images.to(torch::kFloat));
}

torch::Tensor pixelCnnNll(Method& method, const torch::Tensor& images) {
  return asPixelCnn(method).nll(images.to(torch::kFloat));
}

torch::Tensor pixelCnnPixelLogits(Method& method, const torch::Tensor& images, int64_t row,
                                  int64_t col) {
  return asPixelCnn(method).pixelLogits(images.to(torch::kFloat), row, col);
}

void pixelCnnSample(Method& method, torch::Tensor& images, const torch::Tensor& known,
                    double temperature, torch::Generator& gen,
                    const std::function<void(int64_t)>& onRow) {
  if (!(temperature > 0)) throw Error("pixelcnn: the sampling temperature must be > 0");
  asPixelCnn(method).sample(images, known, temperature, gen, onRow);
}

MethodInfo pixelcnnMethodInfo() {
  MethodInfo m;
  m.name = "pixelcnn";
  m.title = "PixelCNN";
  m.family = "generative";
  m.summary =
      "A fully visible belief network: the likelihood of an image is split into one prediction "
      "per pixel in raster order, each pixel's 8-bit value a 256-way choice given the pixels "
      "above and to its left. Masked convolutions hide a pixel and the pixels after it from its "
      "own prediction, so training takes one pass per image; drawing an image takes one pass "
      "per pixel. The representation is the middle layer's feature map, pooled over a 4x4 grid.";
  m.formula =
      "-log p(x) = -sum_i log p(x_i | x_<i), p(x_i | x_<i) = softmax_256(f(x_<i))[x_i]; "
      "reported in bits/dim = -log p(x) / (C H W ln 2)";
  m.paper =
      "van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural Networks. ICML 2016.";
  m.defaultAugment = "none";
  using T = ParamSpec::Type;
  m.params = {
      {"width",
       T::Int,
       64,
       2,
       1024,
       {},
       "channels of the masked stack (2h in the paper's blocks, h = width / 2 inside them); the "
       "backbone settings are not used"},
      {"blocks",
       T::Int,
       4,
       1,
       32,
       {},
       "residual blocks after the 7x7 type-A layer: each adds one row and column of context "
       "(and a pass's cost)"},
      {"first_kernel",
       T::Int,
       7,
       3,
       15,
       {},
       "kernel of the first, type-A masked convolution (odd; the paper's 7)"},
      {"output", T::Choice, "softmax", 0, 0, {"softmax", "logistic-mixture"},
       "each pixel's distribution: a 256-way softmax (the paper), or PixelCNN++'s mixture of "
       "discretised logistics (3 numbers per component instead of 256 logits)"},
      {"mixtures", T::Int, 10, 1, 100, {}, "logistic-mixture: its components K (PixelCNN++: 10)"},
      {"probe_features",
       T::Choice,
       "middle-grid",
       0,
       0,
       {"middle-grid", "middle", "all-max", "all-mean"},
       "what the probes evaluate: the middle block's map averaged over each cell of a 4x4 grid "
       "(16 x width: where things are survives), or its mean and max over the whole image "
       "(2 x width), or every stage's map pooled by max or mean and concatenated"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<PixelCnn>(s); };
  return m;
}

}  // namespace pretext
