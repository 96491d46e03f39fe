// PixelCNN: the masks (by backpropagating from one output pixel to the input), the 256-way
// likelihood against numbers worked out by hand, the per-pixel histogram baseline on a tiny set,
// and the sampler (deterministic, in range, the known pixels kept, its one-pixel passes equal to
// the full pass).
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include <QTemporaryDir>

#include "core/interop/export_run.h"
#include "core/methods/logistic_mixture.h"
#include "core/methods/pixelcnn.h"
#include "core/methods/registry.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;
using json = nlohmann::json;

namespace {

std::shared_ptr<Method> tinyPixelCnn(int64_t channels = 1, int64_t size = 8, int64_t width = 12) {
  torch::manual_seed(0);
  return makeMethod("pixelcnn", test::tinySetup({{"width", width}, {"blocks", 2}, {"first_kernel", 5}},
                                                channels, size));
}

// |d (sum of the logits of output pixel (row, col), colour `colour`) / d input| [C,H,W], summed
// over four random images (where a path through the ReLUs happens to be dead for one image,
// another opens it: a zero here is the masks' doing).
torch::Tensor inputGradient(Method& m, int64_t channels, int64_t size, int64_t row, int64_t col,
                            int64_t colour = 0) {
  torch::manual_seed(42);
  auto x = torch::rand({4, channels, size, size}).requires_grad_(true);
  pixelCnnLogits(m, x).select(1, colour).select(3, col).select(2, row).sum().backward();
  return x.grad().abs().sum(0);
}

}  // namespace

class TestMethodsPixelCnn : public QObject {
  Q_OBJECT
 private slots:
  // The masks themselves, worked out by hand. A 3x3 kernel, one colour:
  //   type A  1 1 1    type B  1 1 1
  //           1 0 0            1 1 0
  //           0 0 0            0 0 0
  // Three colours on a 1x1 kernel (the centre only), input channel i -> output channel o allowed
  // when group(o) > group(i) (A) or >= (B): strictly lower / lower triangular.
  void masksByHand() {
    auto a = pixelCnnMask(1, 1, 3, true, 1)[0][0];
    auto b = pixelCnnMask(1, 1, 3, false, 1)[0][0];
    QVERIFY(torch::equal(a, torch::tensor(std::vector<float>{1.f, 1, 1, 1, 0, 0, 0, 0, 0}).view({3, 3})));
    QVERIFY(torch::equal(b, torch::tensor(std::vector<float>{1.f, 1, 1, 1, 1, 0, 0, 0, 0}).view({3, 3})));
    auto ca = pixelCnnMask(3, 3, 1, true, 3).view({3, 3});
    auto cb = pixelCnnMask(3, 3, 1, false, 3).view({3, 3});
    QVERIFY(torch::equal(ca, torch::tensor(std::vector<float>{0.f, 0, 0, 1, 0, 0, 1, 1, 0}).view({3, 3})));
    QVERIFY(torch::equal(cb, torch::tensor(std::vector<float>{1.f, 0, 0, 1, 1, 0, 1, 1, 1}).view({3, 3})));
    // Six hidden channels in three groups of two: output 5 (group 2) sees inputs 0..3 under A.
    auto g = pixelCnnMask(6, 6, 1, true, 3).view({6, 6});
    QVERIFY(torch::equal(g[5], torch::tensor(std::vector<float>{1.f, 1, 1, 1, 0, 0})));
    QVERIFY(torch::equal(g[0], torch::zeros({6})));
    QVERIFY_THROWS_EXCEPTION(Error, pixelCnnMask(4, 4, 2, true, 1));
  }

