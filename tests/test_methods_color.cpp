// Colorization and the split-brain autoencoder: the Lab conversion against reference values, the
// ab bins, soft encoding, rebalancing, annealed mean and the AuC metric against numbers worked
// out by hand, and the methods' mechanics (L-only encoder, colour data required, previews).
#include "test_main.h"
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <utility>

#include "core/config/experiment.h"
#include "core/eval/evaluate.h"
#include "core/methods/colorization.h"
#include "core/methods/lab.h"
#include "core/methods/registry.h"
#include "core/methods/splitbrain.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;

namespace {


MethodSetup colorSetup(const std::string& loss = "classification", int64_t channels = 3) {
  nlohmann::json params = {{"head_width", 8}};
  if (!loss.empty()) params["loss"] = loss;
  return test::tinySetup(params, channels);
}

// A colour [N,3,H,W] image of one colour per image.
torch::Tensor solid(const std::vector<std::array<float, 3>>& colours, int64_t size = 4) {
  std::vector<torch::Tensor> out;
  for (const auto& c : colours)
    out.push_back(torch::tensor({c[0], c[1], c[2]}).view({3, 1, 1}).expand({3, size, size}));
  return torch::stack(out);
}

// A tiny CIFAR-10 folder whose two classes differ only in colour: every image has a random
// lightness pattern, class 0 tints it with ab = (+25, +25), class 1 with (-25, -25).
void writeHueCifar(const std::string& dir) {
  auto make = [](int64_t n, int64_t seed) {
    torch::manual_seed(seed);
    auto l = 45 + 20 * torch::rand({n, 1, 8, 8});
    l = torch::nn::functional::interpolate(l, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{32, 32})
                                                  .mode(torch::kNearest));
    auto labels = torch::arange(n) % 2;
    auto sign = (1 - 2 * labels.to(torch::kFloat)).view({n, 1, 1, 1});
    auto ab = (15 * sign).expand({n, 2, 32, 32});  // in gamut for L 45..65: L survives exactly
    auto rgb = labToRgb(torch::cat({l, ab}, 1));
    return std::make_pair((rgb * 255).round().to(torch::kUInt8).contiguous(), labels);
  };
  auto write = [&](const std::string& file, int64_t n, int64_t seed) {
    auto [images, labels] = make(n, seed);
    std::ofstream out(dir + "/" + file, std::ios::binary);
    for (int64_t i = 0; i < n; ++i) {
      const char label = char(labels[i].item<int64_t>());
      out.write(&label, 1);
      out.write(reinterpret_cast<const char*>(images[i].data_ptr<uint8_t>()), 3072);
    }
  };
  for (int i = 1; i <= 5; ++i) write("data_batch_" + std::to_string(i) + ".bin", 20, i);
  write("test_batch.bin", 40, 9);
}

}  // namespace

