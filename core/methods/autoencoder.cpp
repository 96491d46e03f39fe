// Autoencoders: the encoder's features are a bottleneck from which a convolutional decoder must
// rebuild the image. Three variants share one class:
//  - plain: reconstruct the image;
//  - denoising (Vincent, Larochelle, Bengio, Manzagol 2008): reconstruct the clean image from a
//    corrupted one (masking or Gaussian noise), so the features must capture the structure that
//    lets the missing pixels be inferred;
//  - contractive (Rifai, Vincent, Muller, Glorot, Bengio 2011): penalise the squared Frobenius
//    norm of the encoder's Jacobian, so the features vary only along the directions the data
//    needs. For a deep encoder the exact norm costs one backward pass per feature; Hutchinson's
//    estimator with a few random probe vectors is unbiased and costs one double-backward each.
#include "core/methods/autoencoder.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

#include "core/methods/registry.h"
#include "core/models/decoder.h"
#include "core/util/error.h"

namespace pretext {

torch::Tensor reconstructionLoss(const torch::Tensor& logits, const torch::Tensor& target,
                                 const std::string& kind) {
  const auto n = static_cast<double>(std::max<int64_t>(1, logits.size(0)));
  auto t = target.to(logits.dtype());
  if (kind == "mse") return (torch::sigmoid(logits) - t).pow(2).sum() / n;
  if (kind == "bce")
    return torch::nn::functional::binary_cross_entropy_with_logits(
               logits, t,
               torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(
                   torch::kSum)) /
           n;
  throw Error("method.params.loss = \"" + kind + "\": expected mse or bce");
}

torch::Tensor maskingNoise(const torch::Tensor& x, double nu, torch::Generator& gen) {
  auto keep = torch::rand({x.size(0), 1, x.size(2), x.size(3)}, gen, torch::kFloat).ge(nu);
  return x * keep.to(x.options());
}

torch::Tensor gaussianNoise(const torch::Tensor& x, double sigma, torch::Generator& gen) {
  return x + sigma * torch::randn(x.sizes(), gen, torch::kFloat).to(x.options());
}

torch::Tensor hutchinsonJacobianNorm(const torch::Tensor& y, const torch::Tensor& x, int64_t probes,
                                     torch::Generator& gen, bool createGraph,
                                     const std::string& distribution) {
  if (probes < 1) throw Error("method.params.probes must be at least 1");
  if (distribution != "gaussian" && distribution != "rademacher")
    throw Error("Jacobian probe distribution \"" + distribution +
                "\": expected gaussian or rademacher");
  torch::Tensor total;
  for (int64_t k = 0; k < probes; ++k) {
    auto v = distribution == "gaussian"
                 ? torch::randn(y.sizes(), gen, torch::kFloat)
                 : torch::randint(0, 2, y.sizes(), gen, torch::kFloat) * 2 - 1;
    auto vjp = torch::autograd::grad({y}, {x}, {v.to(y.options())}, /*retain_graph=*/true,
                                     /*create_graph=*/createGraph)[0];
    auto sq = vjp.pow(2).sum();
    total = total.defined() ? total + sq : sq;
  }
  return total / static_cast<double>(probes * std::max<int64_t>(1, x.size(0)));
}

torch::Tensor featureSpread(const torch::Tensor& h) {
  return (h - h.mean(0, /*keepdim=*/true)).pow(2).sum(1).mean();
}

namespace {

enum class Variant { Plain, Denoising, Contractive };

class Autoencoder : public Method {
 public:
  Autoencoder(const MethodSetup& s, Variant variant) : Method(s), variant_(variant) {
    const auto& p = s.params;
    loss_ = p["loss"].get<std::string>();
    if (variant_ == Variant::Denoising) {
      noise_ = p["noise"].get<std::string>();
      nu_ = p["nu"].get<double>();
      sigma_ = p["sigma"].get<double>();
    }
    if (variant_ == Variant::Contractive) {
      lambda_ = p["lambda"].get<double>();
      probes_ = p["probes"].get<int64_t>();
      scaleFree_ = p["scale_free"].get<bool>();
    }
    decoder_ = register_module("decoder", ConvDecoder(DecoderOptions()
                                                          .inDim(encoder_->featureDim())
                                                          .outChannels(s.channels)
                                                          .imageSize(s.imageSize)
                                                          .width(p["dec_width"].get<int64_t>())
                                                          .output("none")));
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto input = variant_ == Variant::Denoising ? corrupt(x, level(), *ctx.gen) : x;
    if (variant_ == Variant::Contractive) input = input.detach().requires_grad_(true);
    auto h = encoder_->forward(input);
    auto logits = decoder_->forward(h);
    auto rec = reconstructionLoss(logits, x, loss_);
    StepResult r{rec, {{"rec", rec.detach()}, {"rec_mse", pixelMse(logits, x)}}};
    if (variant_ == Variant::Contractive) {
      auto jac = hutchinsonJacobianNorm(h, input, probes_, *ctx.gen, /*createGraph=*/true);
      auto spread = featureSpread(h);
      auto penalty = scaleFree_ ? jac / spread.clamp_min(1e-12) : jac;
      r.loss = rec + lambda_ * penalty;
      r.metrics.push_back({"jacobian_sq", jac.detach()});
      r.metrics.push_back({"feature_var", spread.detach()});
      r.metrics.push_back({"penalty", penalty.detach()});
    }
    // A reconstruction cannot collapse: the spread is plotted, no alarm reads it.
    for (auto& m : collapseMetrics(h.detach(), /*canCollapse=*/false)) r.metrics.push_back(m);
    return r;
  }