  // The whole network, type A first and type B after: the logits at (row, col) have a zero
  // gradient with respect to that pixel and every pixel after it in raster order, and a non-zero
  // one with respect to the pixel just left of it and the one just above (the left neighbour
  // reaches the output through the type-B layers' centres: were they masked like type A, the
  // nearest left pixel the output could see would be two to the left).
  void outputPixelSeesOnlyEarlierPixels() {
    const int64_t n = 8;
    auto m = tinyPixelCnn(1, n);
    for (auto [row, col] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {0, 5}, {3, 4}, {7, 7}, {5, 0}}) {
      auto g = inputGradient(*m, 1, n, row, col)[0];
      const int64_t p = row * n + col;
      auto after = g.flatten().slice(0, p);  // the pixel itself and everything after it
      QVERIFY2(after.max().item<double>() == 0,
               qPrintable(QString("output (%1,%2) depends on a later pixel").arg(row).arg(col)));
      if (col > 0) QVERIFY(g[row][col - 1].item<double>() > 0);
      if (row > 0) QVERIFY(g[row - 1][col].item<double>() > 0);
      if (p == 0) QVERIFY(g.max().item<double>() == 0);  // the first pixel sees nothing
    }
  }

  // Colour: channel c of pixel (i,j) may see channels < c of the same pixel, never its own
  // channel or later ones, nor any later pixel.
  void colourChannelsSeeOnlyEarlierChannels() {
    const int64_t n = 8;
    auto m = tinyPixelCnn(3, n, 24);
    const int64_t row = 3, col = 2;
    for (int64_t c = 0; c < 3; ++c) {
      auto g = inputGradient(*m, 3, n, row, col, c);  // [3,H,W]
      for (int64_t ci = 0; ci < 3; ++ci) {
        const double centre = g[ci][row][col].item<double>();
        if (ci < c) QVERIFY2(centre > 0, qPrintable(QString("colour %1 misses %2").arg(c).arg(ci)));
        else QCOMPARE(centre, 0.0);
        QCOMPARE(g[ci].flatten().slice(0, row * n + col + 1).max().item<double>(), 0.0);
      }
      QVERIFY(g.select(2, col - 1).select(1, row).min().item<double>() > 0);  // all of the left pixel
    }
  }

  // The likelihood by hand. Uniform logits: p = 1/256 for every pixel, -log p = ln 256 nats =
  // 8 bits per dimension exactly. A 2x2 image whose true values have logit ln 255 and every other
  // value 0: p = 255 / (255 + 255) = 1/2, so 1 bit per pixel. Two pixels of each kind:
  // (2 ln 256 + 2 ln 2) / (4 ln 2) = (16 + 2) / 4 = 4.5 bits/dim.
  void likelihoodByHand() {
    auto v = torch::tensor({0, 17, 128, 255}, torch::kLong).view({1, 1, 2, 2});
    auto uniform = torch::zeros({1, 1, 256, 2, 2});
    auto nll = pixelNll(uniform, v);
    QVERIFY(std::abs(nll.item<double>() - 4 * std::log(256.0)) < 1e-4);
    QVERIFY(std::abs(bitsPerDim(nll.item<double>(), 4) - 8.0) < 1e-6);

    auto half = torch::zeros({1, 1, 256, 2, 2});
    for (int64_t i = 0; i < 4; ++i)
      half[0][0].select(1, i / 2).select(1, i % 2)[v.flatten()[i].item<int64_t>()] = std::log(255.0);
    QVERIFY(std::abs(bitsPerDim(pixelNll(half, v).item<double>(), 4) - 1.0) < 1e-5);
    auto mixed = half.clone();
    mixed[0][0].select(2, 1).zero_();  // the right column uniform again: 2 pixels of 8 bits
    QVERIFY(std::abs(bitsPerDim(pixelNll(mixed, v).item<double>(), 4) - 4.5) < 1e-5);

    // The 8-bit values of images in [0,1]: round(255 x).
    QVERIFY(torch::equal(pixelValues(torch::tensor(std::vector<float>{0.f, 1.f / 255, 0.5f, 1.f, 1.2f})),
                         torch::tensor({0, 1, 128, 255, 255}, torch::kLong)));
  }

  // The method's step is that likelihood: with the last layer zeroed every logit is 0, and the
  // loss is ln 256 nats per dimension, bpd 8; otherwise loss = pixelNll / (C H W).
  void stepIsTheLikelihood() {
    auto m = tinyPixelCnn(1, 8);
    Batch b;
    b.images = (torch::randint(0, 256, {4, 1, 8, 8}) / 255.0).to(torch::kFloat);
    auto gen = at::detail::createCPUGenerator(1);
    AugmentOptions none = augmentPreset("none");
    StepContext ctx{0, 0, 0.0, &gen, &none};
    auto r = m->step(b, ctx);
    const double expected =
        pixelNll(pixelCnnLogits(*m, b.images), pixelValues(b.images)).mean().item<double>() / 64;
    QVERIFY(std::abs(r.loss.item<double>() - expected) < 1e-5);
    QVERIFY(std::abs(test::metric(r, "bpd") - expected / std::log(2.0)) < 1e-5);
    {
      torch::NoGradGuard ng;
      for (auto& p : m->named_parameters())
        if (p.key().rfind("head2.", 0) == 0) p.value().zero_();
    }
    r = m->step(b, ctx);
    QVERIFY(std::abs(r.loss.item<double>() - std::log(256.0)) < 1e-5);
    QVERIFY(std::abs(test::metric(r, "bpd") - 8.0) < 1e-5);
  }

  // PixelCNN++'s discretised logistic mixture by hand, scale s = 1/255 (log s = -ln 255) so that a
  // bin is 2 units of (x - mu) / s wide:
  //   K = 1, mu = 0, v = 127 (x = -1/255): sigma(0) - sigma(-2) = 0.5 - 0.1192029 = 0.3807971,
  //     log p = -0.9654915; v = 128 the same by symmetry
  //   v = 0 (the left tail), mu = -1: sigma((x + 1/255 - mu) / s) = sigma(1): log p = -0.3132617
  //   v = 255 (the right tail), mu = 1: 1 - sigma(-1) = sigma(1): log p = -0.3132617
  //   K = 2, equal weights, the second component at mu = 0.9 (nothing near v = 127):
  //     log(0.5 * 0.3807971) = -1.6586387
  void logisticMixtureByHand() {
    const float ls = -std::log(255.f);
    auto one = [&](float mu, int64_t v) {
      return logisticMixtureLogProb(torch::zeros({1, 1}), torch::full({1, 1}, mu), torch::full({1, 1}, ls),
                                    torch::full({1}, v, torch::kLong))
          .item<double>();
    };
    QVERIFY(std::abs(one(0, 127) - -0.9654915) < 1e-5);
    QVERIFY(std::abs(one(0, 128) - -0.9654915) < 1e-5);
    QVERIFY(std::abs(one(-1, 0) - -0.3132617) < 1e-5);
    QVERIFY(std::abs(one(1, 255) - -0.3132617) < 1e-5);
    const double two = logisticMixtureLogProb(torch::zeros({1, 2}), torch::tensor({{0.f, 0.9f}}),
                                              torch::full({1, 2}, ls), torch::full({1}, 127, torch::kLong))
                           .item<double>();
    QVERIFY2(std::abs(two - -1.6586387) < 1e-5, qPrintable(QString::number(two, 'g', 8)));
    // The output layout [N,C,3K,H,W]: the table of all 256 values sums to 1 per pixel, and the
    // negative log-likelihood is the table read at the image's values.
    torch::manual_seed(2);
    auto params = torch::randn({2, 1, 9, 3, 3});  // K = 3
    auto table = logisticMixtureTable(params);
    QCOMPARE(table.sizes().vec(), (std::vector<int64_t>{2, 1, 256, 3, 3}));
    QVERIFY(test::close(table.exp().sum(2), torch::ones({2, 1, 3, 3}), 1e-3));
    auto values = torch::randint(0, 256, {2, 1, 3, 3}, torch::kLong);
    QVERIFY(test::close(logisticMixtureNll(params, values), pixelNll(table, values), 1e-3));
    PRETEXT_VERIFY_THROWS_WITH(logisticMixtureNll(torch::zeros({2, 1, 4, 3, 3}), values), "expected an output [N,C,3K,H,W]");
  }

  // output = logistic-mixture: the head gives 3K numbers per pixel, the step's loss is the
  // mixture's likelihood per dimension, and the sampler and pictures read its 256-value table.
  void logisticMixtureOutput() {
    torch::manual_seed(0);
    auto m = makeMethod("pixelcnn", test::tinySetup({{"width", 12}, {"blocks", 2}, {"first_kernel", 5},
                                                     {"output", "logistic-mixture"}, {"mixtures", 4}}, 1, 8));
    Batch b;
    b.images = (torch::randint(0, 256, {4, 1, 8, 8}) / 255.0).to(torch::kFloat);
    auto gen = at::detail::createCPUGenerator(1);
    AugmentOptions none = augmentPreset("none");
    StepContext ctx{0, 0, 0.0, &gen, &none};
    auto r = m->step(b, ctx);
    const auto logits = pixelCnnLogits(*m, b.images);
    QCOMPARE(logits.sizes().vec(), (std::vector<int64_t>{4, 1, 256, 8, 8}));
    const double expected = pixelNll(logits, pixelValues(b.images)).mean().item<double>() / 64;
    QVERIFY2(std::abs(r.loss.item<double>() - expected) < 1e-4,
             qPrintable(QString("%1 vs %2").arg(r.loss.item<double>()).arg(expected)));
    QVERIFY(std::abs(pixelCnnNll(*m, b.images).mean().item<double>() / 64 - r.loss.item<double>()) < 1e-5);
    for (auto& p : m->named_parameters())
      if (p.key() == "head2.weight") QCOMPARE(p.value().size(0), int64_t(12));  // 3 x 4 per channel
    auto x = torch::zeros({1, 1, 8, 8});
    auto sg = at::detail::createCPUGenerator(3);
    pixelCnnSample(*m, x, {}, 1.0, sg);
    QVERIFY(torch::equal(pixelValues(x).to(torch::kFloat) / 255, x));
    QVERIFY(test::close(pixelCnnPixelLogits(*m, b.images, 3, 5), logits.select(4, 5).select(3, 3), 1e-4));
  }

  // The histogram baseline on two training images of two pixels, [0, 10] and [0, 20], add-one
  // smoothing (N = 2, 256 bins: denominators 2 + 256 = 258). Pixel 0: p(0) = 3/258; pixel 1:
  // p(10) = p(20) = 2/258, any other value 1/258. So [0, 10] costs ln(258^2 / 6) nats and
  // [5, 30] ln(258^2) nats; in bits/dim (2 dimensions) log2(258^2/6)/2 = 6.718746 and
  // log2(258)= 8.0112.
  void histogramBaselineByHand() {
    auto train = torch::tensor({0, 10, 0, 20}, torch::kUInt8).view({2, 1, 1, 2});
    auto h = fitPixelHistogram(train);
    QCOMPARE(h.logProb.sizes().vec(), (std::vector<int64_t>{1, 1, 2, 256}));
    QVERIFY(std::abs(h.logProb.exp().sum(3).min().item<double>() - 1) < 1e-12);
    auto test = torch::tensor({0, 10, 5, 30}, torch::kUInt8).view({2, 1, 1, 2});
    auto nll = histogramNll(h, test);
    QVERIFY(std::abs(nll[0].item<double>() - std::log(258.0 * 258.0 / 6)) < 1e-9);
    QVERIFY(std::abs(nll[1].item<double>() - 2 * std::log(258.0)) < 1e-9);
    QVERIFY(std::abs(bitsPerDim(nll[0].item<double>(), 2) - 6.718746) < 1e-5);
    QVERIFY(std::abs(bitsPerDim(nll[1].item<double>(), 2) - 8.011227) < 1e-5);
    QVERIFY_THROWS_EXCEPTION(Error, fitPixelHistogram(train, 0));
    QVERIFY_THROWS_EXCEPTION(Error, fitPixelHistogram(train.to(torch::kFloat)));
    QVERIFY_THROWS_EXCEPTION(Error, histogramNll(h, torch::zeros({1, 1, 2, 2}, torch::kUInt8)));
  }

  // The sampler's one-pixel pass on cropped inputs gives the full pass's logits, at the corners,
  // the edges and inside.
  void pixelPassEqualsFullPass() {
    const int64_t n = 9;
    auto m = tinyPixelCnn(1, n);
    torch::NoGradGuard ng;
    auto x = torch::rand({2, 1, n, n});
    auto full = pixelCnnLogits(*m, x);
    for (auto [r, c] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {0, 8}, {4, 4}, {8, 0}, {8, 8}, {6, 1}})
      QVERIFY(test::close(pixelCnnPixelLogits(*m, x, r, c),
                          full.select(4, c).select(3, r), 1e-4));
  }

  // A sample from a fixed seed: 8-bit values in [0,1], the same twice, the known pixels kept.
  void sampleIsDeterministicAndInRange() {
    const int64_t n = 8;
    auto m = tinyPixelCnn(1, n);
    int64_t rows = 0;
    auto draw = [&](uint64_t seed) {
      auto x = torch::zeros({2, 1, n, n});
      x[1].fill_(0.2);
      auto known = torch::zeros({2, 1, n, n}, torch::kBool);
      known[1].slice(1, 0, n / 2).fill_(true);  // the second image's top half is given
      auto gen = at::detail::createCPUGenerator(seed);
      pixelCnnSample(*m, x, known, 1.0, gen, [&](int64_t) { ++rows; });
      return x;
    };
    auto a = draw(7), b = draw(7), c = draw(8);
    QCOMPARE(rows, 3 * n);  // onRow after every row
    QVERIFY(torch::equal(a, b));
    QVERIFY(!torch::equal(a, c));
    QVERIFY(a.min().item<double>() >= 0 && a.max().item<double>() <= 1);
    QVERIFY(torch::equal(pixelValues(a).to(torch::kFloat) / 255, a));
    QVERIFY(torch::equal(a[1].slice(1, 0, n / 2), torch::full({1, n / 2, n}, 0.2f)));
    auto gen = at::detail::createCPUGenerator(1);
    auto x = torch::zeros({1, 1, n, n});
    QVERIFY_THROWS_EXCEPTION(Error, pixelCnnSample(*m, x, {}, 0.0, gen));
  }

  // The probes' read-outs: the middle block's map (after block 1 of 2) pooled over the image
  // (mean and max: 2 x 12), over a 4x4 grid (16 x 12), or every stage max-pooled (3 x 12).
  void probeFeatures() {
    auto x = torch::rand({2, 1, 8, 8});
    for (auto [mode, dim] : std::vector<std::pair<std::string, int64_t>>{
             {"middle", 24}, {"middle-grid", 192}, {"all-max", 36}}) {
      torch::manual_seed(0);
      auto m = makeMethod("pixelcnn", test::tinySetup({{"width", 12}, {"blocks", 2}, {"probe_features", mode}}, 1, 8));
      auto f = m->features(x);
      QCOMPARE(f.sizes().vec(), (std::vector<int64_t>{2, dim}));
      if (mode == "middle") {
        auto map = m->encoder()->stages(x)[1];  // the first layer, block 1 (the middle), block 2
        QVERIFY(test::close(f, torch::cat({map.mean({2, 3}), map.amax({2, 3})}, 1)));
      }
    }
  }

  // A short run trains and reloads with its probe features; the export,
  // whose sidecar describes the experiment's backbone, refuses the masked stack by name instead
  // of writing weights that pretext_models.py could not load.
  void runTrainsAndExportRefuses() {
    QTemporaryDir dir;
    const std::string data = dir.filePath("mnist").toStdString();
    std::filesystem::create_directories(data);
    test::writeTinyMnist(data);
    auto j = test::tinyExperimentJson(data, "pixelcnn", 1);
    j["method"]["params"] = {{"width", 8}, {"blocks", 1}, {"first_kernel", 3}};
    j["schedule"]["steps"] = 4;
    j["eval"]["knn_every"] = 0;
    TrainOptions o;
    o.outDir = dir.filePath("runs").toStdString();
    const std::string run = Trainer(experimentFromJson(j), o).run();
    Session s = loadRunSession(run);
    QCOMPARE(s.method->features(torch::rand({2, 1, 12, 12})).size(1), int64_t(16 * 8));
    try {
      exportEncoder(s, run, run + "/export/encoder.pt");
      QFAIL("the export wrote a pixelcnn encoder under a convnet's description");
    } catch (const Error& e) {
      QVERIFY2(std::string(e.what()).find("pixelcnn method's encoder is not the convnet") !=
                   std::string::npos,
               e.what());
    }
    QVERIFY(!std::filesystem::exists(run + "/export/encoder.pt"));
  }

  // The previews run on a few images and give the three pictures; bad settings name the culprit.
  void previewsAndSettings() {
    auto m = tinyPixelCnn(1, 8);
    m->eval();
    auto gen = at::detail::createCPUGenerator(3);
    auto p = m->previews(torch::rand({3, 1, 8, 8}), gen, {{"temperature", 0.8}});
    QCOMPARE(int(p.size()), 3);
    QCOMPARE(p[0].images.size(0), int64_t(16));  // 4 samples x 4 stages
    QCOMPARE(p[1].images.size(0), int64_t(9));   // 3 images x (original, hidden, completion)
    QCOMPARE(p[2].images.size(0), int64_t(3));
    auto v = m->inputViews(torch::rand({2, 1, 8, 8}), augmentPreset("none"), gen);
    QCOMPARE(v.images.size(0), int64_t(6));
    // Colour: the samples are drawn channel by channel; the pictures keep the three channels.
    auto colour = tinyPixelCnn(3, 8, 24);
    auto pc = colour->previews(torch::rand({2, 3, 8, 8}), gen, {});
    QCOMPARE(int(pc.size()), 3);
    QCOMPARE(pc[0].images.size(1), int64_t(3));
    QCOMPARE(pc[1].images.size(0), int64_t(6));
    try {
      makeMethod("pixelcnn", test::tinySetup({{"first_kernel", 4}}));
      QFAIL("an even kernel was accepted");
    } catch (const Error& e) {
      QVERIFY(std::string(e.what()).find("method.params.first_kernel") != std::string::npos);
    }
    try {
      makeMethod("pixelcnn", test::tinySetup({{"width", 4}}, 3));
      QFAIL("a width too small for three colours was accepted");
    } catch (const Error& e) {
      QVERIFY(std::string(e.what()).find("method.params.width") != std::string::npos);
    }
  }
};

PRETEXT_TEST_AREA(TestMethodsPixelCnn, "methods_pixelcnn")
#include "test_methods_pixelcnn.moc"
