// Tests for core/eval: feature extraction, weighted kNN, linear probe, collapse diagnostics,
// PCA and retrieval, on tiny inputs whose answers can be checked by hand.
#include "test_main.h"
#include <torch/torch.h>

#include <QtTest>
#include <cmath>

#include "core/eval/knn_search.h"
#include "core/eval/probes.h"
#include "core/util/error.h"
#include "test_support.h"

using pretext::KnnOptions;
using pretext::LinearProbeOptions;

namespace {

torch::Tensor longs(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong); }

// Four training points in 2-D, used by the hand-worked kNN cases:
//   a0 = ( 1, 0) class 0     a1 = (0, 1) class 1
//   a2 = ( 1, 1) class 1     a3 = (-1, 0) class 0
torch::Tensor handTrain() {
  return torch::tensor({1.f, 0.f, 0.f, 1.f, 1.f, 1.f, -1.f, 0.f}).view({4, 2});
}
torch::Tensor handTrainLabels() { return longs({0, 1, 1, 0}); }

// Gaussian blobs: `classes` centres `separation` apart along the first axes, unit noise.
std::pair<torch::Tensor, torch::Tensor> knnBlobs(int64_t perClass, int64_t dim, int64_t classes,
                                              double separation, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> xs, ys;
  for (int64_t c = 0; c < classes; ++c) {
    auto centre = torch::zeros({dim});
    centre[c % dim] = separation;
    xs.push_back(centre + torch::randn({perClass, dim}));
    ys.push_back(torch::full({perClass}, c, torch::kLong));
  }
  return {torch::cat(xs), torch::cat(ys)};
}

pretext::Dataset tinyEvalDataset(int64_t n) {
  pretext::Dataset d;
  d.name = "tiny";
  // Image i is 1x2x2 with pixels {10i, 10i+2, 10i+4, 10i+6}: mean 10i+3.
  auto base = torch::arange(n, torch::kLong).mul(10).view({n, 1, 1, 1});
  auto offs = torch::tensor({0, 2, 4, 6}, torch::kLong).view({1, 1, 2, 2});
  d.images = (base + offs).to(torch::kUInt8).contiguous();
  d.labels = torch::arange(n, torch::kLong).remainder(2);
  d.classNames = {"even", "odd"};
  return d;
}

}  // namespace

class TestEval : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { at::set_num_threads(2); }

  // ---- extractFeatures ---------------------------------------------------------------
  void extractMeanPixel_data();
  void extractMeanPixel();
  void extractErrors();

  // ---- kNN ---------------------------------------------------------------------------
  void knnHandWorked_data();
  void knnHandWorked();
  void knnConfusionSums();
  void knnMatchesBruteForce_data();
  void knnMatchesBruteForce();
  void knnErrors_data();
  void knnErrors();
  void knnInt8NearDuplicates();
  void knnInt8MatchesExactNeighbours();
  void knnInt8BoundsTheQueryError();
  void knnInt8Errors();

  // ---- linear probe ------------------------------------------------------------------
  void linearProbeSeparable();
  void linearProbeRandomLabelsAtChance();
  void linearProbeDeterministic();
  void linearProbeErrors();

  // ---- diagnostics -------------------------------------------------------------------
  void collapseIdenticalRows();
  void collapseHealthyRandom();
  void collapseLowRank();
  void collapseTooFewRows();
  void pcaLine();
  void pcaVarianceOrderAndErrors();
  void retrieveOrder();
  void retrieveSelf();
};

// ---------------------------------------------------------------------------------------

void TestEval::extractMeanPixel_data() {
  QTest::addColumn<int>("batchSize");
  QTest::newRow("batch 1") << 1;
  QTest::newRow("batch 3") << 3;
  QTest::newRow("batch = N") << 10;
  QTest::newRow("batch > N") << 64;
}

