// Tests for core/eval/tsne and core/eval/inspect: t-SNE (perplexity calibration, cluster
// separation, KL descent, determinism, cancellation) and the encoder-inspection helpers on a
// hand-built encoder whose answers can be worked out by hand.
#include "test_main.h"
#include <torch/torch.h>

#include <QtTest>
#include <cmath>
#include <thread>

#include "core/eval/inspect.h"
#include "core/eval/tsne.h"
#include "core/models/backbone.h"
#include "core/util/error.h"
#include "test_support.h"

using pretext::TsneOptions;

namespace {

// `classes` Gaussian clusters in `dim` dimensions, centres `separation` apart on the axes.
std::pair<torch::Tensor, torch::Tensor> inspectBlobs(int64_t perClass, int64_t dim, int64_t classes,
                                              double separation, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> xs, ys;
  for (int64_t c = 0; c < classes; ++c) {
    auto centre = torch::zeros({dim});
    centre[c % dim] = separation;
    xs.push_back(centre + torch::randn({perClass, dim}, gen));
    ys.push_back(torch::full({perClass}, c, torch::kLong));
  }
  return {torch::cat(xs), torch::cat(ys)};
}

// A hand-built encoder: one 1x1 convolution 1 -> 2 channels with weights {+1, -1} and no bias,
// applied to the raw input (no normalisation). Stage 0 = that convolution, stage 1 = its ReLU.
// So the mean activation of stage 0 channel 0 is the image's mean, channel 1 minus it.
class HandEncoder : public pretext::Encoder {
 public:
  HandEncoder() {
    conv_ =
        register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 1).bias(false)));
    torch::NoGradGuard g;
    conv_->weight.copy_(torch::tensor({1.f, -1.f}).view({2, 1, 1, 1}));
    featureDim_ = 2;
  }
  torch::Tensor forward(torch::Tensor x) override { return conv_->forward(x).mean({2, 3}); }
  std::vector<torch::Tensor> stages(torch::Tensor x) override {
    auto a = conv_->forward(x);
    return {a, torch::relu(a)};
  }
  int64_t numStages() const override { return 2; }
  torch::nn::Conv2d conv_{nullptr};
};

double rowEntropy(const torch::Tensor& row) {
  const auto p = row.to(torch::kDouble);
  const auto nz = p.masked_select(p > 0);
  return -(nz * nz.log()).sum().item<double>();
}

}  // namespace