  std::vector<PreviewControl> previewControls() const override {
    char buf[200];
    if (variant_ == Variant::Denoising && noise_ == "gaussian") {
      std::snprintf(buf, sizeof buf,
                    "std of the Gaussian noise added to the encoder's input (trained with %.2f)",
                    sigma_);
      return {{"noise", "noise sigma", 0, 1, 0.05, sigma_, buf}};
    }
    if (variant_ == Variant::Denoising)
      std::snprintf(buf, sizeof buf,
                    "share of the pixels zeroed in the encoder's input (trained with %.0f%%)",
                    nu_ * 100);
    else
      std::snprintf(buf, sizeof buf,
                    "share of the pixels zeroed in the encoder's input (trained without noise: "
                    "compare with the denoising autoencoder)");
    return {
        {"noise", "masking noise", 0, 0.95, 0.05, variant_ == Variant::Denoising ? nu_ : 0.0, buf}};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings& settings) override {
    torch::NoGradGuard ng;
    const double lvl = previewSetting(settings, previewControls(), "noise");
    const bool gaussian = variant_ == Variant::Denoising && noise_ == "gaussian";
    int64_t n = std::min<int64_t>(images.size(0), 12);
    const int64_t perRow = n >= 4 ? 2 : 1;
    n -= n % perRow;
    auto x = images.slice(0, 0, n).to(torch::kFloat);
    auto seen = lvl > 0 ? (gaussian ? gaussianNoise(x, lvl, gen) : maskingNoise(x, lvl, gen)) : x;
    auto recon = torch::sigmoid(decoder_->forward(encoder_->forward(seen)));
    const double mse = (recon - x).pow(2).mean().item<double>();
    const double mseSeen = (seen.clamp(0, 1) - x).pow(2).mean().item<double>();
    const auto [jac, spread] = jacobianOn(x, gen);
    auto triples = torch::stack({x, seen.clamp(0, 1), recon}, 1);  // [n,3,C,H,W]
    auto grid =
        triples.reshape({n / perRow, perRow * 3, x.size(1), x.size(2), x.size(3)}).flatten(0, 1);
    std::vector<std::string> headers;
    for (int64_t i = 0; i < perRow; ++i)
      for (const char* h : {"image", "input", "rebuilt"}) headers.push_back(h);
    char noise[80];
    if (lvl <= 0)
      std::snprintf(noise, sizeof noise, "the image itself (no noise)");
    else if (gaussian)
      std::snprintf(noise, sizeof noise, "the image plus Gaussian noise of std %.2f", lvl);
    else
      std::snprintf(noise, sizeof noise, "the image with %.0f%% of its pixels zeroed", lvl * 100);
    char buf[500];
    std::snprintf(
        buf, sizeof buf,
        "each triple: an image; the input, what the encoder sees (%s); the decoder's rebuild "
        "from the %lld features. Pixel MSE to the clean image %.4f (encoder's input: "
        "%.4f). Encoder Jacobian ||J||_F^2 ~ %.3g per image (Hutchinson, 16 probes) "
        "for a feature variance of %.3g over these images",
        noise, static_cast<long long>(encoder_->featureDim()), mse, mseSeen, jac, spread);
    return {{title() + " reconstructions", buf, grid.cpu(), headers, perRow * 3}};
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto view = augmentBatch(images, augment, gen).to(torch::kFloat);
    std::vector<torch::Tensor> cols{images.to(torch::kFloat), view};
    std::vector<std::string> headers{"image", "view = target"};
    std::string caption =
        "each row: an image and its augmented view, which the encoder sees and "
        "the decoder must rebuild";
    if (variant_ == Variant::Denoising) {
      cols.push_back(corrupt(view, level(), gen).clamp(0, 1));
      headers.push_back("encoder's input");
      caption =
          "each row: an image, its augmented view (the target) and the corrupted view the "
          "encoder sees (" +
          std::string(noise_ == "gaussian" ? "Gaussian noise" : "masking noise") + ")";
    }
    const auto cols_n = static_cast<int64_t>(cols.size());
    return {title() + " inputs", caption, torch::stack(cols, 1).flatten(0, 1).cpu(), headers,
            cols_n};
  }

