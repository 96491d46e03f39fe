// Tests for core/eval/sample_quality: the Fréchet distance on Gaussians worked out by hand (one
// dimension, diagonal covariances, covariances that do not commute), the symmetric matrix square
// root, and the class coverage of a set of predictions (counts, classes found, entropy).
#include "test_main.h"
#include <torch/torch.h>

#include <QtTest>
#include <cmath>

#include "core/eval/sample_quality.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;

namespace {

GaussianStats fdStats(std::vector<double> mean, std::vector<double> cov) {
  const int64_t d = static_cast<int64_t>(mean.size());
  return {torch::tensor(mean, torch::kDouble), torch::tensor(cov, torch::kDouble).view({d, d})};
}

}  // namespace

class TestEvalSamples : public QObject {
  Q_OBJECT
 private slots:
  // The same images twice: distance 0 (up to rounding), whatever the features.
  void identicalSetsAreAtZero() {
    torch::manual_seed(0);
    auto f = torch::randn({500, 16}) * torch::linspace(0.1, 3, 16) + 2;
    QVERIFY(frechetDistance(f, f) < 1e-8);
    QVERIFY(frechetDistance(f, f.clone()) < 1e-8);
  }
  // One dimension: (m1 - m2)^2 + (s1 - s2)^2.  {0, 2}: mean 1, unbiased variance
  // (1 + 1) / 1 = 2, s1 = sqrt 2.  {3, 5, 7}: mean 5, variance (4 + 0 + 4) / 2 = 4, s2 = 2.
  //   FD = (1 - 5)^2 + (sqrt 2 - 2)^2 = 16 + 6 - 4 sqrt 2 = 16.343146
  void oneDimensionHandWorked() {
    auto a = torch::tensor({0.0, 2.0}, torch::kDouble).view({2, 1});
    auto b = torch::tensor({3.0, 5.0, 7.0}, torch::kDouble).view({3, 1});
    auto sa = gaussianStats(a);
    QVERIFY(std::abs(sa.mean.item<double>() - 1) < 1e-12);
    QVERIFY(std::abs(sa.cov.item<double>() - 2) < 1e-12);
    QVERIFY(std::abs(frechetDistance(a, b) - (22 - 4 * std::sqrt(2.0))) < 1e-9);
    QVERIFY(std::abs(frechetDistance(b, a) - (22 - 4 * std::sqrt(2.0))) < 1e-9);
  }
  // Diagonal covariances: each dimension on its own. m1 = (0, 0), S1 = diag(1, 4);
  // m2 = (1, 1), S2 = diag(9, 1): FD = 1 + 1 + (1 - 3)^2 + (2 - 1)^2 = 7.
  void diagonalHandWorked() {
    auto a = fdStats({0, 0}, {1, 0, 0, 4}), b = fdStats({1, 1}, {9, 0, 0, 1});
    QVERIFY(std::abs(frechetDistance(a, b) - 7.0) < 1e-9);
  }
  // Covariances that do not commute (the symmetric form matters): S1 = [[2,1],[1,2]],
  // S2 = diag(1, 0). S1 S2 = [[2,0],[1,0]] has eigenvalues 2 and 0, so tr((S1 S2)^1/2) = sqrt 2
  // and, with equal means, FD = tr S1 + tr S2 - 2 sqrt 2 = 5 - 2.828427 = 2.171573.
  // (The zero eigenvalue comes out of the eigensolver as about +-1e-16, whose square root is
  // 1e-8: hence the tolerance.)
  void nonCommutingHandWorked() {
    auto a = fdStats({3, -1}, {2, 1, 1, 2}), b = fdStats({3, -1}, {1, 0, 0, 0});
    QVERIFY2(std::abs(frechetDistance(a, b) - (5 - 2 * std::sqrt(2.0))) < 1e-7,
             std::to_string(frechetDistance(a, b)).c_str());
    QVERIFY(std::abs(frechetDistance(b, a) - (5 - 2 * std::sqrt(2.0))) < 1e-7);
    // A shift of the mean by (3, 4) adds its squared length, 25.
    auto c = fdStats({6, 3}, {1, 0, 0, 0});
    QVERIFY(std::abs(frechetDistance(a, c) - (30 - 2 * std::sqrt(2.0))) < 1e-7);
  }
  // sqrt(diag(4, 9)) = diag(2, 3); the root of [[2,1],[1,2]] squares back to it; a matrix with a
  // rounding-negative eigenvalue gets 0 there, not NaN.
  void symmetricSquareRoot() {
    auto r = sqrtSymmetricPsd(torch::tensor({4.0, 0.0, 0.0, 9.0}, torch::kDouble).view({2, 2}));
    QVERIFY(torch::allclose(r, torch::tensor({2.0, 0.0, 0.0, 3.0}, torch::kDouble).view({2, 2}), 0, 1e-12));
    auto s = torch::tensor({2.0, 1.0, 1.0, 2.0}, torch::kDouble).view({2, 2});
    auto q = sqrtSymmetricPsd(s);
    QVERIFY(torch::allclose(q.mm(q), s, 0, 1e-12));
    QVERIFY(torch::allclose(q, q.t(), 0, 1e-12));
    auto neg = torch::tensor({1.0, 0.0, 0.0, -1e-15}, torch::kDouble).view({2, 2});
    QVERIFY(!sqrtSymmetricPsd(neg).isnan().any().item<bool>());
  }
  void badInputsAreRefused() {
    PRETEXT_VERIFY_THROWS_WITH(gaussianStats(torch::zeros({1, 3})), "at least two images");
    PRETEXT_VERIFY_THROWS_WITH(frechetDistance(torch::zeros({4, 3}), torch::zeros({4, 2})),
                               "differ in dimension (3 and 2)");
    PRETEXT_VERIFY_THROWS_WITH(classCoverage(torch::tensor({0, 10}), 10), "prediction 10");
  }
  // Predictions {0, 0, 1, 2, 2, 2, 2, 9} of 10 classes: classes 0, 1, 2, 9 found (4); with at
  // least two samples each, 0 and 2 (2). p = (2, 1, 4, 1) / 8:
  //   H = -(1/4 ln 1/4 + 2 x 1/8 ln 1/8 + 1/2 ln 1/2) = 0.346574 + 0.519860 + 0.346574 = 1.213008
  void classCoverageHandWorked() {
    auto p = torch::tensor({0, 0, 1, 2, 2, 2, 2, 9});
    auto c = classCoverage(p, 10);
    QCOMPARE(c.classesFound, int64_t(4));
    QCOMPARE(c.counts, (std::vector<int64_t>{2, 1, 4, 0, 0, 0, 0, 0, 0, 1}));
    QVERIFY(std::abs(c.entropy - 1.213008) < 1e-6);
    QVERIFY(std::abs(c.maxEntropy - std::log(10.0)) < 1e-12);
    QCOMPARE(classCoverage(p, 10, 2).classesFound, int64_t(2));
    // One class only: entropy 0; every class equally often: log 10.
    QCOMPARE(classCoverage(torch::full({50}, 3, torch::kLong), 10).entropy, 0.0);
    auto all = classCoverage(torch::arange(100) % 10, 10);
    QCOMPARE(all.classesFound, int64_t(10));
    QVERIFY(std::abs(all.entropy - std::log(10.0)) < 1e-12);
  }
  // The classifier's view of a set of images: uint8 images come in as [0,1] floats, batches are
  // put back together in order.
  void classifierViewBatches() {
    auto images = torch::arange(7 * 4, torch::kByte).view({7, 1, 2, 2});
    auto features = [](const torch::Tensor& x) { return x.flatten(1); };
    auto logits = [](const torch::Tensor& x) {  // class = 1 when the first pixel > 0.05
      auto first = x.flatten(1).select(1, 0);
      return torch::stack({torch::zeros_like(first), first - 0.05}, 1);
    };
    auto v = classifierView(features, logits, images, torch::kCPU, 3);
    QCOMPARE(v.features.sizes(), (c10::IntArrayRef{7, 4}));
    QVERIFY(torch::allclose(v.features, images.flatten(1).to(torch::kFloat) / 255.0));
    // First pixels 0, 4, 8, 12, 16, ... / 255: images 0-3 are below 0.05, the rest above.
    QCOMPARE(v.predictions[0].item<int64_t>(), int64_t(0));
    QCOMPARE(v.predictions[1].item<int64_t>(), int64_t(0));
    QCOMPARE(v.predictions[2].item<int64_t>(), int64_t(0));  // 8/255 = 0.031
    QCOMPARE(v.predictions[3].item<int64_t>(), int64_t(0));  // 12/255 = 0.047
    QCOMPARE(v.predictions[4].item<int64_t>(), int64_t(1));  // 16/255 = 0.063
    QCOMPARE(v.predictions[6].item<int64_t>(), int64_t(1));
  }
};

PRETEXT_TEST_AREA(TestEvalSamples, "eval_samples")
#include "test_eval_samples.moc"