void TestEval::extractMeanPixel() {
  QFETCH(int, batchSize);
  const auto data = tinyEvalDataset(10);
  std::vector<std::pair<int64_t, int64_t>> calls;
  int64_t maxBatch = 0;
  auto encode = [&](const torch::Tensor& x) {
    maxBatch = std::max(maxBatch, x.size(0));
    // Inputs are float in [0,1]; the encoder need not care about gradients.
    return x.mean({1, 2, 3}).unsqueeze(1) * 255.0;
  };
  auto f = pretext::extractFeatures(encode, data, torch::kCPU, batchSize,
                                    [&](int64_t done, int64_t total) {
                                      calls.push_back({done, total});
                                    });
  QCOMPARE(f.scalar_type(), torch::kFloat);
  QCOMPARE(f.size(0), int64_t(10));
  QCOMPARE(f.size(1), int64_t(1));
  QVERIFY(!f.requires_grad());
  auto expected = torch::arange(10, torch::kFloat).mul(10).add(3).unsqueeze(1);
  QVERIFY(torch::allclose(f, expected, 1e-4, 1e-4));
  QVERIFY(maxBatch <= batchSize);
  const int64_t batches = (10 + batchSize - 1) / batchSize;
  QCOMPARE(int64_t(calls.size()), batches);
  QCOMPARE(calls.back().first, int64_t(10));
  QCOMPARE(calls.back().second, int64_t(10));
  for (size_t i = 1; i < calls.size(); ++i) QVERIFY(calls[i].first > calls[i - 1].first);
}

void TestEval::extractErrors() {
  auto encode = [](const torch::Tensor& x) { return x.flatten(1); };
  pretext::Dataset empty;
  empty.name = "nothing";
  PRETEXT_VERIFY_THROWS_WITH(pretext::extractFeatures(encode, empty, torch::kCPU), "empty");
  auto bad = [](const torch::Tensor& x) { return x.flatten(1).slice(0, 0, 1); };
  PRETEXT_VERIFY_THROWS_WITH(pretext::extractFeatures(bad, tinyEvalDataset(4), torch::kCPU, 2),
                             "[B,D]");
  PRETEXT_VERIFY_THROWS_WITH(pretext::extractFeatures(encode, tinyEvalDataset(4), torch::kCPU, 0),
                             "batch size");
}

// ---------------------------------------------------------------------------------------
// Hand-worked kNN. Test point q = (1, 0); cosine similarities to the training points:
//   a0: 1      a1: 0      a2: 1/sqrt(2) = 0.7071      a3: -1
// k = 3 keeps a0 (class 0), a2 (class 1), a1 (class 1): a plain majority vote says class 1.
//   T = 0.1:  weights exp(10) = 22026.5 (class 0), exp(7.071) = 1177.4 + exp(0) = 1 (class 1)
//             -> class 0 = 22026.5 beats class 1 = 1178.4: the weighting overturns the majority.
//   T = 100:  weights exp(0.01) = 1.0101 (class 0), exp(0.00707) = 1.0071 + 1 (class 1)
//             -> class 1 = 2.0071 beats class 0 = 1.0101: nearly the majority vote.
// k = 10 > 4 training points clamps to k = 4, adding a3 (class 0, weight exp(-1/T)):
//   T = 0.1:  class 0 = 22026.5 + 4.5e-5, class 1 = 1178.4 -> class 0
//   T = 100:  class 0 = 1.0101 + 0.9900 = 2.0001, class 1 = 2.0071 -> class 1
// A second test point p = (0.6, 0.8): sims a0 0.6, a1 0.8, a2 0.98995, a3 -0.6; k = 3 keeps
// a2, a1 (class 1) and a0 (class 0): class 1 = exp(9.8995) + exp(8) = 22911 > exp(6) = 403 at
// T = 0.1, so p is class 1 whatever the weighting.
void TestEval::knnHandWorked_data() {
  QTest::addColumn<int>("k");
  QTest::addColumn<double>("temperature");
  QTest::addColumn<int>("expectedQ");
  QTest::newRow("k=3 T=0.1 weighting wins") << 3 << 0.1 << 0;
  QTest::newRow("k=3 T=100 majority") << 3 << 100.0 << 1;
  QTest::newRow("k=10 clamps, T=0.1") << 10 << 0.1 << 0;
  QTest::newRow("k=10 clamps, T=100") << 10 << 100.0 << 1;
  QTest::newRow("k=1 nearest") << 1 << 0.1 << 0;
}

