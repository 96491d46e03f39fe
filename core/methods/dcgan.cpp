// DCGAN (Radford, Metz, Chintala 2016): a generator turns noise z ~ N(0, I) into images and a
// discriminator tells them from real ones; the two are trained against each other. The
// discriminator's convolutional body is the encoder, so what it learns in order to tell real
// from fake is the representation the probes evaluate (the paper's point).
//
// The setting `loss` picks the game: "non-saturating" (DCGAN's), "minimax" (Goodfellow et al.'s
// original generator loss), "wgan" (Arjovsky et al. 2017: a critic without sigmoid, its weights
// clipped to [-c, c], n_critic critic updates per generator update, RMSprop) or "wgan-gp"
// (Gulrajani et al. 2017: a gradient penalty on random interpolates instead of the clipping;
// the critic must not use batch norm, see backbone.norm).
//
// How n_critic meets the trainer's loop: one trainer step is one critic update on one batch of
// real images (the trainer's optimiser trains the critic, as for every method); the generator
// takes its step inside step(), at the start of every n_critic-th trainer step (steps 0,
// n_critic, 2 n_critic, ...), against the critic of the n_critic updates before it. A run of S
// steps thus makes S critic updates and ceil(S / n_critic) generator updates, and an epoch is
// an epoch of real images seen by the critic, as in the papers' code. (The WGAN paper's code also
// gives the critic 100 iterations for the first 25 generator iterations and every 500th; that
// warm-up is not done here.)
#include "core/methods/dcgan.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

#include "core/methods/registry.h"
#include "core/models/batch_norm.h"
#include "core/models/decoder.h"
#include "core/util/error.h"

namespace pretext {

torch::Tensor ganDiscriminatorLoss(const torch::Tensor& realLogits,
                                   const torch::Tensor& fakeLogits) {
  return torch::softplus(-realLogits.to(torch::kFloat)).mean() +
         torch::softplus(fakeLogits.to(torch::kFloat)).mean();
}

torch::Tensor ganGeneratorLoss(const torch::Tensor& fakeLogits) {
  return torch::softplus(-fakeLogits.to(torch::kFloat)).mean();
}

torch::Tensor ganMinimaxGeneratorLoss(const torch::Tensor& fakeLogits) {
  return -torch::softplus(fakeLogits.to(torch::kFloat)).mean();
}

torch::Tensor wganCriticLoss(const torch::Tensor& realScores, const torch::Tensor& fakeScores) {
  return fakeScores.to(torch::kFloat).mean() - realScores.to(torch::kFloat).mean();
}

torch::Tensor wganGeneratorLoss(const torch::Tensor& fakeScores) {
  return -fakeScores.to(torch::kFloat).mean();
}

GradientPenalty gradientPenalty(const std::function<torch::Tensor(const torch::Tensor&)>& critic,
                                const torch::Tensor& real, const torch::Tensor& fake,
                                const torch::Tensor& eps, double lambda) {
  if (real.sizes() != fake.sizes())
    throw Error("gradient penalty: real and fake batches differ in shape");
  if (eps.dim() != 1 || eps.size(0) != real.size(0))
    throw Error("gradient penalty: expected one interpolation weight per image");
  std::vector<int64_t> shape(real.dim(), 1);
  shape[0] = real.size(0);
  auto e = eps.to(real.scalar_type()).to(real.device()).view(shape);
  auto xhat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(true);
  // float32 at least (bf16 under autocast would round the norm); float64 stays float64.
  auto wide = [](const torch::Tensor& t) {
    return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
  };
  auto scores = critic(xhat);
  auto grad = torch::autograd::grad({wide(scores).sum()}, {xhat}, {},
                                    /*retain_graph=*/true, /*create_graph=*/true)[0];
  auto norm = wide(grad).flatten(1).norm(2, 1);
  return {lambda * (norm - 1).pow(2).mean(), norm.detach().mean()};
}

void clipWeights(const std::vector<torch::Tensor>& parameters, double c) {
  torch::NoGradGuard ng;
  for (const auto& p : parameters) p.clamp_(-c, c);
}

void saveInnerOptimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                        const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive inner(archive.compilation_unit());
  optimizer.save(inner);
  archive.write(key, inner);
}

void loadInnerOptimizer(torch::serialize::InputArchive& archive, const std::string& key,
                        torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive inner;
  if (archive.try_read(key, inner)) optimizer.load(inner);
}

