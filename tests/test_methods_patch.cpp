// Relative patch location and jigsaw puzzles: the permutation set against brute force, the patch
// grid's extraction and reassembly, the pairing and shuffling labels, the colour defence, the
// losses at a known point, and both methods learning a puzzle that only correct labels make
// solvable.
#include "test_main.h"
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "core/methods/jigsaw.h"
#include "core/methods/patches.h"
#include "core/methods/registry.h"
#include "core/methods/relpatch.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;
using pretext::test::metric;
using pretext::test::tinySetup;

namespace {

int hamming(const std::vector<int>& a, const std::vector<int>& b) {
  int d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += a[i] != b[i];
  return d;
}

std::vector<std::vector<int>> rows(const torch::Tensor& t) {
  std::vector<std::vector<int>> out;
  for (int64_t i = 0; i < t.size(0); ++i) {
    std::vector<int> r;
    for (int64_t j = 0; j < t.size(1); ++j) r.push_back(int(t[i][j].item<int64_t>()));
    out.push_back(r);
  }
  return out;
}


// Zeroes the last layer of the method's classifier head: every logit 0, p = 1/K for K classes.
void zeroLastLayer(Method& m) {
  std::string last;
  for (const auto& kv : m.named_parameters())
    if (kv.key().rfind("head.", 0) == 0) last = kv.key().substr(0, kv.key().rfind('.'));
  QVERIFY(!last.empty());
  torch::NoGradGuard ng;
  for (const auto& kv : m.named_parameters())
    if (kv.key().rfind(last + ".", 0) == 0) kv.value().zero_();
}

// Images whose 3x3 cells of a 24-px grid (8-px patches, no gap) each have their own brightness,
// scaled per image: a patch's brightness tells its cell, so a network can only learn the task if
// the labels are the true positions.
torch::Tensor cellImages(int64_t n, torch::Generator& gen) {
  auto level = torch::arange(9, torch::kFloat).div(8).view({3, 3});
  auto img = level.repeat_interleave(8, 0).repeat_interleave(8, 1);  // [24,24]
  auto a = torch::rand({n, 1, 1, 1}, gen) * 0.2, b = 0.6 + torch::rand({n, 1, 1, 1}, gen) * 0.2;
  return (a + b * img.view({1, 1, 24, 24})).clamp(0, 1);
}

double trainAccuracy(const std::string& name, nlohmann::json params, int steps) {
  torch::manual_seed(0);
  MethodSetup s = tinySetup(std::move(params));
  s.imageSize = 24;
  s.backbone.width(8);
  auto m = makeMethod(name, s);
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(3e-3));
  auto gen = at::detail::createCPUGenerator(3);
  AugmentOptions none = augmentPreset("none");
  double acc = 0;
  const std::string key = name == "jigsaw" ? "jigsaw_acc" : "position_acc";
  for (int i = 0; i < steps; ++i) {
    Batch b;
    b.images = cellImages(32, gen);
    StepContext ctx{i, 0, 0.0, &gen, &none};
    auto r = m->step(b, ctx);
    opt.zero_grad();
    r.loss.backward();
    opt.step();
    if (i >= steps - 10) acc += metric(r, key) / 10;
  }
  return acc;
}

}  // namespace