void TestEval::knnHandWorked() {
  QFETCH(int, k);
  QFETCH(double, temperature);
  QFETCH(int, expectedQ);
  // Scaling a vector must not matter (cosine similarity): q is given as (5, 0).
  auto test = torch::tensor({5.f, 0.f, 0.6f, 0.8f}).view({2, 2});
  auto testLabels = longs({0, 1});
  auto r = pretext::knnClassify(handTrain(), handTrainLabels(), test, testLabels, 2,
                                KnnOptions().k(k).temperature(temperature).chunk(1));
  QCOMPARE(r.predictions.scalar_type(), torch::kLong);
  QCOMPARE(r.predictions[0].item<int64_t>(), int64_t(expectedQ));
  QCOMPARE(r.predictions[1].item<int64_t>(), int64_t(1));
  const double top1 = expectedQ == 0 ? 100.0 : 50.0;
  QCOMPARE(r.top1, top1);
  QCOMPARE(r.top5, 0.0);  // fewer than 5 classes
  QCOMPARE(r.confusion.sum().item<int64_t>(), int64_t(2));
  QCOMPARE(r.confusion[1][1].item<int64_t>(), int64_t(1));
  QCOMPARE(r.confusion[0][expectedQ].item<int64_t>(), int64_t(1));
}

void TestEval::knnConfusionSums() {
  torch::manual_seed(1);
  const int64_t classes = 6;
  auto train = torch::randn({300, 8});
  auto trainLabels = torch::randint(classes, {300}, torch::kLong);
  auto test = torch::randn({101, 8});
  auto testLabels = torch::randint(classes, {101}, torch::kLong);
  auto r = pretext::knnClassify(train, trainLabels, test, testLabels, classes,
                                KnnOptions().k(20).chunk(16));
  QCOMPARE(r.confusion.sizes(), (torch::IntArrayRef{classes, classes}));
  QCOMPARE(r.confusion.scalar_type(), torch::kLong);
  QCOMPARE(r.confusion.sum().item<int64_t>(), int64_t(101));
  QVERIFY(torch::equal(r.confusion.sum(1), torch::bincount(testLabels, {}, classes)));
  QVERIFY(torch::equal(r.confusion.sum(0), torch::bincount(r.predictions, {}, classes)));
  QCOMPARE(r.confusion.trace().item<double>() * 100.0 / 101.0, r.top1);
  QVERIFY(r.top5 >= r.top1);
  // The chunk size changes nothing.
  auto whole = pretext::knnClassify(train, trainLabels, test, testLabels, classes,
                                    KnnOptions().k(20).chunk(4096));
  QVERIFY(torch::equal(whole.predictions, r.predictions));
}

// Cross-checks the blocked implementation against a direct, unblocked formula; training
// blocks smaller than k make the heaps fill across several blocks.
void TestEval::knnMatchesBruteForce_data() {
  QTest::addColumn<int>("chunk");
  QTest::addColumn<int>("trainBlock");
  QTest::newRow("chunk 8, block 3 < k") << 8 << 3;
  QTest::newRow("chunk 8, block 33") << 8 << 33;
  QTest::newRow("chunk 50, block all") << 50 << 0;
  QTest::newRow("chunk 1000, block 4096") << 1000 << 4096;
}

void TestEval::knnMatchesBruteForce() {
  QFETCH(int, chunk);
  QFETCH(int, trainBlock);
  torch::manual_seed(2);
  const int64_t classes = 5, k = 7;
  const double T = 0.07;
  auto centres = torch::randn({classes, 16});
  auto trainLabels = torch::randint(classes, {200}, torch::kLong);
  auto testLabels = torch::randint(classes, {50}, torch::kLong);
  auto train = centres.index({trainLabels}) + torch::randn({200, 16});
  auto test = centres.index({testLabels}) + torch::randn({50, 16});
  auto r =
      pretext::knnClassify(train, trainLabels, test, testLabels, classes,
                           KnnOptions().k(k).temperature(T).chunk(chunk).trainBlock(trainBlock));
  auto tn = test / test.norm(2, 1, true);
  auto trn = train / train.norm(2, 1, true);
  auto sim = tn.mm(trn.t()).to(torch::kDouble);
  auto [v, i] = sim.topk(k, 1);
  auto votes = torch::zeros({50, classes}, torch::kDouble)
                   .scatter_add_(1, trainLabels.index({i}), (v / T).exp());
  QVERIFY(torch::equal(r.predictions, votes.argmax(1)));
  QVERIFY(r.top1 > 100.0 / classes);  // the clusters are informative
}

