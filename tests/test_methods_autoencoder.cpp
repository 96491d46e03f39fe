// The autoencoder family: reconstruction losses and the VAE's KL against hand-worked numbers,
// the corruptions' statistics, Hutchinson's Jacobian estimate against the exact norm computed row
// by row, the reparameterisation's gradient, beta's and lambda's effects, and the previews.
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>

#include "core/methods/autoencoder.h"
#include "core/methods/registry.h"
#include "core/methods/vae.h"
#include "core/models/backbone.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;
using pretext::test::metric;
using pretext::test::tinySetup;

namespace {


// Smooth blobs: images an autoencoder can learn something about in a few steps.
torch::Tensor autoencoderBlobs(int64_t n, int64_t seed) {
  torch::manual_seed(seed);
  auto grid = torch::linspace(-1, 1, 16);
  auto yy = grid.view({1, 1, 16, 1}), xx = grid.view({1, 1, 1, 16});
  auto cx = torch::rand({n, 1, 1, 1}) - 0.5, cy = torch::rand({n, 1, 1, 1}) - 0.5;
  return torch::exp(-((xx - cx).pow(2) + (yy - cy).pow(2)) / 0.1);
}

// ||J||_F^2 / B of y = f(x) computed exactly: one backward pass per output value.
double exactJacobianNorm(const torch::Tensor& y, const torch::Tensor& x) {
  double total = 0;
  auto flat = y.reshape({-1});
  for (int64_t r = 0; r < flat.size(0); ++r) {
    auto g = torch::autograd::grad({flat[r]}, {x}, {}, /*retain_graph=*/true)[0];
    total += g.pow(2).sum().item<double>();
  }
  return total / static_cast<double>(x.size(0));
}

// Trains a method for `steps` Adam steps on a fixed batch; returns the last step's result.
StepResult train(Method& m, const torch::Tensor& images, int steps) {
  torch::optim::Adam opt(m.parameters(), torch::optim::AdamOptions(3e-3));
  auto gen = at::detail::createCPUGenerator(3);
  AugmentOptions none;
  StepResult r;
  for (int i = 0; i < steps; ++i) {
    Batch b;
    b.images = images;
    StepContext ctx{i, 0, 0.0, &gen, &none};
    opt.zero_grad();
    r = m.step(b, ctx);
    r.loss.backward();
    opt.step();
  }
  return r;
}

}  // namespace

