// Clustering methods (SwAV): Sinkhorn-Knopp and the swapped prediction against values worked
// out by hand, a loop transcription of the official algorithm, purity, and the method's step,
// multi-crop, queue and pictures.
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "core/methods/deepcluster.h"
#include "core/methods/registry.h"
#include "core/methods/swav.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;
using pretext::test::metric;

namespace {

// The official code's distributed_sinkhorn on one process, transcribed with loops.
std::vector<std::vector<double>> sinkhornLoops(const std::vector<std::vector<double>>& scores, double eps, int iters) {
  const size_t B = scores.size(), K = scores[0].size();
  std::vector<std::vector<double>> Q(K, std::vector<double>(B));  // Q = exp(out / eps).t()
  double total = 0;
  for (size_t k = 0; k < K; ++k)
    for (size_t b = 0; b < B; ++b) total += Q[k][b] = std::exp(scores[b][k] / eps);
  for (auto& row : Q)
    for (double& v : row) v /= total;
  for (int it = 0; it < iters; ++it) {
    for (size_t k = 0; k < K; ++k) {
      double rowSum = 0;
      for (double v : Q[k]) rowSum += v;
      for (double& v : Q[k]) v = v / rowSum / double(K);
    }
    for (size_t b = 0; b < B; ++b) {
      double colSum = 0;
      for (size_t k = 0; k < K; ++k) colSum += Q[k][b];
      for (size_t k = 0; k < K; ++k) Q[k][b] = Q[k][b] / colSum / double(B);
    }
  }
  std::vector<std::vector<double>> out(B, std::vector<double>(K));
  for (size_t b = 0; b < B; ++b)
    for (size_t k = 0; k < K; ++k) out[b][k] = Q[k][b] * double(B);
  return out;
}

MethodSetup swavSetup(nlohmann::json params = nlohmann::json::object()) {
  params["prototypes"] = params.value("prototypes", 6);
  params["proj_hidden"] = 16;
  params["proj_dim"] = 8;
  return test::tinySetup(params);
}

}  // namespace