void TestEval::knnErrors_data() {
  QTest::addColumn<int>("which");
  QTest::addColumn<QString>("needle");
  QTest::newRow("rows vs labels") << 0 << "knn: train features have 5 rows but 4 labels";
  QTest::newRow("test rows vs labels") << 1 << "knn: test features have 3 rows but 2 labels";
  QTest::newRow("dimensions differ") << 2 << "dimension 2 but test features have dimension 3";
  QTest::newRow("label too large") << 3 << "train labels must lie in 0..1, found 2";
  QTest::newRow("negative label") << 4 << "test labels must lie in 0..1, found -1";
  QTest::newRow("1-D features") << 5 << "train features must be 2-D";
  QTest::newRow("float labels") << 6 << "labels must be integers";
  QTest::newRow("bad k") << 7 << "k must be at least 1";
  QTest::newRow("bad temperature") << 8 << "temperature must be positive";
  QTest::newRow("NaN feature") << 9 << "NaN";
  QTest::newRow("empty train") << 10 << "train features are empty";
  QTest::newRow("bad trainBlock") << 11 << "trainBlock must be >= 0";
}

void TestEval::knnErrors() {
  QFETCH(int, which);
  QFETCH(QString, needle);
  auto train = torch::randn({5, 2});
  auto trainLabels = longs({0, 1, 0, 1, 1});
  auto test = torch::randn({3, 2});
  auto testLabels = longs({0, 1, 1});
  KnnOptions options;
  switch (which) {
    case 0:
      trainLabels = longs({0, 1, 0, 1});
      break;
    case 1:
      testLabels = longs({0, 1});
      break;
    case 2:
      test = torch::randn({3, 3});
      break;
    case 3:
      trainLabels = longs({0, 1, 2, 1, 1});
      break;
    case 4:
      testLabels = longs({0, -1, 1});
      break;
    case 5:
      train = torch::randn({5});
      break;
    case 6:
      trainLabels = torch::zeros({5});
      break;
    case 7:
      options.k(0);
      break;
    case 8:
      options.temperature(0);
      break;
    case 9:
      train[2][1] = std::nan("");
      break;
    case 10:
      train = torch::zeros({0, 2});
      trainLabels = longs({});
      break;
    case 11:
      options.trainBlock(-1);
      break;
  }
  PRETEXT_VERIFY_THROWS_WITH(pretext::knnClassify(train, trainLabels, test, testLabels, 2, options),
                             needle.toStdString());
}

// The int8 search where it matters: training rows come in near-duplicate pairs (u of class
// 0, v of class 1, 0.004 apart) and each query lies 0.002 from u, so its similarities to u
// and v differ by ~1e-5, far below the int8 error (~1e-3) but far above float32 rounding.
// Only a correct re-ranking finds u for every query (k = 1: all predictions class 0).
void TestEval::knnInt8NearDuplicates() {
  if (!pretext::detail::knnInt8Supported()) QSKIP("no AVX-512 VNNI on this CPU");
  torch::manual_seed(11);
  const int64_t pairs = 4096, dim = 64, queries = 384;
  auto base = torch::randn({pairs, dim});
  base = base / base.norm(2, 1, true);
  auto u = base + 0.004 * torch::randn({pairs, dim}) / std::sqrt(double(dim));
  auto v = base + 0.004 * torch::randn({pairs, dim}) / std::sqrt(double(dim));
  auto train = torch::cat({u, v});
  auto trainLabels =
      torch::cat({torch::zeros({pairs}, torch::kLong), torch::ones({pairs}, torch::kLong)});
  auto test = u.slice(0, 0, queries) * 0.5 + base.slice(0, 0, queries) * 0.5;
  auto testLabels = torch::zeros({queries}, torch::kLong);
  QVERIFY(pretext::detail::knnInt8Worthwhile(train.size(0), queries, dim, 1));
  auto fast = pretext::knnClassify(train, trainLabels, test, testLabels, 2, KnnOptions().k(1));
  auto exact =
      pretext::knnClassify(train, trainLabels, test, testLabels, 2, KnnOptions().k(1).exact(true));
  QCOMPARE(exact.top1, 100.0);
  QCOMPARE(fast.top1, 100.0);
  QVERIFY(torch::equal(fast.predictions, exact.predictions));
  // k = 2 keeps both u and v: the weights exp(s/T) then decide, and must agree too.
  auto [iFast, sFast] = pretext::detail::knnNeighbours(train, test, 2, false);
  auto [iExact, sExact] = pretext::detail::knnNeighbours(train, test, 2, true);
  QVERIFY(torch::equal(iFast, iExact));
  QVERIFY((sFast - sExact).abs().max().item<float>() < 1e-6f);
}

