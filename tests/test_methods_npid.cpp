// NPID: the non-parametric softmax against values worked out by hand on a 3-row bank, and
// against a transcription with loops; the memory update against its formula (by hand and on
// the method's own bank after a step); the kNN read from the bank; the checkpoint round trip of
// the bank; the errors without indices; the pictures; a short run that lowers the loss and a
// short Fashion-MNIST run whose features beat the untrained encoder on the linear probe.
#include "test_main.h"
#include <torch/torch.h>

#include <QTemporaryDir>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/config/experiment.h"
#include "core/data/dataset.h"
#include "core/eval/evaluate.h"
#include "core/methods/npid.h"
#include "core/methods/registry.h"
#include "core/train/trainer.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;

class TestMethodsNpid : public QObject {
  Q_OBJECT

  static MethodSetup npidSetup(nlohmann::json params = nlohmann::json::object(), int64_t trainImages = 20) {
    MethodSetup s = test::tinySetup(std::move(params));
    s.trainImages = trainImages;
    s.numClasses = 10;
    return s;
  }
  static StepResult npidStep(Method& m, const torch::Tensor& images, const torch::Tensor& indices,
                             const torch::Tensor& labels, uint64_t seed) {
    static AugmentOptions aug = augmentPreset("weak");
    Batch b;
    b.images = images;
    b.indices = indices;
    b.labels = labels;
    auto gen = at::detail::createCPUGenerator(seed);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    return m.step(b, ctx);
  }
  static void npidAfter(Method& m) {
    AugmentOptions aug = augmentPreset("none");
    auto gen = at::detail::createCPUGenerator(0);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    m.afterStep(ctx);
  }
  static torch::Tensor npidBank(Method& m) { return m.named_buffers()["memory_bank"]; }

 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // Bank rows v0 = (1,0), v1 = (0,1), v2 = (-1,0); feature f = (2,0) (normalised to (1,0)).
  //   own row 0, T = 1:   logits [1, 0, -1]: -log(e^1 / (e^1 + e^0 + e^-1)) = log(1 + e^-1 + e^-2)
  //                       = 0.407606; its own row scores highest.
  //   own row 0, T = 0.5: logits [2, 0, -2]: log(1 + e^-2 + e^-4) = 0.142932.
  //   own row 1, T = 1:   -log(e^0 / (e^1 + e^0 + e^-1)) = log(e + 1 + e^-1) = 1.407606; row 0
  //                       scores higher than its own (accuracy 0).
  void npidLossHandWorked_data() {
    QTest::addColumn<int>("own");
    QTest::addColumn<double>("temperature");
    QTest::addColumn<double>("expected");
    QTest::addColumn<float>("accuracy");
    QTest::newRow("own 0, T=1") << 0 << 1.0 << 0.407606 << 1.f;
    QTest::newRow("own 0, T=0.5") << 0 << 0.5 << 0.142932 << 1.f;
    QTest::newRow("own 1, T=1") << 1 << 1.0 << 1.407606 << 0.f;
  }
  void npidLossHandWorked() {
    QFETCH(int, own);
    QFETCH(double, temperature);
    QFETCH(double, expected);
    QFETCH(float, accuracy);
    auto bank = torch::tensor({{1.f, 0.f}, {0.f, 1.f}, {-1.f, 0.f}});
    torch::Tensor acc;
    const double loss =
        npidLoss(torch::tensor({{2.f, 0.f}}), bank, torch::tensor({int64_t(own)}), temperature, &acc).item<double>();
    QVERIFY2(std::abs(loss - expected) < 1e-5, qPrintable(QString::number(loss, 'f', 7)));
    QCOMPARE(acc.item<float>(), accuracy);
  }

  // Both images at once: the mean (0.407606 + 1.407606) / 2 = 0.907606, half of them right.
  void npidLossAverages() {
    auto bank = torch::tensor({{1.f, 0.f}, {0.f, 1.f}, {-1.f, 0.f}});
    torch::Tensor acc;
    auto f = torch::tensor({{1.f, 0.f}, {3.f, 0.f}});
    const double loss = npidLoss(f, bank, torch::tensor({int64_t(0), int64_t(1)}), 1.0, &acc).item<double>();
    QVERIFY2(std::abs(loss - 0.907606) < 1e-5, qPrintable(QString::number(loss, 'f', 7)));
    QCOMPARE(acc.item<float>(), 0.5f);
  }