namespace {

namespace nn = torch::nn;

constexpr int64_t kFixedSamples = 32;

bool wasserstein(const std::string& loss) { return loss == "wgan" || loss == "wgan-gp"; }

// Batch normalisation as in training (each batch normalised by its own statistics), leaving the
// running statistics as they are. The discriminator meets real and generated images in separate
// batches, so its running statistics mix the two and eval mode scores neither as it does in
// training (it rates real images below the fakes); the generator's samples look the same way.
class BatchStatsScope {
 public:
  explicit BatchStatsScope(nn::Module& module) {
    for (auto& m : module.modules(/*include_self=*/true))
      if (auto* bn = m->as<SyncableBatchNormImpl>()) {
        saved_.push_back(
            {bn, bn->options.momentum(), bn->is_training(), bn->num_batches_tracked.clone()});
        bn->options.momentum(0.0);
        bn->train(true);
      }
  }
  ~BatchStatsScope() {
    for (auto& s : saved_) {
      s.bn->options.momentum(s.momentum);
      s.bn->train(s.training);
      s.bn->num_batches_tracked.copy_(s.tracked);
    }
  }
  BatchStatsScope(const BatchStatsScope&) = delete;
  BatchStatsScope& operator=(const BatchStatsScope&) = delete;

 private:
  struct Saved {
    SyncableBatchNormImpl* bn;
    c10::optional<double> momentum;
    bool training;
    torch::Tensor tracked;
  };
  std::vector<Saved> saved_;
};

class Dcgan : public Method {
 public:
  explicit Dcgan(const MethodSetup& s) : Method(s) {
    const auto& p = s.params;
    latent_ = p["latent_dim"].get<int64_t>();
    probeFeatures_ = p["probe_features"].get<std::string>();
    loss_ = p["loss"].get<std::string>();
    nCritic_ = p["n_critic"].get<int64_t>();
    if (nCritic_ == 0) nCritic_ = wasserstein(loss_) ? 5 : 1;  // the papers' values
    clip_ = p["clip_value"].get<double>();
    gpLambda_ = p["gp_lambda"].get<double>();
    jointBatch_ = p["d_batch"].get<std::string>() == "joint";
    if (loss_ == "wgan-gp")
      for (auto& m : encoder_->modules(/*include_self=*/false))
        if (m->as<SyncableBatchNormImpl>())
          throw Error(
              "method.params.loss = \"wgan-gp\": the critic (the encoder) has batch norm, which "
              "makes each image's score depend on the rest of its batch, while the gradient "
              "penalty is taken image by image (Gulrajani et al. use layer norm or none); set "
              "backbone.norm = layer (or none), e.g. --set backbone.norm=layer");
    head_ = register_module("head", nn::Linear(encoder_->featureDim(), 1));
    generator_ = register_module("generator", ConvDecoder(DecoderOptions()
                                                              .inDim(latent_)
                                                              .outChannels(s.channels)
                                                              .imageSize(s.imageSize)
                                                              .width(p["gen_width"].get<int64_t>())
                                                              .output("sigmoid")));
    // The same noise at every preview, saved with the model: the samples can be compared over
    // training and across a resume.
    auto g = at::detail::createCPUGenerator(20160107);
    fixedNoise_ = register_buffer("fixed_noise", torch::randn({kFixedSamples, latent_}, g));
    const double gLr = p["g_lr"].get<double>();
    if (p["g_optimizer"].get<std::string>() == "rmsprop")
      gOpt_ = std::make_unique<torch::optim::RMSprop>(generator_->parameters(),
                                                      torch::optim::RMSpropOptions(gLr));
    else
      gOpt_ = std::make_unique<torch::optim::Adam>(
          generator_->parameters(),
          torch::optim::AdamOptions(gLr).betas(
              {p["g_beta1"].get<double>(), p["g_beta2"].get<double>()}));
  }

  // The trainer's optimiser trains the discriminator (encoder + head); the generator has its own.
  std::vector<torch::Tensor> trainableParameters() override {
    auto ps = encoder_->parameters();
    for (auto& t : head_->parameters()) ps.push_back(t);
    return ps;
  }

  // The representation the probes evaluate. Radford et al. use every layer of the discriminator,
  // each max-pooled to a 4x4 grid: here each stage's map is pooled to 1x1 (max or mean) and the
  // stages concatenated (32+64+128+256 = 480 features for the ConvNet w32), or only the last
  // stage's global average (the encoder's own features).
  torch::Tensor features(const torch::Tensor& images) override {
    return stageFeatures(images, probeFeatures_);
  }

  torch::Tensor logits(const torch::Tensor& images) {
    return head_->forward(encoder_->forward(images)).squeeze(1);
  }