// On clustered data the int8 search returns the exact search's neighbours: the same sorted
// similarities (up to float32 rounding) and, where no two are within rounding, the same rows;
// the weighted votes give the same predictions.
void TestEval::knnInt8MatchesExactNeighbours() {
  if (!pretext::detail::knnInt8Supported()) QSKIP("no AVX-512 VNNI on this CPU");
  torch::manual_seed(12);
  const int64_t classes = 10, n = 6000, m = 500, dim = 96, k = 50;
  auto centres = torch::randn({classes, dim}) * 0.4;
  auto trainLabels = torch::randint(classes, {n}, torch::kLong);
  auto testLabels = torch::randint(classes, {m}, torch::kLong);
  // Non-negative features with a few large coordinates, like post-ReLU encoder outputs.
  auto train = torch::relu(centres.index({trainLabels}) + torch::randn({n, dim})).pow(2);
  auto test = torch::relu(centres.index({testLabels}) + torch::randn({m, dim})).pow(2);
  auto [iFast, sFast] = pretext::detail::knnNeighbours(train, test, k, false);
  auto [iExact, sExact] = pretext::detail::knnNeighbours(train, test, k, true);
  QCOMPARE(iFast.sizes(), (torch::IntArrayRef{m, k}));
  QVERIFY((sFast - sExact).abs().max().item<float>() < 1e-5f);
  // Rows whose exact similarities have no near-tie must have identical neighbour sets.
  auto gaps = (sExact.slice(1, 0, k - 1) - sExact.slice(1, 1, k)).abs().min(1);
  auto clear = std::get<0>(gaps) > 1e-5;
  auto same = std::get<0>(iFast.sort(1)).eq(std::get<0>(iExact.sort(1))).all(1);
  QVERIFY(clear.sum().item<int64_t>() > m / 2);
  QVERIFY(same.index({clear}).all().item<bool>());
  auto fast = pretext::knnClassify(train, trainLabels, test, testLabels, classes,
                                   KnnOptions().k(k).temperature(0.07));
  auto exact = pretext::knnClassify(train, trainLabels, test, testLabels, classes,
                                    KnnOptions().k(k).temperature(0.07).exact(true));
  QVERIFY(torch::equal(fast.predictions, exact.predictions));
  QVERIFY(exact.top1 > 100.0 / classes);
}

// Training rows with entries in {-1, 0, 1} (and their negations, so the mean row is zero)
// quantise exactly, queries with one dominant coordinate coarsely (scale = that coordinate /
// 127), so the whole error of s~ is <e_x, y>: the bound must carry that term per training row,
// or rows near the k-th place are pruned before the float32 re-rank (this test fails then).
void TestEval::knnInt8BoundsTheQueryError() {
  if (!pretext::detail::knnInt8Supported()) QSKIP("no AVX-512 VNNI on this CPU");
  torch::manual_seed(13);
  const int64_t n = 4096, m = 256, dim = 64, k = 20;
  auto half = torch::randint(-1, 2, {n, dim}).to(torch::kFloat);
  half.select(1, 1).fill_(1.0f);  // no all-zero rows
  auto train = torch::cat({half, -half});
  auto test = torch::randn({m, dim});
  test.select(1, 0).fill_(6.0f);
  auto [iFast, sFast] = pretext::detail::knnNeighbours(train, test, k, false);
  auto [iExact, sExact] = pretext::detail::knnNeighbours(train, test, k, true);
  QVERIFY((sFast - sExact).abs().max().item<float>() < 1e-5f);
  auto gaps = (sExact.slice(1, 0, k - 1) - sExact.slice(1, 1, k)).abs().min(1);
  auto clear = std::get<0>(gaps) > 1e-5;
  auto same = std::get<0>(iFast.sort(1)).eq(std::get<0>(iExact.sort(1))).all(1);
  QVERIFY(clear.sum().item<int64_t>() > m / 2);
  QCOMPARE(same.index({clear}).sum().item<int64_t>(), clear.sum().item<int64_t>());
}

