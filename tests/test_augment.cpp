// Tests of the batched augmentation layer (core/augment).
#include "test_main.h"
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/augment/augment.h"
#include "core/util/error.h"
#include "test_support.h"

using pretext::AugmentOptions;

namespace {

torch::Generator makeGen(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

// A smooth random batch in [0,1] (structure, so that crops and flips change it).
torch::Tensor testBatch(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed = 7) {
  auto gen = makeGen(seed);
  auto x = torch::rand({b, c, h / 4 + 1, w / 4 + 1}, gen);
  return torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                   .size(std::vector<int64_t>{h, w})
                                                   .mode(torch::kBilinear)
                                                   .align_corners(true))
      .clamp(0, 1);
}

bool inUnitRange(const torch::Tensor& t) {
  return t.min().item<double>() >= 0.0 && t.max().item<double>() <= 1.0;
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// One option set per augmentation, each at full probability.
AugmentOptions singleOp(const std::string& op) {
  AugmentOptions o;
  if (op == "crop") o.cropProb(1.0);
  if (op == "flip") o.flipProb(1.0);
  if (op == "rotate") o.rotateProb(1.0).rotateDegrees(30);
  if (op == "jitter") o.jitterProb(1.0).brightness(0.4).contrast(0.4).saturation(0.4).hue(0.1);
  if (op == "grayscale") o.grayscaleProb(1.0);
  if (op == "blur") o.blurProb(1.0);
  if (op == "solarize") o.solarizeProb(1.0);
  if (op == "cutout") o.cutoutProb(1.0);
  if (op == "noise") o.noiseStd(0.1);
  if (op == "sobel") o.sobel(true);
  return o;
}

const char* kOps[] = {"crop", "flip",     "rotate", "jitter", "grayscale",
                      "blur", "solarize", "cutout", "noise",  "sobel"};

}  // namespace

class TestAugment : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { at::set_num_threads(2); }

  void shapesAndRange_data() {
    QTest::addColumn<QString>("op");
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("size");
    for (const char* op : kOps)
      for (int c : {1, 3})
        for (int size : {0, 24})
          QTest::newRow(qPrintable(QString("%1 C=%2 size=%3").arg(op).arg(c).arg(size)))
              << QString(op) << c << size;
    for (const auto& name : pretext::augmentPresetNames())
      for (int c : {1, 3})
        QTest::newRow(qPrintable(QString("preset %1 C=%2").arg(name.c_str()).arg(c)))
            << QString("preset:") + name.c_str() << c << 16;
  }
  void shapesAndRange() {
    QFETCH(QString, op);
    QFETCH(int, channels);
    QFETCH(int, size);
    AugmentOptions o = op.startsWith("preset:")
                           ? pretext::augmentPreset(op.mid(7).toStdString(), size)
                           : singleOp(op.toStdString()).size(size);
    auto x = testBatch(6, channels, 32, 32);
    auto gen = makeGen(1);
    auto y = pretext::augmentBatch(x, o, gen);
    const int64_t side = size > 0 ? size : 32;
    QCOMPARE(y.size(0), int64_t(6));
    QCOMPARE(y.size(1), o.sobel() ? int64_t(2) : int64_t(channels));
    QCOMPARE(y.size(2), side);
    QCOMPARE(y.size(3), side);
    QVERIFY(inUnitRange(y));
  }

  void determinism_data() {
    QTest::addColumn<QString>("preset");
    for (const char* name : {"weak", "simclr", "simclr-gray", "byol-asym-2"})
      QTest::newRow(name) << QString(name);
  }
  void determinism() {
    QFETCH(QString, preset);
    auto o = pretext::augmentPreset(preset.toStdString(), 32)
                 .rotateProb(0.5)
                 .rotateDegrees(20)
                 .cutoutProb(0.5)
                 .noiseStd(0.02);
    auto x = testBatch(8, 3, 32, 32);
    auto g1 = makeGen(42), g2 = makeGen(42), g3 = makeGen(43);
    auto a = pretext::augmentBatch(x, o, g1);
    auto b = pretext::augmentBatch(x, o, g2);
    auto c = pretext::augmentBatch(x, o, g3);
    QVERIFY(torch::equal(a, b));
    QVERIFY(maxAbsDiff(a, c) > 1e-3);
  }