  torch::Tensor generatorLoss(const torch::Tensor& fakeScores) const {
    if (wasserstein(loss_)) return wganGeneratorLoss(fakeScores);
    if (loss_ == "minimax") return ganMinimaxGeneratorLoss(fakeScores);
    return ganGeneratorLoss(fakeScores);
  }

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto real = augmentBatch(batch.images, *ctx.augment, *ctx.gen).to(torch::kFloat);
    const int64_t n = real.size(0);
    // 1. Every n_critic-th step, the generator's step against the current discriminator, with
    //    its own optimiser. Its gradients are taken for the generator's parameters only: the
    //    discriminator's .grad, which the trainer has just zeroed, stays untouched for the
    //    trainer's backward.
    torch::Tensor lossG;
    if (ctx.step % nCritic_ == 0) {
      auto z = torch::randn({n, latent_}, *ctx.gen).to(real.device());
      auto fakeG = generator_->forward(z);
      lossG = generatorLoss(jointBatch_ ? logits(torch::cat({real, fakeG})).slice(0, n)
                                        : logits(fakeG));
      auto gParams = generator_->parameters();
      auto grads = torch::autograd::grad({lossG}, gParams);
      // Assigned, not accumulated (a copy: autograd may hand back views, which zero_grad refuses).
      for (size_t i = 0; i < gParams.size(); ++i) gParams[i].mutable_grad() = grads[i].clone();
      gOpt_->step();
      lossG = lossG.detach();
    }
    // 2. The discriminator's (critic's) loss on real images and fresh fakes of the generator
    //    (detached: the trainer's backward reaches the discriminator only).
    torch::Tensor fake;
    {
      torch::NoGradGuard ng;
      fake = generator_->forward(torch::randn({n, latent_}, *ctx.gen).to(real.device()));
    }
    torch::Tensor realScores, fakeScores;
    if (jointBatch_) {  // one batch: batch norm normalises real and fake images together
      auto both = logits(torch::cat({real, fake}));
      realScores = both.slice(0, 0, n);
      fakeScores = both.slice(0, n);
    } else {
      realScores = logits(real);
      fakeScores = logits(fake);
    }
    // The generator's loss on this step's fakes when it did not step (the same metrics every step).
    if (!lossG.defined()) lossG = generatorLoss(fakeScores.detach());
    if (!wasserstein(loss_)) {
      auto lossD = ganDiscriminatorLoss(realScores, fakeScores);
      return {lossD,
              {{"g_loss", lossG},
               {"d_real", torch::sigmoid(realScores.detach().to(torch::kFloat)).mean()},
               {"d_fake", torch::sigmoid(fakeScores.detach().to(torch::kFloat)).mean()}}};
    }
    auto lossC = wganCriticLoss(realScores, fakeScores);
    const auto cReal = realScores.detach().to(torch::kFloat).mean();
    const auto cFake = fakeScores.detach().to(torch::kFloat).mean();
    StepResult r{lossC,
                 {{"g_loss", lossG},
                  {"critic_real", cReal},
                  {"critic_fake", cFake},
                  {"wasserstein_estimate", cReal - cFake}}};
    if (loss_ == "wgan-gp") {
      auto eps = torch::rand({n}, *ctx.gen);
      auto gp = gradientPenalty([this](const torch::Tensor& x) { return logits(x); }, real, fake,
                                eps, gpLambda_);
      r.loss = lossC + gp.penalty;
      r.metrics.emplace_back("gp", gp.penalty.detach());
      r.metrics.emplace_back("grad_norm", gp.gradNorm);
    }
    return r;
  }

  // WGAN: the critic's weights (the encoder's and the head's) clipped after each of its updates.
  void afterStep(const StepContext&) override {
    if (loss_ == "wgan") clipWeights(trainableParameters(), clip_);
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    Method::save(archive);
    saveInnerOptimizer(archive, "generator_optimizer", *gOpt_);
  }
  void load(torch::serialize::InputArchive& archive) override {
    Method::load(archive);
    loadInnerOptimizer(archive, "generator_optimizer", *gOpt_);
  }