// The int8 search refuses what it cannot do; all-zero feature rows (cosine 0 to everything)
// go through it without NaNs; input errors are reported as for the exact path.
void TestEval::knnInt8Errors() {
  if (!pretext::detail::knnInt8Supported()) {
    PRETEXT_VERIFY_THROWS_WITH(
        pretext::detail::knnNeighbours(torch::randn({64, 4}), torch::randn({3, 4}), 2, false),
        "AVX-512 VNNI");
    return;
  }
  const auto noop = [](int64_t, const pretext::detail::KnnEntry*, int64_t) {};
  auto train = torch::randn({64, 4}), test = torch::randn({3, 4});
  PRETEXT_VERIFY_THROWS_WITH(pretext::detail::knnSearchInt8(train, test, 65, noop), "1 <= k <= N");
  PRETEXT_VERIFY_THROWS_WITH(pretext::detail::knnSearchInt8(train, torch::randn({3, 5}), 2, noop),
                             "one dimension");
  PRETEXT_VERIFY_THROWS_WITH(
      pretext::detail::knnSearchInt8(train.to(torch::kDouble), test.to(torch::kDouble), 2, noop),
      "float32");
  QVERIFY(!pretext::detail::knnInt8Worthwhile(4, 2, 2, 3));  // tiny problems stay exact
  torch::manual_seed(13);
  auto big = torch::randn({4096, 128}), bigTest = torch::randn({300, 128});
  big[5].zero_();
  bigTest[7].zero_();
  auto labels = torch::randint(3, {4096}, torch::kLong),
       testLabels = torch::randint(3, {300}, torch::kLong);
  QVERIFY(pretext::detail::knnInt8Worthwhile(4096, 300, 128, 20));
  auto r = pretext::knnClassify(big, labels, bigTest, testLabels, 3, KnnOptions().k(20));
  QCOMPARE(r.confusion.sum().item<int64_t>(), int64_t(300));
  auto [idx, sims] = pretext::detail::knnNeighbours(big, bigTest, 20, false);
  QVERIFY(torch::isfinite(sims).all().item<bool>());
  QCOMPARE(sims[7].abs().max().item<float>(), 0.0f);  // the zero query: every similarity is 0
  big[100][3] = std::nan("");
  PRETEXT_VERIFY_THROWS_WITH(
      pretext::knnClassify(big, labels, bigTest, testLabels, 3, KnnOptions().k(20)), "NaN");
}

// ---------------------------------------------------------------------------------------

void TestEval::linearProbeSeparable() {
  // 4 classes in 6-D, centres 8 apart with unit noise: linearly separable in practice.
  auto [train, trainLabels] = knnBlobs(100, 6, 4, 8.0, 3);
  auto [test, testLabels] = knnBlobs(100, 6, 4, 8.0, 4);
  // An offset and scale on the features must not matter (they are standardised).
  auto r = pretext::linearProbe(train * 50 + 1000, trainLabels, test * 50 + 1000, testLabels, 4);
  QVERIFY2(r.top1 >= 99.0, qPrintable(QString::number(r.top1)));
  QCOMPARE(r.predictions.size(0), int64_t(400));
  QCOMPARE(r.confusion.sum().item<int64_t>(), int64_t(400));
  QCOMPARE(r.top5, 0.0);
  // Converged (stopped by the tolerance, not the cap) to a small loss.
  QVERIFY2(r.trainLoss < 0.05, qPrintable(QString::number(r.trainLoss)));
  QVERIFY(r.lossEvaluations > 1 && r.lossEvaluations < 500);
  // The iteration cap is honoured.
  auto capped = pretext::linearProbe(train, trainLabels, test, testLabels, 4,
                                     LinearProbeOptions().maxIterations(2));
  QVERIFY(capped.lossEvaluations <= 3);
  QVERIFY(capped.trainLoss > r.trainLoss);
}

void TestEval::linearProbeRandomLabelsAtChance() {
  torch::manual_seed(5);
  const int64_t classes = 4;
  auto train = torch::randn({400, 32});
  auto trainLabels = torch::randint(classes, {400}, torch::kLong);
  auto test = torch::randn({3000, 32});
  auto testLabels = torch::randint(classes, {3000}, torch::kLong);
  auto r = pretext::linearProbe(train, trainLabels, test, testLabels, classes);
  // Chance is 25%; with 3000 test samples the standard error is about 0.8%.
  QVERIFY2(r.top1 > 20.0 && r.top1 < 30.0, qPrintable(QString::number(r.top1)));
  // ... while the training set itself can be fitted well above chance.
  auto fit = pretext::linearProbe(train, trainLabels, train, trainLabels, classes);
  QVERIFY2(fit.top1 > 40.0, qPrintable(QString::number(fit.top1)));
}

