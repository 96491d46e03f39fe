// Tests for core/eval/cka: linear CKA on numbers worked out by hand, its invariances (orthogonal
// transforms, isotropic scale) and its non-invariance (anisotropic scale), the Gram and the
// feature-space formulas agreeing, and the layer-by-layer matrix of real encoders.
#include "test_main.h"
#include <torch/torch.h>

#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <filesystem>

#include "core/config/experiment.h"
#include "core/eval/cka.h"
#include "core/eval/compare_encoders.h"
#include "core/train/trainer.h"
#include "core/models/backbone.h"
#include "core/util/error.h"
#include "test_support.h"

namespace {

// The feature-space formula ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), for comparison.
double ckaByFeatures(const torch::Tensor& x, const torch::Tensor& y) {
  auto xc = x.to(torch::kDouble) - x.to(torch::kDouble).mean(0, true);
  auto yc = y.to(torch::kDouble) - y.to(torch::kDouble).mean(0, true);
  return torch::matmul(yc.t(), xc).square().sum().item<double>() /
         (torch::matmul(xc.t(), xc).norm().item<double>() * torch::matmul(yc.t(), yc).norm().item<double>());
}

// Two stages: a 1x1 convolution 1 -> 2 channels with weights {+1, -1}, then its ReLU; the
// features are the second stage's spatial means.
class CkaTwoStageEncoder : public pretext::Encoder {
 public:
  CkaTwoStageEncoder() {
    conv_ = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 1).bias(false)));
    torch::NoGradGuard g;
    conv_->weight.copy_(torch::tensor({1.f, -1.f}).view({2, 1, 1, 1}));
    featureDim_ = 2;
  }
  torch::Tensor forward(torch::Tensor x) override { return torch::relu(conv_->forward(x)).mean({2, 3}); }
  std::vector<torch::Tensor> stages(torch::Tensor x) override {
    auto a = conv_->forward(x);
    return {a, torch::relu(a)};
  }
  int64_t numStages() const override { return 2; }
  torch::nn::Conv2d conv_{nullptr};
};

}  // namespace

