// Variational autoencoder (Kingma & Welling 2014): the encoder's features give a Gaussian
// q(z|x) = N(mu, diag sigma^2) through two linear heads; a sample z = mu + sigma * eps is decoded
// back to the image; the loss is the negative evidence lower bound, reconstruction plus
// beta * KL(q(z|x) || N(0, I)) (beta = 1: the ELBO; beta > 1: Higgins et al.'s beta-VAE). The
// KL term makes the latent space smooth, so decoding z ~ N(0, I) gives new images.
#include "core/methods/vae.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/methods/autoencoder.h"
#include "core/methods/registry.h"
#include "core/models/decoder.h"
#include "core/util/error.h"

namespace pretext {

torch::Tensor gaussianKlPerDim(const torch::Tensor& mu, const torch::Tensor& logvar) {
  return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0);
}

torch::Tensor gaussianKl(const torch::Tensor& mu, const torch::Tensor& logvar) {
  return gaussianKlPerDim(mu, logvar).sum();
}

torch::Tensor reparameterize(const torch::Tensor& mu, const torch::Tensor& logvar,
                             const torch::Tensor& eps) {
  return mu + (0.5 * logvar).exp() * eps;
}

torch::Tensor normalQuantile(const torch::Tensor& p) {
  return std::sqrt(2.0) * torch::erfinv(2 * p - 1);
}

namespace {

class Vae : public Method {
 public:
  explicit Vae(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    latent_ = p["latent_dim"].get<int64_t>();
    beta_ = p["beta"].get<double>();
    loss_ = p["loss"].get<std::string>();
    const int64_t d = encoder_->featureDim();
    mu_ = register_module("mu", torch::nn::Linear(d, latent_));
    logvar_ = register_module("logvar", torch::nn::Linear(d, latent_));
    decoder_ = register_module("decoder", ConvDecoder(DecoderOptions()
                                                          .inDim(latent_)
                                                          .outChannels(s.channels)
                                                          .imageSize(s.imageSize)
                                                          .width(p["dec_width"].get<int64_t>())
                                                          .output("none")));
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto h = encoder_->forward(x);
    auto mu = mu_->forward(h), logvar = logvar_->forward(h);
    auto eps = torch::randn(mu.sizes(), *ctx.gen, torch::kFloat).to(mu.options());
    auto logits = decoder_->forward(reparameterize(mu, logvar, eps));
    auto rec = reconstructionLoss(logits, x, loss_);
    auto kl = gaussianKl(mu, logvar);
    StepResult r{rec + beta_ * kl, {{"rec", rec.detach()}, {"kl", kl.detach()}}};
    torch::NoGradGuard ng;
    r.metrics.push_back({"rec_mse", (torch::sigmoid(logits) - x).pow(2).mean()});
    // Active latent dimensions (Burda et al. 2016): those whose mean moves with the input.
    r.metrics.push_back({"active_dims", mu.var(0).gt(0.01).sum().to(torch::kFloat)});
    for (auto& m : collapseMetrics(h.detach())) r.metrics.push_back(m);
    return r;
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                const PreviewSettings&) override {
    torch::NoGradGuard ng;
    int64_t n = std::min<int64_t>(images.size(0), 8);
    const int64_t perRow = n >= 4 ? 2 : 1;  // two image | mu | sample | sample groups a row
    n -= n % perRow;
    auto x = images.slice(0, 0, n).to(torch::kFloat);
    auto h = encoder_->forward(x);
    auto mu = mu_->forward(h), logvar = logvar_->forward(h);
    auto decode = [&](const torch::Tensor& z) { return torch::sigmoid(decoder_->forward(z)); };
    auto fromMu = decode(mu);
    std::vector<torch::Tensor> cols{x, fromMu};
    for (int k = 0; k < 2; ++k)
      cols.push_back(decode(reparameterize(
          mu, logvar, torch::randn(mu.sizes(), gen, torch::kFloat).to(mu.options()))));
    auto klDim = gaussianKlPerDim(mu, logvar).cpu();
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "each group: an image; the decoding of its posterior mean mu; two decodings of "
                  "samples z ~ q(z|x) (they differ where the model is unsure). Pixel MSE from mu "
                  "%.4f; KL %.2f nats per image over %lld latent dimensions",
                  (fromMu - x).pow(2).mean().item<double>(), klDim.sum().item<double>(),
                  static_cast<long long>(latent_));
    std::vector<Preview> out;
    std::vector<std::string> headers;
    for (int64_t i = 0; i < perRow; ++i)
      for (const char* h : {"image", "from mu", "z ~ q(z|x)", "z ~ q(z|x)"}) headers.push_back(h);
    out.push_back({"vae reconstructions", buf, torch::stack(cols, 1).flatten(0, 1).cpu(), headers,
                   4 * perRow});