class TestMethodsCluster : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // Two images that both prefer prototype 0 by the same margin: exp(s/eps) is
  // [[e^20, e^20], [1, 1]] (prototypes x images); after the first row step every entry is
  // 1/(2K) = 1/4 and the columns already hold 1/B = 1/2 each, so Q = [[1/2, 1/2], [1/2, 1/2]]:
  // Sinkhorn splits them evenly between the prototypes. The plain softmax (no equipartition)
  // sends both to prototype 0.
  void sinkhornSplitsAPrototypeBothPrefer() {
    const auto s = torch::tensor({{1.0, 0.0}, {1.0, 0.0}}, torch::kDouble);
    const auto q = sinkhornKnopp(s, 0.05, 3);
    QVERIFY(torch::allclose(q, torch::full({2, 2}, 0.5, torch::kDouble), 0, 1e-12));
    const auto soft = torch::softmax(s / 0.05, 1);
    QVERIFY(soft.select(1, 0).min().item<double>() > 0.999);
  }

  // scores [[1,0],[0,1]], eps = 1: exp gives the symmetric [[e,1],[1,e]], whose rows and
  // columns already balance, so each image keeps its softmax: q = [e, 1] / (e + 1) and mirrored.
  void sinkhornHandWorkedSymmetric() {
    const auto q = sinkhornKnopp(torch::tensor({{1.0, 0.0}, {0.0, 1.0}}, torch::kDouble), 1.0, 3);
    const double e = std::exp(1.0), a = e / (e + 1), b = 1 / (e + 1);
    QVERIFY(torch::allclose(q, torch::tensor({{a, b}, {b, a}}, torch::kDouble), 0, 1e-12));
  }

  // An uneven 5 x 3 case against the loop transcription, and the equipartition it converges to.
  void sinkhornMatchesLoopsAndBalances() {
    const std::vector<std::vector<double>> s = {
        {0.9, 0.1, -0.3}, {0.8, 0.2, 0.0}, {0.7, -0.5, 0.4}, {0.95, 0.3, 0.2}, {-0.2, 0.6, 0.1}};
    auto t = torch::empty({5, 3}, torch::kDouble);
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t k = 0; k < 3; ++k) t[i][k] = s[i][k];
    for (int iters : {1, 3}) {
      const auto q = sinkhornKnopp(t, 0.05, iters);
      const auto ref = sinkhornLoops(s, 0.05, iters);
      for (int64_t i = 0; i < 5; ++i)
        for (int64_t k = 0; k < 3; ++k) QVERIFY(std::abs(q[i][k].item<double>() - ref[i][k]) < 1e-12);
      QVERIFY(torch::allclose(q.sum(1), torch::ones({5}, torch::kDouble), 0, 1e-12));  // rows: assignments
    }
    // Many iterations: every prototype gets B/K = 5/3 of the batch.
    const auto q = sinkhornKnopp(t, 0.05, 200);
    QVERIFY(torch::allclose(q.sum(0), torch::full({3}, 5.0 / 3.0, torch::kDouble), 0, 1e-9));
    // Float scores stay finite at a small epsilon (exp of 1/0.01 would overflow unshifted).
    QVERIFY(torch::isfinite(sinkhornKnopp(t.to(torch::kFloat), 0.01, 3)).all().item<bool>());
  }

  // K = 2, T = 1: scores1 = [0, ln 3] -> p1 = [1/4, 3/4]; scores2 = [0, 0] -> p2 = [1/2, 1/2];
  // q1 = [1, 0], q2 = [0, 1]. L = -1/2 [ q2.log p1 + q1.log p2 ] = -1/2 (ln 3/4 + ln 1/2)
  // = -1/2 ln(3/8) = 0.49041...
  void swappedLossHandWorked() {
    const auto s1 = torch::tensor({{0.0, std::log(3.0)}}, torch::kDouble);
    const auto s2 = torch::tensor({{0.0, 0.0}}, torch::kDouble);
    const auto q1 = torch::tensor({{1.0, 0.0}}, torch::kDouble);
    const auto q2 = torch::tensor({{0.0, 1.0}}, torch::kDouble);
    const double l = swavSwappedLoss(s1, s2, q1, q2, 1.0).item<double>();
    QVERIFY2(std::abs(l + 0.5 * std::log(3.0 / 8.0)) < 1e-12, qPrintable(QString::number(l)));
    // T = 0.5 doubles the scores: p1 = [1/10, 9/10].
    const double l2 = swavSwappedLoss(s1, s2, q1, q2, 0.5).item<double>();
    QVERIFY(std::abs(l2 + 0.5 * (std::log(0.9) + std::log(0.5))) < 1e-12);
    // The targets get no gradient, the scores do.
    auto a = s1.clone().requires_grad_(true);
    auto qa = q1.clone().requires_grad_(true);
    swavSwappedLoss(a, s2, qa, q2, 1.0).backward();
    QVERIFY(a.grad().defined() && !qa.grad().defined());
  }

  void purityCountsTheMajorityLabel() {
    // Cluster 0: 3 of label 0, 1 of label 1; cluster 1: 4 of label 1: (3 + 4) / 8.
    QCOMPARE(clusterPurity(torch::tensor({{3.0, 1.0}, {0.0, 4.0}})).item<float>(), 0.875f);
  }

  // The step's loss is the swapped prediction of the two views' scores against their Sinkhorn
  // assignments, recomputed here from the same augmentations.
  void stepMatchesTheFormula() {
    torch::manual_seed(4);
    MethodSetup setup = swavSetup({{"freeze_prototypes_steps", 0}});
    setup.numClasses = 3;
    auto method = makeMethod("swav", setup);
    method->train();
    Batch b;
    b.images = torch::rand({8, 1, 16, 16});
    b.labels = torch::tensor({0, 1, 2, 0, 1, 2, 0, 1}, torch::kLong);
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(7);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    auto r = method->step(b, ctx);
    auto gen2 = at::detail::createCPUGenerator(7);
    auto v1 = augmentBatch(b.images, aug, gen2);
    auto v2 = augmentBatch(b.images, aug, gen2);
    auto projector = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(method->named_children()["projector"]);
    auto prototypes = std::dynamic_pointer_cast<torch::nn::LinearImpl>(method->named_children()["prototypes"]);
    QVERIFY(projector && prototypes);
    QVERIFY(torch::allclose(prototypes->weight.norm(2, 1), torch::ones({6}), 0, 1e-5));  // unit prototypes
    auto z = torch::nn::functional::normalize(projector->forward(method->encoder()->forward(torch::cat({v1, v2}, 0))),
                                              torch::nn::functional::NormalizeFuncOptions().dim(1));
    auto s = torch::matmul(z, prototypes->weight.t());
    auto s1 = s.slice(0, 0, 8), s2 = s.slice(0, 8, 16);
    const double expected =
        swavSwappedLoss(s1, s2, sinkhornKnopp(s1, 0.05, 3), sinkhornKnopp(s2, 0.05, 3), 0.1).item<double>();
    QVERIFY2(std::abs(r.loss.item<double>() - expected) < 1e-4 * (1 + expected),
             qPrintable(QString("%1 vs %2").arg(r.loss.item<double>()).arg(expected)));
    const double used = metric(r, "prototypes_used");
    QVERIFY(used >= 1 && used <= 6);
    const double purity = metric(r, "cluster_purity");
    QVERIFY(purity >= 3.0 / 8.0 - 1e-6 && purity <= 1);  // at least the largest class's share
    QVERIFY(!std::isnan(metric(r, "emb_std")));
    r.loss.backward();
    QVERIFY(prototypes->weight.grad().defined());
  }

  // Frozen prototypes: no gradient reaches them during the first steps.
  void prototypesFrozenAtFirst() {
    auto method = makeMethod("swav", swavSetup({{"freeze_prototypes_steps", 5}}));
    method->train();
    Batch b;
    b.images = torch::rand({8, 1, 16, 16});
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(1);
    StepContext ctx{4, 0, 0.0, &gen, &aug};
    method->step(b, ctx).loss.backward();
    auto prototypes = std::dynamic_pointer_cast<torch::nn::LinearImpl>(method->named_children()["prototypes"]);
    QVERIFY(!prototypes->weight.grad().defined() || prototypes->weight.grad().abs().sum().item<double>() == 0);
    QVERIFY(method->encoder()->parameters()[0].grad().defined());
    StepContext later{5, 0, 0.0, &gen, &aug};
    method->step(b, later).loss.backward();
    QVERIFY(prototypes->weight.grad().abs().sum().item<double>() > 0);
  }

  // Multi-crop (small crops at 8 px) and the queue (used once full) train; a ViT is refused.
  void multiCropAndQueue() {
    auto method = makeMethod("swav", swavSetup({{"small_crops", 2}, {"small_crop_size", 8}, {"queue_length", 16}}));
    method->train();
    Batch b;
    b.images = torch::rand({8, 1, 16, 16});
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(3);
    for (int64_t step = 0; step < 3; ++step) {  // the queue (16 rows) is full after two steps
      StepContext ctx{step, 0, 0.0, &gen, &aug};
      auto r = method->step(b, ctx);
      QVERIFY(std::isfinite(r.loss.item<double>()));
      r.loss.backward();
    }
    const auto buffers = method->named_buffers();
    QCOMPARE(buffers["queue_fill"].item<int64_t>(), int64_t(16));
    QCOMPARE(buffers["queue"].sizes().vec(), (std::vector<int64_t>{2, 16, 8}));
    MethodSetup vit = swavSetup({{"small_crops", 2}});
    vit.backbone.name("vit");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("swav", vit), "multi-crop needs a convolutional backbone");
  }

  // The picture: rows of prototypes with their highest-scoring images of the last batch.
  void previewShowsPrototypesImages() {
    auto method = makeMethod("swav", swavSetup());
    method->train();
    Batch b;
    b.images = torch::rand({24, 1, 16, 16});
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(2);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    method->step(b, ctx);
    method->eval();
    QCOMPARE(method->previewImageCount(), int64_t(256));
    auto previews = method->previews(torch::rand({24, 1, 16, 16}), gen, {});
    QCOMPARE(previews.size(), size_t(1));
    const Preview& p = previews[0];
    QCOMPARE(p.name, std::string("prototypes"));
    QCOMPARE(p.columns, int64_t(8));
    QVERIFY(p.images.size(0) >= 8 && p.images.size(0) % 8 == 0);
    QCOMPARE(p.labels.size(), size_t(p.images.size(0)));
    QVERIFY(p.caption.find("the 24 test images") != std::string::npos);
    QVERIFY(p.caption.find("of 6 prototypes") != std::string::npos);
  }

  // DeepCluster's pieces. Three tight blobs: k-means finds them (NMI with the truth 1).
  void kMeansFindsBlobs() {
    auto gen = at::detail::createCPUGenerator(3);
    std::vector<torch::Tensor> points;
    std::vector<int64_t> truth;
    const double centres[3][2] = {{0, 0}, {10, 0}, {0, 10}};
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 10; ++i) {
        points.push_back(torch::tensor({centres[c][0] + 0.1 * (i % 3), centres[c][1] + 0.1 * (i / 3)}));
        truth.push_back(c);
      }
    const auto x = torch::stack(points).to(torch::kFloat);
    const auto km = kMeans(x, 3, 10, gen);
    QCOMPARE(normalizedMutualInformation(km.assignments, torch::tensor(truth)), 1.0);
    QCOMPARE(km.centroids.size(0), int64_t(3));
    PRETEXT_VERIFY_THROWS_WITH(kMeans(x, 31, 2, gen), "31 clusters need at least as many points");
  }

  // Two places, three clusters: two starting centroids coincide, one of them gets nothing and
  // is re-seeded by splitting the largest cluster.
  void kMeansReseedsEmptyClusters() {
    auto gen = at::detail::createCPUGenerator(1);
    const auto x = torch::cat({torch::zeros({5, 2}), torch::full({5, 2}, 10.0)});
    const auto km = kMeans(x, 3, 5, gen);
    QVERIFY(km.reseeded >= 1);
    QCOMPARE(km.assignments.size(0), int64_t(10));
    QVERIFY(torch::isfinite(km.centroids).all().item<bool>());
  }

  // Variances 4.5 (x) and 0.5 (y) about the mean: the top component is the x axis; whitened and
  // l2-normalised, the two x points become +-1 and the y points 0 (nothing left of them).
  void pcaWhitenKeepsTheTopComponents() {
    const auto x = torch::tensor({{3.0, 0.0}, {-3.0, 0.0}, {0.0, 1.0}, {0.0, -1.0}});
    const auto y = pcaWhiten(x, 1);
    QCOMPARE(y.sizes().vec(), (std::vector<int64_t>{4, 1}));
    QVERIFY(torch::allclose(y.abs().flatten(), torch::tensor({1.0f, 1.0f, 0.0f, 0.0f}), 0, 1e-5));
    QVERIFY(y[0][0].item<float>() == -y[1][0].item<float>());
    const auto all = pcaWhiten(x, 0);
    QVERIFY(torch::allclose(all.norm(2, 1), torch::ones({4}), 0, 1e-5));
  }

  // a = [0,0,1,1], b = [0,1,0,1]: the joint is uniform, p(a)p(b) = 1/4 = p(a,b): MI 0.
  void mutualInformationByHand() {
    const auto a = torch::tensor({0, 0, 1, 1}, torch::kLong);
    QCOMPARE(normalizedMutualInformation(a, torch::tensor({0, 1, 0, 1}, torch::kLong)), 0.0);
    QCOMPARE(normalizedMutualInformation(a, torch::tensor({5, 5, 2, 2}, torch::kLong)), 1.0);  // renamed
    QCOMPARE(normalizedMutualInformation(a, torch::tensor({0, 0, 0, 0}, torch::kLong)), 0.0);
  }

  // An epoch's start clusters the training set; the step learns those clusters, balanced.
  void deepClusterClustersThenClassifies() {
    torch::manual_seed(5);
    Dataset train;
    train.images = (torch::rand({40, 1, 16, 16}) * 255).to(torch::kUInt8);
    train.labels = torch::arange(40, torch::kLong).remainder(4);
    train.classNames = {"a", "b", "c", "d"};
    MethodSetup setup = test::tinySetup({{"clusters", 4}, {"pca_dim", 8}, {"kmeans_iterations", 5}});
    setup.numClasses = 4;
    setup.trainImages = 40;
    auto method = makeMethod("deepcluster", setup);
    Batch b;
    b.images = train.images.slice(0, 0, 8).to(torch::kFloat).div(255);
    b.indices = torch::arange(8, torch::kLong);
    AugmentOptions aug = augmentPreset("none");
    auto gen = at::detail::createCPUGenerator(2);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    PRETEXT_VERIFY_THROWS_WITH(method->step(b, ctx), "no clustering yet");
    auto epochGen = at::detail::createCPUGenerator(9);
    const std::string note = method->beginEpoch({&train, torch::kCPU, 0, &epochGen});
    QVERIFY2(note.find("k-means of 40 images into 4 clusters") != std::string::npos, note.c_str());
    QVERIFY2(note.find("purity") != std::string::npos, note.c_str());
    const auto buffers = method->named_buffers();
    const auto assignments = buffers["assignments"];
    QCOMPARE(assignments.size(0), int64_t(40));
    QVERIFY(assignments.min().item<int64_t>() >= 0 && assignments.max().item<int64_t>() < 4);
    const auto weights = buffers["cluster_weights"];
    const auto counts = torch::bincount(assignments, {}, 4).to(torch::kFloat);
    QVERIFY(torch::allclose(weights * counts.clamp_min(1), torch::full({4}, 10.0f).where(counts.gt(0), torch::zeros({4}))));
    method->train();
    auto r = method->step(b, ctx);
    // The loss: the balanced cross-entropy of the classifier against the batch's clusters.
    auto classifier = std::dynamic_pointer_cast<torch::nn::LinearImpl>(method->named_children()["classifier"]);
    const auto logits = classifier->forward(method->encoder()->forward(b.images));
    const auto targets = assignments.index_select(0, b.indices);
    const double expected = torch::nn::functional::cross_entropy(
        logits, targets, torch::nn::functional::CrossEntropyFuncOptions().weight(weights)).item<double>();
    QVERIFY2(std::abs(r.loss.item<double>() - expected) < 1e-5, qPrintable(QString("%1 vs %2").arg(r.loss.item<double>()).arg(expected)));
    QVERIFY(metric(r, "cluster_purity") >= 0.25 && metric(r, "cluster_purity") <= 1);
    // The next epoch compares its clusters with these.
    QVERIFY(method->beginEpoch({&train, torch::kCPU, 1, &epochGen}).find("with the previous epoch's clusters") != std::string::npos);
    auto previews = method->previews(b.images, gen, {});
    QCOMPARE(previews.size(), size_t(1));
    QCOMPARE(previews[0].columns, int64_t(8));
    QCOMPARE(previews[0].images.size(0) % 8, int64_t(0));
    Batch noIndices;
    noIndices.images = b.images;
    PRETEXT_VERIFY_THROWS_WITH(method->step(noIndices, ctx), "training-set indices");
  }

  // The paper's fixed Sobel front, worked by hand on a 3x3 image (zero padding 1, cross-
  // correlation as nn.Conv2d): x = [[1,2,3],[4,5,6],[7,8,9]].
  //   centre: Gx = (1 - 3) + 2 (4 - 6) + (7 - 9) = -8;  Gy = (1 + 2*2 + 3) - (7 + 2*8 + 9) = -24
  //   top-left, its window [[0,0,0],[0,1,2],[0,4,5]]: Gx = -2*2 - 5 = -9;  Gy = -(2*4 + 5) = -13
  //   top-centre, window [[0,0,0],[1,2,3],[4,5,6]]: Gx = 2 (1 - 3) + (4 - 6) = -6;
  //                                               Gy = -(4 + 2*5 + 6) = -20
  // A colour image goes gray first (the mean of its channels): (3x, 0, 0) is x.
  void sobelFilterByHand() {
    const auto x = torch::arange(1, 10, torch::kFloat).view({1, 1, 3, 3});
    const auto g = sobelGradients(x);
    QCOMPARE(g.sizes().vec(), (std::vector<int64_t>{1, 2, 3, 3}));
    QCOMPARE(g[0][0][1][1].item<float>(), -8.f);
    QCOMPARE(g[0][1][1][1].item<float>(), -24.f);
    QCOMPARE(g[0][0][0][0].item<float>(), -9.f);
    QCOMPARE(g[0][1][0][0].item<float>(), -13.f);
    QCOMPARE(g[0][0][0][1].item<float>(), -6.f);
    QCOMPARE(g[0][1][0][1].item<float>(), -20.f);
    // Symmetry: the right column's Gx mirrors the left's (top-right: 2*2 + 5 = 9).
    QCOMPARE(g[0][0][0][2].item<float>(), 9.f);
    const auto rgb = torch::cat({3 * x, torch::zeros_like(x), torch::zeros_like(x)}, 1);
    QVERIFY(torch::allclose(sobelGradients(rgb), g, 0, 1e-5));
    // A flat image has no gradient inside; its border sees the zero padding.
    const auto flat = sobelGradients(torch::full({1, 1, 4, 4}, 0.5f));
    QVERIFY(flat.slice(2, 1, 3).slice(3, 1, 3).abs().max().item<float>() == 0.f);
    PRETEXT_VERIFY_THROWS_WITH(sobelGradients(torch::zeros({3, 3})), "expected images [N,C,H,W]");
  }

  // sobel = true: the encoder is the filter then a 2-channel backbone, the filter is a buffer no
  // optimiser sees and a training step leaves it as it was; sobel = false keeps the plain backbone.
  void deepClusterSobelIsFixedAndPartOfTheEncoder() {
    torch::manual_seed(3);
    Dataset train;
    train.images = (torch::rand({24, 1, 16, 16}) * 255).to(torch::kUInt8);
    MethodSetup setup = test::tinySetup({{"clusters", 3}, {"pca_dim", 4}, {"kmeans_iterations", 3}, {"sobel", true}});
    setup.trainImages = 24;
    auto method = makeMethod("deepcluster", setup);
    auto sobel = std::dynamic_pointer_cast<SobelEncoder>(method->encoder());
    QVERIFY(sobel != nullptr);
    for (const auto& p : method->named_parameters()) QVERIFY2(p.key().find("sobel") == std::string::npos, p.key().c_str());
    const auto kernel = method->named_buffers()["encoder.sobel"];
    QVERIFY(kernel.defined() && !kernel.requires_grad());
    const auto before = kernel.clone();
    // The backbone's first convolution reads the 2 gradient channels.
    const auto firstConv = sobel->inner().parameters().front();
    QCOMPARE(firstConv.dim(), int64_t(4));
    QCOMPARE(firstConv.size(1), int64_t(2));
    // What the probes read: the backbone on 0.5 + G/8.
    const auto images = train.images.slice(0, 0, 8).to(torch::kFloat).div(255);
    method->eval();
    {
      torch::NoGradGuard ng;
      QVERIFY(test::close(method->features(images), sobel->inner().forward(sobelGradients(images) / 8 + 0.5)));
    }
    method->train();
    auto epochGen = at::detail::createCPUGenerator(4);
    method->beginEpoch({&train, torch::kCPU, 0, &epochGen});
    Batch b;
    b.images = images;
    b.indices = torch::arange(8, torch::kLong);
    AugmentOptions aug = augmentPreset("none");
    auto gen = at::detail::createCPUGenerator(2);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    auto params = method->trainableParameters();
    for (const auto& p : params) QVERIFY(!p.is_same(kernel));
    torch::optim::Adam opt(params, torch::optim::AdamOptions(0.1));
    for (int i = 0; i < 2; ++i) {
      opt.zero_grad();
      method->step(b, ctx).loss.backward();
      opt.step();
    }
    QVERIFY(!kernel.grad().defined());
    QVERIFY(torch::equal(method->named_buffers()["encoder.sobel"], before));
    QCOMPARE(before[0][0][1][0].item<float>(), 2.f);   // Gx's middle row: 2 0 -2
    QCOMPARE(before[1][0][2][1].item<float>(), -2.f);  // Gy's bottom row: -1 -2 -1
    // Off (the default): the plain one-channel backbone, no filter.
    auto plain = makeMethod("deepcluster", test::tinySetup({{"clusters", 3}}));
    QVERIFY(std::dynamic_pointer_cast<SobelEncoder>(plain->encoder()) == nullptr);
    QVERIFY(!plain->named_buffers().contains("encoder.sobel"));
  }

  void registeredWithItsSchema() {
    const MethodInfo& info = MethodRegistry::instance().get("swav");
    QCOMPARE(info.family, std::string("clustering"));
    QVERIFY(info.paper.find("Caron") != std::string::npos);
    const auto params = resolveParams(info, nlohmann::json::object());
    QCOMPARE(params["epsilon"].get<double>(), 0.05);
    QCOMPARE(params["sinkhorn_iterations"].get<int64_t>(), int64_t(3));
    QCOMPARE(params["temperature"].get<double>(), 0.1);
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(info, {{"epsilon", 0}}), "method.params.epsilon");
  }
};

PRETEXT_TEST_AREA(TestMethodsCluster, "methods_cluster")
#include "test_methods_cluster.moc"
