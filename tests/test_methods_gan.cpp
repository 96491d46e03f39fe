// The context encoder (inpainting) and the DCGAN: the GAN losses (non-saturating, minimax,
// Wasserstein, the gradient penalty) and the inpainting loss against hand-worked numbers, the
// block masks, weight clipping, n_critic, and the two-networks-one-trainer mechanics (each
// network moves only under its own loss; the inner optimiser survives a save/load round trip).
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <sstream>

#include "core/config/experiment.h"
#include "core/methods/dcgan.h"
#include "core/methods/inpainting.h"
#include "core/methods/registry.h"
#include "core/models/batch_norm.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;
using json = nlohmann::json;

namespace {

bool nearlyEqual(const torch::Tensor& a, const torch::Tensor& b, double tol = 1e-6) {
  return a.sizes() == b.sizes() && (a - b).abs().max().item<double>() <= tol;
}

torch::Tensor flat(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> v;
  for (const auto& p : ps) v.push_back(p.detach().flatten());
  return torch::cat(v).clone();
}

// Parameters of a method's module minus the ones the trainer trains: the inner network's.
std::vector<torch::Tensor> innerParameters(Method& m) {
  std::set<const void*> trained;
  for (auto& p : m.trainableParameters()) trained.insert(p.unsafeGetTensorImpl());
  std::vector<torch::Tensor> out;
  for (auto& p : m.parameters())
    if (!trained.count(p.unsafeGetTensorImpl())) out.push_back(p);
  return out;
}

std::shared_ptr<Method> tinyMethod(const std::string& name, json params, uint64_t seed = 0,
                                   const std::string& norm = "batch") {
  torch::manual_seed(seed);
  MethodSetup s;
  s.channels = 1;
  s.imageSize = 16;
  s.backbone.width(4).norm(norm);
  s.params = std::move(params);
  return makeMethod(name, s);
}
json advInpainting() {
  return {{"block_size", 6}, {"lambda_adv", 0.5}, {"d_width", 4}, {"dec_width", 4}};
}
json tinyGan() { return {{"latent_dim", 8}, {"gen_width", 4}}; }
json tinyGan(const std::string& loss, int64_t nCritic = 0) {
  return {{"latent_dim", 8}, {"gen_width", 4}, {"loss", loss}, {"n_critic", nCritic}};
}
std::set<std::string> ganMetricNames(const StepResult& r) {
  std::set<std::string> names;
  for (auto& [n, v] : r.metrics) names.insert(n);
  return names;
}
double ganMetric(const StepResult& r, const std::string& name) {
  for (auto& [n, v] : r.metrics)
    if (n == name) return v.item<double>();
  return NAN;
}

Batch tinyBatch() {
  torch::manual_seed(123);
  Batch b;
  b.images = torch::rand({8, 1, 16, 16});
  return b;
}

// What the trainer does with a method: zero, step(), backward, its optimiser's step, afterStep.
StepResult trainerStep(Method& m, torch::optim::Optimizer& opt, const Batch& b, int64_t step) {
  auto gen = at::detail::createCPUGenerator(100 + static_cast<uint64_t>(step));
  AugmentOptions aug = augmentPreset("none");
  StepContext ctx{step, 0, 0.0, &gen, &aug};
  m.train();
  opt.zero_grad();
  auto r = m.step(b, ctx);
  r.loss.backward();
  opt.step();
  m.afterStep(ctx);
  return r;
}

std::unique_ptr<torch::optim::Adam> trainerOptimizer(Method& m) {
  return std::make_unique<torch::optim::Adam>(m.trainableParameters(),
                                              torch::optim::AdamOptions(1e-2));
}

}  // namespace

