// CPC: the patch grid, InfoNCE by hand, the context network's causality, the representation
// the probes read, and the method's step and pictures.
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>

#include "core/methods/cpc.h"
#include "core/methods/registry.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;
using pretext::test::metric;

namespace {

MethodSetup cpcSetup(nlohmann::json params = nlohmann::json::object()) {
  MethodSetup s = test::tinySetup(std::move(params), 1, 28);
  return s;
}

}  // namespace

class TestMethodsCpc : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // 28 px padded to 32 (2 px of zeros on each side): 7 x 7 patches of 8 px every 4 px; patch
  // (i,j) is the padded image's [4i, 4i+8) x [4j, 4j+8).
  void patchGridCutsOverlappingPatches() {
    const auto img = torch::rand({2, 1, 28, 28});
    const auto grid = cpcPatchGrid(img, 32, 8, 4);
    QCOMPARE(grid.sizes().vec(), (std::vector<int64_t>{2, 7, 7, 1, 8, 8}));
    auto padded = torch::zeros({2, 1, 32, 32});
    padded.slice(2, 2, 30).slice(3, 2, 30).copy_(img);
    for (int64_t i : {0, 3, 6})
      for (int64_t j : {0, 2, 6})
        QVERIFY(grid.select(1, i).select(1, j).equal(padded.slice(2, 4 * i, 4 * i + 8).slice(3, 4 * j, 4 * j + 8)));
    QCOMPARE(grid[0][0][0][0][0][0].item<float>(), 0.0f);  // padding
  }

  // M = 2, D = 1: predictions (1, 0), targets (2, 1): logits [[2, 1], [0, 0]].
  // Row 0: -log(e^2 / (e^2 + e)) = log(1 + e^-1) = 0.313262; row 1: log 2 = 0.693147.
  // L = mean = 0.503204. Accuracy: row 0 right, row 1 a tie that argmax gives to row 0: 1/2.
  void infoNceHandWorked() {
    torch::Tensor acc;
    const auto l = cpcInfoNce(torch::tensor({{1.0f}, {0.0f}}), torch::tensor({{2.0f}, {1.0f}}), &acc);
    const double expected = 0.5 * (std::log(1 + std::exp(-1.0)) + std::log(2.0));
    QVERIFY2(std::abs(l.item<double>() - expected) < 1e-6, qPrintable(QString::number(l.item<double>())));
    QCOMPARE(acc.item<float>(), 0.5f);
    // The gradient reaches both predictions and targets (the targets are the encoder's patches).
    auto p = torch::randn({4, 3}, torch::requires_grad());
    auto t = torch::randn({4, 3}, torch::requires_grad());
    cpcInfoNce(p, t).backward();
    QVERIFY(p.grad().abs().sum().item<double>() > 0 && t.grad().abs().sum().item<double>() > 0);
  }

  // The context at row i never sees a patch below row i.
  void contextSeesOnlyRowsAbove() {
    torch::nn::Sequential layers;
    for (int l = 0; l < 3; ++l) layers->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3)));
    const auto z = torch::randn({2, 4, 7, 7});
    const auto c = cpcContext(layers, z);
    QCOMPARE(c.sizes().vec(), z.sizes().vec());
    for (int64_t row = 0; row < 6; ++row) {
      auto changed = z.clone();
      changed.slice(2, row + 1) += torch::randn_like(changed.slice(2, row + 1));
      const auto c2 = cpcContext(layers, changed);
      QVERIFY(c2.slice(2, 0, row + 1).equal(c.slice(2, 0, row + 1)));
      QVERIFY(!c2.slice(2, row + 1).equal(c.slice(2, row + 1)));
    }
    // Three layers reach six rows up: row 6 depends on row 0.
    auto top = z.clone();
    top.slice(2, 0, 1) += 1;
    QVERIFY(!cpcContext(layers, top).slice(2, 6).equal(c.slice(2, 6)));
  }

  // The probes read the patch vectors averaged over the grid.
  void featuresAverageThePatches() {
    auto method = makeMethod("cpc", cpcSetup());
    method->eval();
    torch::NoGradGuard ng;
    const auto img = torch::rand({3, 1, 28, 28});
    const auto patches = cpcPatchGrid(img, 32, 8, 4).reshape({3 * 49, 1, 8, 8});
    const auto expected = method->encoder()->forward(patches).view({3, 49, -1}).mean(1);
    QVERIFY(test::close(method->features(img), expected));
  }

  void stepTrainsEveryPart() {
    auto method = makeMethod("cpc", cpcSetup());
    method->train();
    Batch b;
    b.images = torch::rand({6, 1, 28, 28});
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(1);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    auto r = method->step(b, ctx);
    QVERIFY(std::isfinite(r.loss.item<double>()));
    // Random vectors: about log M of the first offset's 6 x 5 x 7 = 210 candidates.
    QVERIFY(r.loss.item<double>() > 1.0);
    const double acc = metric(r, "cpc_acc");
    QVERIFY(acc >= 0 && acc <= 1);
    r.loss.backward();
    for (const auto& item : method->named_parameters()) {
      if (!item.value().requires_grad()) continue;
      QVERIFY2(item.value().grad().defined(), item.key().c_str());
    }
    QVERIFY(method->named_parameters().contains("predictors.2.weight"));  // k = 2, 3, 4
    QVERIFY(!method->named_parameters().contains("predictors.3.weight"));
  }

  void picturesShowTheGridAndThePredictions() {
    auto method = makeMethod("cpc", cpcSetup());
    method->eval();
    auto gen = at::detail::createCPUGenerator(2);
    const auto img = torch::rand({4, 1, 28, 28});
    auto views = method->inputViews(img, augmentPreset("none"), gen);
    QCOMPARE(views.columns, int64_t(8));  // the image and its 7 rows
    QVERIFY(views.caption.find("rows 2 and more below") != std::string::npos);
    auto previews = method->previews(img, gen, {});
    QCOMPARE(previews.size(), size_t(1));
    QCOMPARE(previews[0].columns, int64_t(7));  // context, the patch, the top 5
    QCOMPARE(previews[0].images.sizes().vec(), (std::vector<int64_t>{4 * 7, 3, 32, 32}));
    QCOMPARE(previews[0].labels.size(), size_t(28));
    QVERIFY(previews[0].images.min().item<float>() >= 0 && previews[0].images.max().item<float>() <= 1);
  }

  void refusesWhatCannotWork() {
    MethodSetup vit = cpcSetup();
    vit.backbone.name("vit");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("cpc", vit), "use backbone convnet");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("cpc", cpcSetup({{"padded_size", 30}})), "method.params.padded_size = 30");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("cpc", cpcSetup({{"patch_size", 24}, {"padded_size", 32}})),
                               "leaves nothing to predict");
  }
};

PRETEXT_TEST_AREA(TestMethodsCpc, "methods_cpc")
#include "test_methods_cpc.moc"