  void identityAtDefaults() {
    auto x = testBatch(4, 3, 20, 20);
    auto gen = makeGen(3);
    auto y = pretext::augmentBatch(x, AugmentOptions(), gen);
    QVERIFY(torch::equal(y, x));
    // Strengths 0 with probability 1 are also no-ops.
    auto o = AugmentOptions().jitterProb(1.0).rotateProb(1.0).rotateDegrees(0);
    QVERIFY(torch::equal(pretext::augmentBatch(x, o, gen), x));
  }

  void fullCropIsIdentity() {
    auto x = testBatch(4, 3, 32, 32);
    auto gen = makeGen(5);
    auto y = pretext::randomResizedCrop(x, 32, 1.0, 1.0, 1.0, 1.0, 1.0, gen);
    QVERIFY2(maxAbsDiff(x, y) < 1e-5, qPrintable(QString::number(maxAbsDiff(x, y))));
    auto o = AugmentOptions()
                 .cropProb(1.0)
                 .cropScaleMin(1.0)
                 .cropScaleMax(1.0)
                 .cropRatioMin(1.0)
                 .cropRatioMax(1.0);
    QVERIFY(maxAbsDiff(x, pretext::augmentBatch(x, o, gen)) < 1e-5);
  }

  void cropChangesAndResizes() {
    auto x = testBatch(4, 1, 28, 28);
    auto gen = makeGen(5);
    auto y = pretext::randomResizedCrop(x, 16, 0.2, 0.5, 0.75, 1.333, 1.0, gen);
    QCOMPARE(y.sizes().vec(), (std::vector<int64_t>{4, 1, 16, 16}));
    // Boxes that can never fit (ratio 10 with area 0.9) fall back to a centre crop.
    auto z = pretext::randomResizedCrop(x, 0, 0.9, 0.9, 10.0, 10.0, 1.0, gen);
    QCOMPARE(z.sizes(), x.sizes());
    QVERIFY(inUnitRange(z));
    // cropProb 0: the full image, resized.
    auto full = pretext::randomResizedCrop(x, 0, 0.1, 0.2, 1.0, 1.0, 0.0, gen);
    QVERIFY(maxAbsDiff(full, x) < 1e-5);
  }

  void partialCropKeepsOthersWhole() {
    auto x = testBatch(32, 1, 16, 16);
    auto gen = makeGen(14);
    auto y = pretext::randomResizedCrop(x, 0, 0.2, 0.5, 0.75, 1.333, 0.5, gen);
    auto whole = (y - x).abs().amax({1, 2, 3}) < 1e-5;
    const int64_t n = whole.sum().item<int64_t>();
    QVERIFY2(n > 4 && n < 28, qPrintable(QString::number(n)));
  }

  void grayJitterIgnoresColourOps() {
    auto x = testBatch(4, 1, 8, 8);
    auto gen = makeGen(15);
    auto o = AugmentOptions().jitterProb(1.0).saturation(0.8).hue(0.5).grayscaleProb(1.0);
    QVERIFY(torch::equal(pretext::augmentBatch(x, o, gen), x));
  }

  void flipFlips() {
    auto x = testBatch(5, 3, 16, 16);
    auto gen = makeGen(9);
    auto y = pretext::augmentBatch(x, AugmentOptions().flipProb(1.0), gen);
    QVERIFY(torch::equal(y, x.flip({3})));
    // Through the affine path (with a resize) the flip is still exact up to resampling.
    auto full = AugmentOptions()
                    .flipProb(1.0)
                    .cropProb(1.0)
                    .cropScaleMin(1.0)
                    .cropRatioMin(1.0)
                    .cropRatioMax(1.0);
    QVERIFY(maxAbsDiff(pretext::augmentBatch(x, full, gen), x.flip({3})) < 1e-5);
    auto mask = torch::tensor({true, false, true, false, false});
    auto z = pretext::horizontalFlip(x, mask);
    QVERIFY(torch::equal(z[0], x[0].flip({2})));
    QVERIFY(torch::equal(z[1], x[1]));
  }