class TestMethodsGan : public QObject {
  Q_OBJECT
 private slots:
  // ------------------------------------------------------------------ GAN losses
  // softplus(0) = log 2 = 0.693147, softplus(-2) = log(1 + e^-2) = 0.126928,
  // softplus(2) = 2.126928.  Real logits {0, 2}, fake logits {0, -2}:
  //   L_D = (0.693147 + 0.126928)/2 + (0.693147 + 0.126928)/2 = 0.820075
  //   L_G = (softplus(-0) + softplus(2))/2 = (0.693147 + 2.126928)/2 = 1.410038
  void ganLossesHandWorked() {
    auto real = torch::tensor({0.f, 2.f}), fake = torch::tensor({0.f, -2.f});
    QVERIFY(std::abs(ganDiscriminatorLoss(real, fake).item<double>() - 0.820075) < 1e-5);
    QVERIFY(std::abs(ganGeneratorLoss(fake).item<double>() - 1.410038) < 1e-5);
    // A discriminator sure and right has ~0 loss; the generator's loss is then large.
    auto sure = ganDiscriminatorLoss(torch::tensor({20.f}), torch::tensor({-20.f})).item<double>();
    QVERIFY(sure < 1e-8);
    QVERIFY(std::abs(ganGeneratorLoss(torch::tensor({-20.f})).item<double>() - 20.0) < 1e-6);
  }
  // The same as binary cross-entropy written out: -[y log s(l) + (1-y) log(1-s(l))].
  void ganLossesAreBce() {
    auto real = torch::tensor({0.3f, -1.2f, 2.5f}), fake = torch::tensor({-0.7f, 1.1f});
    auto s = [](double l) { return 1.0 / (1.0 + std::exp(-l)); };
    double lr = 0, lf = 0, lg = 0;
    for (int i = 0; i < 3; ++i) lr += -std::log(s(real[i].item<double>())) / 3;
    for (int i = 0; i < 2; ++i) lf += -std::log(1 - s(fake[i].item<double>())) / 2;
    for (int i = 0; i < 2; ++i) lg += -std::log(s(fake[i].item<double>())) / 2;
    QVERIFY(std::abs(ganDiscriminatorLoss(real, fake).item<double>() - (lr + lf)) < 1e-5);
    QVERIFY(std::abs(ganGeneratorLoss(fake).item<double>() - lg) < 1e-5);
  }

  // The original minimax generator loss, L_G = mean log(1 - s(f)) = -mean softplus(f).
  // Fake logits {0, -2}: -(softplus(0) + softplus(-2)) / 2 = -(0.693147 + 0.126928) / 2
  // = -0.410038. Its gradient -s(f)/N saturates where the discriminator rejects the fakes
  // (f = -20: -s(-20) = -2.1e-9), the non-saturating loss's -(1 - s(f))/N does not (-1).
  void minimaxLossHandWorked() {
    auto fake = torch::tensor({0.f, -2.f});
    QVERIFY(std::abs(ganMinimaxGeneratorLoss(fake).item<double>() - -0.410038) < 1e-5);
    auto f = torch::tensor({-20.0}, torch::dtype(torch::kDouble).requires_grad(true));
    ganMinimaxGeneratorLoss(f).backward();
    QVERIFY(std::abs(f.grad().item<double>()) < 1e-8);
    auto g = torch::tensor({-20.0}, torch::dtype(torch::kDouble).requires_grad(true));
    ganGeneratorLoss(g).backward();
    QVERIFY(std::abs(g.grad().item<double>() - -1.0) < 1e-8);
  }
  // Critic scores real {1, 3}, fake {-1, 0.5}: mean real 2, mean fake -0.25.
  //   L_C = mean C(fake) - mean C(real) = -0.25 - 2 = -2.25 (the Wasserstein estimate 2.25),
  //   L_G = -mean C(fake) = 0.25.
  void wganLossesHandWorked() {
    auto real = torch::tensor({1.f, 3.f}), fake = torch::tensor({-1.f, 0.5f});
    QVERIFY(std::abs(wganCriticLoss(real, fake).item<double>() - -2.25) < 1e-6);
    QVERIFY(std::abs(wganGeneratorLoss(fake).item<double>() - 0.25) < 1e-6);
  }
  // A linear critic C(x) = w . x has gradient w at every x: ||grad|| = ||w|| = ||(3, 4)|| = 5,
  // so GP = lambda (5 - 1)^2 = 10 x 16 = 160 whatever the interpolates. Its gradient with
  // respect to w (the double backward the critic's update takes):
  //   d/dw lambda (||w|| - 1)^2 = 2 lambda (||w|| - 1) w / ||w|| = 2 x 10 x 4 x (3, 4) / 5 = (48, 64).
  void gradientPenaltyLinearCritic() {
    auto w = torch::tensor({3.0, 4.0}, torch::dtype(torch::kDouble).requires_grad(true));
    auto critic = [&](const torch::Tensor& x) { return x.flatten(1).mv(w); };
    auto real = torch::randn({5, 1, 1, 2}, torch::kDouble), fake = torch::randn({5, 1, 1, 2}, torch::kDouble);
    auto eps = torch::rand({5}, torch::kDouble);
    auto gp = gradientPenalty(critic, real, fake, eps, 10.0);
    QVERIFY(std::abs(gp.penalty.item<double>() - 160.0) < 1e-9);
    QVERIFY(std::abs(gp.gradNorm.item<double>() - 5.0) < 1e-9);
    gp.penalty.backward();
    QVERIFY(torch::allclose(w.grad(), torch::tensor({48.0, 64.0}, torch::kDouble), 0, 1e-9));
  }
  // The interpolates: C(x) = ||x||^2 / 2 has gradient x, so ||grad C(x^)|| = ||x^||. Real
  // (2, 0) and (0, 3), fake 0, eps {0.5, 1}: x^ = (1, 0) and (0, 3), norms 1 and 3:
  //   GP = 10 x ((1 - 1)^2 + (3 - 1)^2) / 2 = 20, mean norm 2.
  void gradientPenaltyInterpolates() {
    auto critic = [](const torch::Tensor& x) { return x.flatten(1).pow(2).sum(1) / 2; };
    auto real = torch::tensor({2.0, 0.0, 0.0, 3.0}, torch::kDouble).view({2, 2});
    auto fake = torch::zeros({2, 2}, torch::kDouble);
    auto gp = gradientPenalty(critic, real, fake, torch::tensor({0.5, 1.0}, torch::kDouble), 10.0);
    QVERIFY(std::abs(gp.penalty.item<double>() - 20.0) < 1e-9);
    QVERIFY(std::abs(gp.gradNorm.item<double>() - 2.0) < 1e-9);
    // eps 0: the fakes themselves, at 0 where the gradient is 0: (0 - 1)^2 each.
    auto atFake = gradientPenalty(critic, real, fake, torch::zeros({2}), 10.0);
    QVERIFY(std::abs(atFake.penalty.item<double>() - 10.0) < 1e-9);
    PRETEXT_VERIFY_THROWS_WITH(gradientPenalty(critic, real, fake, torch::zeros({3}), 10.0),
                               "one interpolation weight per image");
  }
  void weightClippingHandWorked() {
    auto a = torch::tensor({-0.5f, 0.005f, 0.3f}), b = torch::tensor({-0.01f, 0.02f});
    clipWeights({a, b}, 0.01);
    QVERIFY(nearlyEqual(a, torch::tensor({-0.01f, 0.005f, 0.01f})));
    QVERIFY(nearlyEqual(b, torch::tensor({-0.01f, 0.01f})));
  }