 private:
  double level() const { return noise_ == "gaussian" ? sigma_ : nu_; }
  torch::Tensor corrupt(const torch::Tensor& x, double lvl, torch::Generator& gen) const {
    return noise_ == "gaussian" ? gaussianNoise(x, lvl, gen) : maskingNoise(x, lvl, gen);
  }
  std::string title() const {
    switch (variant_) {
      case Variant::Denoising:
        return "denoising autoencoder";
      case Variant::Contractive:
        return "contractive autoencoder";
      default:
        return "autoencoder";
    }
  }
  static torch::Tensor pixelMse(const torch::Tensor& logits, const torch::Tensor& x) {
    torch::NoGradGuard ng;
    return (torch::sigmoid(logits) - x.to(logits.dtype())).pow(2).mean();
  }
  // The encoder's squared Jacobian norm per image on clean images, and the features' spread
  // over them (for the caption).
  std::pair<double, double> jacobianOn(const torch::Tensor& x, torch::Generator& gen) {
    torch::AutoGradMode on(true);
    auto input = x.detach().clone().requires_grad_(true);
    auto h = encoder_->forward(input);
    return {hutchinsonJacobianNorm(h, input, 16, gen, false).item<double>(),
            x.size(0) > 1 ? featureSpread(h.detach()).item<double>() : 0.0};
  }