  void rotateQuarter() {
    auto x = testBatch(4, 3, 12, 12);
    auto ones = torch::ones({4}, torch::kLong);
    QVERIFY(torch::equal(pretext::rotateQuarter(x, ones), torch::rot90(x, 1, {2, 3})));
    auto k = torch::tensor({0, 1, 2, 3}, torch::kLong);
    auto y = pretext::rotateQuarter(x, k);
    for (int64_t i = 0; i < 4; ++i) QVERIFY(torch::equal(y[i], torch::rot90(x[i], i, {1, 2})));
    auto r = x;
    for (int t = 0; t < 4; ++t) r = pretext::rotateQuarter(r, ones);
    QVERIFY(torch::equal(r, x));
    auto rect = testBatch(2, 1, 8, 12);
    PRETEXT_VERIFY_THROWS_WITH(pretext::rotateQuarter(rect, torch::ones({2}, torch::kLong)),
                               "square");
  }

  void rotationKeepsCentre() {
    // Rotation about the centre: the centre pixel of a symmetric blob stays put.
    auto x = torch::zeros({3, 1, 21, 21});
    x.index_put_(
        {torch::indexing::Slice(), 0, torch::indexing::Slice(8, 13), torch::indexing::Slice(8, 13)},
        1.0);
    auto gen = makeGen(11);
    auto y = pretext::augmentBatch(x, AugmentOptions().rotateProb(1).rotateDegrees(90), gen);
    QVERIFY(maxAbsDiff(y.select(2, 10).select(2, 10), torch::ones({3, 1})) < 1e-5);
    QVERIFY(maxAbsDiff(y, x) > 0.1);
  }

  void grayscaleEqualChannels() {
    auto x = testBatch(4, 3, 16, 16);
    auto g = pretext::toGrayscale(x);
    QCOMPARE(g.sizes(), x.sizes());
    QVERIFY(torch::equal(g[0][0], g[0][1]) && torch::equal(g[0][1], g[0][2]));
    auto expected = x.select(1, 0) * 0.299 + x.select(1, 1) * 0.587 + x.select(1, 2) * 0.114;
    QVERIFY(maxAbsDiff(g.select(1, 0), expected) < 1e-6);
    auto gen = makeGen(2);
    auto y = pretext::augmentBatch(x, AugmentOptions().grayscaleProb(1.0), gen);
    QVERIFY(maxAbsDiff(y.select(1, 0), y.select(1, 2)) == 0.0);
    auto one = testBatch(2, 1, 8, 8);
    QVERIFY(torch::equal(pretext::toGrayscale(one), one));
  }

  void solarizeValues() {
    auto x = torch::tensor({0.0f, 0.2f, 0.5f, 0.7f, 1.0f}).view({1, 1, 1, 5});
    auto y = pretext::solarize(x, 0.5, torch::tensor({true}));
    auto expected = torch::tensor({0.0f, 0.2f, 0.5f, 0.3f, 0.0f}).view({1, 1, 1, 5});
    QVERIFY(maxAbsDiff(y, expected) < 1e-6);
    QVERIFY(torch::equal(pretext::solarize(x, 0.5, torch::tensor({false})), x));
  }