class TestMethodsColor : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // ---------------------------------------------------------------- Lab
  void roundTrip() {
    auto rgb = torch::rand({4, 3, 32, 32});
    auto back = labToRgb(rgbToLab(rgb));
    const double err = (back - rgb).abs().max().item<double>();
    QVERIFY2(err < 1.0 / 255, qPrintable(QString("max error %1").arg(err)));
    // The corners of the cube too (pure colours, black, white).
    auto corners = solid({{0, 0, 0}, {1, 1, 1}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}});
    QVERIFY((labToRgb(rgbToLab(corners)) - corners).abs().max().item<double>() < 1.0 / 255);
  }

  // Reference Lab (D65, sRGB) values as tabulated by colour calculators (Lindbloom's formulas).
  void knownValues_data() {
    QTest::addColumn<float>("r");
    QTest::addColumn<float>("g");
    QTest::addColumn<float>("b");
    QTest::addColumn<double>("L");
    QTest::addColumn<double>("A");
    QTest::addColumn<double>("B");
    QTest::newRow("white") << 1.f << 1.f << 1.f << 100.0 << 0.0 << 0.0;
    QTest::newRow("black") << 0.f << 0.f << 0.f << 0.0 << 0.0 << 0.0;
    QTest::newRow("mid gray") << .5f << .5f << .5f << 53.389 << 0.0 << 0.0;
    QTest::newRow("red") << 1.f << 0.f << 0.f << 53.2408 << 80.0925 << 67.2032;
    QTest::newRow("green") << 0.f << 1.f << 0.f << 87.7347 << -86.1827 << 83.1793;
    QTest::newRow("blue") << 0.f << 0.f << 1.f << 32.2970 << 79.1875 << -107.8602;
    QTest::newRow("yellow") << 1.f << 1.f << 0.f << 97.1393 << -21.5537 << 94.4780;
  }
  void knownValues() {
    QFETCH(float, r);
    QFETCH(float, g);
    QFETCH(float, b);
    QFETCH(double, L);
    QFETCH(double, A);
    QFETCH(double, B);
    auto lab = rgbToLab(solid({{r, g, b}}, 1)).flatten();
    QVERIFY2(std::abs(lab[0].item<double>() - L) < 0.02 &&
                 std::abs(lab[1].item<double>() - A) < 0.05 &&
                 std::abs(lab[2].item<double>() - B) < 0.05,
             qPrintable(QString("got %1 %2 %3")
                            .arg(lab[0].item<double>())
                            .arg(lab[1].item<double>())
                            .arg(lab[2].item<double>())));
    // A gray image (one channel) has the L of the colour (g,g,g).
    auto gray = torch::full({1, 1, 2, 2}, 0.5f);
    QVERIFY(std::abs(lightness(gray)[0][0][0][0].item<double>() - 53.389) < 0.02);
  }

  // ---------------------------------------------------------------- bins
  void gamutBins() {
    auto bins = abGamutBins();
    const int64_t q = bins.size(0);
    qInfo("in-gamut ab bins on a grid of 10: %lld (64 levels per channel)",
          static_cast<long long>(q));
    QCOMPARE(bins.size(1), int64_t(2));
    // Denser sampling of the RGB cube finds (almost) no new cell: the count is the gamut's.
    const int64_t dense = abGamutBins(10, 160).size(0);
    qInfo("with 160 levels per channel: %lld", static_cast<long long>(dense));
    QVERIFY(dense >= q && dense <= q + 3);
    QVERIFY(q > 200 && q < 330);
    // Centres on the grid, unique, the neutral bin among them, and nothing beyond the gamut.
    QVERIFY(test::close(bins, (bins / 10).round() * 10));
    std::set<std::pair<int, int>> seen;
    bool neutral = false;
    for (int64_t i = 0; i < q; ++i) {
      int a = int(bins[i][0].item<float>()), b = int(bins[i][1].item<float>());
      QVERIFY(seen.insert({a, b}).second);
      neutral = neutral || (a == 0 && b == 0);
    }
    QVERIFY(neutral);
    QVERIFY(bins.abs().max().item<float>() <= 130);
    // Pure red (a 80.1, b 67.2) lies in the cell (80, 70); a far-out colour (100, -100) does not.
    QVERIFY(seen.count({80, 70}) == 1);
    QVERIFY(seen.count({100, -100}) == 0);
  }

  // At a bin centre: itself at distance 0 and four neighbours at distance 10 among its 5 nearest,
  // Gaussian weights 1 and exp(-100 / (2 * 25)) = e^-2, normalised.
  void softEncoding() {
    auto bins = abGamutBins();
    auto z = softEncode(torch::tensor({{0.f, 0.f}}), bins);
    QVERIFY(test::close(z.sum(1), torch::ones({1})));
    QCOMPARE(z.gt(0).sum().item<int64_t>(), int64_t(5));
    const double centre = 1 / (1 + 4 * std::exp(-2.0));
    const int64_t zero = nearestBin(torch::tensor({{0.f, 0.f}}), bins)[0].item<int64_t>();
    QVERIFY(std::abs(z[0][zero].item<double>() - centre) < 1e-5);
    QVERIFY(std::abs(z.max().item<double>() - centre) < 1e-5);
    // Random ab: sums to 1, 5 non-zero weights, peak at the nearest bin.
    auto ab = torch::rand({200, 2}) * 120 - 60;
    auto zs = softEncode(ab, bins);
    QVERIFY(test::close(zs.sum(1), torch::ones({200})));
    QVERIFY(zs.gt(0).sum(1).eq(5).all().item<bool>());
    QVERIFY(zs.argmax(1).equal(nearestBin(ab, bins)));
  }

  // p = (0.5, 0.3, 0.2, 0), lambda 0.5, Q = 4: 1 / (0.5 p + 0.125) = (8/3, 40/11, 40/9, 8);
  // E_p = 4/3 + 12/11 + 8/9 = 3.31313...; w = that / E_p.
  void rebalancing() {
    auto p = torch::tensor({0.5f, 0.3f, 0.2f, 0.f});
    const double e = 4.0 / 3 + 12.0 / 11 + 8.0 / 9;
    auto expected = torch::tensor(
        {float(8.0 / 3 / e), float(40.0 / 11 / e), float(40.0 / 9 / e), float(8 / e)});
    auto w = rebalanceWeights(p, 0.5);
    QVERIFY(test::close(w, expected));
    QVERIFY(std::abs((p * w).sum().item<double>() - 1) < 1e-6);
    QVERIFY(test::close(rebalanceWeights(p, 1.0), torch::ones({4})));  // lambda 1: no rebalancing
    // Smoothing: a tiny sigma leaves p alone; sigma 5 spreads a spike to the 4 neighbours at
    // distance 10 by e^-2 each.
    auto bins = abGamutBins();
    const int64_t zero = nearestBin(torch::tensor({{0.f, 0.f}}), bins)[0].item<int64_t>();
    auto spike = torch::zeros({bins.size(0)});
    spike[zero] = 1;
    QVERIFY(test::close(smoothBinDistribution(spike, bins, 0.1), spike));
    auto s = smoothBinDistribution(spike, bins, 5);
    QVERIFY(std::abs(s.sum().item<double>() - 1) < 1e-5);
    QVERIFY(std::abs(s[zero].item<double>() - 1 / (1 + 4 * std::exp(-2.0) + 4 * std::exp(-4.0) +
                                                   4 * std::exp(-8.0) + 8 * std::exp(-10.0))) <
            1e-3);
  }

  // Two pixels, Q = 3, logits 0: log softmax = -log 3. Pixel 1 one-hot on bin 0 (weight 2),
  // pixel 2 (0.2, 0.8, 0) with its mode bin 1 (weight 0.5): mean(2 log 3, 0.5 log 3) = 1.25 log 3.
  // With logits (0, log 2, 0) for pixel 2: -(0.2 log 1/4 + 0.8 log 1/2) * 0.5.
  void rebalancedLoss() {
    auto targets = torch::tensor({{1.f, 0.f, 0.f}, {0.2f, 0.8f, 0.f}});
    auto w = torch::tensor({2.f, 0.5f, 1.f});
    auto loss = rebalancedCrossEntropy(torch::zeros({2, 3}), targets, w);
    QVERIFY(std::abs(loss.item<double>() - 1.25 * std::log(3.0)) < 1e-5);
    auto logits = torch::tensor({{0.f, 0.f, 0.f}, {0.f, float(std::log(2.0)), 0.f}});
    const double p2 = -(0.2 * std::log(0.25) + 0.8 * std::log(0.5)) * 0.5;
    loss = rebalancedCrossEntropy(logits, targets, w);
    QVERIFY(std::abs(loss.item<double>() - (2 * std::log(3.0) + p2) / 2) < 1e-5);
    // Without weights: the plain soft cross-entropy.
    loss = rebalancedCrossEntropy(torch::zeros({2, 3}), targets, {});
    QVERIFY(std::abs(loss.item<double>() - std::log(3.0)) < 1e-5);
  }

  // z = (0.2, 0.8) over bins (0,0) and (10,20): T = 1 -> the mean (8, 16); T = 0.5 -> weights
  // (0.04, 0.64)/0.68 = (1/17, 16/17); T -> 0 -> the mode (10, 20).
  void annealedMeanDecoding() {
    auto bins = torch::tensor({{0.f, 0.f}, {10.f, 20.f}});
    auto z = torch::tensor({{0.2f, 0.8f}});
    QVERIFY(test::close(annealedMean(z, bins, 1), torch::tensor({{8.f, 16.f}}), 1e-4));
    QVERIFY(
        test::close(annealedMean(z, bins, 0.5), torch::tensor({{10.f * 16 / 17, 20.f * 16 / 17}}), 1e-4));
    QVERIFY(test::close(annealedMean(z, bins, 0.01), torch::tensor({{10.f, 20.f}}), 1e-3));
    // On random distributions over the real bins: T = 1 is the mean, tiny T the mode.
    auto real = abGamutBins();
    auto p = torch::softmax(torch::randn({50, real.size(0)}) * 3, 1);
    QVERIFY(test::close(annealedMean(p, real, 1), torch::mm(p, real), 1e-3));
    QVERIFY(test::close(annealedMean(p, real, 1e-3), real.index({p.argmax(1)}), 1e-2));
    PRETEXT_VERIFY_THROWS_WITH(annealedMean(p, real, 0), "temperature");
  }

  // Errors 0, 3.5 and 200 (ab units): within t for t >= 0 (151 thresholds), t >= 4 (147), never.
  void aucMetric() {
    auto truth = torch::zeros({1, 2, 1, 3});
    auto pred = torch::tensor({0.f, 3.5f, 120.f, 0.f, 0.f, 160.f}).view({1, 2, 1, 3});
    const double expected = (151.0 + 147.0 + 0.0) / (3 * 151.0);
    QVERIFY(std::abs(abErrorAuc(pred, truth).item<double>() - expected) < 1e-6);
    // Against the loop over thresholds on random errors.
    auto p = torch::randn({2, 2, 5, 5}) * 60, t = torch::randn({2, 2, 5, 5}) * 30;
    auto err = (p - t).pow(2).sum(1).sqrt().flatten();
    double loop = 0;
    for (int th = 0; th <= 150; ++th) loop += err.le(th).to(torch::kDouble).mean().item<double>();
    QVERIFY(std::abs(abErrorAuc(p, t).item<double>() - loop / 151) < 1e-5);
    QVERIFY(std::abs(abErrorAuc(t, t).item<double>() - 1) < 1e-6);
  }

  // ---------------------------------------------------------------- the methods
  void refusesGrayData() {
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("colorization", colorSetup("classification", 1)),
                               "photos:/usr/share/backgrounds");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("splitbrain", colorSetup("", 1)), "colour");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("colorization", colorSetup("hue")), "method.params.loss");
  }

  // The encoder converts to L itself: its backbone has one input channel, RGB and gray images
  // give features, and an RGB image's features are the backbone's on L / 100.
  void encoderSeesL() {
    auto m = makeMethod("colorization", colorSetup());
    m->eval();
    auto enc = std::dynamic_pointer_cast<LabEncoder>(m->encoder());
    QVERIFY(enc);
    auto x = torch::rand({3, 3, 16, 16});
    auto l = rgbToLab(x).slice(1, 0, 1) / 100;
    QVERIFY(test::close(enc->forward(x), enc->inner().forward(l)));
    // The probes' features (probe_features all-max, the default): every stage of the backbone on
    // L, max-pooled and concatenated.
    std::vector<torch::Tensor> pooled;
    for (const auto& s : enc->inner().stages(l)) pooled.push_back(s.amax({2, 3}));
    QVERIFY(test::close(m->features(x), torch::cat(pooled, 1)));
    QCOMPARE(m->features(torch::rand({2, 1, 16, 16})).size(1), int64_t(4 + 8 + 16 + 32));
    auto last = makeMethod("colorization", test::tinySetup({{"head_width", 8}, {"probe_features", "last"}}, 3));
    QCOMPARE(last->features(torch::rand({2, 1, 16, 16})).size(1), last->encoder()->featureDim());
    // Colour does not matter, only lightness: near-gray images and their twins with the opposite
    // ab (same L) give the same features.
    auto base = (0.5 + 0.05 * torch::randn({2, 3, 16, 16})).clamp(0, 1);
    auto lab = rgbToLab(base);
    auto twin = labToRgb(torch::cat({lab.slice(1, 0, 1), -lab.slice(1, 1, 3)}, 1));
    auto twinLab = rgbToLab(twin);
    QVERIFY((twinLab.slice(1, 0, 1) - lab.slice(1, 0, 1)).abs().max().item<double>() < 0.05);
    QVERIFY((twinLab.slice(1, 1, 3) - lab.slice(1, 1, 3)).abs().max().item<double>() > 2);
    QVERIFY(test::close(m->features(twin), m->features(base), 1e-2));
    QVERIFY(!test::close(m->features(base), m->features(torch::rand({2, 3, 16, 16})), 1e-2));
  }

  void stepAndCounts_data() {
    QTest::addColumn<QString>("loss");
    QTest::newRow("classification") << "classification";
    QTest::newRow("l2") << "l2";
  }
  void stepAndCounts() {
    QFETCH(QString, loss);
    auto m = makeMethod("colorization", colorSetup(loss.toStdString()));
    Batch b;
    b.images = torch::rand({8, 3, 16, 16});
    auto gen = at::detail::createCPUGenerator(1);
    AugmentOptions aug = augmentPreset("none");
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    auto r = m->step(b, ctx);
    QVERIFY(std::isfinite(r.loss.item<double>()));
    r.loss.backward();
    double g = 0;
    for (auto& p : m->encoder()->parameters())
      if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
    QVERIFY(g > 0);
    std::map<std::string, double> metrics;
    for (auto& [k, v] : r.metrics) metrics[k] = v.item<double>();
    QVERIFY(metrics.count("ab_auc") && metrics.count("gray_auc"));
    QVERIFY(metrics["gray_auc"] > 0 && metrics["gray_auc"] < 1);
    auto counts = m->named_buffers()["ab_counts"];
    // Classification counts every target pixel of the 4x4 prediction grid once; L2 none.
    QCOMPARE(counts.sum().item<double>(), loss == "l2" ? 0.0 : 8.0 * 4 * 4);
  }

  // The side-by-side L2 head learns from the same features without shaping them: the encoder's
  // gradient is the same with and without it, and the head itself gets one.
  void comparisonHeadDoesNotTrainTheEncoder() {
    std::vector<torch::Tensor> grads[2];
    for (int with = 0; with < 2; ++with) {
      torch::manual_seed(4);
      auto m = makeMethod("colorization",
                          test::tinySetup({{"head_width", 8}, {"compare_l2", with == 1}}, 3));
      Batch b;
      b.images = torch::rand({6, 3, 16, 16}, at::detail::createCPUGenerator(5));
      auto gen = at::detail::createCPUGenerator(1);
      AugmentOptions aug = augmentPreset("none");
      StepContext ctx{0, 0, 0.0, &gen, &aug};
      auto r = m->step(b, ctx);
      r.loss.backward();
      for (auto& p : m->encoder()->parameters()) grads[with].push_back(p.grad().clone());
      const bool hasMetric = std::any_of(r.metrics.begin(), r.metrics.end(),
                                         [](const auto& kv) { return kv.first == "l2_ab_auc"; });
      QCOMPARE(hasMetric, with == 1);
      if (with == 1) {
        double g = 0;
        for (auto& kv : m->named_parameters())
          if (kv.key().rfind("l2_head.", 0) == 0) g += kv.value().grad().abs().sum().item<double>();
        QVERIFY(g > 0);
      }
    }
    QCOMPARE(grads[0].size(), grads[1].size());
    for (size_t i = 0; i < grads[0].size(); ++i) QVERIFY(test::close(grads[0][i], grads[1][i], 1e-6));
  }

  // Previews: a colour image and an old black-and-white photo (ab = 0); the temperature slider
  // changes the colours of the classification model (T -> 0 more saturated than T = 1).
  void previews() {
    auto m = makeMethod("colorization", colorSetup());
    m->eval();
    auto gen = at::detail::createCPUGenerator(2);
    auto photo = torch::rand({2, 3, 16, 16});
    auto pv = m->previews(photo, gen, {});
    QCOMPARE(pv.size(), size_t(1));
    QCOMPARE(pv[0].images.size(0), int64_t(2 * 5));
    QCOMPARE(pv[0].labels.size(), size_t(5));
    QCOMPARE(QString::fromStdString(pv[0].labels[3]), QString("L2 head"));
    QVERIFY(pv[0].caption.find("L2 head") != std::string::npos);
    QVERIFY(pv[0].caption.find("T = 0.38") != std::string::npos);
    auto bw = torch::rand({1, 1, 16, 16}).expand({1, 3, 16, 16});
    auto p2 = m->previews(bw, gen, {{"temperature", 0.05}});
    QVERIFY(p2[0].caption.find("no colour") != std::string::npos);
    QVERIFY(p2[0].images.isfinite().all().item<bool>());
    auto cold = m->previews(photo, gen, {{"temperature", 1.0}})[0].images;
    auto hot = m->previews(photo, gen, {{"temperature", 0.02}})[0].images;
    QVERIFY(!test::close(cold.select(0, 1), hot.select(0, 1), 1e-4));
    QVERIFY(test::close(cold.select(0, 0), hot.select(0, 0)));  // the gray input does not change
    QCOMPARE(m->previewControls().size(), size_t(1));
    auto l2 = makeMethod("colorization", colorSetup("l2"));
    QVERIFY(l2->previewControls().empty());
    auto plain = makeMethod("colorization", test::tinySetup({{"head_width", 8}, {"compare_l2", false}}, 3));
    QCOMPARE(plain->previews(photo, gen, {})[0].labels.size(), size_t(4));
    QCOMPARE(l2->previews(photo, gen, {})[0].labels.size(), size_t(3));
  }

  // The random-init baseline of `pretext-cli eval --random-init` builds the method's own encoder,
  // so it sees L only: on classes that differ only in colour it is at chance, while a plain RGB
  // encoder (rotation's) separates them.
  void randomInitSeesL() {
    QTemporaryDir tmp;
    writeHueCifar(tmp.path().toStdString());
    auto accuracy = [&](const std::string& method) {
      nlohmann::json j = {{"name", "hue"},
                          {"data", {{"source", "cifar10:" + tmp.path().toStdString()}}},
                          {"method", {{"name", method}}},
                          {"backbone", {{"width", 8}}},
                          {"schedule", {{"epochs", 1}, {"batch_size", 16}}},
                          {"run", {{"seed", 3}, {"threads", 2}}}};
      Session s = makeSession(experimentFromJson(j));
      EvalRequest req;
      req.knn.k(5);
      req.randomInit = true;
      return evaluateSession(s, req).top1;
    };
    const double lab = accuracy("colorization"), rgb = accuracy("rotation");
    qInfo("random-init kNN on colour-only classes: colorization %.1f%%, rotation %.1f%%", lab, rgb);
    QVERIFY(rgb > 90);
    QVERIFY(lab < 75);
  }

  // Split-brain: features are the two halves' side by side; a step trains both halves.
  void splitBrain() {
    auto m = makeMethod("splitbrain", colorSetup(""));
    m->eval();
    auto enc = std::dynamic_pointer_cast<SplitBrainEncoder>(m->encoder());
    QVERIFY(enc);
    auto x = torch::rand({3, 3, 16, 16});
    auto f = enc->forward(x);
    QCOMPARE(f.size(1), enc->lHalf().featureDim() + enc->abHalf().featureDim());
    QCOMPARE(f.size(1), int64_t(8 * 4));  // two halves of width 2 = one ConvNet of width 4
    QVERIFY(test::close(f, torch::cat({enc->lHalf().forward(x), enc->abHalf().forward(x)}, 1)));
    // The probes see every stage of both halves, max-pooled: (2+4+8+16) * 2 features.
    QCOMPARE(m->features(x).size(1), int64_t(60));
    std::vector<torch::Tensor> pooled;
    for (const auto& s : enc->stages(x)) pooled.push_back(s.amax({2, 3}));
    QVERIFY(test::close(m->features(x), torch::cat(pooled, 1)));
    m->train();
    Batch b;
    b.images = torch::rand({8, 3, 16, 16});
    auto gen = at::detail::createCPUGenerator(1);
    AugmentOptions aug = augmentPreset("none");
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    auto r = m->step(b, ctx);
    r.loss.backward();
    auto gradOf = [](LabEncoder& e) {
      double g = 0;
      for (auto& p : e.parameters())
        if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
      return g;
    };
    QVERIFY(gradOf(enc->lHalf()) > 0 && gradOf(enc->abHalf()) > 0);
    // The loss is the sum of the two halves' cross-entropies, near log Q + log 50 at the start.
    double ab = 0, l = 0;
    for (auto& [k, v] : r.metrics) {
      if (k == "ab_loss") ab = v.item<double>();
      if (k == "l_loss") l = v.item<double>();
    }
    QVERIFY(std::abs(r.loss.item<double>() - (ab + l)) < 1e-4);
    QVERIFY(l > 0.5 * std::log(50.0) && l < 2 * std::log(50.0));
    m->eval();
    auto pv = m->previews(x, gen, {});
    QCOMPARE(pv[0].images.size(0), int64_t(3 * 5));
    auto views = m->inputViews(x, augmentPreset("none"), gen);
    QCOMPARE(views.images.size(0), int64_t(3 * 4));
    // Without augmentation the "L half sees" column is the image's gray version: equal channels.
    auto grayCol = views.images.view({3, 4, 3, 16, 16}).select(1, 2);
    QVERIFY(test::close(grayCol.select(1, 0), grayCol.select(1, 2), 1e-3));
  }
};

PRETEXT_TEST_AREA(TestMethodsColor, "methods_color")
#include "test_methods_color.moc"