void TestEval::linearProbeDeterministic() {
  auto [train, trainLabels] = knnBlobs(60, 10, 6, 1.5, 6);
  auto [test, testLabels] = knnBlobs(60, 10, 6, 1.5, 7);
  auto a = pretext::linearProbe(train, trainLabels, test, testLabels, 6);
  auto b = pretext::linearProbe(train, trainLabels, test, testLabels, 6);
  QVERIFY(torch::equal(a.predictions, b.predictions));
  QVERIFY(torch::equal(a.confusion, b.confusion));
  QCOMPARE(a.top1, b.top1);
  QCOMPARE(a.top5, b.top5);
  QCOMPARE(a.trainLoss, b.trainLoss);
  QVERIFY(a.top5 >= a.top1);
  QVERIFY(a.top1 > 100.0 / 6);
}

void TestEval::linearProbeErrors() {
  auto train = torch::randn({5, 3});
  PRETEXT_VERIFY_THROWS_WITH(
      pretext::linearProbe(train, longs({0, 1, 0, 1}), train, longs({0, 1, 0, 1, 1}), 2),
      "linear probe: train features have 5 rows but 4 labels");
  PRETEXT_VERIFY_THROWS_WITH(
      pretext::linearProbe(train, longs({0, 1, 0, 1, 1}), torch::randn({2, 4}), longs({0, 1}), 2),
      "dimension 3 but test features have dimension 4");
  PRETEXT_VERIFY_THROWS_WITH(
      pretext::linearProbe(train, longs({0, 1, 0, 1, 5}), train, longs({0, 1, 0, 1, 1}), 2),
      "train labels must lie in 0..1, found 5");
  PRETEXT_VERIFY_THROWS_WITH(
      pretext::linearProbe(train, longs({0, 1, 0, 1, 1}), train, longs({0, 1, 0, 1, 1}), 2,
                           LinearProbeOptions().maxIterations(0)),
      "maxIterations");
}

// ---------------------------------------------------------------------------------------

void TestEval::collapseIdenticalRows() {
  auto z = torch::tensor({0.3f, -1.f, 2.f, 0.5f}).repeat({64, 1});
  auto s = pretext::collapseStats(z);
  QVERIFY(std::abs(s.normalizedStd) < 1e-6);
  QCOMPARE(s.effectiveRank, 1.0);
  // Rows along one direction but of different lengths: normalised they are identical, and
  // centered they span one direction.
  auto scaled = torch::linspace(1, 3, 64).unsqueeze(1) * torch::tensor({0.3f, -1.f, 2.f, 0.5f});
  auto t = pretext::collapseStats(scaled);
  QVERIFY(std::abs(t.normalizedStd) < 1e-6);
  QVERIFY2(std::abs(t.effectiveRank - 1.0) < 1e-3, qPrintable(QString::number(t.effectiveRank)));
}

void TestEval::collapseHealthyRandom() {
  torch::manual_seed(8);
  auto z = torch::randn({4096, 16});
  auto s = pretext::collapseStats(z);
  const double expected = 1.0 / std::sqrt(16.0);
  QVERIFY2(std::abs(s.normalizedStd - expected) < 0.1 * expected,
           qPrintable(QString::number(s.normalizedStd)));
  QVERIFY2(s.effectiveRank > 15.5 && s.effectiveRank <= 16.0 + 1e-9,
           qPrintable(QString::number(s.effectiveRank)));
}

void TestEval::collapseLowRank() {
  // Points in a 2-D subspace of 16-D with equal spread along both axes: effective rank ~2.
  torch::manual_seed(9);
  auto basis = std::get<0>(at::linalg_qr(torch::randn({16, 2})));  // [16,2] orthonormal
  auto z = torch::randn({2000, 2}).mm(basis.t());
  auto s = pretext::collapseStats(z);
  QVERIFY2(s.effectiveRank > 1.9 && s.effectiveRank < 2.01,
           qPrintable(QString::number(s.effectiveRank)));
  QVERIFY(s.normalizedStd < 1.0 / std::sqrt(16.0));
}

void TestEval::collapseTooFewRows() {
  auto s = pretext::collapseStats(torch::randn({1, 8}));
  QCOMPARE(s.normalizedStd, 0.0);
  QCOMPARE(s.effectiveRank, 0.0);
  PRETEXT_VERIFY_THROWS_WITH(pretext::collapseStats(torch::randn({8})), "2-D");
}