  void blurConstantAndSmoothing() {
    auto gen = makeGen(4);
    auto c = torch::full({3, 3, 20, 20}, 0.37);
    auto sigma = torch::tensor({0.5, 1.0, 2.0});
    QVERIFY(maxAbsDiff(pretext::gaussianBlur(c, sigma), c) < 1e-6);
    auto noise = torch::rand({3, 1, 40, 40}, gen);
    auto blurred = pretext::gaussianBlur(noise, sigma);
    QCOMPARE(blurred.sizes(), noise.sizes());
    auto v0 = noise.var({1, 2, 3}), v1 = blurred.var({1, 2, 3});
    QVERIFY((v1 < v0 * 0.8).all().item<bool>());
    // Stronger sigma, smoother result.
    QVERIFY(v1[2].item<double>() < v1[0].item<double>());
    QCOMPARE(pretext::blurKernelSize(32, 32), int64_t(3));
    QCOMPARE(pretext::blurKernelSize(224, 224), int64_t(23));
  }

  void cutoutArea() {
    auto x = torch::zeros({64, 1, 32, 32});
    auto gen = makeGen(8);
    auto y = pretext::augmentBatch(x, AugmentOptions().cutoutProb(1.0).cutoutSize(0.25), gen);
    auto area = (y == 0.5).sum({1, 2, 3});
    // 8x8 squares, clipped at the border when the centre is near it.
    QVERIFY(area.max().item<int64_t>() == 64);
    QVERIFY(area.min().item<int64_t>() >= 16);
    QVERIFY(((y == 0.0) | (y == 0.5)).all().item<bool>());
    auto none = pretext::augmentBatch(x, AugmentOptions().cutoutProb(0.0), gen);
    QVERIFY(torch::equal(none, x));
  }

  void jitterBrightnessBounds() {
    auto x = torch::full({256, 3, 4, 4}, 0.5);
    auto gen = makeGen(6);
    auto y = pretext::augmentBatch(x, AugmentOptions().jitterProb(1.0).brightness(0.3), gen);
    auto f = y.mean({1, 2, 3}) / 0.5;
    QVERIFY(f.min().item<double>() >= 0.7 - 1e-6);
    QVERIFY(f.max().item<double>() <= 1.3 + 1e-6);
    QVERIFY(f.min().item<double>() < 0.75 && f.max().item<double>() > 1.25);
    // jitterProb 0.5: about half the images are untouched.
    auto half = pretext::augmentBatch(x, AugmentOptions().jitterProb(0.5).brightness(0.3), gen);
    auto same = (half.sub(x).abs().amax({1, 2, 3}) == 0).sum().item<int64_t>();
    QVERIFY(same > 80 && same < 176);
  }

  void hueRoundTripAndShift() {
    auto x = testBatch(4, 3, 8, 8);
    QVERIFY(maxAbsDiff(pretext::hsvToRgb(pretext::rgbToHsv(x)), x) < 1e-5);
    QVERIFY(maxAbsDiff(pretext::adjustHue(x, torch::zeros({4})), x) < 1e-5);
    // Red shifted by a third of a turn is green; by two thirds, blue.
    auto red = torch::tensor({0.8f, 0.2f, 0.2f}).view({1, 3, 1, 1}).expand({2, 3, 2, 2});
    auto shifted = pretext::adjustHue(red, torch::tensor({1.0 / 3.0, -1.0 / 3.0}));
    QVERIFY(maxAbsDiff(shifted[0].select(1, 0).select(1, 0), torch::tensor({0.2f, 0.8f, 0.2f})) <
            1e-5);
    QVERIFY(maxAbsDiff(shifted[1].select(1, 0).select(1, 0), torch::tensor({0.2f, 0.2f, 0.8f})) <
            1e-5);
    auto hsv = pretext::rgbToHsv(red);
    QVERIFY(maxAbsDiff(hsv[0].select(1, 0).select(1, 0), torch::tensor({0.0f, 0.75f, 0.8f})) <
            1e-6);
    // adjustHue agrees with the HSV route.
    auto shift = torch::tensor({0.1, -0.2, 0.3, 0.45});
    auto h = pretext::rgbToHsv(x);
    auto viaHsv = pretext::hsvToRgb(
        torch::stack({(h.select(1, 0) + shift.to(torch::kFloat).view({4, 1, 1})).remainder(1.0),
                      h.select(1, 1), h.select(1, 2)},
                     1));
    QVERIFY(maxAbsDiff(pretext::adjustHue(x, shift), viaHsv) < 1e-5);
    auto gen = makeGen(12);
    auto y = pretext::augmentBatch(x, AugmentOptions().jitterProb(1.0).hue(0.5), gen);
    QVERIFY(inUnitRange(y));
    // A hue shift keeps value (max channel).
    QVERIFY(maxAbsDiff(std::get<0>(y.max(1)), std::get<0>(x.max(1))) < 1e-5);
    QVERIFY(maxAbsDiff(y, x) > 0.05);
  }