  std::vector<PreviewControl> previewControls() const override {
    return {
        {"noise", "noise seed", 0, 99, 1, 0,
         "0: the fixed noise, the same at every epoch (to follow training); 1-99: other draws"}};
  }

  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator&,
                                const PreviewSettings& settings) override {
    torch::NoGradGuard ng;
    const auto seed = static_cast<int64_t>(previewSetting(settings, previewControls(), "noise"));
    auto z = fixedNoise_;
    if (seed > 0) {
      auto g = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
      z = torch::randn({kFixedSamples, latent_}, g).to(fixedNoise_.device());
    }
    BatchStatsScope genScope(*generator_), discScope(*encoder_);
    auto samples = generator_->forward(z).to(torch::kFloat).clamp(0, 1);
    // A GAN's discriminator gives the probability that an image is real; a Wasserstein critic,
    // a score (higher: more real) whose mean gap between real and fake estimates the distance.
    const bool w = wasserstein(loss_);
    auto score = [w](const torch::Tensor& s) {
      return (w ? s.to(torch::kFloat) : torch::sigmoid(s.to(torch::kFloat))).cpu();
    };
    auto pFake = score(logits(samples));
    const int64_t n = std::min<int64_t>(images.size(0), 16);
    auto real = images.slice(0, 0, n).to(torch::kFloat);
    torch::Tensor pReal;
    if (n >= 8) {
      pReal = score(logits(real));
    } else {  // too few images for batch statistics (an opened image): the running ones
      encoder_->eval();
      pReal = score(logits(real));
    }
    auto label = [w](float p) {
      char b[24];
      std::snprintf(b, sizeof b, w ? "C %.3g" : "D %.2f", p);
      return std::string(b);
    };
    const double mFake = pFake.mean().item<double>(), mReal = pReal.mean().item<double>();
    char buf[400];
    if (w)
      std::snprintf(buf, sizeof buf,
                    "%lld samples from %s; under each, the critic's score (higher: more real; "
                    "mean %.3g, %.3g on the real images: Wasserstein estimate %.3g; the curves "
                    "panel follows wasserstein_estimate over training)",
                    static_cast<long long>(kFixedSamples),
                    seed > 0 ? "another draw of the noise" : "the fixed noise (the same every epoch)",
                    mFake, mReal, mReal - mFake);
    else
      std::snprintf(buf, sizeof buf,
                    "%lld samples from %s; under each, the discriminator's probability that it is "
                    "real (mean %.2f; %.2f on the real images)",
                    static_cast<long long>(kFixedSamples),
                    seed > 0 ? "another draw of the noise" : "the fixed noise (the same every epoch)",
                    mFake, mReal);
    Preview gen{"dcgan samples", buf, samples.cpu(), {}, 8};
    for (int64_t i = 0; i < pFake.size(0); ++i) gen.labels.push_back(label(pFake[i].item<float>()));
    if (w)
      std::snprintf(buf, sizeof buf,
                    "real images and the critic's score of each (mean %.3g; %.3g on the generated "
                    "samples)",
                    mReal, mFake);
    else
      std::snprintf(buf, sizeof buf,
                    "real images and the discriminator's probability that each is real (mean "
                    "%.2f; %.2f on the generated samples)",
                    mReal, mFake);
    Preview rl{"real images", buf, real.cpu(), {}, 8};
    for (int64_t i = 0; i < n; ++i) rl.labels.push_back(label(pReal[i].item<float>()));
    return {gen, rl};
  }

  // New images from z ~ N(0, I), made in batches of up to 250 normalised by their own statistics
  // (as in training and in the previews: the running statistics of the generator's batch norm
  // are not what its training batches saw).
  torch::Tensor sample(int64_t n, torch::Generator& gen) override {
    torch::NoGradGuard ng;
    BatchStatsScope scope(*generator_);
    std::vector<torch::Tensor> out;
    for (int64_t done = 0; done < n;) {
      const int64_t b = std::min<int64_t>(250, n - done);
      // Batch statistics need two images at least: a last batch of one borrows a second draw.
      auto z = torch::randn({std::max<int64_t>(b, 2), latent_}, gen).to(fixedNoise_.device());
      out.push_back(generator_->forward(z).slice(0, 0, b).to(torch::kFloat).clamp(0, 1).cpu());
      done += b;
    }
    return out.empty() ? torch::Tensor() : torch::cat(out);
  }

  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto view = augmentBatch(images, augment, gen).to(torch::kFloat);
    auto z = torch::randn({images.size(0), latent_}, gen).to(fixedNoise_.device());
    BatchStatsScope scope(*generator_);
    auto fake = generator_->forward(z).to(torch::kFloat).clamp(0, 1).to(view.device());
    auto grid = torch::stack({images.to(torch::kFloat), view, fake}, 1).flatten(0, 1);
    return {"dcgan inputs",
            "each row: an image, its augmented view (shown to the discriminator as real) and a "
            "generated image (shown as fake)",
            grid.cpu(),
            {"image", "real", "generated"},
            3};
  }

 private:
  int64_t latent_ = 100;
  std::string probeFeatures_ = "all-max";
  std::string loss_ = "non-saturating";
  int64_t nCritic_ = 1;
  bool jointBatch_ = false;
  double clip_ = 0.01, gpLambda_ = 10;
  nn::Linear head_{nullptr};
  ConvDecoder generator_{nullptr};
  torch::Tensor fixedNoise_;
  std::unique_ptr<torch::optim::Optimizer> gOpt_;
};

}  // namespace

