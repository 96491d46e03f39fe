// Barlow Twins: the loss against values worked out by hand, its invariances, a loop
// transcription, the heat map's colours, and the method's step, previews and views.
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>

#include "core/methods/barlow.h"
#include "core/methods/registry.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;
using pretext::test::metric;

namespace {

double lossOf(const torch::Tensor& z1, const torch::Tensor& z2, double lambda,
              double eps = kBarlowEps, torch::Tensor* c = nullptr) {
  return barlowTwinsLoss(z1, z2, lambda, c, eps).item<double>();
}

MethodSetup barlowSetup() { return test::tinySetup({{"proj_hidden", 16}, {"proj_dim", 8}}); }

}  // namespace

class TestMethodsbarlow : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // N = 2, D = 2. z1 = [[3,5],[1,7]]: column 0 has mean 2, deviations (1,-1), BIASED variance
  // (1+1)/2 = 1 -> (1,-1); column 1 has mean 6, deviations (-1,1) -> (-1,1).
  // z2 = [[10,0],[-10,4]]: column 0 mean 0, std 10 -> (1,-1); column 1 mean 2, std 2 -> (-1,1).
  // zn1 = zn2 = [[1,-1],[-1,1]], C = zn1^T zn2 / 2 = [[2,-2],[-2,2]] / 2 = [[1,-1],[-1,1]].
  // L = (1-1)^2 + (1-1)^2 + lambda * ((-1)^2 + (-1)^2) = 2 lambda = 1 at lambda = 0.5.
  // With the unbiased std (variance 2) every entry would be +-1/sqrt2, C = +-0.5 and
  // L = 2 * 0.5^2 + 0.5 * 2 * 0.5^2 = 0.75: the test tells the two apart.
  void handWorkedTwoByTwo() {
    auto z1 = torch::tensor({{3.0, 5.0}, {1.0, 7.0}}, torch::kDouble);
    auto z2 = torch::tensor({{10.0, 0.0}, {-10.0, 4.0}}, torch::kDouble);
    torch::Tensor c;
    const double loss = lossOf(z1, z2, 0.5, 0.0, &c);
    QVERIFY2(std::abs(loss - 1.0) < 1e-12, qPrintable(QString::number(loss)));
    QVERIFY(
        torch::allclose(c, torch::tensor({{1.0, -1.0}, {-1.0, 1.0}}, torch::kDouble), 0, 1e-12));
    QVERIFY(std::abs(loss - 0.75) > 0.2);  // not the unbiased-std value
    // With BatchNorm's eps every standardised entry is +-1/sqrt(var + eps): column variances
    // (1, 1) for z1 and (100, 4) for z2, so C_ij = +-1 / sqrt((1 + eps)(v2_j + eps) / v2_j) and
    // L = sum_i (1 - |C_ii|)^2 + 0.5 (C_01^2 + C_10^2).
    const double e = kBarlowEps;
    const double c0 = 1 / std::sqrt((1 + e) * (100 + e) / 100),
                 c1 = 1 / std::sqrt((1 + e) * (4 + e) / 4);
    const double expected = (1 - c0) * (1 - c0) + (1 - c1) * (1 - c1) + 0.5 * (c1 * c1 + c0 * c0);
    QVERIFY(std::abs(lossOf(z1, z2, 0.5) - expected) < 1e-12);
  }

  // N = 4, D = 2, with a fractional C and shifted, scaled columns.
  // z1: column 0 = (1,-1,1,-1), column 1 = (1,1,-1,-1): mean 0, biased variance 1: zn1 = z1.
  // z2: column 0 = 2*(1,1,1,-3) + 5 = (7,7,7,-1): mean 5, deviations 2*(1,1,1,-3), biased
  //     variance 4*(1+1+1+9)/4 = 12 -> (1,1,1,-3)/sqrt3; column 1 = (4,2,2,4): mean 3 ->
  //     (1,-1,-1,1).
  // C00 = (1 - 1 + 1 + 3) / (4 sqrt3) = 1/sqrt3     C01 = (1 + 1 - 1 - 1) / 4 = 0
  // C10 = (1 + 1 - 1 + 3) / (4 sqrt3) = 1/sqrt3     C11 = (1 - 1 + 1 - 1) / 4 = 0
  // L = (1 - 1/sqrt3)^2 + (1 - 0)^2 + lambda * (0^2 + (1/sqrt3)^2)
  //   = 0.17863279 + 1 + 0.3/3 = 1.27863279 at lambda = 0.3.
  void handWorkedFourByTwo() {
    auto z1 = torch::tensor({{1.0, 1.0}, {-1.0, 1.0}, {1.0, -1.0}, {-1.0, -1.0}}, torch::kDouble);
    auto z2 = torch::tensor({{7.0, 4.0}, {7.0, 2.0}, {7.0, 2.0}, {-1.0, 4.0}}, torch::kDouble);
    torch::Tensor c;
    const double loss = lossOf(z1, z2, 0.3, 0.0, &c);
    QVERIFY2(std::abs(loss - 1.27863279) < 1e-8, qPrintable(QString::number(loss, 'g', 10)));
    const double r = 1 / std::sqrt(3.0);
    QVERIFY(torch::allclose(c, torch::tensor({{r, 0.0}, {r, 0.0}}, torch::kDouble), 0, 1e-12));
    // C is not symmetric: swapping the views transposes it (and here changes the loss only
    // through which off-diagonal entry is nonzero, so L stays the same).
    torch::Tensor ct;
    QVERIFY(std::abs(lossOf(z2, z1, 0.3, 0.0, &ct) - loss) < 1e-12);
    QVERIFY(torch::allclose(ct, c.t(), 0, 1e-12));
    // Float input and BatchNorm's eps change it by about eps.
    QVERIFY(std::abs(lossOf(z1.to(torch::kFloat), z2.to(torch::kFloat), 0.3) - 1.27863279) < 1e-4);
  }

  // Identical views whose standardised dimensions are already uncorrelated: C = I, L = 0 for any
  // lambda (columns (1,-1,1,-1) and (1,1,-1,-1): mean 0, variance 1, orthogonal).
  void identicalDecorrelatedViewsCostNothing_data() {
    QTest::addColumn<double>("lambda");
    QTest::newRow("0") << 0.0;
    QTest::newRow("0.0051") << 0.0051;
    QTest::newRow("1") << 1.0;
  }
  void identicalDecorrelatedViewsCostNothing() {
    QFETCH(double, lambda);
    auto z = torch::tensor({{1.0, 1.0}, {-1.0, 1.0}, {1.0, -1.0}, {-1.0, -1.0}}, torch::kDouble);
    torch::Tensor c;
    QCOMPARE(lossOf(z, z, lambda, 0.0, &c), 0.0);
    QVERIFY(c.equal(torch::eye(2, torch::kDouble)));
    // With eps: C = I / (1 + eps), L = 2 (eps / (1 + eps))^2, about 2e-10.
    const double e = kBarlowEps;
    QVERIFY(std::abs(lossOf(z, z, lambda) - 2 * std::pow(e / (1 + e), 2)) < 1e-15);
  }

  // lambda weights the off-diagonal terms only: L(lambda) = sum_i (1 - C_ii)^2 + lambda * S with
  // S = sum_{i != j} C_ij^2, so L(0) is the diagonal part and L is linear in lambda.
  void lambdaWeightsOnlyTheOffDiagonal() {
    auto z1 = torch::randn({16, 5}, torch::kDouble);
    auto z2 = z1 + 0.5 * torch::randn({16, 5}, torch::kDouble);
    torch::Tensor c;
    const double l0 = lossOf(z1, z2, 0.0, kBarlowEps, &c);
    const double diagPart = (1 - c.diagonal()).pow(2).sum().item<double>();
    const double s = c.pow(2).sum().item<double>() - c.diagonal().pow(2).sum().item<double>();
    QVERIFY(s > 0.1);
    QVERIFY(std::abs(l0 - diagPart) < 1e-12);
    for (double lambda : {0.0051, 0.2, 1.0})
      QVERIFY(std::abs(lossOf(z1, z2, lambda) - (diagPart + lambda * s)) < 1e-12);
  }

  // Standardisation: a positive scale and a shift per dimension, on either view, change nothing.
  // A negative scale flips that dimension's correlations, so it does change the loss.
  void scaleAndShiftInvariance() {
    auto z1 = torch::randn({12, 4}, torch::kDouble);
    auto z2 = z1 + 0.3 * torch::randn({12, 4}, torch::kDouble);
    const double base = lossOf(z1, z2, 0.1, 0.0);
    auto a = torch::tensor({0.01, 1.0, 7.0, 300.0}, torch::kDouble);
    auto b = torch::tensor({-5.0, 0.0, 2.0, 1000.0}, torch::kDouble);
    QVERIFY(std::abs(lossOf(z1 * a + b, z2, 0.1, 0.0) - base) < 1e-9);
    QVERIFY(std::abs(lossOf(z1, z2 * a.flip(0) - b, 0.1, 0.0) - base) < 1e-9);
    // With eps the invariance holds as long as the variances dwarf eps.
    QVERIFY(std::abs(lossOf(z1 * 3 + 1, z2 * 2 - 4, 0.1) - lossOf(z1, z2, 0.1)) < 1e-4);
    auto flip = torch::tensor({1.0, -1.0, 1.0, 1.0}, torch::kDouble);
    QVERIFY(lossOf(z1 * flip, z2, 0.1, 0.0) > base + 1.0);
  }

  // A general case against a direct transcription of the formula with loops.
  void matchesLoops() {
    const int64_t n = 7, d = 4;
    const double lambda = 0.05;
    auto z1 = torch::randn({n, d}, torch::kDouble) * 2 + 1;
    auto z2 = torch::randn({n, d}, torch::kDouble) * 0.5 - 3;
    auto standardised = [&](const torch::Tensor& z) {
      std::vector<std::vector<double>> out(n, std::vector<double>(d));
      for (int64_t j = 0; j < d; ++j) {
        double mean = 0, var = 0;
        for (int64_t b = 0; b < n; ++b) mean += z[b][j].item<double>() / n;
        for (int64_t b = 0; b < n; ++b) var += std::pow(z[b][j].item<double>() - mean, 2) / n;
        for (int64_t b = 0; b < n; ++b)
          out[b][j] = (z[b][j].item<double>() - mean) / std::sqrt(var + kBarlowEps);
      }
      return out;
    };
    auto a = standardised(z1), b = standardised(z2);
    double expected = 0;
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < d; ++j) {
        double cij = 0;
        for (int64_t k = 0; k < n; ++k) cij += a[k][i] * b[k][j] / n;
        expected += i == j ? (1 - cij) * (1 - cij) : lambda * cij * cij;
      }
    QVERIFY(std::abs(lossOf(z1, z2, lambda) - expected) < 1e-10);
    QVERIFY(std::abs(lossOf(z1.to(torch::kFloat), z2.to(torch::kFloat), lambda) - expected) < 1e-4);
  }

  // A collapsed (constant) dimension stays finite: it standardises to 0, so its C row and column
  // are 0 and its diagonal term costs the full (1 - 0)^2 = 1. z = [[1,5],[-1,5]] on both views:
  // C = diag(1/(1+eps), 0), L = (eps/(1+eps))^2 + 1. The gradient is finite too.
  void constantDimensionIsFinite() {
    auto z1 = torch::tensor({{1.0, 5.0}, {-1.0, 5.0}}, torch::kDouble).requires_grad_(true);
    auto z2 = torch::tensor({{1.0, 5.0}, {-1.0, 5.0}}, torch::kDouble);
    torch::Tensor c;
    auto loss = barlowTwinsLoss(z1, z2, 0.0051, &c);
    const double e = kBarlowEps;
    QVERIFY(std::abs(loss.item<double>() - (1 + std::pow(e / (1 + e), 2))) < 1e-12);
    QVERIFY(torch::allclose(c, torch::tensor({{1 / (1 + e), 0.0}, {0.0, 0.0}}, torch::kDouble), 0,
                            1e-12));
    loss.backward();
    QVERIFY(torch::isfinite(z1.grad()).all().item<bool>());
  }

  void refusesBadShapes() {
    PRETEXT_VERIFY_THROWS_WITH(barlowTwinsLoss(torch::zeros({4, 3}), torch::zeros({4, 2}), 0.1),
                               "same shape");
    PRETEXT_VERIFY_THROWS_WITH(barlowTwinsLoss(torch::zeros({4}), torch::zeros({4}), 0.1), "[N,D]");
    PRETEXT_VERIFY_THROWS_WITH(barlowTwinsLoss(torch::zeros({1, 3}), torch::zeros({1, 3}), 0.1),
                               "raise schedule.batch_size");
  }

  // The loss does what it claims: minimising it over a linear map W for two noisy copies of the
  // same correlated data drives C towards the identity (W learns to whiten).
  void minimisingDrivesCTowardsIdentity() {
    torch::manual_seed(1);
    auto mix = torch::randn({4, 4});
    auto x = torch::randn({256, 4}).mm(mix);  // correlated dimensions
    auto n1 = 0.05 * torch::randn({256, 4}), n2 = 0.05 * torch::randn({256, 4});
    auto w = torch::eye(4).requires_grad_(true);
    torch::Tensor c0;
    barlowTwinsLoss((x + n1).mm(w), (x + n2).mm(w), 0.5, &c0);
    const double offBefore = (c0 - torch::diag(c0.diagonal())).abs().max().item<double>();
    QVERIFY(offBefore > 0.2);
    torch::optim::Adam opt({w}, torch::optim::AdamOptions(0.05));
    for (int i = 0; i < 300; ++i) {
      opt.zero_grad();
      barlowTwinsLoss((x + n1).mm(w), (x + n2).mm(w), 0.5).backward();
      opt.step();
    }
    torch::Tensor c;
    barlowTwinsLoss((x + n1).mm(w), (x + n2).mm(w), 0.5, &c);
    QVERIFY2((c - torch::eye(4)).abs().max().item<double>() < 0.05,
             qPrintable(QString::number((c - torch::eye(4)).abs().max().item<double>())));
  }

  // Colours by hand: C = [[1, 0], [-1, 0.5]] at scale 2 -> a 4x4 picture of 2x2 blocks:
  // +1 red (1,0,0), 0 white (1,1,1), -1 blue (0,0,1), 0.5 halfway to red (1,0.5,0.5).
  // Values beyond +-1 are clamped: 3 -> red, -2 -> blue.
  void heatmapColoursByHand() {
    auto img = correlationHeatmap(torch::tensor({{1.0f, 0.0f}, {-1.0f, 0.5f}}), 2);
    QCOMPARE(img.sizes().vec(), (std::vector<int64_t>{1, 3, 4, 4}));
    auto px = [&](int y, int x) { return img[0].select(1, y).select(1, x); };  // (r,g,b)
    QVERIFY(px(0, 0).equal(torch::tensor({1.0f, 0.0f, 0.0f})));
    QVERIFY(px(1, 1).equal(torch::tensor({1.0f, 0.0f, 0.0f})));  // same 2x2 block
    QVERIFY(px(0, 3).equal(torch::tensor({1.0f, 1.0f, 1.0f})));
    QVERIFY(px(2, 0).equal(torch::tensor({0.0f, 0.0f, 1.0f})));
    QVERIFY(px(3, 1).equal(torch::tensor({0.0f, 0.0f, 1.0f})));
    QVERIFY(px(2, 2).equal(torch::tensor({1.0f, 0.5f, 0.5f})));
    QVERIFY(px(3, 3).equal(torch::tensor({1.0f, 0.5f, 0.5f})));
    auto clamped = correlationHeatmap(torch::tensor({{3.0f, -2.0f}}), 1);
    QVERIFY(clamped[0].select(2, 0).flatten().equal(torch::tensor({1.0f, 0.0f, 0.0f})));
    QVERIFY(clamped[0].select(2, 1).flatten().equal(torch::tensor({0.0f, 0.0f, 1.0f})));
    PRETEXT_VERIFY_THROWS_WITH(correlationHeatmap(torch::eye(2), 0), "at least 1");
    PRETEXT_VERIFY_THROWS_WITH(correlationHeatmap(torch::ones({2}), 1), "2-D");
  }

  void registryAndSchema() {
    const auto& info = MethodRegistry::instance().get("barlow");
    QCOMPARE(QString::fromStdString(info.title), QString("Barlow Twins"));
    auto p = resolveParams(info, nlohmann::json::object());
    QCOMPARE(p["lambda"].get<double>(), 0.0051);
    QCOMPARE(p["proj_layers"].get<int64_t>(), int64_t(3));
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"lambda", -1}}),
                               "method.params.lambda = -1: expected a value in [0, 1]");
  }

  // One step: the loss equals barlowTwinsLoss on the two views' projections (both views in one
  // forward pass, so BatchNorm sees the 2N images together; views drawn from the same generator
  // in order), and the metrics are C's mean diagonal, mean |off-diagonal| and the collapse
  // metrics of z1.
  // The loss taken apart: C of the batch, the per-dimension shares adding up to the loss, which
  // is barlowTwinsLoss of the same views.
  void lossAnatomyAddsUp() {
    auto method = makeMethod("barlow", barlowSetup());
    method->eval();
    auto images = torch::rand({10, 1, 16, 16});
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(3);
    const auto list = method->lossAnatomy(images, aug, gen);
    QCOMPARE(list.size(), size_t(1));
    const LossAnatomy& a = list[0];
    QCOMPARE(a.matrix.sizes(), (torch::IntArrayRef{8, 8}));
    const double loss = a.terms[0].second;
    QVERIFY(std::abs(a.perRow.sum().item<double>() - loss) < 1e-4 * std::max(1.0, loss));
    QVERIFY(std::abs(a.terms[1].second + a.terms[2].second - loss) < 1e-4 * std::max(1.0, loss));
    auto gen2 = at::detail::createCPUGenerator(3);
    auto v1 = augmentBatch(images, aug, gen2), v2 = augmentBatch(images, aug, gen2);
    auto projector = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(method->named_children()["projector"]);
    torch::Tensor c;
    const double direct = barlowTwinsLoss(projector->forward(method->encoder()->forward(v1)),
                                          projector->forward(method->encoder()->forward(v2)), 0.0051, &c)
                              .item<double>();
    QVERIFY2(std::abs(direct - loss) < 1e-4 * std::max(1.0, loss), qPrintable(QString("%1 vs %2").arg(direct).arg(loss)));
    QVERIFY(torch::allclose(a.matrix, c.to(torch::kFloat), 1e-5, 1e-6));
  }

  void stepMatchesTheLossOnItsViews() {
    auto method = makeMethod("barlow", barlowSetup());
    method->train();
    Batch b;
    b.images = torch::rand({8, 1, 16, 16});
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(5);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    auto r = method->step(b, ctx);

    auto gen2 = at::detail::createCPUGenerator(5);
    auto v1 = augmentBatch(b.images, aug, gen2);
    auto v2 = augmentBatch(b.images, aug, gen2);
    auto projector =
        std::dynamic_pointer_cast<torch::nn::SequentialImpl>(method->named_children()["projector"]);
    QVERIFY(projector);
    QCOMPARE(projector->size(), size_t(3 * 2 + 1));  // 3 layers: (Linear, BN, ReLU) x 2 + Linear
    auto z = projector->forward(method->encoder()->forward(torch::cat({v1, v2}, 0)));
    auto z1 = z.slice(0, 0, 8), z2 = z.slice(0, 8, 16);
    QCOMPARE(z1.size(1), int64_t(8));
    torch::Tensor c;
    const double expected = barlowTwinsLoss(z1, z2, 0.0051, &c).item<double>();
    QVERIFY2(std::abs(r.loss.item<double>() - expected) < 1e-4 * (1 + expected),
             qPrintable(QString("%1 vs %2").arg(r.loss.item<double>()).arg(expected)));
    QVERIFY(std::abs(metric(r, "on_diag") - c.diagonal().mean().item<double>()) < 1e-5);
    const double off = ((c.abs().sum() - c.diagonal().abs().sum()) / (8 * 7)).item<double>();
    QVERIFY(std::abs(metric(r, "off_diag") - off) < 1e-5);
    QVERIFY(std::isfinite(metric(r, "emb_std")));
    QVERIFY(metric(r, "eff_rank") >= 1.0);
    QCOMPARE(method->embeddingDim(), int64_t(8));
    for (const auto& [n, v] : r.metrics) QVERIFY2(!v.requires_grad() && v.dim() == 0, n.c_str());
    // Everything is trained and saved: the projector's weights are parameters of the method.
    QCOMPARE(method->trainableParameters().size(), method->parameters().size());
    QVERIFY(method->named_parameters().contains("projector.0.weight"));
  }

  // The previews: C's heat map next to the identity it should approach, and view pairs; also on
  // a single opened image (repeated under fresh augmentations so C has enough samples).
  void previewsAndInputViews_data() {
    QTest::addColumn<int>("n");
    QTest::newRow("5 images") << 5;
    QTest::newRow("one image") << 1;
  }
  void previewsAndInputViews() {
    QFETCH(int, n);
    auto method = makeMethod("barlow", barlowSetup());
    method->eval();
    auto images = torch::rand({n, 1, 16, 16});
    auto gen = at::detail::createCPUGenerator(2);
    auto previews = method->previews(images, gen, {});
    QCOMPARE(previews.size(), size_t(2));
    const auto& heat = previews[0];
    // D = 8 < 64: all of C, 8 entries of 32 px each.
    QCOMPARE(heat.images.sizes().vec(), (std::vector<int64_t>{2, 3, 256, 256}));
    QVERIFY(heat.images.min().item<float>() >= 0 && heat.images.max().item<float>() <= 1);
    QVERIFY(heat.images[1].equal(correlationHeatmap(torch::eye(8), 32)[0]));
    QVERIFY(!heat.images[0].equal(heat.images[1]));
    QCOMPARE(heat.labels.size(), size_t(2));
    QVERIFY(heat.caption.find("should approach the identity") != std::string::npos);
    const auto& pairs = previews[1];
    QCOMPARE(pairs.images.size(0), int64_t(3 * n));
    QCOMPARE(pairs.labels.size(), size_t(3 * n));
    QVERIFY(pairs.labels[2].find("agree") != std::string::npos);

    auto views = method->inputViews(images, augmentPreset("weak"), gen);
    QCOMPARE(views.images.sizes().vec(), (std::vector<int64_t>{3 * n, 1, 16, 16}));
    QVERIFY(views.images[0].equal(images[0]));
    QCOMPARE(views.columns, int64_t(3));
    QCOMPARE(views.labels.size(), size_t(3));
  }

  // Large D: the heat map shows the first 64 x 64 block of C at 4 px per entry.
  void previewShowsTheFirstBlockOfALargeC() {
    auto s = barlowSetup();
    s.params = {{"proj_hidden", 32}, {"proj_dim", 100}};
    auto method = makeMethod("barlow", s);
    method->eval();
    auto gen = at::detail::createCPUGenerator(3);
    auto previews = method->previews(torch::rand({4, 1, 16, 16}), gen, {});
    QCOMPARE(previews[0].images.sizes().vec(), (std::vector<int64_t>{2, 3, 256, 256}));
    QVERIFY(previews[0].caption.find("first block 64 x 64") != std::string::npos);
  }
};

PRETEXT_TEST_AREA(TestMethodsbarlow, "methods_barlow")
#include "test_methods_barlow.moc"