  // ------------------------------------------------------------------ masks
  // 6x6 images, block 4, overlap 1, centre: the block is rows/cols 1..4, the hole rows/cols 2..3.
  void centralBlock() {
    auto gen = at::detail::createCPUGenerator(0);
    auto m = blockMask(2, 6, 6, 4, 1, "center", gen);
    QCOMPARE(m.region.sizes(), (c10::IntArrayRef{2, 1, 6, 6}));
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 6; ++j) {
        const bool inBlock = i >= 1 && i <= 4 && j >= 1 && j <= 4;
        const bool inHole = i >= 2 && i <= 3 && j >= 2 && j <= 3;
        QCOMPARE(m.region[1][0][i][j].item<float>(), inBlock ? 1.f : 0.f);
        QCOMPARE(m.hole[1][0][i][j].item<float>(), inHole ? 1.f : 0.f);
      }
    // Odd room: (7 - 2) / 2 = 2, so rows 2..3 of 7.
    auto odd = blockMask(1, 7, 7, 2, 0, "center", gen);
    QCOMPARE(odd.region[0][0].sum(1)[2].item<float>(), 2.f);
    QCOMPARE(odd.region[0][0].sum(1)[4].item<float>(), 0.f);
    QVERIFY(nearlyEqual(odd.hole, odd.region));  // no overlap: the hole is the block
  }
  void randomBlocks() {
    auto gen = at::detail::createCPUGenerator(5);
    auto m = blockMask(64, 10, 12, 3, 0, "random", gen);
    std::set<std::pair<int64_t, int64_t>> corners;
    for (int64_t k = 0; k < 64; ++k) {
      auto r = m.region[k][0];
      QCOMPARE(r.sum().item<float>(), 9.f);  // the whole 3x3 block lies inside the image
      auto rows = r.sum(1).nonzero().flatten(), cols = r.sum(0).nonzero().flatten();
      QCOMPARE(rows.size(0), int64_t(3));
      QCOMPARE(cols.size(0), int64_t(3));
      QCOMPARE(rows[2].item<int64_t>() - rows[0].item<int64_t>(), int64_t(2));  // contiguous
      corners.insert({rows[0].item<int64_t>(), cols[0].item<int64_t>()});
    }
    QVERIFY(corners.size() > 20);  // 8 x 10 possible places
    // The same generator state gives the same masks.
    auto g1 = at::detail::createCPUGenerator(9), g2 = at::detail::createCPUGenerator(9);
    QVERIFY(nearlyEqual(blockMask(4, 10, 10, 3, 0, "random", g1).region,
                  blockMask(4, 10, 10, 3, 0, "random", g2).region));
  }
  void badBlocks() {
    auto gen = at::detail::createCPUGenerator(0);
    PRETEXT_VERIFY_THROWS_WITH(blockMask(1, 8, 8, 8, 0, "center", gen), "block_size");
    PRETEXT_VERIFY_THROWS_WITH(blockMask(1, 8, 8, 4, 2, "center", gen), "overlap");
    PRETEXT_VERIFY_THROWS_WITH(blockMask(1, 8, 8, 4, 0, "middle", gen), "center or random");
    PRETEXT_VERIFY_THROWS_WITH(tinyMethod("inpainting", {{"block_size", 16}}), "block_size = 16");
  }
  void maskedInputHidesTheHole() {
    auto gen = at::detail::createCPUGenerator(0);
    auto m = blockMask(1, 4, 4, 2, 0, "center", gen);
    auto a = torch::rand({1, 1, 4, 4}), b = a.clone();
    b.index_put_({0, 0, 1, 1}, 0.9f);  // a pixel inside the hole
    QVERIFY(nearlyEqual(maskImages(a, m.hole), maskImages(b, m.hole)));
    QCOMPARE(maskImages(a, m.hole)[0][0][2][2].item<float>(), 0.5f);
    QCOMPARE(maskImages(a, m.hole)[0][0][0][3].item<float>(), a[0][0][0][3].item<float>());
  }

  // ------------------------------------------------------------------ inpainting loss
  // pred 0, target [[1,2],[3,4]]: weights on (0,0) only -> 1; (0,0) weight 1 and (0,1) weight
  // 10 -> (1*1 + 10*4) / 11 = 41/11; two channels (target 1..4 and 2*that): the weighted mean
  // over both -> (1 + 10*4 + 4 + 10*16) / 22 = 205/22.
  void inpaintingLossHandWorked() {
    auto target = torch::tensor({1.f, 2.f, 3.f, 4.f}).view({1, 1, 2, 2});
    auto pred = torch::zeros_like(target);
    auto w1 = torch::tensor({1.f, 0.f, 0.f, 0.f}).view({1, 1, 2, 2});
    auto w2 = torch::tensor({1.f, 10.f, 0.f, 0.f}).view({1, 1, 2, 2});
    QVERIFY(std::abs(inpaintingLoss(pred, target, w1).item<double>() - 1.0) < 1e-6);
    QVERIFY(std::abs(inpaintingLoss(pred, target, w2).item<double>() - 41.0 / 11.0) < 1e-5);
    auto t2 = torch::cat({target, 2 * target}, 1);
    QVERIFY(std::abs(inpaintingLoss(torch::zeros_like(t2), t2, w2).item<double>() - 205.0 / 22.0) <
            1e-5);
  }
  void overlapWeights() {
    auto gen = at::detail::createCPUGenerator(0);
    auto m = blockMask(1, 6, 6, 4, 1, "center", gen);
    auto w = inpaintingWeights(m, 10.0)[0][0];
    QCOMPARE(w[0][0].item<float>(), 0.f);   // outside
    QCOMPARE(w[1][1].item<float>(), 10.f);  // ring
    QCOMPARE(w[2][3].item<float>(), 1.f);   // hole
    QCOMPARE(w.sum().item<float>(), 4.f * 1 + 12.f * 10);
  }

  // ------------------------------------------------------------------ two networks, one trainer
  void l2OnlyHasNoDiscriminator() {
    auto m = tinyMethod("inpainting", {{"block_size", 6}, {"dec_width", 4}});
    QCOMPARE(innerParameters(*m).size(), size_t(0));
    auto adv = tinyMethod("inpainting", advInpainting());
    QVERIFY(!innerParameters(*adv).empty());
  }
  // step() moves only the inner network; the trainer's step moves only its own parameters.
  void eachNetworkMovesUnderItsOwnLoss_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("inpainting") << "inpainting";
    QTest::newRow("dcgan") << "dcgan";
  }
  void eachNetworkMovesUnderItsOwnLoss() {
    QFETCH(QString, name);
    auto m = tinyMethod(name.toStdString(), name == "dcgan" ? tinyGan() : advInpainting());
    auto opt = trainerOptimizer(*m);
    auto b = tinyBatch();
    auto gen = at::detail::createCPUGenerator(1);
    AugmentOptions aug = augmentPreset("none");
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    auto outer0 = flat(m->trainableParameters()), inner0 = flat(innerParameters(*m));
    m->train();
    opt->zero_grad();
    auto r = m->step(b, ctx);
    auto outer1 = flat(m->trainableParameters()), inner1 = flat(innerParameters(*m));
    QVERIFY(nearlyEqual(outer1, outer0, 0));      // step() leaves the trainer's network
    QVERIFY(!nearlyEqual(inner1, inner0, 1e-7));  // and steps the other one
    if (name == "dcgan") {  // the generator's update left no gradient on the discriminator
      for (auto& p : m->trainableParameters())
        QVERIFY(!p.grad().defined() || p.grad().abs().sum().item<double>() == 0);
    }
    r.loss.backward();
    opt->step();
    QVERIFY(!nearlyEqual(flat(m->trainableParameters()), outer1, 1e-7));
    QVERIFY(nearlyEqual(flat(innerParameters(*m)), inner1, 0));  // the trainer's step leaves it
    QVERIFY(std::isfinite(r.loss.item<double>()));
  }
  // The inner step starts from zeroed gradients: whatever the trainer's backward left on the
  // inner network (the adversarial term reaches the discriminator) does not leak into its step.
  void innerStepIgnoresStaleGradients_data() { eachNetworkMovesUnderItsOwnLoss_data(); }
  void innerStepIgnoresStaleGradients() {
    QFETCH(QString, name);
    auto params = name == "dcgan" ? tinyGan() : advInpainting();
    auto a = tinyMethod(name.toStdString(), params, 7),
         b = tinyMethod(name.toStdString(), params, 7);
    for (auto& p : innerParameters(*b)) p.mutable_grad() = torch::full_like(p, 1000.0);
    auto batch = tinyBatch();
    for (auto* m : {a.get(), b.get()}) {
      auto gen = at::detail::createCPUGenerator(3);
      AugmentOptions aug = augmentPreset("none");
      StepContext ctx{0, 0, 0.0, &gen, &aug};
      m->train();
      m->step(batch, ctx);
    }
    QVERIFY(nearlyEqual(flat(innerParameters(*a)), flat(innerParameters(*b)), 1e-6));
  }
  // Save after two steps, load into a differently initialised method, take the third step on
  // both: everything matches only if the inner Adam's moments came back too.
  void resumeContinuesExactly_data() { eachNetworkMovesUnderItsOwnLoss_data(); }
  void resumeContinuesExactly() {
    QFETCH(QString, name);
    const std::string key = name == "dcgan" ? "generator_optimizer" : "discriminator_optimizer";
    auto params = name == "dcgan" ? tinyGan() : advInpainting();
    auto batch = tinyBatch();
    auto a = tinyMethod(name.toStdString(), params, 1);
    auto optA = trainerOptimizer(*a);
    for (int64_t s = 0; s < 2; ++s) trainerStep(*a, *optA, batch, s);
    std::stringstream model, optim;
    {
      torch::serialize::OutputArchive am, ao;
      a->save(am);
      optA->save(ao);
      am.save_to(model);
      ao.save_to(optim);
    }
    auto b = tinyMethod(name.toStdString(), params, 2);
    auto optB = trainerOptimizer(*b);
    QVERIFY(!nearlyEqual(flat(b->parameters()), flat(a->parameters()), 1e-7));
    {
      torch::serialize::InputArchive bm, bo;
      bm.load_from(model);
      bo.load_from(optim);
      torch::serialize::InputArchive inner;
      QVERIFY(bm.try_read(key, inner));
      b->load(bm);
      optB->load(bo);
    }
    QVERIFY(nearlyEqual(flat(b->parameters()), flat(a->parameters()), 0));
    // A third method loaded from the same weights but with its inner Adam fresh: it must differ.
    auto c = tinyMethod(name.toStdString(), params, 3);
    for (size_t i = 0; i < c->parameters().size(); ++i)
      c->parameters()[i].detach().copy_(a->parameters()[i].detach());
    for (size_t i = 0; i < c->buffers().size(); ++i) c->buffers()[i].copy_(a->buffers()[i]);
    auto optC = trainerOptimizer(*c);
    {
      std::stringstream o2(optim.str());
      torch::serialize::InputArchive co;
      co.load_from(o2);
      optC->load(co);
    }
    trainerStep(*a, *optA, batch, 2);
    trainerStep(*b, *optB, batch, 2);
    trainerStep(*c, *optC, batch, 2);
    QVERIFY(nearlyEqual(flat(b->parameters()), flat(a->parameters()), 1e-6));
    QVERIFY(!nearlyEqual(flat(innerParameters(*c)), flat(innerParameters(*a)), 1e-6));
  }

  // ------------------------------------------------------------------ the methods
  void inpaintingStepsAndPreviews() {
    auto m = tinyMethod("inpainting", {{"block_size", 6}, {"dec_width", 4}, {"mask", "center"}});
    auto opt = trainerOptimizer(*m);
    auto batch = tinyBatch();
    auto r = trainerStep(*m, *opt, batch, 0);
    std::set<std::string> names;
    for (auto& [n, v] : r.metrics) names.insert(n);
    QVERIFY(names.count("rec_loss") && names.count("mean_fill_loss"));
    QVERIFY(!names.count("d_real"));
    m->eval();
    auto gen = at::detail::createCPUGenerator(0);
    auto p = m->previews(batch.images, gen, {{"block_size", 4}});
    QCOMPARE(p.size(), size_t(1));
    QCOMPARE(p[0].images.size(0), int64_t(8 * 3));
    QCOMPARE(p[0].labels.size(), size_t(6));  // column headers, two images a row
    QCOMPARE(p[0].columns, int64_t(6));
    auto one = m->previews(batch.images.slice(0, 0, 1), gen, {});
    QCOMPARE(one[0].columns, int64_t(3));
    QVERIFY(p[0].caption.find("4 px block") != std::string::npos);
    // Column 2 (filled) equals the original outside the hole.
    auto filled = p[0].images.index({torch::indexing::Slice(1, torch::indexing::None, 3)});
    auto orig = p[0].images.index({torch::indexing::Slice(2, torch::indexing::None, 3)});
    QVERIFY(nearlyEqual(filled.slice(2, 0, 5), orig.slice(2, 0, 5)));  // rows above the central block
    QCOMPARE(m->features(batch.images).size(1), m->encoder()->featureDim());
    auto adv = tinyMethod("inpainting", advInpainting());
    auto optAdv = trainerOptimizer(*adv);
    auto ra = trainerStep(*adv, *optAdv, batch, 0);
    names.clear();
    for (auto& [n, v] : ra.metrics) names.insert(n);
    for (const char* k : {"rec_loss", "adv_loss", "d_loss", "d_real", "d_fake"})
      QVERIFY(names.count(k));
  }
  // WGAN: after each trainer step every critic weight (encoder and head, batch norm's scales
  // too, as in the paper's code) lies in [-c, c]; the generator's are not clipped.
  void wganClipsTheCriticAfterEachStep() {
    auto params = tinyGan("wgan");
    params["clip_value"] = 0.02;
    auto m = tinyMethod("dcgan", params);
    auto opt = trainerOptimizer(*m);
    auto batch = tinyBatch();
    auto before = flat(m->trainableParameters());
    QVERIFY(before.abs().max().item<double>() > 0.02);  // initialised beyond the clip
    auto r = trainerStep(*m, *opt, batch, 0);
    QVERIFY(flat(m->trainableParameters()).abs().max().item<double>() <= 0.02 + 1e-9);
    QVERIFY(flat(innerParameters(*m)).abs().max().item<double>() > 0.02);
    // The critic's metrics: scores without sigmoid and their gap, the Wasserstein estimate.
    auto names = ganMetricNames(r);
    for (const char* k : {"g_loss", "critic_real", "critic_fake", "wasserstein_estimate"})
      QVERIFY2(names.count(k), k);
    QVERIFY(!names.count("gp") && !names.count("d_real"));
    QVERIFY(std::abs(ganMetric(r, "wasserstein_estimate") -
                     (ganMetric(r, "critic_real") - ganMetric(r, "critic_fake"))) < 1e-6);
    QVERIFY(std::abs(r.loss.item<double>() + ganMetric(r, "wasserstein_estimate")) < 1e-5);
    // The non-saturating GAN clips nothing.
    auto ns = tinyMethod("dcgan", tinyGan());
    auto optNs = trainerOptimizer(*ns);
    trainerStep(*ns, *optNs, batch, 0);
    QVERIFY(flat(ns->trainableParameters()).abs().max().item<double>() > 0.02);
  }
  // n_critic: the generator steps at trainer steps 0, n, 2n, ... only; every step updates the
  // critic. 0 is the loss's paper value: 5 for wgan and wgan-gp, 1 (every step) otherwise.
  void generatorStepsEveryNCriticSteps_data() {
    QTest::addColumn<QString>("loss");
    QTest::addColumn<int>("nCritic");
    QTest::addColumn<QString>("steps");  // the steps at which the generator moves, of 0..6
    QTest::newRow("non-saturating, default") << "non-saturating" << 0 << "0123456";
    QTest::newRow("minimax, 3") << "minimax" << 3 << "036";
    QTest::newRow("wgan, default 5") << "wgan" << 0 << "05";
    QTest::newRow("wgan, 2") << "wgan" << 2 << "0246";
  }
  void generatorStepsEveryNCriticSteps() {
    QFETCH(QString, loss);
    QFETCH(int, nCritic);
    QFETCH(QString, steps);
    auto params = tinyGan(loss.toStdString(), nCritic);
    // A wide clip: at 0.01 the test's Adam (lr 0.01) pushes the critic's weights against the
    // clip, where they stay put.
    params["clip_value"] = 1.0;
    auto m = tinyMethod("dcgan", params);
    auto opt = trainerOptimizer(*m);
    auto batch = tinyBatch();
    QString moved;
    for (int64_t s = 0; s < 7; ++s) {
      auto g0 = flat(innerParameters(*m)), d0 = flat(m->trainableParameters());
      auto r = trainerStep(*m, *opt, batch, s);
      if (!nearlyEqual(flat(innerParameters(*m)), g0, 0)) moved += QString::number(s);
      QVERIFY(!nearlyEqual(flat(m->trainableParameters()), d0, 0));  // the critic, every step
      QVERIFY(std::isfinite(ganMetric(r, "g_loss")));  // reported every step
    }
    QCOMPARE(moved, steps);
  }
  // d_batch: with "separate" batches the batch-norm discriminator's score of the real images does
  // not depend on the fakes; with "joint" it does (one batch, shared statistics). Two methods
  // differ only in their generators; step 1 of n_critic 2 leaves the generators alone.
  void jointDiscriminatorBatch() {
    for (const char* mode : {"separate", "joint"}) {
      double dReal[2];
      for (int k = 0; k < 2; ++k) {
        auto params = tinyGan("non-saturating", 2);
        params["d_batch"] = mode;
        auto m = tinyMethod("dcgan", params, 5);
        if (k == 1) {
          torch::NoGradGuard ng;
          for (auto& p : innerParameters(*m)) p.add_(0.5);
        }
        auto gen = at::detail::createCPUGenerator(8);
        AugmentOptions aug = augmentPreset("none");
        StepContext ctx{1, 0, 0.0, &gen, &aug};
        m->train();
        dReal[k] = ganMetric(m->step(tinyBatch(), ctx), "d_real");
      }
      if (std::string(mode) == "separate")
        QCOMPARE(dReal[0], dReal[1]);
      else
        QVERIFY(std::abs(dReal[0] - dReal[1]) > 1e-6);
    }
    PRETEXT_VERIFY_THROWS_WITH(
        resolveParams(MethodRegistry::instance().get("dcgan"), {{"d_batch", "mixed"}}),
        "method.params.d_batch");
  }
  // WGAN-GP: refused over a batch-norm critic (naming backbone.norm); with layer norm the loss is
  // the critic's plus the penalty, and the penalty's backward reaches the critic's weights.
  void wganGpNeedsACriticWithoutBatchNorm() {
    PRETEXT_VERIFY_THROWS_WITH(tinyMethod("dcgan", tinyGan("wgan-gp")), "backbone.norm = layer");
    for (const char* norm : {"layer", "none"}) {
      auto m = tinyMethod("dcgan", tinyGan("wgan-gp"), 0, norm);
      for (auto& mod : m->encoder()->modules()) QVERIFY(!mod->as<SyncableBatchNormImpl>());
      auto gen = at::detail::createCPUGenerator(4);
      AugmentOptions aug = augmentPreset("none");
      StepContext ctx{1, 0, 0.0, &gen, &aug};  // step 1: the critic alone
      m->train();
      auto r = m->step(tinyBatch(), ctx);
      auto names = ganMetricNames(r);
      for (const char* k : {"gp", "grad_norm", "wasserstein_estimate", "critic_real"})
        QVERIFY2(names.count(k), k);
      QVERIFY(ganMetric(r, "gp") > 0);
      QVERIFY(std::abs(r.loss.item<double>() -
                       (-ganMetric(r, "wasserstein_estimate") + ganMetric(r, "gp"))) < 1e-4);
      // The trainer's backward goes through the penalty's double backward to finite gradients
      // on the critic (gradientPenaltyLinearCritic checks those gradients' values).
      r.loss.backward();
      double g = 0;
      for (auto& p : m->trainableParameters())
        if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
      QVERIFY(g > 0 && std::isfinite(g));
    }
  }
  void ganSettingsAreValidated() {
    auto info = MethodRegistry::instance().get("dcgan");
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"loss", "hinge"}}), "method.params.loss");
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"n_critic", -1}}), "method.params.n_critic");
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"clip_value", 0}}), "method.params.clip_value");
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"gp_lambda", -1}}), "method.params.gp_lambda");
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"g_beta2", 1}}), "method.params.g_beta2");
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"g_optimizer", "sgd"}}), "method.params.g_optimizer");
    auto d = resolveParams(info, json::object());
    QCOMPARE(d["loss"].get<std::string>(), std::string("non-saturating"));
    QCOMPARE(d["n_critic"].get<int64_t>(), int64_t(0));
    // The experiment: backbone.norm is known and the convnet's only.
    PRETEXT_VERIFY_THROWS_WITH(experimentFromJson(json{{"backbone", {{"norm", "group"}}}}),
                               "backbone.norm = \"group\": expected batch, layer or none");
    PRETEXT_VERIFY_THROWS_WITH(
        experimentFromJson(json{{"backbone", {{"name", "resnet18"}, {"norm", "layer"}}}}),
        "only the convnet");
    // The presets of the four losses load; WGAN-GP's over a layer-norm critic.
    for (const char* p : {"dcgan-fashion", "dcgan-wgan-fashion", "dcgan-wgangp-fashion"}) {
      Experiment e = experimentFromJson(loadPresetJson(p));
      QCOMPARE(e.method, std::string("dcgan"));
    }
    auto gp = experimentFromJson(loadPresetJson("dcgan-wgangp-fashion"));
    QCOMPARE(gp.norm, std::string("layer"));
    QCOMPARE(gp.beta1, 0.0);
    QCOMPARE(gp.beta2, 0.9);
    auto wg = experimentFromJson(loadPresetJson("dcgan-wgan-fashion"));
    QCOMPARE(wg.optimizer, std::string("rmsprop"));
  }
  // The generator's samples: [n,C,H,W] in [0,1], the same for the same generator state, in
  // batches (251 = 250 + a last one of 1), the parameters and buffers untouched.
  void dcganSamples() {
    auto m = tinyMethod("dcgan", tinyGan());
    m->eval();
    auto buffers0 = flat(m->buffers());
    auto g1 = at::detail::createCPUGenerator(3), g2 = at::detail::createCPUGenerator(3);
    auto a = m->sample(251, g1), b = m->sample(251, g2);
    QCOMPARE(a.sizes(), (c10::IntArrayRef{251, 1, 16, 16}));
    QVERIFY(a.min().item<float>() >= 0 && a.max().item<float>() <= 1);
    QVERIFY(nearlyEqual(a, b, 0));
    QVERIFY(nearlyEqual(flat(m->buffers()), buffers0, 0));
    QVERIFY(!nearlyEqual(a[0], a[1], 1e-4));
    QVERIFY(!tinyMethod("inpainting", advInpainting())->sample(4, g1).defined());
  }

  void dcganSamplesFromFixedNoise() {
    auto m = tinyMethod("dcgan", tinyGan());
    auto batch = tinyBatch();
    m->eval();
    auto gen = at::detail::createCPUGenerator(0);
    auto buffers0 = flat(m->buffers());
    auto p1 = m->previews(batch.images.slice(0, 0, 4), gen, {});
    QVERIFY(nearlyEqual(flat(m->buffers()), buffers0, 0));  // the running statistics are left alone
    for (auto& mod : m->modules()) QVERIFY(!mod->is_training());  // and eval mode comes back
    auto p2 = m->previews(batch.images.slice(0, 0, 4), gen, {});
    QCOMPARE(p1.size(), size_t(2));
    QCOMPARE(p1[0].images.sizes(), (c10::IntArrayRef{32, 1, 16, 16}));
    QCOMPARE(p1[0].labels.size(), size_t(32));
    QCOMPARE(p1[1].images.size(0), int64_t(4));
    QVERIFY(nearlyEqual(p1[0].images, p2[0].images, 0));  // the same noise every time
    auto other = m->previews(batch.images.slice(0, 0, 4), gen, {{"noise", 5}});
    QVERIFY(!nearlyEqual(other[0].images, p1[0].images, 1e-4));
    // The noise is a buffer: it travels with the checkpoint.
    QVERIFY(m->named_buffers().contains("fixed_noise"));
    auto opt = trainerOptimizer(*m);
    auto r = trainerStep(*m, *opt, batch, 0);
    std::set<std::string> names;
    for (auto& [n, v] : r.metrics) names.insert(n);
    for (const char* k : {"g_loss", "d_real", "d_fake"}) QVERIFY(names.count(k));
    // The probes' features: every stage max-pooled to 1x1 and concatenated (width 4: 4+8+16+32
    // = 60, the first stage first); "last" is the encoder's own output.
    auto f = m->features(batch.images);
    auto maps = m->encoder()->stages(batch.images);
    QCOMPARE(f.size(1), int64_t(4 + 8 + 16 + 32));
    QVERIFY(nearlyEqual(f.slice(1, 60 - 32, 60), maps.back().amax({2, 3}), 1e-6));
    QVERIFY(nearlyEqual(f.slice(1, 0, 4), maps.front().amax({2, 3}), 1e-6));
    auto params = tinyGan();
    params["probe_features"] = "last";
    auto last = tinyMethod("dcgan", params);
    last->eval();
    QVERIFY(nearlyEqual(last->features(batch.images), last->encoder()->forward(batch.images), 1e-6));
  }
};

PRETEXT_TEST_AREA(TestMethodsGan, "methods_gan")
#include "test_methods_gan.moc"