    auto prior = torch::randn({32, latent_}, gen, torch::kFloat).to(mu.options());
    out.push_back({"vae samples",
                   "32 new images: decodings of z ~ N(0, I), the prior the KL term pulls q(z|x) "
                   "towards (blurry where the posterior does not fill the prior)",
                   decode(prior).cpu(),
                   {},
                   8});

    // The two latent dimensions that carry the most information about these images.
    auto order = torch::argsort(klDim, 0, /*descending=*/true);
    const int64_t a = order[0].item<int64_t>(), b = order[1].item<int64_t>();
    const int64_t g = 8;
    auto q = normalQuantile(torch::linspace(0.05, 0.95, g));
    auto z = torch::zeros({g * g, latent_});
    z.select(1, a).copy_(q.repeat({g}));           // columns: dimension a
    z.select(1, b).copy_(q.repeat_interleave(g));  // rows: dimension b
    std::snprintf(buf, sizeof buf,
                  "decodings of z over a grid of N(0,1) quantiles 5%%..95%%: latent dimension %lld "
                  "left to right, dimension %lld top to bottom (the two with the largest KL on "
                  "these images: %.2f and %.2f nats), all others 0",
                  static_cast<long long>(a), static_cast<long long>(b), klDim[a].item<double>(),
                  klDim[b].item<double>());
    out.push_back({"vae latent grid", buf, decode(z.to(mu.options())).cpu(), {}, g});
    return out;
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto view = augmentBatch(images, augment, gen).to(torch::kFloat);
    return {"vae inputs",
            "each row: an image and its augmented view, which the encoder sees and the decoder "
            "must rebuild from a sample of q(z|x)",
            torch::stack({images.to(torch::kFloat), view}, 1).flatten(0, 1).cpu(),
            {"image", "view = target"},
            2};
  }

  // New images: decodings of z ~ N(0, I) (the mean image sigmoid(logits), as the previews show),
  // in the caller's mode (eval: the decoder's running batch-norm statistics).
  torch::Tensor sample(int64_t n, torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto device = mu_->weight.device();
    std::vector<torch::Tensor> out;
    for (int64_t done = 0; done < n; done += 500) {
      auto z = torch::randn({std::min<int64_t>(500, n - done), latent_}, gen, torch::kFloat);
      out.push_back(torch::sigmoid(decoder_->forward(z.to(device))).to(torch::kFloat).cpu());
    }
    return out.empty() ? torch::Tensor() : torch::cat(out);
  }

 private:
  int64_t latent_ = 16;
  double beta_ = 1;
  std::string loss_ = "bce";
  torch::nn::Linear mu_{nullptr}, logvar_{nullptr};
  ConvDecoder decoder_{nullptr};
};

}  // namespace

MethodInfo vaeMethodInfo() {
  MethodInfo m;
  m.name = "vae";
  m.title = "Variational autoencoder (VAE)";
  m.family = "autoencoder";
  m.summary =
      "The encoder's features give a mean and a variance for each latent variable; a sample "
      "from that Gaussian is decoded back to the image, and a KL term pulls every image's "
      "Gaussian towards the standard normal. The latent space becomes smooth enough that "
      "decoding random normal vectors gives new images. The probes use the encoder's features.";
  m.formula =
      "L = E_{z~q(z|x)}[-log p(x|z)] + beta KL(q(z|x) || N(0,I)), "
      "KL = -1/2 sum_j (1 + log s_j^2 - mu_j^2 - s_j^2), z = mu + s * eps";
  m.paper = "Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014.";
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      {"latent_dim",
       T::Int,
       16,
       2,
       1024,
       {},
       "dimensions of z: more can keep more detail; the KL term leaves unneeded ones unused"},
      {"beta",
       T::Float,
       1.0,
       0,
       100,
       {},
       "weight of the KL term (1 = the ELBO): more gives a smoother latent space and better "
       "samples but blurrier reconstructions; 0 is a plain autoencoder with noise"},
      {"loss",
       T::Choice,
       "bce",
       0,
       0,
       {"bce", "mse"},
       "-log p(x|z): Bernoulli pixels (binary cross-entropy, the paper's choice on MNIST) or "
       "squared error (a Gaussian of fixed variance: the KL then weighs more)"},
      {"dec_width",
       T::Int,
       32,
       4,
       512,
       {},
       "channels of the decoder's last stage (x4, x2 before): sharper images, slower steps"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Vae>(s); };
  return m;
}

}  // namespace pretext