class TestMethodsPatch : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // --- the permutation set ---------------------------------------------------------------

  void permutationSetIsValidDistinctAndSeeded() {
    auto p = maximalHammingPermutations(100, 7);
    QCOMPARE(p.sizes().vec(), (std::vector<int64_t>{100, 9}));
    QCOMPARE(p.scalar_type(), torch::kLong);
    auto r = rows(p);
    for (auto row : r) {
      std::sort(row.begin(), row.end());
      for (int i = 0; i < 9; ++i) QCOMPARE(row[i], i);
    }
    QCOMPARE(std::set<std::vector<int>>(r.begin(), r.end()).size(), size_t(100));
    // Brute-force minimum distance over all pairs, against the function's.
    int minD = 10;
    for (size_t a = 0; a < r.size(); ++a)
      for (size_t b = a + 1; b < r.size(); ++b) minD = std::min(minD, hamming(r[a], r[b]));
    QCOMPARE(int64_t(minD), minHammingDistance(p));
    // A random set of 100 has pairs at distance 2 or 3; the greedy set keeps them far apart.
    // (A set with minimum distance 8 holds at most 9!/7! = 72 permutations.)
    QVERIFY2(minD >= 6, qPrintable(QString::number(minD)));
    QVERIFY(p.equal(maximalHammingPermutations(100, 7)));
    QVERIFY(!p.equal(maximalHammingPermutations(100, 8)));
    // The first permutations of a set extend it: the greedy choice does not depend on n.
    QVERIFY(p.slice(0, 0, 30).equal(maximalHammingPermutations(30, 7)));
  }

  // Each greedy choice against a brute-force search over every permutation (loop transcription
  // of: maximise the minimum distance to the chosen set, then the sum, then take the first in
  // lexicographic order).
  void greedyChoiceMatchesBruteForce_data() {
    QTest::addColumn<int>("length");
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("seed");
    QTest::newRow("4 tiles, all 24") << 4 << 24 << 0;
    QTest::newRow("5 tiles, 40") << 5 << 40 << 3;
    QTest::newRow("6 tiles, 30") << 6 << 30 << 11;
  }
  void greedyChoiceMatchesBruteForce() {
    QFETCH(int, length);
    QFETCH(int, n);
    QFETCH(int, seed);
    auto chosen = rows(maximalHammingPermutations(n, uint64_t(seed), length));
    std::vector<std::vector<int>> all;
    std::vector<int> p(static_cast<size_t>(length));
    std::iota(p.begin(), p.end(), 0);
    do all.push_back(p);
    while (std::next_permutation(p.begin(), p.end()));
    for (int j = 1; j < n; ++j) {
      std::vector<int> best;
      int bestMin = -1, bestSum = -1;
      for (const auto& q : all) {
        if (std::find(chosen.begin(), chosen.begin() + j, q) != chosen.begin() + j) continue;
        int mn = length + 1, sum = 0;
        for (int i = 0; i < j; ++i) {
          mn = std::min(mn, hamming(q, chosen[size_t(i)]));
          sum += hamming(q, chosen[size_t(i)]);
        }
        if (mn > bestMin || (mn == bestMin && sum > bestSum)) {
          best = q;
          bestMin = mn;
          bestSum = sum;
        }
      }
      QVERIFY2(chosen[size_t(j)] == best, qPrintable(QString("choice %1").arg(j)));
    }
  }

  // Any Latin rectangle completes to a Latin square, so the first `length` greedy choices are
  // pairwise at the largest possible distance, `length`; and the whole symmetric group at 4 tiles
  // has minimum distance 2.
  void firstChoicesFormALatinSquare() {
    for (int length : {4, 5, 9})
      QCOMPARE(minHammingDistance(maximalHammingPermutations(length, 1, length)), int64_t(length));
    QCOMPARE(minHammingDistance(maximalHammingPermutations(24, 1, 4)), int64_t(2));
  }

  void permutationSetErrors() {
    PRETEXT_VERIFY_THROWS_WITH(maximalHammingPermutations(25, 0, 4), "permutations");
    PRETEXT_VERIFY_THROWS_WITH(maximalHammingPermutations(0, 0), "permutations");
    const auto& info = MethodRegistry::instance().get("jigsaw");
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"permutations", 1001}}),
                               "method.params.permutations");
  }

  // --- the patch grid ---------------------------------------------------------------------

  void patchesAreTheJitteredSlices() {
    PatchGrid g;
    g.patch = 8;
    g.gap = 4;
    g.jitter = 2;
    QCOMPARE(g.side(), int64_t(3 * 8 + 2 * 4 + 2 * 2));
    auto gen = at::detail::createCPUGenerator(5);
    auto images = torch::rand({3, 2, g.side(), g.side()}, gen);
    auto shifts = randomShifts(3, g, gen);
    QCOMPARE(shifts.sizes().vec(), (std::vector<int64_t>{3, 9, 2}));
    QVERIFY(shifts.min().item<int64_t>() >= -2 && shifts.max().item<int64_t>() <= 2);
    auto many = randomShifts(200, g, gen);
    QCOMPARE(many.min().item<int64_t>(), int64_t(-2));
    QCOMPARE(many.max().item<int64_t>(), int64_t(2));
    auto tiles = extractPatches(images, g, shifts);
    QCOMPARE(tiles.sizes().vec(), (std::vector<int64_t>{3, 9, 2, 8, 8}));
    using torch::indexing::Slice;
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t t = 0; t < 9; ++t) {
        const int64_t y = 2 + (t / 3) * 12 + shifts[b][t][0].item<int64_t>();
        const int64_t x = 2 + (t % 3) * 12 + shifts[b][t][1].item<int64_t>();
        QVERIFY(tiles[b][t].equal(images[b].index({Slice(), Slice(y, y + 8), Slice(x, x + 8)})));
      }
    // Resizing to the grid: other sizes are resized, the right size is kept as it is.
    QCOMPARE(fitToGrid(torch::rand({2, 1, 28, 28}), g).sizes().vec(),
             (std::vector<int64_t>{2, 1, 36, 36}));
    QVERIFY(fitToGrid(images, g).is_same(images));
  }

  void assemblyInvertsExtraction() {
    PatchGrid g;
    g.patch = 8;
    g.gap = 0;
    g.jitter = 0;
    auto images = torch::rand({2, 3, 24, 24});
    auto tiles = extractPatches(images, g, torch::zeros({2, 9, 2}, torch::kLong));
    QVERIFY(assemblePatches(tiles, 0).equal(images));
    // With separators: the tiles at (t/3)(P+sep), the rest filled.
    auto spaced = assemblePatches(tiles, 2, 0.25);
    QCOMPARE(spaced.sizes().vec(), (std::vector<int64_t>{2, 3, 28, 28}));
    using torch::indexing::Slice;
    QVERIFY(
        spaced.index({Slice(), Slice(), Slice(10, 18), Slice(20, 28)}).equal(tiles.select(1, 5)));
    QVERIFY((spaced.index({Slice(), Slice(), 8}) == 0.25).all().item<bool>());
    QVERIFY((spaced.index({Slice(), Slice(), Slice(), 19}) == 0.25).all().item<bool>());
  }

  void gridSettingsAreChecked() {
    PatchGrid g;
    g.gap = 4;
    g.jitter = 2;
    g.validate("relpatch");  // two neighbours may touch but never overlap
    g.jitter = 3;
    PRETEXT_VERIFY_THROWS_WITH(g.validate("relpatch"), "method.params.jitter = 3");
    for (const char* name : {"relpatch", "jigsaw"}) {
      PRETEXT_VERIFY_THROWS_WITH(makeMethod(name, tinySetup({{"gap", 2}, {"jitter", 2}})),
                                 "jitter");
      PRETEXT_VERIFY_THROWS_WITH(
          resolveParams(MethodRegistry::instance().get(name), {{"patch_size", 4}}),
          "method.params.patch_size");
      MethodSetup vit = tinySetup({});
      vit.backbone.name("vit").patchSize(4);
      PRETEXT_VERIFY_THROWS_WITH(makeMethod(name, vit), "backbone.name");
    }
  }

  // --- relative patch location --------------------------------------------------------------

  // The label names agree with the cells' offsets from the centre.
  void neighbourNamesMatchTheirCells() {
    for (int k = 0; k < 8; ++k) {
      const int64_t c = kNeighbourCell[k], dr = c / 3 - 1, dc = c % 3 - 1;
      QVERIFY(c != 4);
      std::string expect = std::string(dr < 0   ? "N"
                                       : dr > 0 ? "S"
                                                : "") +
                           (dc < 0   ? "W"
                            : dc > 0 ? "E"
                                     : "");
      QCOMPARE(std::string(kNeighbourName[k]), expect);
    }
  }

  void pairsAndLabelsMatch() {
    // f[b,t,:] = (100 b + t, -(100 b + t)).
    auto id =
        (torch::arange(2).view({2, 1}) * 100 + torch::arange(9).view({1, 9})).to(torch::kFloat);
    auto f = torch::stack({id, -id}, 2);
    auto [pairs, labels] = allNeighbourPairs(f);
    QCOMPARE(pairs.sizes().vec(), (std::vector<int64_t>{16, 4}));
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t k = 0; k < 8; ++k) {
        const int64_t r = 8 * b + k;
        QCOMPARE(labels[r].item<int64_t>(), k);
        const float centre = float(100 * b + 4), nb = float(100 * b + kNeighbourCell[k]);
        QCOMPARE(pairs[r][0].item<float>(), centre);
        QCOMPARE(pairs[r][1].item<float>(), -centre);
        QCOMPARE(pairs[r][2].item<float>(), nb);
        QCOMPARE(pairs[r][3].item<float>(), -nb);
      }
    auto patches = id.view({2, 9, 1, 1, 1}).expand({2, 9, 1, 3, 3});
    auto one = neighbourPatches(patches, torch::tensor({0, 7}, torch::kLong));
    QCOMPARE(one[0][0][0][0].item<float>(), 0.0f);    // image 0, NW = cell 0
    QCOMPARE(one[1][0][2][2].item<float>(), 108.0f);  // image 1, SE = cell 8
  }

  // At zero logits p = 1/8 for every position: L = log 8, for both ways of asking.
  void relpatchLossAtUniformPrediction() {
    for (bool all : {true, false}) {
      auto m = makeMethod("relpatch", tinySetup({{"all_neighbours", all}}));
      zeroLastLayer(*m);
      Batch b;
      b.images = torch::rand({6, 1, 16, 16});
      auto gen = at::detail::createCPUGenerator(1);
      AugmentOptions aug = augmentPreset("weak");
      StepContext ctx{0, 0, 0.0, &gen, &aug};
      auto r = m->step(b, ctx);
      QVERIFY(std::abs(r.loss.item<double>() - std::log(8.0)) < 1e-6);
      QVERIFY(!std::isnan(metric(r, "position_acc")));
    }
  }

  // --- jigsaw -------------------------------------------------------------------------------

  void shufflingMatchesThePermutation() {
    auto perms = maximalHammingPermutations(10, 2);
    auto labels = torch::tensor({3, 0, 9}, torch::kLong);
    auto tiles = torch::arange(9, torch::kFloat).view({1, 9, 1, 1, 1}).expand({3, 9, 2, 4, 4});
    tiles = tiles + torch::arange(3, torch::kFloat).view({3, 1, 1, 1, 1}) * 10;
    auto perm = perms.index_select(0, labels);
    auto shuffled = shuffleTiles(tiles, perm);
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t i = 0; i < 9; ++i)
        QVERIFY((shuffled[b][i] == float(10 * b + perms[labels[b]][i].item<int64_t>()))
                    .all()
                    .item<bool>());
    QVERIFY(unshuffleTiles(shuffled, perm).equal(tiles));
    // A wrong permutation does not put them back.
    QVERIFY(
        !unshuffleTiles(shuffled, perms.index_select(0, torch::tensor({4, 0, 9}))).equal(tiles));
  }

  // At zero logits p = 1/N over the N permutations: L = log N.
  void jigsawLossAtUniformPrediction() {
    for (int n : {2, 24, 100}) {
      auto m = makeMethod("jigsaw", tinySetup({{"permutations", n}}));
      zeroLastLayer(*m);
      Batch b;
      b.images = torch::rand({4, 1, 16, 16});
      auto gen = at::detail::createCPUGenerator(2);
      AugmentOptions aug = augmentPreset("weak");
      StepContext ctx{0, 0, 0.0, &gen, &aug};
      auto r = m->step(b, ctx);
      QVERIFY2(std::abs(r.loss.item<double>() - std::log(double(n))) < 1e-5,
               qPrintable(QString::number(r.loss.item<double>())));
    }
  }

  // The set is kept in the checkpoint (a buffer) so a checkpoint's classes keep their meaning.
  void permutationSetIsAModelBuffer() {
    auto m = makeMethod("jigsaw", tinySetup({{"permutations", 12}, {"perm_seed", 5}}));
    bool found = false;
    for (const auto& kv : m->named_buffers())
      if (kv.key() == "permutations") {
        found = true;
        QVERIFY(kv.value().equal(maximalHammingPermutations(12, 5)));
      }
    QVERIFY(found);
  }

  // --- the colour defence -------------------------------------------------------------------

  void colourDefenceDropsOrGrays() {
    auto gen = at::detail::createCPUGenerator(9);
    auto tiles = torch::rand({4, 9, 3, 8, 8}, gen);
    auto dropped = colourDefence(tiles, "drop", gen);
    QCOMPARE(dropped.sizes(), tiles.sizes());
    auto flatIn = tiles.reshape({36, 3, 64}), flatOut = dropped.reshape({36, 3, 64});
    std::set<int> keptChannels;
    for (int64_t i = 0; i < 36; ++i) {
      int kept = -1;
      for (int c = 0; c < 3; ++c)
        if (flatOut[i][c].equal(flatIn[i][c])) kept = c;
      QVERIFY(kept >= 0);
      keptChannels.insert(kept);
      const double mean = flatIn[i][kept].mean().item<double>(),
                   sd = flatIn[i][kept].std().item<double>();
      for (int c = 0; c < 3; ++c) {
        if (c == kept) continue;
        QVERIFY(std::abs(flatOut[i][c].mean().item<double>() - mean) < 0.01 * sd);
        const double s = flatOut[i][c].std().item<double>();
        QVERIFY2(s > 0.003 * sd && s < 0.02 * sd, qPrintable(QString::number(s / sd)));
      }
    }
    QCOMPARE(keptChannels.size(), size_t(3));
    auto gray = colourDefence(tiles, "grayscale", gen);
    QVERIFY(torch::allclose(gray.select(2, 0), gray.select(2, 2)));
    QVERIFY(!torch::allclose(gray.select(2, 0), tiles.select(2, 0)));
    QVERIFY(colourDefence(tiles, "none", gen).is_same(tiles));
    auto mono = torch::rand({2, 9, 1, 8, 8});
    QVERIFY(colourDefence(mono, "drop", gen).is_same(mono));
  }

  // --- learning: only consistent labels make these solvable ---------------------------------

  void bothMethodsLearnAPuzzleOfBrightCells_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<double>("chance");
    QTest::newRow("relpatch") << "relpatch" << 1.0 / 8;
    QTest::newRow("jigsaw") << "jigsaw" << 1.0 / 10;
  }
  void bothMethodsLearnAPuzzleOfBrightCells() {
    QFETCH(QString, name);
    QFETCH(double, chance);
    nlohmann::json p = {{"patch_size", 8}, {"gap", 0}, {"jitter", 0}, {"hidden", 64}};
    if (name == "jigsaw") {
      p["permutations"] = 10;
      p["tile_norm"] = false;  // the cells differ only in brightness: see the next test
    }
    const double acc = trainAccuracy(name.toStdString(), p, 120);
    QVERIFY2(acc > 0.8 && acc > 4 * chance, qPrintable(QString::number(acc)));
  }

  // The per-tile standardisation removes exactly that cue: tiles that differ only in brightness
  // become identical, and the puzzle cannot be solved (the paper's defence against low-level
  // shortcuts). The probes' features ignore an image's brightness and contrast alike.
  void tileNormRemovesTheBrightnessShortcut() {
    // Each tile is one cell, of one flat brightness.
    nlohmann::json p = {{"patch_size", 8}, {"gap", 0},          {"jitter", 0},
                        {"hidden", 64},    {"permutations", 10}, {"tile_norm", false}};
    const double withShortcut = trainAccuracy("jigsaw", p, 120);
    p["tile_norm"] = true;
    const double without = trainAccuracy("jigsaw", p, 120);
    QVERIFY2(withShortcut > 0.8 && without < 0.25,
             qPrintable(QString("%1 -> %2").arg(withShortcut).arg(without)));

    torch::manual_seed(0);
    auto m = makeMethod("jigsaw", tinySetup({}));
    m->eval();
    torch::NoGradGuard noGrad;
    auto x = torch::rand({3, 1, 16, 16}) * 0.5;
    auto f = m->features(x), g = m->features(0.2 + 1.5 * x);
    QVERIFY2(torch::allclose(f, g, 1e-3, 1e-4), qPrintable(QString::number((f - g).abs().max().item<double>())));
    // probe_features "tiles": the nine in-place tiles' features, concatenated in cell order.
    auto tiled = makeMethod("jigsaw", tinySetup({{"probe_features", "tiles"}}));
    tiled->eval();
    auto ft = tiled->features(x);
    QCOMPARE(ft.size(1), 9 * tiled->encoder()->featureDim());
    QVERIFY(torch::allclose(ft, tiled->features(0.2 + 1.5 * x), 1e-3, 1e-4));
    auto off = makeMethod("jigsaw", tinySetup({{"tile_norm", false}}));
    off->eval();
    QVERIFY(!torch::allclose(off->features(x), off->features(0.2 + 1.5 * x), 1e-3, 1e-4));
  }

  // --- viewers ------------------------------------------------------------------------------

  void previewsAndInputViews_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("channels");
    QTest::newRow("relpatch gray") << "relpatch" << 1;
    QTest::newRow("relpatch colour") << "relpatch" << 3;
    QTest::newRow("jigsaw gray") << "jigsaw" << 1;
    QTest::newRow("jigsaw colour") << "jigsaw" << 3;
  }
  void previewsAndInputViews() {
    QFETCH(QString, name);
    QFETCH(int, channels);
    MethodSetup s = tinySetup({});
    s.channels = channels;
    auto m = makeMethod(name.toStdString(), s);
    m->eval();
    auto images = torch::rand({5, channels, 16, 16});
    auto gen = at::detail::createCPUGenerator(4);
    auto previews = m->previews(images, gen, {});
    QCOMPARE(int(previews.size()), 1);
    const Preview& p = previews[0];
    const int64_t side = 3 * 12 + 2 * 4 + 2 * 1;
    QCOMPARE(p.images.sizes().vec(), (std::vector<int64_t>{15, 3, side, side}));
    QCOMPARE(int(p.labels.size()), 15);
    QVERIFY(p.images.min().item<float>() >= 0 && p.images.max().item<float>() <= 1);
    const std::string second = name == "jigsaw" ? "puzzle #" : "truth ";
    for (size_t i = 0; i < 15; i += 3) {
      QCOMPARE(p.labels[i], std::string("image"));
      QVERIFY2(p.labels[i + 1].rfind(second, 0) == 0, p.labels[i + 1].c_str());
      QVERIFY2(p.labels[i + 2].find('%') != std::string::npos, p.labels[i + 2].c_str());
    }
    Preview v = m->inputViews(images, augmentPreset("none"), gen);
    QCOMPARE(v.images.sizes().vec(), (std::vector<int64_t>{15, int64_t(channels), side, side}));
    QCOMPARE(int(v.labels.size()), 3);
    QCOMPARE(v.columns, int64_t(3));
  }
};

PRETEXT_TEST_AREA(TestMethodsPatch, "methods_patch")
#include "test_methods_patch.moc"
