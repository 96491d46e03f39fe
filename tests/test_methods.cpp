// Methods: losses against values worked out by hand, the registry and its parameter schema.
#include "test_main.h"
#include <torch/torch.h>

#include <QFileInfo>
#include <QTemporaryDir>
#include <cmath>

#include "core/augment/augment.h"
#include "core/methods/registry.h"
#include "core/models/backbone.h"
#include "core/models/decoder.h"
#include "core/methods/rotation.h"
#include "core/methods/simclr.h"
#include "core/train/events.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;

class TestMethods : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // Two images, views identical and orthogonal to the other image's views, T = 1:
  // z = [a=(1,0), b=(0,1), a'=(1,0), b'=(0,1)]. Anchor a has candidates b (sim 0), a' (sim 1),
  // b' (sim 0): l = -log(e^1 / (e^0 + e^1 + e^0)) = log(1 + 2/e) = 0.551445. By symmetry every
  // anchor has the same loss. At T = 0.5: log(1 + 2/e^2) = 0.239545.
  void ntXentHandWorked_data() {
    QTest::addColumn<double>("temperature");
    QTest::addColumn<double>("expected");
    QTest::newRow("T=1") << 1.0 << std::log(1.0 + 2.0 / std::exp(1.0));
    QTest::newRow("T=0.5") << 0.5 << std::log(1.0 + 2.0 / std::exp(2.0));
  }
  void ntXentHandWorked() {
    QFETCH(double, temperature);
    QFETCH(double, expected);
    auto z1 = torch::tensor({{1.f, 0.f}, {0.f, 1.f}});
    // Scale must not matter: the loss normalises its inputs.
    auto z2 = torch::tensor({{3.f, 0.f}, {0.f, 0.5f}});
    torch::Tensor acc;
    const double loss = ntXentLoss(z1, z2, temperature, &acc).item<double>();
    QVERIFY2(std::abs(loss - expected) < 1e-5, qPrintable(QString::number(loss)));
    QCOMPARE(acc.item<float>(), 1.0f);
    QCOMPARE(std::round(expected * 1e6) / 1e6, temperature == 1.0 ? 0.551445 : 0.239545);
  }

  // A general case against a direct transcription of the formula with loops.
  void ntXentMatchesLoops() {
    auto z1 = torch::randn({5, 3});
    auto z2 = torch::randn({5, 3});
    const double T = 0.3;
    auto z = torch::cat({z1, z2}, 0);
    z = z / z.norm(2, 1, true);
    const int64_t n2 = 10;
    double total = 0;
    for (int64_t i = 0; i < n2; ++i) {
      const int64_t j = (i + 5) % n2;
      double denom = 0;
      for (int64_t k = 0; k < n2; ++k)
        if (k != i) denom += std::exp(z[i].dot(z[k]).item<double>() / T);
      total += -std::log(std::exp(z[i].dot(z[j]).item<double>() / T) / denom);
    }
    const double loss = ntXentLoss(z1, z2, T).item<double>();
    QVERIFY(std::abs(loss - total / n2) < 1e-5);
  }

  // The loss taken apart, on hand-worked numbers: views a=(1,0), b=(0,1) and their pairs a', b'
  // equal to them, T = 1. Row a: b -> 0, a' -> 1, b' -> 0, so -log(e / (e + 2)) = log(1 + 2/e) for
  // every row by symmetry, every anchor's best match is its pair, and the diagonal is NaN.
  void ntXentAnatomyHandWorked() {
    auto z = torch::tensor({1.f, 0.f, 0.f, 1.f}).view({2, 2});
    auto views = torch::rand({4, 1, 3, 3});
    const LossAnatomy a = ntXentAnatomy(z, z.clone(), 1.0, views);
    QCOMPARE(a.matrix.sizes(), (torch::IntArrayRef{4, 4}));
    QVERIFY(torch::isnan(a.matrix.diagonal()).all().item<bool>());
    QCOMPARE(a.matrix[0][2].item<double>(), 1.0);
    QCOMPARE(a.matrix[0][1].item<double>(), 0.0);
    QVERIFY(a.positives.equal(torch::tensor({2, 3, 0, 1}, torch::kLong)));
    const double expected = std::log(1 + 2 / std::exp(1.0));
    QVERIFY(torch::allclose(a.perRow, torch::full({4}, expected), 1e-5, 1e-6));
    QCOMPARE(a.terms[0].first, std::string("loss"));
    QVERIFY(std::abs(a.terms[0].second - expected) < 1e-5);
    QCOMPARE(a.terms[1].second, 100.0);
    QVERIFY(a.images.equal(views));
    // On random embeddings the mean of the rows is the loss the step minimises.
    auto z1 = torch::randn({5, 7}), z2 = torch::randn({5, 7});
    const LossAnatomy r = ntXentAnatomy(z1, z2, 0.3, torch::zeros({10, 1, 2, 2}));
    QVERIFY(std::abs(r.terms[0].second - ntXentLoss(z1, z2, 0.3).item<double>()) < 1e-5);
    // SimCLR offers it on a batch of images, without changing the model.
    auto method = makeMethod("simclr", test::tinySetup({{"proj_hidden", 16}, {"proj_dim", 8}}));
    method->eval();
    const auto before = method->parameters().front().clone();
    auto gen = at::detail::createCPUGenerator(2);
    const auto list = method->lossAnatomy(torch::rand({6, 1, 16, 16}), augmentPreset("weak"), gen);
    QCOMPARE(list.size(), size_t(1));
    QCOMPARE(list[0].matrix.size(0), 12);
    QCOMPARE(list[0].images.size(0), 12);
    QVERIFY(method->parameters().front().equal(before));
  }

  // RotNet's anatomy: every image in its four turns, p(turn) per row, the true turn ringed; the
  // rows' mean is the step's loss on the same (unaugmented) images.
  void rotationLossAnatomy() {
    auto m = makeMethod("rotation", test::tinySetup({{"head", "linear"}, {"all_rotations", true}}));
    m->eval();
    AugmentOptions none = augmentPreset("none");
    auto images = torch::rand({3, 1, 16, 16});
    auto gen = at::detail::createCPUGenerator(1);
    const auto list = m->lossAnatomy(images, none, gen);
    QCOMPARE(list.size(), size_t(1));
    const LossAnatomy& a = list[0];
    QCOMPARE(a.matrix.sizes().vec(), (std::vector<int64_t>{12, 4}));
    QVERIFY(torch::allclose(a.matrix.sum(1), torch::ones({12}), 1e-5, 1e-6));
    QVERIFY(a.positives.equal(allRotations(images).second));
    QVERIFY(torch::allclose(a.perRow, -a.matrix.gather(1, a.positives.unsqueeze(1)).squeeze(1).log(), 1e-4, 1e-5));
    StepContext ctx{0, 0, 0.0, &gen, &none};
    Batch b;
    b.images = images;
    QVERIFY(std::abs(a.terms[0].second - m->step(b, ctx).loss.item<double>()) < 1e-5);
  }

  void ntXentGradientFlows() {
    auto z1 = torch::randn({4, 8}, torch::requires_grad());
    auto z2 = torch::randn({4, 8});
    ntXentLoss(z1, z2, 0.5).backward();
    QVERIFY(z1.grad().abs().sum().item<double>() > 0);
  }

  void allRotationsLabelsAndImages() {
    auto x = torch::arange(2 * 1 * 3 * 3, torch::kFloat).reshape({2, 1, 3, 3});
    auto [images, labels] = allRotations(x);
    QCOMPARE(images.size(0), 8);
    QVERIFY(labels.equal(torch::tensor({0, 0, 1, 1, 2, 2, 3, 3}, torch::kLong)));
    QVERIFY(images.slice(0, 0, 2).equal(x));
    QVERIFY(images.slice(0, 2, 4).equal(torch::rot90(x, 1, {2, 3})));
    // Four quarter turns: 180 degrees is two 90-degree turns.
    QVERIFY(images.slice(0, 4, 6).equal(torch::rot90(torch::rot90(x, 1, {2, 3}), 1, {2, 3})));
  }

  void registryHasTheMethods() {
    auto names = MethodRegistry::instance().names();
    for (const char* n : {"supervised", "rotation", "simclr"})
      QVERIFY(std::find(names.begin(), names.end(), n) != names.end());
    for (const auto& m : MethodRegistry::instance().all()) {
      QVERIFY(!m.title.empty());
      QVERIFY(!m.summary.empty());
      QVERIFY(!m.formula.empty());
      for (const auto& p : m.params) QVERIFY2(!p.help.empty(), p.name.c_str());
    }
    PRETEXT_VERIFY_THROWS_WITH(MethodRegistry::instance().get("nope"), "known methods: supervised");
  }

  // Imported weights: features like any method, no training step, and a trainer that says so
  // before it makes a run folder.
  void pretrainedRefusesToTrain() {
    MethodSetup s;
    s.imageSize = 16;
    s.backbone.width(4);
    auto method = makeMethod("pretrained", s);
    method->eval();
    QCOMPARE(method->features(torch::rand({2, 1, 16, 16})).size(1), int64_t(32));
    Batch b;
    b.images = torch::rand({2, 1, 16, 16});
    StepContext ctx;
    PRETEXT_VERIFY_THROWS_WITH(method->step(b, ctx), "model.init_from");
    QTemporaryDir dir;
    TrainOptions o;
    o.outDir = dir.filePath("runs").toStdString();
    nlohmann::json j = {{"method", {{"name", "pretrained"}}}, {"data", {{"source", "fashion-mnist"}}}};
    PRETEXT_VERIFY_THROWS_WITH(Trainer(experimentFromJson(j), o).run(), "cannot be trained");
    QVERIFY(!QFileInfo::exists(dir.filePath("runs")));
  }

  void resolveParamsFillsDefaultsAndRefuses_data() {
    QTest::addColumn<QString>("given");
    QTest::addColumn<QString>("error");
    QTest::newRow("ok") << R"({"temperature": 0.1})" << "";
    QTest::newRow("range") << R"({"temperature": 0})" << "method.params.temperature = 0: expected a value in [0.01, 10]";
    QTest::newRow("type") << R"({"proj_bn": 1})" << "expected true or false";
    QTest::newRow("int") << R"({"proj_dim": 1.5})" << "expected an integer";
    QTest::newRow("unknown") << R"({"temp": 1})" << "simclr has no such parameter";
  }
  void resolveParamsFillsDefaultsAndRefuses() {
    QFETCH(QString, given);
    QFETCH(QString, error);
    const auto& info = MethodRegistry::instance().get("simclr");
    auto j = nlohmann::json::parse(given.toStdString());
    if (error.isEmpty()) {
      auto r = resolveParams(info, j);
      QCOMPARE(r["temperature"].get<double>(), 0.1);
      QCOMPARE(r["proj_dim"].get<int64_t>(), 128);
    } else {
      PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, j), error.toStdString());
    }
  }

  void backbonesShapes_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("featureDim");
    QTest::newRow("convnet gray") << "convnet" << 1 << 32;    // 8 * width
    QTest::newRow("resnet18 rgb") << "resnet18" << 3 << 32;   // width << 3
    QTest::newRow("resnet34 gray") << "resnet34" << 1 << 32;
    QTest::newRow("vit gray") << "vit" << 1 << 4;             // width = embedding dim
    QTest::newRow("vit rgb") << "vit" << 3 << 4;
  }
  void backbonesShapes() {
    QFETCH(QString, name);
    QFETCH(int, channels);
    QFETCH(int, featureDim);
    auto enc = makeBackbone(BackboneOptions().name(name.toStdString()).inChannels(channels).width(4).imageSize(16));
    auto f = enc->forward(torch::rand({3, channels, 16, 16}));
    QCOMPARE(f.size(0), 3);
    QCOMPARE(f.size(1), int64_t(featureDim));
    QCOMPARE(enc->featureDim(), int64_t(featureDim));
    QCOMPARE(int64_t(enc->stages(torch::rand({1, channels, 16, 16})).size()), enc->numStages());
    PRETEXT_VERIFY_THROWS_WITH(makeBackbone(BackboneOptions().name("vgg")), "backbone.name = \"vgg\"");
  }

  void supervisedNeedsLabels() {
    MethodSetup s;
    s.numClasses = 0;
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("supervised", s), "needs labelled training data");
  }

  // Collapse metrics by hand: the 4 unit vectors e_i of R^4 have per-dimension std (unbiased)
  // sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5; centred, the batch has three equal singular values, so
  // effective rank 3. Identical rows: std 0 and rank 1. Scaling changes neither.
  void collapseMetricsByHand() {
    MethodSetup s;
    s.imageSize = 16;
    s.backbone.width(4);
    auto m = makeMethod("simclr", s);
    auto value = [&](const torch::Tensor& z, const char* name) {
      for (auto& [n, v] : m->collapseMetrics(z))
        if (n == name) return v.item<double>();
      return -1.0;
    };
    auto eye = torch::eye(4);
    QVERIFY(std::abs(value(eye * 3, "emb_std") - 0.5) < 1e-6);
    QVERIFY(std::abs(value(eye * 3, "eff_rank") - 3.0) < 1e-4);
    QCOMPARE(m->embeddingDim(), int64_t(4));
    auto same = torch::tensor({1.0f, 2.0f, -1.0f}).repeat({5, 1});
    QVERIFY(std::abs(value(same, "emb_std")) < 1e-7);
    QVERIFY(std::abs(value(same, "eff_rank") - 1.0) < 1e-6);
    QCOMPARE(embeddingSpread(0.5, 4), 1.0);
    QCOMPARE(embeddingSpread(0.5, 0), -1.0);
  }

  // Every method takes a step on a tiny batch: a finite loss whose gradient reaches the encoder.
  void decoderShapes_data() {
    QTest::addColumn<int>("size");
    QTest::addColumn<int>("channels");
    QTest::newRow("28 gray (32 cropped)") << 28 << 1;
    QTest::newRow("32 rgb") << 32 << 3;
    QTest::newRow("96 rgb") << 96 << 3;
    QTest::newRow("16 gray") << 16 << 1;
  }
  void decoderShapes() {
    QFETCH(int, size);
    QFETCH(int, channels);
    ConvDecoder dec(DecoderOptions().inDim(10).outChannels(channels).imageSize(size).width(4));
    auto z = torch::randn({3, 10}, torch::requires_grad());
    auto x = dec->forward(z);
    QCOMPARE(x.sizes().vec(), (std::vector<int64_t>{3, channels, size, size}));
    QVERIFY(x.min().item<float>() >= 0 && x.max().item<float>() <= 1);  // sigmoid
    x.sum().backward();
    QVERIFY(z.grad().abs().sum().item<float>() > 0);
    ConvDecoder logits(DecoderOptions().inDim(10).imageSize(size).width(4).output("none"));
    QVERIFY(logits->forward(z).min().item<float>() < 0);
    PRETEXT_VERIFY_THROWS_WITH(ConvDecoder(DecoderOptions().output("relu")), "output \"relu\"");
  }

  void everyMethodSteps_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("channelsLast");
    for (const auto& n : MethodRegistry::instance().names()) {
      if (!MethodRegistry::instance().get(n).trainable) continue;  // pretrainedRefusesToTrain
      QTest::newRow(n.c_str()) << QString::fromStdString(n) << false;
      QTest::newRow((n + " channels-last").c_str()) << QString::fromStdString(n) << true;
    }
  }
  // Every method steps and gives features; with its weights in channels-last layout (the
  // trainer's default, run.channels_last) too, and then its features are the same function.
  void everyMethodSteps() {
    QFETCH(QString, name);
    QFETCH(bool, channelsLast);
    const auto& info = MethodRegistry::instance().get(name.toStdString());
    MethodSetup s;
    s.numClasses = 10;
    s.channels = info.needsColour ? 3 : 1;  // colorization and split-brain refuse gray images
    s.imageSize = 16;
    s.trainImages = 128;
    s.frames = info.clips ? 3 : 1;  // video methods train on clips, stacked along the channels
    s.backbone.width(4);
    if (!info.requiredBackbone.empty()) s.backbone.name(info.requiredBackbone);
    torch::manual_seed(5);
    auto method = makeMethod(name.toStdString(), s);
    Batch b;
    b.images = torch::rand({8, s.channels * s.frames, 16, 16});
    b.indices = torch::arange(3, 27, 3, torch::kLong);
    if (channelsLast) {
      torch::manual_seed(5);
      auto plain = makeMethod(name.toStdString(), s);
      useChannelsLast(*method);
      bool converted = false;
      for (const auto& p : method->parameters())
        if (p.dim() == 4) {
          // Read as NHWC, even a gray image's first convolution ([w,1,3,3], whose NCHW
          // strides would pass is_contiguous(ChannelsLast) too).
          QVERIFY(p.suggest_memory_format() == at::MemoryFormat::ChannelsLast);
          converted = true;
        }
      QVERIFY(converted);  // every method has convolutions (the ViT its patch embedding)
      torch::NoGradGuard ng;
      method->eval();
      plain->eval();
      // And the activations follow from the first stage on: an NCHW one would meet NHWC
      // gradients in the backward pass and be converted on every step.
      for (const auto& a : method->encoder()->stages(b.images.slice(1, 0, s.channels)))
        if (a.dim() == 4 && a.size(1) > 1)
          QVERIFY2(a.suggest_memory_format() == at::MemoryFormat::ChannelsLast,
                   qPrintable(QString("stage output %1 is NCHW").arg(a.size(1))));
      auto a = method->features(b.images), e = plain->features(b.images);
      QVERIFY2(torch::allclose(a, e, 1e-4, 1e-5),
               qPrintable(QString::number((a - e).abs().max().item<double>())));
      method->train();
    }
    b.labels = torch::randint(0, 10, {8}, torch::kLong);
    auto gen = at::detail::createCPUGenerator(1);
    // As the trainer does: the epoch starts with the whole training set (DeepCluster clusters
    // it); the batch's rows in it are set above.
    Dataset train;
    train.images = torch::cat({(b.images * 255).to(torch::kUInt8), torch::randint(0, 256, {120, s.channels * s.frames, 16, 16}).to(torch::kUInt8)});
    train.frames = s.frames;
    train.labels = torch::cat({b.labels, torch::randint(0, 10, {120}, torch::kLong)});
    for (int c = 0; c < 10; ++c) train.classNames.push_back(std::to_string(c));
    method->beginEpoch({&train, torch::kCPU, 0, &gen});
    AugmentOptions aug = augmentPreset("weak");
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    auto r = method->step(b, ctx);
    QVERIFY(std::isfinite(r.loss.item<double>()));
    r.loss.backward();
    double g = 0;
    for (auto& p : method->encoder()->parameters())
      if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
    QVERIFY(g > 0);
    // The probes' representation: the encoder's features, or more (dcgan concatenates every
    // stage, jigsaw may concatenate the nine tiles').
    auto f = method->features(b.images);
    QCOMPARE(f.size(0), int64_t(8));
    QVERIFY2(f.size(1) >= method->encoder()->featureDim(), qPrintable(QString::number(f.size(1))));
    QVERIFY(f.isfinite().all().item<bool>());
  }
};

PRETEXT_TEST_AREA(TestMethods, "methods")
#include "test_methods.moc"