MethodInfo dcganMethodInfo() {
  MethodInfo m;
  m.dataParallel = false;  // its step runs an optimiser of its own
  m.name = "dcgan";
  m.title = "DCGAN";
  m.family = "generative";
  m.summary =
      "A generator turns random noise into images and a discriminator learns to tell them from "
      "real ones; each is trained against the other. The discriminator's convolutional body is "
      "the encoder: to spot fakes it must learn what real images look like, and that is the "
      "representation kept.";
  m.formula =
      "L_D = -mean log s(D(x)) - mean log(1 - s(D(G(z)))),  L_G = -mean log s(D(G(z))) "
      "(non-saturating) or mean log(1 - s(D(G(z)))) (minimax), z ~ N(0, I), s = sigmoid; "
      "wgan: L_C = mean C(G(z)) - mean C(x), L_G = -mean C(G(z)), C's weights clipped to "
      "[-c, c]; wgan-gp: L_C + lambda mean (||grad C(x^)|| - 1)^2, x^ = e x + (1 - e) G(z), "
      "e ~ U[0, 1]";
  m.paper =
      "Radford, Metz, Chintala. Unsupervised Representation Learning with Deep Convolutional "
      "Generative Adversarial Networks. ICLR 2016. Arjovsky, Chintala, Bottou. Wasserstein "
      "GAN. ICML 2017. Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville. Improved Training of "
      "Wasserstein GANs. NeurIPS 2017.";
  m.defaultAugment = "none";
  using T = ParamSpec::Type;
  m.params = {
      probeFeaturesParam("all-max", "Radford et al. use all layers of the discriminator"),
      {"latent_dim",
       T::Int,
       100,
       1,
       4096,
       {},
       "size of the noise vector z the generator starts from"},
      {"gen_width",
       T::Int,
       32,
       4,
       512,
       {},
       "generator channels (4w, 2w, w): more draws sharper images but costs time"},
      {"g_lr",
       T::Float,
       2e-4,
       1e-6,
       1,
       {},
       "generator learning rate (its own Adam; the discriminator uses optimizer.lr)"},
      {"g_beta1",
       T::Float,
       0.5,
       0,
       0.999,
       {},
       "generator Adam beta1; the paper's 0.5 damps the oscillation of the two-player game "
       "(WGAN-GP: 0)"},
      {"g_beta2", T::Float, 0.999, 0, 0.9999, {}, "generator Adam beta2 (WGAN-GP: 0.9)"},
      {"g_optimizer",
       T::Choice,
       "adam",
       0,
       0,
       {"adam", "rmsprop"},
       "the generator's optimiser: Adam (g_beta1, g_beta2) or RMSprop (the WGAN paper's, "
       "without momentum)"},
      {"loss",
       T::Choice,
       "non-saturating",
       0,
       0,
       {"non-saturating", "minimax", "wgan", "wgan-gp"},
       "non-saturating (DCGAN), minimax (the original log(1 - D(G(z))) for the generator), wgan "
       "(a critic without sigmoid, weights clipped) or wgan-gp (a gradient penalty; needs "
       "backbone.norm layer or none)"},
      {"d_batch",
       T::Choice,
       "separate",
       0,
       0,
       {"separate", "joint"},
       "separate: real and generated images go through the discriminator in batches of their "
       "own (Radford et al.'s code); joint: in one batch, so that its batch norm normalises "
       "both with the same statistics (per-batch statistics hide a whole batch's brightness and "
       "contrast: the separate discriminator cannot see that every fake is too gray)"},
      {"n_critic",
       T::Int,
       0,
       0,
       100,
       {},
       "trainer steps (critic updates) per generator update; 0: the loss's paper value (5 for "
       "wgan and wgan-gp, 1 otherwise)"},
      {"clip_value",
       T::Float,
       0.01,
       1e-6,
       10,
       {},
       "wgan: the critic's weights are clipped to [-c, c] after each update (the paper's 0.01)"},
      {"gp_lambda",
       T::Float,
       10.0,
       0,
       1e4,
       {},
       "wgan-gp: weight of the gradient penalty (the paper's 10)"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Dcgan>(s); };
  return m;
}

}  // namespace pretext