class TestMethodsAutoencoder : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // Two 1x1x2 images x = (0, 1) and (1, 0.5), predicted pixels p = sigmoid(logits) =
  // (0.25, 0.75) and (0.5, 0.5).
  // MSE: (0.0625 + 0.0625) + (0.25 + 0) = 0.375 summed, / B = 0.1875 (per-pixel mean: 0.09375).
  // BCE: image 1: -log 0.75 - log 0.75 = 0.575364; image 2: -log 0.5 - (0.5 log 0.5 + 0.5 log 0.5)
  // = 2 log 2 = 1.386294; (0.575364 + 1.386294) / 2 = 0.980829.
  void reconstructionLossHandWorked() {
    auto p = torch::tensor({0.25, 0.75, 0.5, 0.5}, torch::kDouble).view({2, 1, 1, 2});
    auto logits = torch::log(p / (1 - p));
    auto x = torch::tensor({0.0, 1.0, 1.0, 0.5}, torch::kDouble).view({2, 1, 1, 2});
    const double mse = reconstructionLoss(logits, x, "mse").item<double>();
    const double bce = reconstructionLoss(logits, x, "bce").item<double>();
    QVERIFY2(std::abs(mse - 0.1875) < 1e-12, qPrintable(QString::number(mse)));
    QVERIFY2(std::abs(bce - (2 * -std::log(0.75) + 2 * std::log(2.0)) / 2) < 1e-12,
             qPrintable(QString::number(bce)));
    QVERIFY(std::abs(bce - 0.980829) < 1e-6);
    PRETEXT_VERIFY_THROWS_WITH(reconstructionLoss(logits, x, "l1"), "method.params.loss");
  }

  void maskingNoiseZeroesWholePixels() {
    auto gen = at::detail::createCPUGenerator(7);
    auto x = torch::rand({64, 3, 16, 16}) * 0.5 + 0.5;  // no zeros of its own
    auto y = maskingNoise(x, 0.3, gen);
    auto zeroPx = y.eq(0).all(1);                           // [B,H,W]: every channel zeroed
    QVERIFY(y.eq(0).any(1).eq(zeroPx).all().item<bool>());  // never some channels only
    const double frac = zeroPx.to(torch::kFloat).mean().item<double>();
    QVERIFY2(std::abs(frac - 0.3) < 0.015, qPrintable(QString::number(frac)));
    auto kept = zeroPx.logical_not().unsqueeze(1).expand_as(x);
    QVERIFY(torch::equal(y.masked_select(kept), x.masked_select(kept)));
    QVERIFY(torch::equal(maskingNoise(x, 0.0, gen), x));
    auto g1 = at::detail::createCPUGenerator(9), g2 = at::detail::createCPUGenerator(9);
    QVERIFY(torch::equal(maskingNoise(x, 0.5, g1), maskingNoise(x, 0.5, g2)));
  }

  void gaussianNoiseStatistics() {
    auto gen = at::detail::createCPUGenerator(7);
    auto x = torch::full({32, 1, 32, 32}, 0.5);
    auto d = gaussianNoise(x, 0.2, gen) - x;
    QVERIFY(std::abs(d.mean().item<double>()) < 0.01);
    QVERIFY(std::abs(d.std().item<double>() - 0.2) < 0.01);
    QVERIFY((x + d).min().item<double>() < 0);  // not clipped to [0,1]
  }

  // A linear encoder y = W x: J = W for every example, so ||J||_F^2 = sum W^2 exactly. The
  // estimator's mean over many probes must match it (Gaussian and Rademacher probes).
  void hutchinsonMatchesLinearMap_data() {
    QTest::addColumn<QString>("dist");
    QTest::newRow("gaussian") << "gaussian";
    QTest::newRow("rademacher") << "rademacher";
  }
  void hutchinsonMatchesLinearMap() {
    QFETCH(QString, dist);
    auto w = torch::tensor({{1.0, 2.0, 0.0, -1.0}, {0.5, 0.0, 3.0, 1.0}, {0.0, -2.0, 1.0, 0.0}});
    const double exact = w.pow(2).sum().item<double>();  // 1+4+1 + 0.25+9+1 + 4+1 = 21.25
    QCOMPARE(exact, 21.25);
    auto x = torch::rand({3, 1, 2, 2}).requires_grad_(true);
    auto y = torch::mm(x.reshape({3, 4}), w.t());
    QVERIFY(std::abs(exactJacobianNorm(y, x) - exact) < 1e-5);
    auto gen = at::detail::createCPUGenerator(5);
    const double est =
        hutchinsonJacobianNorm(y, x, 4000, gen, false, dist.toStdString()).item<double>();
    QVERIFY2(std::abs(est - exact) < 0.05 * exact, qPrintable(QString::number(est)));
    // One probe is a random estimate, not the exact value.
    QVERIFY(std::abs(hutchinsonJacobianNorm(y, x, 1, gen, false).item<double>() - exact) > 1e-6);
  }

  // The real (nonlinear) ConvNet encoder in eval mode: the estimator's mean matches the exact
  // norm computed row by row, and with createGraph the estimate trains the encoder's weights.
  void hutchinsonMatchesConvNet() {
    torch::manual_seed(1);
    auto enc = makeBackbone(BackboneOptions().width(2).imageSize(8));
    enc->eval();
    auto x = torch::rand({2, 1, 8, 8}).requires_grad_(true);
    auto y = enc->forward(x);
    QCOMPARE(y.size(1), int64_t(16));
    const double exact = exactJacobianNorm(y, x);
    QVERIFY(exact > 0);
    auto gen = at::detail::createCPUGenerator(11);
    const double est = hutchinsonJacobianNorm(y, x, 3000, gen, false).item<double>();
    QVERIFY2(std::abs(est - exact) < 0.06 * exact,
             qPrintable(QString("est %1 exact %2").arg(est).arg(exact)));
    auto noGraph = hutchinsonJacobianNorm(y, x, 1, gen, false);
    QVERIFY(!noGraph.requires_grad());
    auto trained = hutchinsonJacobianNorm(y, x, 2, gen, true);
    QVERIFY(trained.requires_grad());
    trained.backward();
    double g = 0;
    for (auto& p : enc->parameters())
      if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
    QVERIFY(g > 0);
    PRETEXT_VERIFY_THROWS_WITH(hutchinsonJacobianNorm(y, x, 0, gen, false), "probes");
  }

  // h = [[0,0],[2,4]]: mean (1,2), deviations (-1,-2) and (1,2), squared norms 5 and 5 -> 5.
  void featureSpreadHandWorked() {
    auto h = torch::tensor({{0.0, 0.0}, {2.0, 4.0}}, torch::kDouble);
    QCOMPARE(featureSpread(h).item<double>(), 5.0);
    QCOMPARE(featureSpread(3 * h).item<double>(), 45.0);
  }

  // The contractive loss is rec + lambda * estimate / feature spread (raw estimate when
  // scale_free is off), and a strong lambda leaves a smaller penalty than lambda = 0 trained
  // from the same weights on the same images.
  void contractiveLossAndEffect_data() {
    QTest::addColumn<bool>("scaleFree");
    QTest::newRow("scale-free") << true;
    QTest::newRow("paper's raw penalty") << false;
  }
  void contractiveLossAndEffect() {
    QFETCH(bool, scaleFree);
    auto images = autoencoderBlobs(16, 2);
    auto setup = [&](double lambda) {
      torch::manual_seed(4);
      return makeMethod("contractive-ae",
                        tinySetup({{"lambda", lambda}, {"probes", 2}, {"scale_free", scaleFree}}));
    };
    auto cae = setup(10.0);
    auto gen = at::detail::createCPUGenerator(1);
    AugmentOptions none;
    StepContext ctx{0, 0, 0.0, &gen, &none};
    Batch b;
    b.images = images;
    auto r = cae->step(b, ctx);
    const double rec = metric(r, "rec"), jac = metric(r, "jacobian_sq");
    const double var = metric(r, "feature_var"), pen = metric(r, "penalty");
    QVERIFY(jac > 0 && var > 0);
    QVERIFY(std::abs(pen - (scaleFree ? jac / var : jac)) < 1e-5 * pen);
    QVERIFY(std::abs(r.loss.item<double>() - (rec + 10.0 * pen)) < 1e-4 * r.loss.item<double>());
    auto plain = setup(0.0);
    const double penC = metric(train(*cae, images, 40), "penalty");
    const double penP = metric(train(*plain, images, 40), "penalty");
    QVERIFY2(penC < 0.5 * penP, qPrintable(QString("%1 vs %2").arg(penC).arg(penP)));
  }

  // The denoising autoencoder's encoder sees the corrupted view, and its previews follow the
  // noise control; the plain one sees the clean image unless the control adds noise.
  void denoisingInputsAndPreviews() {
    auto dae = makeMethod("denoising-ae", tinySetup({{"nu", 0.5}}));
    dae->eval();
    auto images = autoencoderBlobs(6, 3) * 0.8 + 0.2;  // no zero pixels of their own
    auto gen = at::detail::createCPUGenerator(2);
    auto views = dae->inputViews(images, AugmentOptions(), gen);
    QCOMPARE(views.columns, int64_t(3));
    auto v = views.images.view({6, 3, 1, 16, 16});
    QVERIFY(torch::equal(v.select(1, 1), images));  // no augmentation: the view is the image
    const double zeroed = v.select(1, 2).eq(0).to(torch::kFloat).mean().item<double>();
    QVERIFY2(std::abs(zeroed - 0.5) < 0.1, qPrintable(QString::number(zeroed)));

    auto controls = dae->previewControls();
    QCOMPARE(controls.size(), size_t(1));
    QCOMPARE(controls[0].value, 0.5);
    for (double level : {0.0, 0.8}) {
      auto p = dae->previews(images, gen, {{"noise", level}});
      QCOMPARE(p.size(), size_t(1));
      QCOMPARE(p[0].columns, int64_t(6));  // two image | input | reconstruction triples a row
      QCOMPARE(p[0].labels.size(), size_t(6));
      auto t = p[0].images.view({6, 3, 1, 16, 16});
      const double z = t.select(1, 1).eq(0).to(torch::kFloat).mean().item<double>();
      QVERIFY2(level == 0 ? z == 0 : std::abs(z - level) < 0.1, qPrintable(QString::number(z)));
      QVERIFY(torch::equal(t.select(1, 0), images));
      QVERIFY(p[0].caption.find("MSE") != std::string::npos);
    }
    // One opened image: a single triple.
    auto one = dae->previews(images.slice(0, 0, 1), gen, {});
    QCOMPARE(one[0].images.size(0), int64_t(3));
    QCOMPARE(one[0].columns, int64_t(3));

    auto ae = makeMethod("autoencoder", tinySetup());
    ae->eval();
    QCOMPARE(ae->previewControls()[0].value, 0.0);
    auto p = ae->previews(images, gen, {});
    auto t = p[0].images.view({6, 3, 1, 16, 16});
    QVERIFY(torch::equal(t.select(1, 1), images));
    auto g = makeMethod("denoising-ae", tinySetup({{"noise", "gaussian"}, {"sigma", 0.4}}));
    QCOMPARE(g->previewControls()[0].label, std::string("noise sigma"));
    QCOMPARE(g->previewControls()[0].value, 0.4);
  }

  // Every autoencoder learns: its reconstruction error on a fixed batch falls.
  void autoencodersLearn_data() {
    QTest::addColumn<QString>("name");
    for (const char* n : {"autoencoder", "denoising-ae", "contractive-ae", "vae"})
      QTest::newRow(n) << n;
  }
  void autoencodersLearn() {
    QFETCH(QString, name);
    auto m = makeMethod(name.toStdString(), tinySetup());
    auto images = autoencoderBlobs(16, 5);
    const double first = metric(train(*m, images, 1), "rec_mse");
    const double last = metric(train(*m, images, 60), "rec_mse");
    QVERIFY2(last < 0.7 * first, qPrintable(QString("%1 -> %2").arg(first).arg(last)));
  }

  // Example 1: mu = (0, 1), logvar = (0, 0): per-dimension KL 0 and -1/2 (1 - 1 - 1) = 0.5.
  // Example 2: mu = (2, 0), logvar = (0, ln 2): -1/2 (1 - 4 - 1) = 2 and
  // -1/2 (1 + ln 2 - 2) = 0.5 - 0.5 ln 2 = 0.153426. Batch mean: (0.5 + 2.153426) / 2 = 1.326713;
  // per dimension (0 + 2) / 2 = 1 and (0.5 + 0.153426) / 2 = 0.326713.
  void vaeKlHandWorked() {
    auto mu = torch::tensor({{0.0, 1.0}, {2.0, 0.0}}, torch::kDouble);
    auto logvar = torch::tensor({{0.0, 0.0}, {0.0, std::log(2.0)}}, torch::kDouble);
    const double kl = gaussianKl(mu, logvar).item<double>();
    QVERIFY2(std::abs(kl - (0.5 + 2 + 0.5 - 0.5 * std::log(2.0)) / 2) < 1e-12,
             qPrintable(QString::number(kl)));
    QVERIFY(std::abs(kl - 1.326713) < 1e-6);
    auto perDim = gaussianKlPerDim(mu, logvar);
    QVERIFY(std::abs(perDim[0].item<double>() - 1.0) < 1e-12);
    QVERIFY(std::abs(perDim[1].item<double>() - 0.326713) < 1e-6);
    QCOMPARE(gaussianKl(torch::zeros({3, 4}), torch::zeros({3, 4})).item<double>(), 0.0);
    // Any other Gaussian is further from N(0, I) than N(0, I) itself.
    QVERIFY(gaussianKl(torch::zeros({1, 1}), torch::full({1, 1}, 0.5)).item<double>() > 0);
  }

  // z = mu + exp(logvar / 2) eps: dz/dmu = 1 and dz/dlogvar = exp(logvar / 2) eps / 2.
  void vaeReparameterisationGradient() {
    auto mu = torch::tensor({0.5, -1.0, 2.0}, torch::kDouble).requires_grad_(true);
    auto logvar = torch::tensor({0.0, std::log(4.0), -2.0}, torch::kDouble).requires_grad_(true);
    auto eps = torch::tensor({1.0, -0.5, 2.0}, torch::kDouble);
    auto z = reparameterize(mu, logvar, eps);
    // z = 0.5 + 1 * 1, -1 + 2 * -0.5, 2 + e^-1 * 2
    QVERIFY(
        torch::allclose(z, torch::tensor({1.5, -2.0, 2.0 + 2.0 * std::exp(-1.0)}, torch::kDouble)));
    z.sum().backward();
    QVERIFY(torch::allclose(mu.grad(), torch::ones({3}, torch::kDouble)));
    QVERIFY(
        torch::allclose(logvar.grad(), torch::tensor({0.5, -0.5, std::exp(-1.0)}, torch::kDouble)));
    auto q = normalQuantile(torch::tensor({0.5, 0.975, 0.05}, torch::kDouble));
    QVERIFY(torch::allclose(q, torch::tensor({0.0, 1.959964, -1.644854}, torch::kDouble), 0, 1e-6));
  }

  // beta weighs the KL term: the same weights, batch and noise give loss = rec + beta * kl, and
  // training with a large beta leaves a smaller KL than training without it.
  void vaeBetaEffect() {
    auto images = autoencoderBlobs(16, 6);
    auto stepWith = [&](double beta) {
      torch::manual_seed(8);
      auto m = makeMethod("vae", tinySetup({{"beta", beta}, {"latent_dim", 4}}));
      auto gen = at::detail::createCPUGenerator(1);
      AugmentOptions none;
      StepContext ctx{0, 0, 0.0, &gen, &none};
      Batch b;
      b.images = images;
      return std::make_pair(m, m->step(b, ctx));
    };
    auto [m0, r0] = stepWith(0.0);
    auto [m3, r3] = stepWith(3.0);
    QCOMPARE(metric(r0, "rec"), metric(r3, "rec"));
    QCOMPARE(metric(r0, "kl"), metric(r3, "kl"));
    QVERIFY(metric(r0, "kl") > 0);
    QVERIFY(std::abs(r0.loss.item<double>() - metric(r0, "rec")) < 1e-9);
    QVERIFY(std::abs(r3.loss.item<double>() - (metric(r3, "rec") + 3 * metric(r3, "kl"))) <
            1e-4 * r3.loss.item<double>());
    const double kl0 = metric(train(*m0, images, 40), "kl");
    const double kl3 = metric(train(*m3, images, 40), "kl");
    QVERIFY2(kl3 < 0.5 * kl0, qPrintable(QString("%1 vs %2").arg(kl3).arg(kl0)));
  }

  void vaePreviews() {
    auto m = makeMethod("vae", tinySetup({{"latent_dim", 5}}));
    m->eval();
    auto gen = at::detail::createCPUGenerator(2);
    auto p = m->previews(autoencoderBlobs(8, 7), gen, {});
    QCOMPARE(p.size(), size_t(3));
    QCOMPARE(p[0].images.size(0), int64_t(32));  // 8 groups of image | mu | two samples
    QCOMPARE(p[0].columns, int64_t(8));          // two groups a row
    QCOMPARE(p[0].labels.size(), size_t(8));
    QCOMPARE(p[1].images.size(0), int64_t(32));  // samples from the prior
    QCOMPARE(p[2].images.size(0), int64_t(64));  // 8 x 8 latent grid
    QVERIFY(p[2].caption.find("latent dimension") != std::string::npos);
    for (const auto& pv : p)
      QVERIFY(pv.images.min().item<float>() >= 0 && pv.images.max().item<float>() <= 1);
    // A single opened image works too.
    auto one = m->previews(autoencoderBlobs(1, 7), gen, {});
    QCOMPARE(one[0].images.size(0), int64_t(4));
    QCOMPARE(one[0].columns, int64_t(4));
  }

  void badSettingsNameTheSetting() {
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("denoising-ae", tinySetup({{"nu", 1.5}})),
                               "method.params.nu");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("vae", tinySetup({{"latent_dim", 1}})),
                               "method.params.latent_dim");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("contractive-ae", tinySetup({{"probes", 0}})),
                               "method.params.probes");
  }
};

PRETEXT_TEST_AREA(TestMethodsAutoencoder, "methods_autoencoder")
#include "test_methods_autoencoder.moc"