class TestEvalCka : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::string data_;

  std::string trainTiny(const std::string& method, int64_t seed) {
    auto j = pretext::test::tinyExperimentJson(data_, method, 1);
    j["run"]["seed"] = seed;
    pretext::TrainOptions o;
    o.outDir = tmp_.filePath("runs").toStdString();
    return pretext::Trainer(pretext::experimentFromJson(j), o).run();
  }

 private slots:
  void initTestCase() {
    data_ = tmp_.filePath("data").toStdString();
    std::filesystem::create_directories(data_);
    pretext::test::writeTinyMnist(data_);
  }

  void oneDimensionalCkaIsTheSquaredCorrelation() {
    // x = 1,2,3 -> centred -1,0,1; y = 1,0,2 -> centred 0,-1,1. sum(xc yc) = 1, sum(xc^2) = 2,
    // sum(yc^2) = 2: CKA = 1^2 / (2 * 2) = 1/4 (= r^2 with r = 1/2).
    auto x = torch::tensor({1.0, 2.0, 3.0}).view({3, 1});
    auto y = torch::tensor({1.0, 0.0, 2.0}).view({3, 1});
    QVERIFY(std::abs(pretext::linearCka(x, y) - 0.25) < 1e-12);
    // The centred Gram of x: xc xc^T = [[1,0,-1],[0,0,0],[-1,0,1]].
    auto k = pretext::centeredGram(x);
    QVERIFY(torch::allclose(k, torch::tensor({1.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0}, torch::kDouble).view({3, 3})));
  }

  void invariantToRotationAndIsotropicScaleButNotToAnisotropicScale() {
    auto gen = at::detail::createCPUGenerator(5);
    auto x = torch::randn({64, 6}, gen, torch::kDouble);
    auto [q, r] = torch::linalg_qr(torch::randn({6, 6}, gen, torch::kDouble));
    QVERIFY(std::abs(pretext::linearCka(x, torch::matmul(x, q) * 3.5 + 7.0) - 1.0) < 1e-10);
    auto stretched = x * torch::tensor({10.0, 1.0, 1.0, 1.0, 1.0, 0.1}, torch::kDouble);
    const double c = pretext::linearCka(x, stretched);
    QVERIFY2(c < 0.9, qPrintable(QString::number(c)));
  }

  void gramAndFeatureFormulasAgree() {
    auto gen = at::detail::createCPUGenerator(9);
    auto x = torch::randn({40, 7}, gen, torch::kDouble);
    auto y = torch::matmul(x, torch::randn({7, 3}, gen, torch::kDouble)) + 0.5 * torch::randn({40, 3}, gen, torch::kDouble);
    const double a = pretext::linearCka(x, y), b = ckaByFeatures(x, y);
    QVERIFY2(std::abs(a - b) < 1e-10, qPrintable(QString("%1 vs %2").arg(a).arg(b)));
    QVERIFY(a > 0.3 && a < 1.0);
    // Independent representations: about sqrt(p q) / N = 0.02 here.
    auto u = torch::randn({500, 10}, gen, torch::kDouble), v = torch::randn({500, 10}, gen, torch::kDouble);
    QVERIFY(pretext::linearCka(u, v) < 0.1);
  }

  void badInputsAreNamed() {
    QVERIFY_THROWS_EXCEPTION(pretext::Error, pretext::centeredGram(torch::ones({1, 3})));
    QVERIFY_THROWS_EXCEPTION(pretext::Error, pretext::linearCka(torch::ones({3, 2}), torch::ones({4, 2})));
    // A constant representation has a zero centred Gram: CKA 0, not NaN.
    QCOMPARE(pretext::linearCka(torch::ones({5, 2}), torch::randn({5, 2})), 0.0);
  }

  void layerGramsOfAHandBuiltEncoder() {
    CkaTwoStageEncoder enc;
    auto images = torch::rand({10, 1, 4, 4});
    auto grams = pretext::encoderLayerGrams(enc, images, torch::kCPU, 3);  // batches of 3, 3, 3, 1
    QCOMPARE(grams.names, (std::vector<std::string>{"stage 1", "stage 2", "features"}));
    QCOMPARE(grams.grams.size(), size_t(3));
    // Stage 1 is [x, -x]: its centred Gram is 2 xc xc^T.
    QVERIFY(torch::allclose(grams.grams[0], 2 * pretext::centeredGram(images)));
    auto self = pretext::ckaMatrix(grams, grams);
    QCOMPARE(self.sizes(), (torch::IntArrayRef{3, 3}));
    QVERIFY(torch::allclose(self.diagonal(), torch::ones({3}, torch::kDouble)));
    QVERIFY(torch::allclose(self, self.t()));
    // The features are the spatial mean of relu(x) and relu(-x): with images in [0,1] that is
    // [mean x, 0], which is the mean over space of stage 1's first channel.
    auto meanOnly = pretext::centeredGram(images.mean({1, 2, 3}).unsqueeze(1));
    QVERIFY(std::abs(pretext::ckaFromGrams(grams.grams[2], meanOnly) - 1.0) < 1e-9);
    auto fewer = pretext::encoderLayerGrams(enc, images.slice(0, 0, 6), torch::kCPU);
    QVERIFY_THROWS_EXCEPTION(pretext::Error, pretext::ckaMatrix(grams, fewer));
  }

  void aConvNetAgainstItselfAndAnotherInit() {
    const auto o = pretext::BackboneOptions().inChannels(1).imageSize(28);
    torch::manual_seed(1);
    auto a = pretext::makeBackbone(o);
    torch::manual_seed(2);
    auto b = pretext::makeBackbone(o);
    a->eval();
    b->eval();
    auto images = torch::rand({48, 1, 28, 28}, at::detail::createCPUGenerator(3));
    auto ga = pretext::encoderLayerGrams(*a, images, torch::kCPU, 16);
    auto gb = pretext::encoderLayerGrams(*b, images, torch::kCPU, 16);
    QCOMPARE(int64_t(ga.names.size()), a->numStages() + 1);
    auto self = pretext::ckaMatrix(ga, ga);
    QVERIFY(torch::allclose(self.diagonal(), torch::ones({self.size(0)}, torch::kDouble)));
    auto cross = pretext::ckaMatrix(ga, gb);
    QVERIFY(torch::isfinite(cross).all().item<bool>());
    QVERIFY(cross.ge(0).all().item<bool>() && cross.le(1 + 1e-9).all().item<bool>());
    // Two random inits differ most at the end: the features' CKA is below 1.
    const double last = cross[-1][-1].item<double>();
    QVERIFY2(last < 0.999, qPrintable(QString::number(last)));
  }

  // A trained run against its random init, itself and another run, through the session API the
  // window uses.
  void sessionComparedWithInitItselfAndAnotherRun() {
    const std::string a = trainTiny("rotation", 3), b = trainTiny("simclr", 4);
    pretext::Session s = pretext::loadRunSession(a);
    auto self = pretext::compareWithItself(s, 30);
    QCOMPARE(self.images, int64_t(30));
    QCOMPARE(self.layersA.back(), std::string("features"));
    QVERIFY(torch::allclose(self.cka.diagonal(), torch::ones({self.cka.size(0)}, torch::kDouble)));
    auto init = pretext::compareWithRandomInit(s, 1000);  // clamped to the 40 test images
    QCOMPARE(init.images, int64_t(40));
    QCOMPARE(init.partner, std::string("its random init"));
    // The init is the one this run started from: rebuilding it twice gives the same matrix.
    auto again = pretext::compareWithRandomInit(s, 1000);
    QVERIFY(torch::allclose(init.cka, again.cka));
    // A session on the experiment (no training) against its init: the same encoder, CKA 1.
    pretext::Session fresh = pretext::makeSession(s.experiment);
    auto untrained = pretext::compareWithRandomInit(fresh, 40);
    QVERIFY(torch::allclose(untrained.cka.diagonal(), torch::ones({untrained.cka.size(0)}, torch::kDouble)));
    // Training moved the trained encoder away from it.
    QVERIFY(init.cka.diagonal().min().item<double>() < 0.9999);
    auto other = pretext::compareWithRun(s, b, 40);
    QCOMPARE(other.partner, b);
    QCOMPARE(other.cka.sizes(), init.cka.sizes());
    QVERIFY(other.cka.ge(-1e-9).all().item<bool>() && other.cka.le(1 + 1e-9).all().item<bool>());
    PRETEXT_VERIFY_THROWS_WITH(pretext::compareWithRun(s, tmp_.filePath("nowhere").toStdString(), 40), "nowhere");
  }

  void randomInitLeavesTheGlobalRandomStateAlone() {
    pretext::Session s = pretext::makeSession(pretext::experimentFromJson(pretext::test::tinyExperimentJson(data_, "rotation", 1)));
    torch::manual_seed(77);
    const auto expected = torch::rand({5});
    torch::manual_seed(77);
    pretext::compareWithRandomInit(s, 20);
    QVERIFY(torch::equal(torch::rand({5}), expected));
  }
};

PRETEXT_TEST_AREA(TestEvalCka, "eval_cka")
#include "test_eval_cka.moc"