void TestEval::pcaLine() {
  // Points c + t * d on a line in 3-D, d = (0.6, 0.8, 0) (unit); the largest loading (0.8)
  // comes out positive, so component 1 is exactly t - mean(t) and component 2 is 0.
  auto t = torch::linspace(-2, 5, 50);
  auto d = torch::tensor({0.6f, 0.8f, 0.f});
  auto c = torch::tensor({1.f, -2.f, 3.f});
  auto x = c + t.unsqueeze(1) * d;
  auto p = pretext::pcaProject(x, 2);
  QCOMPARE(p.sizes(), (torch::IntArrayRef{50, 2}));
  QCOMPARE(p.scalar_type(), torch::kFloat);
  QVERIFY(torch::allclose(p.select(1, 0), t - t.mean(), 1e-4, 1e-4));
  QVERIFY(p.select(1, 1).abs().max().item<float>() < 1e-4);
  // Flipping the direction of the line gives the same (sign-normalised) projection.
  auto flipped = pretext::pcaProject(c - t.unsqueeze(1) * d, 1);
  QVERIFY(torch::allclose(flipped.select(1, 0), -(t - t.mean()), 1e-4, 1e-4));
}

void TestEval::pcaVarianceOrderAndErrors() {
  torch::manual_seed(10);
  auto x = torch::randn({500, 4}) * torch::tensor({1.f, 5.f, 0.2f, 2.f});
  auto p = pretext::pcaProject(x, 4);
  auto var = p.var(0);
  for (int i = 1; i < 4; ++i) QVERIFY(var[i - 1].item<float>() >= var[i].item<float>());
  QVERIFY(std::abs(var.sum().item<float>() - x.var(0).sum().item<float>()) < 1e-2);
  // Columns are uncorrelated.
  auto cov = p.t().mm(p - p.mean(0)) / 499;
  QVERIFY((cov - torch::diag(torch::diag(cov))).abs().max().item<float>() < 1e-3);
  PRETEXT_VERIFY_THROWS_WITH(pretext::pcaProject(x, 5), "dims must lie in 1..4");
  PRETEXT_VERIFY_THROWS_WITH(pretext::pcaProject(x, 0), "dims must lie in 1..4");
}

void TestEval::retrieveOrder() {
  // Gallery at angles 0, 20, 40, 60, 80 degrees; query at 45: angular distances 45, 25, 5,
  // 15, 35 -> order 2, 3, 1, 4, 0.
  std::vector<float> g;
  for (int deg = 0; deg <= 80; deg += 20) {
    g.push_back(std::cos(deg * M_PI / 180));
    g.push_back(std::sin(deg * M_PI / 180));
  }
  auto gallery = torch::tensor(g).view({5, 2}) * 3;  // lengths do not matter
  auto query = torch::tensor({1.f, 1.f}).view({1, 2});
  auto [idx, sim] = pretext::retrieveTopK(gallery, query, 5);
  QVERIFY(torch::equal(idx, longs({2, 3, 1, 4, 0}).view({1, 5})));
  QCOMPARE(idx.scalar_type(), torch::kLong);
  QCOMPARE(sim.scalar_type(), torch::kFloat);
  auto expected = torch::tensor({5.f, 15.f, 25.f, 35.f, 45.f}).mul(M_PI / 180).cos().view({1, 5});
  QVERIFY(torch::allclose(sim, expected, 1e-5, 1e-5));
  // k larger than the gallery clamps; k = 2 keeps the first two.
  QCOMPARE(pretext::retrieveTopK(gallery, query, 50).first.size(1), int64_t(5));
  QVERIFY(torch::equal(pretext::retrieveTopK(gallery, query, 2).first, longs({2, 3}).view({1, 2})));
  PRETEXT_VERIFY_THROWS_WITH(pretext::retrieveTopK(gallery, query, 0), "k must be at least 1");
  PRETEXT_VERIFY_THROWS_WITH(pretext::retrieveTopK(gallery, torch::ones({1, 3}), 1), "dimension");
}

void TestEval::retrieveSelf() {
  torch::manual_seed(11);
  auto gallery = torch::randn({100, 8});
  auto [idx, sim] = pretext::retrieveTopK(gallery, gallery, 4);
  QVERIFY(torch::equal(idx.select(1, 0), torch::arange(100, torch::kLong)));
  QVERIFY(torch::allclose(sim.select(1, 0), torch::ones({100}), 1e-5, 1e-5));
  // Sorted by decreasing similarity.
  QVERIFY((sim.slice(1, 0, 3) >= sim.slice(1, 1, 4)).all().item<bool>());
}

PRETEXT_TEST_AREA(TestEval, "eval")
#include "test_eval.moc"