  // A general case against the formula written with loops; the gradient reaches the features,
  // never the bank.
  void npidLossMatchesLoops() {
    auto f = torch::randn({4, 3}, torch::requires_grad());
    auto bank = torch::randn({7, 3});
    bank = (bank / bank.norm(2, 1, true)).requires_grad_(true);
    auto idx = torch::tensor({int64_t(5), int64_t(0), int64_t(3), int64_t(6)});
    const double T = 0.2;
    double total = 0;
    {
      torch::NoGradGuard ng;
      auto fn = f / f.norm(2, 1, true);
      for (int64_t b = 0; b < 4; ++b) {
        double denom = 0;
        for (int64_t j = 0; j < 7; ++j) denom += std::exp(fn[b].dot(bank[j]).item<double>() / T);
        total += -std::log(std::exp(fn[b].dot(bank[idx[b].item<int64_t>()]).item<double>() / T) / denom);
      }
    }
    auto loss = npidLoss(f, bank, idx, T);
    QVERIFY2(std::abs(loss.item<double>() - total / 4) < 1e-5, qPrintable(QString::number(loss.item<double>() - total / 4)));
    loss.backward();
    QVERIFY(f.grad().abs().sum().item<double>() > 0);
    QVERIFY(!bank.grad().defined());
  }

  // v = (1,0), f = (0,3) (normalised to (0,1)):
  //   m = 0.5: normalise(0.5 (1,0) + 0.5 (0,1)) = (0.707107, 0.707107)
  //   m = 0.9: normalise((0.9, 0.1)) = (0.993884, 0.110432)
  //   m = 0:   (0, 1), the feature itself;  m = 1: (1, 0), unchanged.
  // The other rows stay as they were.
  void bankUpdateHandWorked_data() {
    QTest::addColumn<double>("momentum");
    QTest::addColumn<float>("x");
    QTest::addColumn<float>("y");
    QTest::newRow("0.5") << 0.5 << 0.707107f << 0.707107f;
    QTest::newRow("0.9") << 0.9 << 0.993884f << 0.110432f;
    QTest::newRow("0") << 0.0 << 0.f << 1.f;
    QTest::newRow("1") << 1.0 << 1.f << 0.f;
  }
  void bankUpdateHandWorked() {
    QFETCH(double, momentum);
    QFETCH(float, x);
    QFETCH(float, y);
    auto bank = torch::tensor({{0.f, -1.f}, {1.f, 0.f}, {0.6f, 0.8f}});
    npidUpdateBank(bank, torch::tensor({int64_t(1)}), torch::tensor({{0.f, 3.f}}), momentum);
    QVERIFY2(test::close(bank[1], torch::tensor({x, y}), 1e-5), qPrintable(QString("%1 %2").arg(bank[1][0].item<float>()).arg(bank[1][1].item<float>())));
    QVERIFY(bank[0].equal(torch::tensor({0.f, -1.f})));
    QVERIFY(bank[2].equal(torch::tensor({0.6f, 0.8f})));
  }