class TestEvalInspect : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { at::set_num_threads(2); }

  void perplexityCalibrationHitsTargetEntropy_data() {
    QTest::addColumn<double>("perplexity");
    QTest::newRow("5") << 5.0;
    QTest::newRow("15") << 15.0;
  }
  void perplexityCalibrationHitsTargetEntropy() {
    QFETCH(double, perplexity);
    auto gen = at::detail::createCPUGenerator(3);
    // Uneven scales (one far cluster) so that rows need very different precisions.
    auto x = torch::randn({60, 5}, gen, torch::kDouble);
    x.slice(0, 0, 10).mul_(20);
    const auto sq = torch::cdist(x, x).square();
    auto [p, beta] = pretext::tsneConditionalAffinities(sq, perplexity, 1e-6);
    QCOMPARE(p.sizes(), (torch::IntArrayRef{60, 60}));
    QVERIFY(torch::allclose(p.sum(1), torch::ones({60}, torch::kDouble)));
    QCOMPARE(p.diagonal().abs().max().item<double>(), 0.0);
    for (int i = 0; i < 60; ++i)
      QVERIFY2(std::abs(rowEntropy(p[i]) - std::log(perplexity)) < 1e-5,
               qPrintable(QString("row %1 entropy %2").arg(i).arg(rowEntropy(p[i]))));
    // The far points need smaller precisions than the tight ones.
    QVERIFY(beta.slice(0, 0, 10).max().item<double>() < beta.slice(0, 10).min().item<double>());
  }

  void calibrationOfTwoEquidistantNeighbours() {
    // Point 0 with neighbours at squared distance 1 and 1: p = 1/2, 1/2 for any precision,
    // entropy log 2 = target for perplexity 2.
    auto sq = torch::tensor({0., 1., 1., 1., 0., 4., 1., 4., 0.}).view({3, 3});
    auto [p, beta] = pretext::tsneConditionalAffinities(sq, 2.0);
    QVERIFY(std::abs(p[0][1].item<double>() - 0.5) < 1e-9);
    QVERIFY(std::abs(p[0][2].item<double>() - 0.5) < 1e-9);
  }

  void jointAffinitiesAreSymmetricAndSumToOne() {
    auto [x, y] = inspectBlobs(10, 4, 2, 5, 1);
    const auto p = pretext::tsneJointAffinities(x, 5);
    QVERIFY(torch::allclose(p, p.t()));
    QVERIFY(std::abs(p.sum().item<double>() - 1.0) < 1e-9);
  }

  void separatesThreeClusters() {
    auto [x, labels] = inspectBlobs(40, 10, 3, 15, 7);
    auto r = pretext::tsne(x, TsneOptions().iterations(400).perplexity(10).seed(1));
    QCOMPARE(r.embedding.sizes(), (torch::IntArrayRef{120, 2}));
    QVERIFY(torch::isfinite(r.embedding).all().item<bool>());
    QCOMPARE(pretext::neighbourAgreement(r.embedding, labels, 10), 1.0);
    QCOMPARE(r.iterations, int64_t(400));
    QVERIFY(!r.cancelled);
    // The clusters are apart: the closest pair across clusters is farther than the median
    // distance within them.
    const auto d = torch::cdist(r.embedding, r.embedding);
    const auto same = labels.unsqueeze(1) == labels.unsqueeze(0);
    const double across = d.masked_select(same.logical_not()).min().item<double>();
    const double within = d.masked_select(same).median().item<double>();
    QVERIFY2(across > within, qPrintable(QString("%1 vs %2").arg(across).arg(within)));
  }

  void klDecreasesAfterExaggeration() {
    auto [x, labels] = inspectBlobs(30, 8, 3, 6, 2);
    std::vector<std::pair<int64_t, double>> kls;
    auto r = pretext::tsne(x, TsneOptions().iterations(500).perplexity(10).callbackEvery(50),
                           [&](int64_t it, const torch::Tensor& emb, double kl) {
                             kls.push_back({it, kl});
                             return emb.size(0) == 90;
                           });
    QCOMPARE(kls.size(), size_t(10));
    QCOMPARE(kls.back().first, int64_t(500));
    // After the exaggeration phase (250 iterations) the objective only goes down.
    double last = std::numeric_limits<double>::infinity();
    for (auto [it, kl] : kls) {
      if (it <= 250) continue;
      QVERIFY2(kl <= last + 1e-6,
               qPrintable(QString("KL rose at %1: %2 > %3").arg(it).arg(kl).arg(last)));
      last = kl;
    }
    QVERIFY(kls.back().second < kls[5].second - 1e-4);  // 500 vs 300
    QVERIFY(r.kl > 0 && r.kl < kls[0].second);
  }

  void deterministicForASeed_data() {
    QTest::addColumn<QString>("init");
    QTest::newRow("pca") << "pca";
    QTest::newRow("random") << "random";
  }
  void deterministicForASeed() {
    QFETCH(QString, init);
    auto [x, labels] = inspectBlobs(20, 6, 3, 5, 4);
    auto o = TsneOptions().iterations(120).perplexity(8).seed(5).init(init.toStdString());
    auto a = pretext::tsne(x, o), b = pretext::tsne(x, o);
    QVERIFY(torch::equal(a.embedding, b.embedding));
    if (init == "random") {
      auto c = pretext::tsne(x, o.seed(6));
      QVERIFY(!torch::equal(a.embedding, c.embedding));
    }
  }

  void warmStartContinuesFromAnEmbedding() {
    auto [x, labels] = inspectBlobs(30, 8, 3, 15, 2);
    auto first = pretext::tsne(x, TsneOptions().iterations(300).perplexity(10));
    // Continuing without exaggeration keeps the map (the same clusters, KL no worse).
    auto next = pretext::tsne(
        x, TsneOptions().iterations(50).perplexity(10).exaggerationIterations(0).initial(
               first.embedding));
    QVERIFY(next.kl <= first.kl + 1e-3);
    QCOMPARE(pretext::neighbourAgreement(next.embedding, labels, 10), 1.0);
    const auto shift = (next.embedding - first.embedding).norm().item<double>();
    QVERIFY2(shift < first.embedding.norm().item<double>() * 0.5,
             qPrintable(QString::number(shift)));
    PRETEXT_VERIFY_THROWS_WITH(
        pretext::tsne(x, TsneOptions().iterations(5).initial(torch::zeros({3, 2}))),
        "tsne.initial");
  }

  void callbackCancels() {
    auto [x, labels] = inspectBlobs(10, 4, 2, 5, 1);
    int calls = 0;
    auto r = pretext::tsne(x, TsneOptions().iterations(1000).perplexity(5).callbackEvery(10),
                           [&](int64_t it, const torch::Tensor&, double) { return ++calls < 3; });
    QVERIFY(r.cancelled);
    QCOMPARE(r.iterations, int64_t(30));
    QCOMPARE(calls, 3);
  }

  void wideInputIsPcaReduced() {
    auto [x, labels] = inspectBlobs(20, 80, 2, 30, 9);  // 80-D > pcaDims 50
    auto r = pretext::tsne(x, TsneOptions().iterations(300).perplexity(8));
    QCOMPARE(pretext::neighbourAgreement(r.embedding, labels, 5), 1.0);
  }

  void rejectsBadInputAndOptions() {
    PRETEXT_VERIFY_THROWS_WITH(pretext::tsne(torch::zeros({3, 2})), "at least 4 points");
    PRETEXT_VERIFY_THROWS_WITH(pretext::tsne(torch::zeros({10, 2}), TsneOptions().dims(5)),
                               "tsne.dims");
    PRETEXT_VERIFY_THROWS_WITH(pretext::tsne(torch::zeros({10, 2}), TsneOptions().init("umap")),
                               "tsne.init");
    auto nan = torch::zeros({10, 2});
    nan[3][1] = std::nanf("");
    PRETEXT_VERIFY_THROWS_WITH(pretext::tsne(nan), "NaN");
  }

  void firstLayerFiltersAreScaledPerFilter() {
    HandEncoder enc;
    {
      torch::NoGradGuard g;
      enc.conv_->weight.copy_(torch::tensor({-2.f, 0.f}).view({2, 1, 1, 1}));
    }
    auto f = pretext::firstLayerFilters(enc);
    QCOMPARE(f.sizes(), (torch::IntArrayRef{2, 1, 1, 1}));
    QCOMPARE(f[0].item<float>(), 0.0f);  // -2 / (2 * 2) + 0.5
    QCOMPARE(f[1].item<float>(), 0.5f);  // an all-zero filter is mid-grey

    // A 2x2 filter: w / (2 max|w|) + 0.5 with max|w| = 4.
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 1, 2).bias(false));
    {
      torch::NoGradGuard g;
      conv->weight.copy_(torch::tensor({1.f, -4.f, 0.f, 2.f}).view({1, 1, 2, 2}));
    }
    struct ConvEncoder : pretext::Encoder {
      explicit ConvEncoder(torch::nn::Conv2d c) { register_module("c", c); }
      torch::Tensor forward(torch::Tensor x) override { return x; }
    } convEnc(conv);
    auto g = pretext::firstLayerFilters(convEnc).flatten();
    QVERIFY(torch::allclose(g, torch::tensor({0.625f, 0.f, 0.5f, 0.75f})));

    struct NoConv : pretext::Encoder {
      torch::Tensor forward(torch::Tensor x) override { return x; }
    } none;
    PRETEXT_VERIFY_THROWS_WITH(pretext::firstLayerFilters(none), "no convolution");
  }

  // The mlp backbone (one layer of sigmoid units on the flattened image): each unit's weights
  // are a whole image, shown as a filter; its features are sigmoid(W (2x - 1) + b).
  void anMlpsFiltersAreWholeImages() {
    auto enc = pretext::makeBackbone(
        pretext::BackboneOptions().name("mlp").width(3).inChannels(1).imageSize(2));
    QCOMPARE(enc->featureDim(), int64_t(3));
    {
      torch::NoGradGuard g;
      auto w = enc->named_parameters()["fc.weight"];
      w.copy_(torch::tensor({1.f, -4.f, 0.f, 2.f, 0.f, 0.f, 0.f, 0.f, 3.f, 0.f, 0.f, 0.f}).view({3, 4}));
      enc->named_parameters()["fc.bias"].zero_();
    }
    auto f = pretext::firstLayerFilters(*enc);
    QCOMPARE(f.sizes(), (torch::IntArrayRef{3, 1, 2, 2}));
    // Row 0 is the 2x2 image [[1,-4],[0,2]]: w / (2 * 4) + 0.5; row 1 is all zero: mid-grey.
    QVERIFY(torch::allclose(f[0].flatten(), torch::tensor({0.625f, 0.f, 0.5f, 0.75f})));
    QVERIFY(torch::allclose(f[1], torch::full({1, 2, 2}, 0.5f)));
    // A white image (all 1 -> normalised 1): unit 0 sees 1 - 4 + 0 + 2 = -1, unit 2 sees 3.
    torch::NoGradGuard g;
    auto h = enc->forward(torch::ones({1, 1, 2, 2}));
    QVERIFY(torch::allclose(h, torch::sigmoid(torch::tensor({{-1.f, 0.f, 3.f}}))));
    QCOMPARE(enc->numStages(), int64_t(1));
    QCOMPARE(enc->stages(torch::ones({1, 1, 2, 2}))[0].sizes(), (torch::IntArrayRef{1, 3, 1, 1}));
    PRETEXT_VERIFY_THROWS_WITH(
        pretext::BackboneOptions().name("mlp").inChannels(3).imageSize(256).validate(), "too many");
  }

  void channelActivationsAndTopImages() {
    HandEncoder enc;
    // Five 1x2x2 images with means 10, 50, 30, 50, 0 (uint8, so /255).
    auto means = torch::tensor({10, 50, 30, 50, 0}, torch::kLong);
    auto images = (means.view({5, 1, 1, 1}) + torch::tensor({-1, 1, -1, 1}).view({1, 1, 2, 2}))
                      .clamp(0, 255)
                      .to(torch::kUInt8);
    images[4].fill_(0);
    auto acts = pretext::channelActivations(enc, images, torch::kCPU, /*batchSize=*/2);
    QCOMPARE(acts.size(), size_t(2));
    QCOMPARE(acts[0].sizes(), (torch::IntArrayRef{5, 2}));
    QVERIFY(torch::allclose(acts[0].select(1, 0), means.to(torch::kFloat) / 255, 1e-5, 1e-6));
    QVERIFY(torch::allclose(acts[0].select(1, 1), -means.to(torch::kFloat) / 255, 1e-5, 1e-6));
    // Channel 0: brightest first; the tie 50 / 50 goes to the lower index.
    auto [idx, vals] = pretext::topActivating(acts[0], 0, 3);
    QCOMPARE(idx.sizes(), (torch::IntArrayRef{3}));
    QCOMPARE(idx[0].item<int64_t>(), int64_t(1));
    QCOMPARE(idx[1].item<int64_t>(), int64_t(3));
    QCOMPARE(idx[2].item<int64_t>(), int64_t(2));
    QVERIFY(std::abs(vals[2].item<float>() - 30.f / 255) < 1e-6);
    // Channel 1 (minus the mean): darkest first. k beyond N is clamped.
    auto [idx1, vals1] = pretext::topActivating(acts[0], 1, 10);
    QCOMPARE(idx1.numel(), int64_t(5));
    QCOMPARE(idx1[0].item<int64_t>(), int64_t(4));
    QCOMPARE(idx1[1].item<int64_t>(), int64_t(0));
    PRETEXT_VERIFY_THROWS_WITH(pretext::topActivating(acts[0], 2, 1), "channel 2 out of range");

    struct Flat : pretext::Encoder {
      torch::Tensor forward(torch::Tensor x) override { return x; }
    } flat;
    PRETEXT_VERIFY_THROWS_WITH(pretext::channelActivations(flat, images, torch::kCPU),
                               "does not expose its stages");
  }

  void classBalancedOrderRoundRobins() {
    auto labels = torch::tensor({2, 0, 0, 1, 0, 1}, torch::kLong);
    // Round 0 takes 1 (class 0), 3 (class 1), 0 (class 2); round 1 takes 2 (class 0).
    auto order = pretext::classBalancedOrder(labels, 6, 3, 4);
    QVERIFY(torch::equal(order, torch::tensor({1, 2, 3, 0}, torch::kLong)));
    auto all = pretext::classBalancedOrder(labels, 6, 3, 100);
    QVERIFY(torch::equal(all, torch::tensor({1, 2, 4, 3, 5, 0}, torch::kLong)));
    auto unlabelled = pretext::classBalancedOrder(torch::Tensor(), 6, 0, 4);
    QVERIFY(torch::equal(unlabelled, torch::arange(4, torch::kLong)));
  }

  void cosineSimilarityAndContrast() {
    auto f = torch::tensor({1.f, 0.f, 0.f, 2.f, 1.f, 1.f, 0.f, 0.f}).view({4, 2});
    auto s = pretext::cosineSimilarityMatrix(f);
    const float r = 1.0f / std::sqrt(2.0f);
    auto expected = torch::tensor({1.f, 0.f, r, 0.f,  //
                                   0.f, 1.f, r, 0.f,  //
                                   r, r, 1.f, 0.f,    //
                                   0.f, 0.f, 0.f, 1.f})
                        .view({4, 4});
    QVERIFY(torch::allclose(s, expected, 1e-5, 1e-6));
    // Classes {0,2} and {1,3}: within = s02 = r (both orders), between = s01, s03, s21, s23 = 0, 0,
    // r, 0 (both orders) -> mean r/4.
    auto labels = torch::tensor({0, 1, 0, 1}, torch::kLong);
    const double within = (r + 0.0) / 2;  // pairs (0,2) and (1,3)
    const double between = r / 4;
    QVERIFY(std::abs(pretext::similarityContrast(s, labels) - (within - between)) < 1e-6);
  }

  void neighbourAgreementCountsSameClassNeighbours() {
    auto pts = torch::tensor({0.f, 1.f, 10.f, 11.f}).view({4, 1});
    QCOMPARE(pretext::neighbourAgreement(pts, torch::tensor({0, 0, 1, 1}, torch::kLong), 1), 1.0);
    QCOMPARE(pretext::neighbourAgreement(pts, torch::tensor({0, 1, 0, 1}, torch::kLong), 1), 0.0);
    // k = 2: point 0's neighbours are 1 (same) and 10 (other): 1/2 each.
    QCOMPARE(pretext::neighbourAgreement(pts, torch::tensor({0, 0, 1, 1}, torch::kLong), 2), 0.5);
  }

  void intraOpThreadSettingStaysInItsThread() {
    const int before = at::get_num_threads();
    int inside = -1;
    std::thread t([&] {
      pretext::setThisThreadIntraOpThreads(1);
      inside = at::get_num_threads();
    });
    t.join();
    QCOMPARE(inside, 1);
    QVERIFY(before > 1);  // else the test proves nothing (initTestCase asks for 2)
    QCOMPARE(at::get_num_threads(), before);
  }
};

PRETEXT_TEST_AREA(TestEvalInspect, "eval_inspect")
#include "test_eval_inspect.moc"