  Variant variant_;
  std::string loss_ = "mse", noise_ = "masking";
  double nu_ = 0.3, sigma_ = 0.3, lambda_ = 1.0;
  int64_t probes_ = 1;
  bool scaleFree_ = true;
  ConvDecoder decoder_{nullptr};
};

using T = ParamSpec::Type;

ParamSpec lossParam() {
  return {"loss",
          T::Choice,
          "mse",
          0,
          0,
          {"mse", "bce"},
          "reconstruction error summed over an image's pixels: squared error, or binary cross-"
          "entropy (a Bernoulli likelihood: sharper on near-binary images)"};
}
ParamSpec decWidthParam() {
  return {"dec_width",
          T::Int,
          32,
          4,
          512,
          {},
          "channels of the decoder's last stage (x4, x2 before): sharper rebuilds, slower steps"};
}

MethodInfo baseInfo(const std::string& name, Variant v) {
  MethodInfo m;
  m.name = name;
  m.family = "autoencoder";
  m.defaultAugment = "weak";
  m.make = [v](const MethodSetup& s) { return std::make_shared<Autoencoder>(s, v); };
  return m;
}

}  // namespace

MethodInfo autoencoderMethodInfo() {
  MethodInfo m = baseInfo("autoencoder", Variant::Plain);
  m.title = "Autoencoder";
  m.summary =
      "The encoder squeezes the image into its feature vector and a convolutional decoder must "
      "paint the image back from it. Whatever the decoder needs has to be in the features; "
      "nothing stops them from keeping pixel detail that does not matter for recognition.";
  m.formula = "L = 1/B sum_i ||x_i - g(f(x_i))||^2 (or the pixels' binary cross-entropy)";
  m.paper =
      "Hinton, Salakhutdinov. Reducing the Dimensionality of Data with Neural Networks. "
      "Science 2006.";
  m.params = {lossParam(), decWidthParam()};
  return m;
}

MethodInfo denoisingAeMethodInfo() {
  MethodInfo m = baseInfo("denoising-ae", Variant::Denoising);
  m.title = "Denoising autoencoder";
  m.summary =
      "The encoder sees a corrupted image (pixels zeroed at random, or Gaussian noise) and the "
      "decoder must rebuild the clean one. To fill in what is missing the features have to "
      "capture how the pixels of an object go together, not just copy them.";
  m.formula =
      "L = 1/B sum_i ||x_i - g(f(x~_i))||^2, x~ = x with each pixel zeroed w.p. nu "
      "(or x + sigma * N(0, I))";
  m.paper =
      "Vincent, Larochelle, Bengio, Manzagol. Extracting and Composing Robust Features "
      "with Denoising Autoencoders. ICML 2008.";
  m.params = {
      lossParam(),
      {"noise",
       T::Choice,
       "masking",
       0,
       0,
       {"masking", "gaussian"},
       "corruption: pixels set to 0 (the paper's masking noise) or additive Gaussian noise"},
      {"nu",
       T::Float,
       0.3,
       0,
       0.95,
       {},
       "masking noise: probability that a pixel is zeroed (more: harder task, blurrier rebuilds)"},
      {"sigma",
       T::Float,
       0.3,
       0,
       2,
       {},
       "Gaussian noise: its std on images in [0,1] (more: harder task, blurrier rebuilds)"},
      decWidthParam(),
  };
  return m;
}

MethodInfo contractiveAeMethodInfo() {
  MethodInfo m = baseInfo("contractive-ae", Variant::Contractive);
  m.title = "Contractive autoencoder";
  m.summary =
      "An autoencoder whose features are also asked to change as little as possible when the "
      "input changes: the squared norm of the encoder's Jacobian is penalised, so only the "
      "directions the reconstruction needs (those along the data) survive. The norm is "
      "estimated with random probe vectors (Hutchinson), one double-backward pass each.";
  m.formula =
      "L = 1/B sum_i [ ||x_i - g(f(x_i))||^2 + lambda ||J_f(x_i)||_F^2 / V ], "
      "||J||_F^2 = E_v ||v^T J||^2, v ~ N(0, I); V = 1/B sum_i ||f(x_i) - mean f||^2 "
      "(V = 1 when scale_free is off, the paper's form)";
  m.paper =
      "Rifai, Vincent, Muller, Glorot, Bengio. Contractive Auto-Encoders: Explicit "
      "Invariance During Feature Extraction. ICML 2011.";
  m.params = {
      lossParam(),
      {"lambda",
       T::Float,
       1.0,
       0,
       1000,
       {},
       "weight of the Jacobian penalty: more gives flatter, more invariant features and worse "
       "rebuilds"},
      {"scale_free",
       T::Bool,
       true,
       0,
       0,
       {},
       "divide the penalty by the features' variance over the batch: the decoder's BatchNorm "
       "ignores their scale, so the paper's raw penalty (off) can be met by shrinking them all"},
      {"probes",
       T::Int,
       1,
       1,
       64,
       {},
       "random vectors per step for the Jacobian estimate: less noise, one extra "
       "double-backward pass each"},
      decWidthParam(),
  };
  return m;
}

}  // namespace pretext