  // The kNN monitor by hand. Bank rows (1,0) label 0, (0.8,0.6) label 1, (0,1) label 1, (-1,0) not
  // seen (-1). Query f = (1,0):
  //   its own row 0 (left out), label 0: rows 1 (s 0.8) and 2 (s 0) vote 1: wrong.
  //   own row 3, label 0, T = 0.1, k = 3: label 0 weighs e^10 = 22026, label 1 e^8 + e^0 = 2982:
  //   right; with k = 2 the same; with label 1 it is wrong.
  void bankKnnHandWorked() {
    auto bank = torch::tensor({{1.f, 0.f}, {0.8f, 0.6f}, {0.f, 1.f}, {-1.f, 0.f}});
    auto labels = torch::tensor({int64_t(0), int64_t(1), int64_t(1), int64_t(-1)});
    auto f = torch::tensor({{1.f, 0.f}});
    auto one = [](int64_t v) { return torch::tensor({v}); };
    QCOMPARE(npidBankKnn(f, one(0), one(0), bank, labels, 2, 3, 0.1).item<float>(), 0.f);
    QCOMPARE(npidBankKnn(f, one(3), one(0), bank, labels, 2, 3, 0.1).item<float>(), 1.f);
    QCOMPARE(npidBankKnn(f, one(3), one(0), bank, labels, 2, 2, 0.1).item<float>(), 1.f);
    QCOMPARE(npidBankKnn(f, one(3), one(1), bank, labels, 2, 3, 0.1).item<float>(), 0.f);
    // Two queries at once: one right, one wrong.
    auto two = torch::tensor({{1.f, 0.f}, {1.f, 0.f}});
    auto rows = torch::tensor({int64_t(3), int64_t(0)});
    QCOMPARE(npidBankKnn(two, rows, torch::tensor({int64_t(0), int64_t(0)}), bank, labels, 2, 3, 0.1).item<float>(), 0.5f);
  }

  // The method's bank: one unit row per training image; the step leaves it alone (autograd holds
  // it); afterStep moves exactly the step's rows, by the formula, towards the features of the
  // step's (augmented) images, and records their labels; the loss is npidLoss of those features.
  void methodBankFollowsTheFormula() {
    const double m = 0.5, T = 0.1;
    auto method = makeMethod("npid", npidSetup({{"temperature", T}, {"memory_momentum", m}, {"embed_dim", 8}}));
    method->train();
    auto bank0 = npidBank(*method).clone();
    QCOMPARE(bank0.sizes().vec(), (std::vector<int64_t>{20, 8}));
    QVERIFY(test::close(bank0.norm(2, 1), torch::ones({20}), 1e-5));
    auto images = torch::rand({4, 1, 16, 16});
    auto idx = torch::tensor({int64_t(7), int64_t(2), int64_t(19), int64_t(11)});
    auto labels = torch::tensor({int64_t(3), int64_t(1), int64_t(4), int64_t(1)});
    auto r = npidStep(*method, images, idx, labels, 9);
    QVERIFY(npidBank(*method).equal(bank0));
    torch::Tensor z;
    {
      torch::NoGradGuard ng;
      auto gen = at::detail::createCPUGenerator(9);
      AugmentOptions aug = augmentPreset("weak");
      auto x = augmentBatch(images, aug, gen);
      auto head = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(method->named_children()["head"]);
      z = head->forward(method->encoder()->forward(x));
    }
    const double expectedLoss = npidLoss(z, bank0, idx, T).item<double>();
    QVERIFY2(std::abs(r.loss.item<double>() - expectedLoss) < 1e-5,
             qPrintable(QString("%1 vs %2").arg(r.loss.item<double>()).arg(expectedLoss)));
    npidAfter(*method);
    auto bank1 = npidBank(*method);
    auto zn = z / z.norm(2, 1, true);
    for (int64_t row = 0; row < 20; ++row) {
      int64_t b = -1;
      for (int64_t i = 0; i < 4; ++i)
        if (idx[i].item<int64_t>() == row) b = i;
      if (b < 0) {
        QVERIFY2(bank1[row].equal(bank0[row]), qPrintable(QString::number(row)));
        continue;
      }
      auto mixed = m * bank0[row] + (1 - m) * zn[b];
      QVERIFY2(test::close(bank1[row], mixed / mixed.norm(), 1e-5), qPrintable(QString::number(row)));
    }
    auto bankLabels = method->named_buffers()["bank_labels"];
    QCOMPARE(bankLabels[7].item<int64_t>(), int64_t(3));
    QCOMPARE(bankLabels[11].item<int64_t>(), int64_t(1));
    QCOMPARE(bankLabels[0].item<int64_t>(), int64_t(-1));
    std::vector<std::string> names;
    for (auto& [n, v] : r.metrics) names.push_back(n);
    QCOMPARE(names, (std::vector<std::string>{"npid_acc", "npid_bank_knn", "emb_std", "eff_rank"}));
    // Unlabelled data: no kNN monitor.
    auto unlabelled = npidStep(*method, images, idx, torch::Tensor(), 10);
    QCOMPARE(unlabelled.metrics.size(), size_t(3));
  }

