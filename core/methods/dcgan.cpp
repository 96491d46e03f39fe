// DCGAN (Radford, Metz, Chintala 2016): a generator turns noise z ~ N(0, I) into images and a
// discriminator tells them from real ones; the two are trained against each other. The
// discriminator's convolutional body is the encoder, so what it learns in order to tell real
// from fake is the representation the probes evaluate (the paper's point).
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
    gOpt_ = std::make_unique<torch::optim::Adam>(generator_->parameters(),
                                                 torch::optim::AdamOptions(p["g_lr"].get<double>())
                                                     .betas({p["g_beta1"].get<double>(), 0.999}));
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

  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto real = augmentBatch(batch.images, *ctx.augment, *ctx.gen).to(torch::kFloat);
    const int64_t n = real.size(0);
    // 1. The generator's step against the current discriminator, with its own Adam. Its
    //    gradients are taken for the generator's parameters only: the discriminator's .grad,
    //    which the trainer has just zeroed, stays untouched for the trainer's backward.
    auto z = torch::randn({n, latent_}, *ctx.gen).to(real.device());
    auto fakeLogitsG = logits(generator_->forward(z));
    auto lossG = ganGeneratorLoss(fakeLogitsG);
    auto gParams = generator_->parameters();
    auto grads = torch::autograd::grad({lossG}, gParams);
    // Assigned, not accumulated (a copy: autograd may hand back views, which zero_grad refuses).
    for (size_t i = 0; i < gParams.size(); ++i) gParams[i].mutable_grad() = grads[i].clone();
    gOpt_->step();
    // 2. The discriminator's loss on real images and fresh fakes of the updated generator
    //    (detached: the trainer's backward reaches the discriminator only).
    torch::Tensor fake;
    {
      torch::NoGradGuard ng;
      fake = generator_->forward(torch::randn({n, latent_}, *ctx.gen).to(real.device()));
    }
    auto realLogits = logits(real);
    auto fakeLogits = logits(fake);
    auto lossD = ganDiscriminatorLoss(realLogits, fakeLogits);
    return {lossD,
            {{"g_loss", lossG.detach()},
             {"d_real", torch::sigmoid(realLogits.detach().to(torch::kFloat)).mean()},
             {"d_fake", torch::sigmoid(fakeLogits.detach().to(torch::kFloat)).mean()}}};
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
    auto pFake = torch::sigmoid(logits(samples).to(torch::kFloat)).cpu();
    const int64_t n = std::min<int64_t>(images.size(0), 16);
    auto real = images.slice(0, 0, n).to(torch::kFloat);
    torch::Tensor pReal;
    if (n >= 8) {
      pReal = torch::sigmoid(logits(real).to(torch::kFloat)).cpu();
    } else {  // too few images for batch statistics (an opened image): the running ones
      encoder_->eval();
      pReal = torch::sigmoid(logits(real).to(torch::kFloat)).cpu();
    }
    auto label = [](float p) {
      char b[16];
      std::snprintf(b, sizeof b, "D %.2f", p);
      return std::string(b);
    };
    char buf[300];
    std::snprintf(buf, sizeof buf,
                  "%lld samples from %s; under each, the discriminator's probability that it is "
                  "real (mean %.2f; %.2f on the real images)",
                  static_cast<long long>(kFixedSamples),
                  seed > 0 ? "another draw of the noise" : "the fixed noise (the same every epoch)",
                  pFake.mean().item<double>(), pReal.mean().item<double>());
    Preview gen{"dcgan samples", buf, samples.cpu(), {}, 8};
    for (int64_t i = 0; i < pFake.size(0); ++i) gen.labels.push_back(label(pFake[i].item<float>()));
    std::snprintf(buf, sizeof buf,
                  "real images and the discriminator's probability that each is real (mean "
                  "%.2f; %.2f on the generated samples)",
                  pReal.mean().item<double>(), pFake.mean().item<double>());
    Preview rl{"real images", buf, real.cpu(), {}, 8};
    for (int64_t i = 0; i < n; ++i) rl.labels.push_back(label(pReal[i].item<float>()));
    return {gen, rl};
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
  nn::Linear head_{nullptr};
  ConvDecoder generator_{nullptr};
  torch::Tensor fixedNoise_;
  std::unique_ptr<torch::optim::Adam> gOpt_;
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
      "(non-saturating), z ~ N(0, I), s = sigmoid";
  m.paper =
      "Radford, Metz, Chintala. Unsupervised Representation Learning with Deep Convolutional "
      "Generative Adversarial Networks. ICLR 2016.";
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
       "generator Adam beta1; the paper's 0.5 damps the oscillation of the two-player game"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Dcgan>(s); };
  return m;
}

}  // namespace pretext