  void sobelVerticalEdge() {
    auto x = torch::zeros({1, 1, 8, 8});
    x.index_put_({0, 0, torch::indexing::Slice(), torch::indexing::Slice(4, 8)}, 1.0);
    auto s = pretext::sobelFilter(x);
    QCOMPARE(s.sizes().vec(), (std::vector<int64_t>{1, 2, 8, 8}));
    auto dx = s[0][0], dy = s[0][1];
    QVERIFY(maxAbsDiff(dy, torch::full_like(dy, 0.5)) < 1e-6);
    QVERIFY(maxAbsDiff(dx.select(1, 3), torch::ones({8})) < 1e-6);
    QVERIFY(maxAbsDiff(dx.select(1, 4), torch::ones({8})) < 1e-6);
    QVERIFY(maxAbsDiff(dx.select(1, 0), torch::full({8}, 0.5)) < 1e-6);
    QVERIFY(maxAbsDiff(dx.select(1, 7), torch::full({8}, 0.5)) < 1e-6);
  }

  void perSampleParametersDiffer() {
    auto one = testBatch(1, 3, 32, 32);
    auto x = one.expand({8, 3, 32, 32}).contiguous();
    auto gen = makeGen(21);
    auto y = pretext::augmentBatch(x, pretext::augmentPreset("simclr"), gen);
    for (int64_t i = 1; i < 8; ++i) QVERIFY(maxAbsDiff(y[0], y[i]) > 1e-3);
  }