  // Without the rows of the batch or the size of the training set there is no bank to address.
  // bank_init "encoder": before the first step every row is the untrained network's embedding of
  // its image (batch statistics), the running statistics are left as they were, later epochs and
  // the default ("random") leave the bank alone, and a training set of another size is named.
  void bankFromTheUntrainedNetwork() {
    auto method = makeMethod("npid", npidSetup({{"bank_init", "encoder"}, {"embed_dim", 8}}, 12));
    Dataset train;
    train.images = torch::randint(0, 256, {12, 1, 16, 16}, torch::kLong).to(torch::kUInt8);
    std::vector<torch::Tensor> before;
    for (auto& b : method->encoder()->buffers()) before.push_back(b.clone());
    auto gen = at::detail::createCPUGenerator(1);
    EpochContext ctx{&train, torch::kCPU, 0, &gen};
    method->eval();
    QVERIFY(method->beginEpoch(ctx).find("12 images") != std::string::npos);
    QVERIFY(!method->is_training());
    auto after = method->encoder()->buffers();
    for (size_t i = 0; i < before.size(); ++i) QVERIFY(after[i].equal(before[i]));
    torch::Tensor z;
    {
      torch::NoGradGuard ng;
      method->train();
      auto head = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(method->named_children()["head"]);
      z = head->forward(method->encoder()->forward(train.images.to(torch::kFloat).div(255)));
      z = z / z.norm(2, 1, true);
    }
    QVERIFY(torch::allclose(npidBank(*method), z, 1e-5, 1e-6));
    const auto kept = npidBank(*method).clone();
    ctx.epoch = 1;
    QCOMPARE(method->beginEpoch(ctx), std::string());
    QVERIFY(npidBank(*method).equal(kept));
    auto random = makeMethod("npid", npidSetup({{"embed_dim", 8}}, 12));
    const auto r0 = npidBank(*random).clone();
    ctx.epoch = 0;
    QCOMPARE(random->beginEpoch(ctx), std::string());
    QVERIFY(npidBank(*random).equal(r0));
    Dataset other;
    other.images = torch::zeros({7, 1, 16, 16}, torch::kUInt8);
    EpochContext bad{&other, torch::kCPU, 0, &gen};
    PRETEXT_VERIFY_THROWS_WITH(method->beginEpoch(bad), "7 images");
  }