  void validateNamesField_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("needle");
    QTest::newRow("scale") << R"({"crop_scale_min": 1.5})"
                           << "augment.crop_scale_min = 1.5: expected a value in (0, 1]";
    QTest::newRow("scale order") << R"({"crop_scale_min": 0.8, "crop_scale_max": 0.5})"
                                 << "augment.crop_scale_max = 0.5";
    QTest::newRow("prob") << R"({"flip_prob": -0.1})"
                          << "augment.flip_prob = -0.1";
    QTest::newRow("blur prob") << R"({"blur_prob": 2})"
                               << "augment.blur_prob = 2";
    QTest::newRow("ratio") << R"({"crop_ratio_min": 0})"
                           << "augment.crop_ratio_min = 0";
    QTest::newRow("hue") << R"({"hue": 0.6})"
                         << "augment.hue = 0.6";
    QTest::newRow("brightness") << R"({"brightness": -1})"
                                << "augment.brightness = -1";
    QTest::newRow("sigma") << R"({"blur_sigma_min": 0})"
                           << "augment.blur_sigma_min = 0";
    QTest::newRow("sigma order") << R"({"blur_sigma_min": 2, "blur_sigma_max": 1})"
                                 << "augment.blur_sigma_max = 1";
    QTest::newRow("size") << R"({"size": -3})"
                          << "augment.size = -3";
    QTest::newRow("cutout") << R"({"cutout_size": 0})"
                            << "augment.cutout_size = 0";
    QTest::newRow("noise") << R"({"noise_std": -0.5})"
                           << "augment.noise_std = -0.5";
    QTest::newRow("unknown key") << R"({"flip_probb": 0.5})"
                                 << "augment.flip_probb: unknown field; known: preset, size";
    QTest::newRow("wrong type") << R"({"flip_prob": "high"})"
                                << "augment.flip_prob = \"high\": expected a number";
    QTest::newRow("wrong int") << R"({"size": 3.5})"
                               << "augment.size = 3.5: expected an integer";
    QTest::newRow("wrong bool") << R"({"sobel": 1})"
                                << "augment.sobel = 1: expected true";
    QTest::newRow("preset") << R"({"preset": "simclrr"})"
                            << "augment.preset = \"simclrr\": unknown preset; known: none";
    QTest::newRow("not object") << R"([1, 2])"
                                << "augment: expected a JSON object";
  }
  void validateNamesField() {
    QFETCH(QString, json);
    QFETCH(QString, needle);
    auto j = nlohmann::json::parse(json.toStdString());
    PRETEXT_VERIFY_THROWS_WITH(pretext::augmentFromJson(j), needle.toStdString());
  }

  void validateDirect() {
    PRETEXT_VERIFY_THROWS_WITH(AugmentOptions().cropScaleMin(1.5).validate(),
                               "augment.crop_scale_min = 1.5: expected a value in (0, 1]");
    PRETEXT_VERIFY_THROWS_WITH(AugmentOptions().jitterProb(std::nan("")).validate(),
                               "augment.jitter_prob");
    auto x = testBatch(2, 3, 8, 8);
    auto gen = makeGen(1);
    PRETEXT_VERIFY_THROWS_WITH(pretext::augmentBatch(x, AugmentOptions().flipProb(3), gen),
                               "augment.flip_prob");
    PRETEXT_VERIFY_THROWS_WITH(
        pretext::augmentBatch(torch::zeros({2, 2, 8, 8}), AugmentOptions(), gen), "C = 1 or 3");
    for (const auto& name : pretext::augmentPresetNames()) pretext::augmentPreset(name).validate();
    PRETEXT_VERIFY_THROWS_WITH(pretext::augmentPreset("nope"), "known: none, weak, simclr");
  }

  void jsonRoundTrip_data() {
    QTest::addColumn<QString>("preset");
    for (const auto& name : pretext::augmentPresetNames())
      QTest::newRow(name.c_str()) << QString(name.c_str());
  }
  void jsonRoundTrip() {
    QFETCH(QString, preset);
    auto o = pretext::augmentPreset(preset.toStdString(), 28)
                 .noiseStd(0.05)
                 .sobel(true)
                 .cropRatioMax(1.0 / 3.0 + 1.0);
    auto j = pretext::augmentToJson(o);
    QCOMPARE(j.size(), size_t(24));
    QVERIFY(j.contains("crop_scale_min") && j.contains("flip_prob") && j.contains("sobel"));
    QVERIFY(pretext::augmentFromJson(j) == o);
    QVERIFY(pretext::augmentFromJson(nlohmann::json::parse(j.dump())) == o);
  }

  void jsonOverridesPreset() {
    auto j = nlohmann::json::parse(R"({"preset": "simclr", "flip_prob": 0.3, "size": 24})");
    auto o = pretext::augmentFromJson(j, 32);
    QCOMPARE(o.flipProb(), 0.3);
    QCOMPARE(o.size(), int64_t(24));
    QCOMPARE(o.jitterProb(), 0.8);
    QCOMPARE(o.cropScaleMin(), 0.08);
    QCOMPARE(pretext::augmentFromJson(nlohmann::json::object(), 16), AugmentOptions().size(16));
    auto b1 = pretext::augmentPreset("byol-asym-1"), b2 = pretext::augmentPreset("byol-asym-2");
    QCOMPARE(b1.blurProb(), 1.0);
    QCOMPARE(b2.blurProb(), 0.1);
    QCOMPARE(b2.solarizeProb(), 0.2);
    QCOMPARE(b1.solarizeProb(), 0.0);
  }
};

PRETEXT_TEST_AREA(TestAugment, "augment")
#include "test_augment.moc"