  void refusesWithoutIndices() {
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("npid", test::tinySetup()), "number of training images is unknown");
    auto method = makeMethod("npid", npidSetup());
    PRETEXT_VERIFY_THROWS_WITH(npidStep(*method, torch::rand({2, 1, 16, 16}), torch::Tensor(), torch::Tensor(), 1),
                               "Batch::indices");
  }

  // Saving and loading the module's state restores the bank and its labels, so a resumed run
  // continues with the same loss (test_train's resumeIsExact runs it through the trainer).
  void checkpointKeepsTheBank() {
    auto a = makeMethod("npid", npidSetup({{"embed_dim", 8}}));
    auto images = torch::rand({4, 1, 16, 16});
    auto idx = torch::tensor({int64_t(1), int64_t(5), int64_t(9), int64_t(13)});
    auto labels = torch::tensor({int64_t(0), int64_t(1), int64_t(2), int64_t(3)});
    npidStep(*a, images, idx, labels, 1);
    npidAfter(*a);
    std::stringstream bytes;
    {
      torch::serialize::OutputArchive out;
      a->save(out);
      out.save_to(bytes);
    }
    torch::manual_seed(123);
    auto b = makeMethod("npid", npidSetup({{"embed_dim", 8}}));
    QVERIFY(!npidBank(*b).equal(npidBank(*a)));
    {
      torch::serialize::InputArchive in;
      in.load_from(bytes);
      b->load(in);
    }
    QVERIFY(npidBank(*b).equal(npidBank(*a)));
    QVERIFY(b->named_buffers()["bank_labels"].equal(a->named_buffers()["bank_labels"]));
    a->train();
    b->train();
    QCOMPARE(npidStep(*a, images, idx, labels, 7).loss.item<double>(), npidStep(*b, images, idx, labels, 7).loss.item<double>());
  }

  // Twelve images, their bank of twelve rows, 40 steps of Adam with the memory update after
  // each: the loss falls well below log 12 = 2.48 and the images pick out their own rows.
  void shortTrainingLowersTheLoss() {
    torch::manual_seed(2);
    auto method = makeMethod("npid", npidSetup({{"temperature", 0.1}, {"embed_dim", 16}}, 12));
    method->train();
    torch::optim::Adam opt(method->trainableParameters(), torch::optim::AdamOptions(1e-2));
    auto images = torch::rand({12, 1, 16, 16});
    auto idx = torch::arange(12, torch::kLong);
    double first = 0, last = 0;
    StepResult r;
    for (int s = 0; s < 40; ++s) {
      opt.zero_grad();
      r = npidStep(*method, images, idx, torch::Tensor(), s);
      r.loss.backward();
      opt.step();
      npidAfter(*method);
      (s == 0 ? first : last) = r.loss.item<double>();
    }
    qInfo("npid loss %.4f -> %.4f, own row found for %.0f%%", first, last, 100 * test::metric(r, "npid_acc"));
    QVERIFY2(last < first / 2, qPrintable(QString("%1 -> %2").arg(first).arg(last)));
    QVERIFY(test::metric(r, "npid_acc") > 0.5);
  }

  // The pictures: before any training, each image's closest bank row; after a step, the images
  // behind the closest rows.
  void previews() {
    auto method = makeMethod("npid", npidSetup({{"embed_dim", 8}}));
    auto gen = at::detail::createCPUGenerator(5);
    auto probe = torch::rand({3, 1, 16, 16});
    method->eval();
    auto p = method->previews(probe, gen, {});
    QCOMPARE(p.size(), size_t(1));
    QCOMPARE(p[0].images.size(0), int64_t(3));
    QVERIFY(p[0].labels[0].rfind("row ", 0) == 0);
    method->train();
    auto images = torch::rand({4, 1, 16, 16});
    npidStep(*method, images, torch::tensor({int64_t(0), int64_t(4), int64_t(8), int64_t(12)}), torch::Tensor(), 1);
    npidAfter(*method);
    method->eval();
    p = method->previews(probe, gen, {});
    QCOMPARE(p[0].columns, int64_t(7));
    QCOMPARE(p[0].images.size(0), int64_t(3 * 7));
    QVERIFY(p[0].caption.find("among the 4 this process") != std::string::npos);
    // A neighbour cell is one of the four images seen (as stored, to 1/255), or blank.
    auto cell = p[0].images[1];
    bool found = false;
    for (int64_t i = 0; i < 4; ++i) found = found || test::close(cell, images[i], 0.5 / 255 + 1e-6);
    QVERIFY(found);
    QCOMPARE(p[0].labels[5], std::string("-"));  // only four rows seen: the 5th and 6th are blank
  }

  // A short run on 2,000 Fashion-MNIST images (a bank of 2,000 rows): the features beat the same
  // encoder untrained on the linear probe (76.9% against 73.3% when measured). Not on kNN: 68.6%
  // against 73.5% after these 3 epochs, 67.3% after 10 (linear 77.4%); the embeddings' effective
  // rank falls to ~13 of 128 within the first epoch.
  void beatsRandomInitOnFashionMnist() {
    if (!std::filesystem::exists(defaultFashionMnistDir() + "/train-images-idx3-ubyte.gz"))
      QSKIP("Debian's dataset-fashion-mnist is not installed");
    QTemporaryDir runs;
    const auto [trained, random] = test::linearProbeTrainedAndRandom("npid", runs.path().toStdString(), {{"augment", {{"preset", "simclr-gray"}}}});
    qInfo("linear probe top-1 on 2,000 test images: npid %.1f%%, random init %.1f%%", trained, random);
    QVERIFY2(trained > random + 2, qPrintable(QString("%1 vs %2").arg(trained).arg(random)));
  }
};

PRETEXT_TEST_AREA(TestMethodsNpid, "methods_npid")
#include "test_methods_npid.moc"
