// Video colorization (Vondrick et al. 2018) and tracking by label propagation: the copy attention
// and the colour-copy loss against values worked by hand, k-means, a step on real clips, the
// propagation and J by hand, and the optical-flow baseline on a moving square.
#include "test_main.h"
#include <torch/torch.h>

#include <QtTest>
#include <cmath>
#include <filesystem>

#include "core/data/video.h"
#include "core/eval/video_tracking.h"
#include "core/methods/registry.h"
#include "core/methods/video_colorization.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;

class TestMethodsVideo : public QObject {
  Q_OBJECT

 private slots:
  // Two reference pixels, one target pixel, two colour clusters, D = 2:
  //   target f = (1,0); references f1 = (2,0) in cluster 0, f2 = (0,1) in cluster 1.
  //   T = 1: logits f.f1 = 2, f.f2 = 0; A = (e^2, 1)/(e^2 + 1) = (0.880797, 0.119203).
  //   y = A [1 0; 0 1] = (0.880797, 0.119203).
  //   True cluster 0: L = -log 0.880797 = 0.126928;  true cluster 1: L = -log 0.119203 = 2.126928.
  //   T = 2: logits 1, 0; A = (e, 1)/(e + 1) = (0.731059, 0.268941); L(true 0) = 0.313262.
  //   Gradient at T = 1, true 0: dL/ds_j = A_j - [j = 0] = (-0.119203, 0.119203), and
  //   dL/df = sum_j dL/ds_j f_j / T = -0.119203 (2,0) + 0.119203 (0,1) = (-0.238406, 0.119203).
  //   Both references in cluster 0: y = (1, 0), L = -log 1 = 0.
  void lossMatchesHandValues() {
    auto target = torch::tensor({1.0f, 0.0f}).view({1, 2, 1}).requires_grad_(true);
    auto refs = torch::tensor({2.0f, 0.0f, 0.0f, 1.0f}).view({2, 2}).t().contiguous().view({1, 2, 2});
    auto A = copyAttention(target, refs, 1.0);
    QVERIFY(test::close(A.detach().view({2}), torch::tensor({0.880797f, 0.119203f}), 1e-5));
    auto refCl = torch::tensor({0, 1}, torch::kLong).view({1, 2});
    auto t0 = torch::tensor({0}, torch::kLong).view({1, 1}), t1 = torch::tensor({1}, torch::kLong).view({1, 1});
    auto loss = colourCopyLoss(A, refCl, t0, 2);
    QCOMPARE_LT(std::abs(loss.item<double>() - 0.126928), 1e-5);
    QCOMPARE_LT(std::abs(colourCopyLoss(A, refCl, t1, 2).item<double>() - 2.126928), 1e-5);
    QCOMPARE_LT(std::abs(colourCopyLoss(copyAttention(target, refs, 2.0), refCl, t0, 2).item<double>() - 0.313262), 1e-5);
    loss.backward();
    QVERIFY(test::close(target.grad().view({2}), torch::tensor({-0.238406f, 0.119203f}), 1e-5));
    QCOMPARE_LT(colourCopyLoss(A, torch::zeros({1, 2}, torch::kLong), t0, 2).item<double>(), 1e-6);
  }

  // Two blobs far apart: k-means finds their centres, the same generator the same answer.
  void kmeansFindsBlobs() {
    torch::manual_seed(1);
    auto pts = torch::cat({torch::randn({50, 2}) * 0.1 + torch::tensor({-5.0f, 0.0f}),
                           torch::randn({70, 2}) * 0.1 + torch::tensor({5.0f, 2.0f})});
    auto gen = at::detail::createCPUGenerator(7);
    auto c = kmeans(pts, 2, 10, gen);
    auto order = c.select(1, 0).argsort();
    c = c.index_select(0, order);
    QVERIFY(test::close(c[0], pts.slice(0, 0, 50).mean(0), 1e-4));
    QVERIFY(test::close(c[1], pts.slice(0, 50).mean(0), 1e-4));
    auto gen2 = at::detail::createCPUGenerator(7);
    QVERIFY(kmeans(pts, 2, 10, gen2).index_select(0, order).equal(c));
    PRETEXT_VERIFY_THROWS_WITH(kmeans(pts.slice(0, 0, 1), 2, 10, gen), "too few");
  }

  // Propagation by hand: frame 0 has two locations, a = (1,0) labelled 1 and b = (0,1) labelled 0;
  // frame 1's locations are (0,5) and (5,0), the two swapped. Location 0 of frame 1:
  // logits (0, 5) -> A = (0.006693, 0.993307): y = 0.006693 (0,1) + 0.993307 (1,0)
  //                                              = (0.993307, 0.006693): background.
  // Location 1: logits (5, 0) -> y = (0.006693, 0.993307): object 1. The labels follow the features.
  void propagationByHand() {
    auto emb = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f,    // frame 0: channel 0 = (1,0), channel 1 = (0,1)
                              0.0f, 5.0f, 5.0f, 0.0f})   // frame 1: channel 0 = (0,5), channel 1 = (5,0)
                   .view({2, 2, 1, 2});
    auto labels0 = torch::tensor({0.0f, 1.0f, 1.0f, 0.0f}).view({2, 1, 2});  // [C=2,h=1,w=2]
    auto y = propagateLabels(emb, labels0, TrackOptions());
    QVERIFY(test::close(y[0], labels0));
    QVERIFY(test::close(y[1].view({2, 2}), torch::tensor({0.993307f, 0.006693f, 0.006693f, 0.993307f}).view({2, 2}), 1e-5));
    // top-1 keeps each location's strongest pointer alone: hard labels.
    auto hard = propagateLabels(emb, labels0, TrackOptions().topK(1));
    QVERIFY(test::close(hard[1].view({2, 2}), torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({2, 2})));
    PRETEXT_VERIFY_THROWS_WITH(propagateLabels(emb, labels0.slice(2, 0, 1), TrackOptions()), "same grid");
    // The radius: on a 1x3 grid (D = 1) frame 0 is (0, 0, 5) with labels (0, 0, 1); frame 1's
    // location 0 is 5. Anywhere: logits (0, 0, 25), weights (1, 1, e^25) / (2 + e^25): label 1.
    // Within 1 cell it sees locations 0 and 1 only, logits (0, 0): label 0 exactly.
    auto line = torch::tensor({0.0f, 0.0f, 5.0f, 5.0f, 0.0f, 0.0f}).view({2, 1, 1, 3});
    auto lab3 = torch::tensor({1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f}).view({2, 1, 3});
    QVERIFY(propagateLabels(line, lab3, TrackOptions())[1][1][0][0].item<double>() > 0.999);
    QCOMPARE(propagateLabels(line, lab3, TrackOptions().radius(1))[1][0][0][0].item<double>(), 1.0);
  }

  // J by hand: frame 1 of truth has object 1 on 4 pixels, the prediction on 2 of them plus 2
  // others: IoU 2/6. Object 2 is absent in the truth of frame 1: not scored. Frame 0 is never scored.
  void jaccardByHand() {
    auto truth = torch::zeros({2, 4, 4}, torch::kUInt8), pred = torch::zeros({2, 4, 4}, torch::kUInt8);
    truth[1].slice(0, 0, 2).slice(1, 0, 2).fill_(1);  // 4 pixels
    pred[1].slice(0, 0, 1).slice(1, 0, 4).fill_(1);   // row 0: 2 shared, 2 extra
    pred[1][3][3] = 2;                                // object 2 where the truth has none
    Jaccard j;
    j.add(pred, truth, 2);
    QCOMPARE(j.count, int64_t(1));
    QCOMPARE_LT(std::abs(j.mean() - 2.0 / 6.0), 1e-9);
    // Label distributions: area shares per cell.
    auto d = labelDistributions(truth.slice(0, 1, 2), 2, 2);  // [1,3,2,2]
    QVERIFY(test::close(d[0][1], torch::tensor({1.0f, 0.0f, 0.0f, 0.0f}).view({2, 2})));
    QVERIFY(test::close(labelMaps(d, 4)[0], truth[1].to(torch::kUInt8)));
  }

  // The flow baseline follows a textured square moving 2 px per frame over a still textured
  // background, where copying frame 0 loses it.
  void flowBaselineFollowsMotion() {
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV");
#else
    torch::manual_seed(2);
    const int64_t T = 5, S = 48;
    auto bg = F_smooth(torch::rand({1, 1, S, S}));
    auto tex = F_smooth(torch::rand({1, 1, 14, 14})) * 0.5 + 0.5;
    auto frames = torch::empty({T, 3, S, S}, torch::kUInt8);
    auto masks = torch::zeros({T, S, S}, torch::kUInt8);
    for (int64_t t = 0; t < T; ++t) {
      auto f = bg.clone();
      const int64_t x = 8 + 2 * t, y = 10 + t;
      f.slice(2, y, y + 14).slice(3, x, x + 14).copy_(tex);
      masks[t].slice(0, y, y + 14).slice(1, x, x + 14).fill_(1);
      frames[t].copy_((f[0] * 255).round().to(torch::kUInt8).expand({3, S, S}));
    }
    Jaccard flow, copy;
    flow.add(flowPropagateMasks(frames, masks[0]), masks, 1);
    copy.add(copyFirstMasks(masks[0], T), masks, 1);
    QVERIFY2(flow.mean() > copy.mean() + 0.15, qPrintable(QString("flow %1, copy %2").arg(flow.mean()).arg(copy.mean())));
#endif
  }

  // A step on real moving-fashion clips: finite loss near log K at init, gradients into the
  // encoder, k-means clusters, pictures, and a few steps on one batch lower the loss.
  void stepsOnClipsAndLearns() {
    if (!std::filesystem::exists(defaultFashionMnistDir()) || !std::filesystem::exists(defaultPhotosDir()))
      QSKIP("the built-in Fashion-MNIST or photos are not installed");
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV");
#endif
    Clips clips = movingFashion(MovingFashionOptions().clips(8).frames(3).size(32).objects(2));
    Dataset train = clipsAsDataset(clips);
    MethodSetup s = test::tinySetup({{"clusters", 8}, {"embedding_dim", 16}}, 3, 32);
    s.frames = 3;
    torch::manual_seed(0);
    auto method = makeMethod("video-colorization", s);
    auto gen = at::detail::createCPUGenerator(1);
    QVERIFY(method->beginEpoch({&train, torch::kCPU, 0, &gen}).find("8 colour clusters") != std::string::npos);
    QCOMPARE(videoColourClusters(*method).sizes(), torch::IntArrayRef({8, 2}));
    Batch b;
    b.images = train.images.to(torch::kFloat) / 255;
    AugmentOptions aug;
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    torch::optim::Adam opt(method->parameters(), torch::optim::AdamOptions(3e-3));
    double first = 0, last = 0;
    for (int i = 0; i < 25; ++i) {
      auto r = method->step(b, ctx);
      if (i == 0) {
        first = r.loss.item<double>();
        QVERIFY(std::isfinite(first));
        QVERIFY(std::isfinite(test::metric(r, "cluster_acc")));
      }
      last = r.loss.item<double>();
      opt.zero_grad();
      r.loss.backward();
      if (i == 0) {
        double g = 0;
        for (auto& p : method->encoder()->parameters())
          if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
        QVERIFY(g > 0);
      }
      opt.step();
    }
    QVERIFY2(last < 0.8 * first, qPrintable(QString("%1 -> %2").arg(first).arg(last)));
    method->eval();
    auto emb = videoEmbeddings(*method, clips.frames[0].to(torch::kFloat) / 255);
    QCOMPARE(emb.sizes(), torch::IntArrayRef({3, 16, 8, 8}));
    auto previews = method->previews(b.images.slice(0, 0, 4), gen, {});
    QCOMPARE(int(previews.size()), 2);
    QCOMPARE(previews[1].images.sizes(), torch::IntArrayRef({4 * 6, 3, 32, 32}));  // colour copying
    // Where one pixel copies from: the target with its cell boxed, then each reference under the
    // attention overlay; the slider moves the box (cell (0,0): its border starts at pixel (0,0)).
    auto corner = method->previews(b.images.slice(0, 0, 4), gen, {{"pixel_x", 0.0}, {"pixel_y", 0.0}});
    QCOMPARE(corner[0].images.sizes(), torch::IntArrayRef({3 * 3, 3, 32, 32}));  // 3 clips: target, 2 references
    QVERIFY(corner[0].caption.find("cell (0, 0)") != std::string::npos);
    QVERIFY(test::close(corner[0].images[0].select(1, 0).select(1, 0), torch::tensor({1.0f, 0.9f, 0.0f})));
    QCOMPARE(method->features(b.images).size(0), int64_t(8));
    // Still images are refused, and a still-image method refuses clips.
    MethodSetup still = test::tinySetup({}, 3, 32);
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("video-colorization", still), "moving-fashion");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("rotation", s), "video-colorization");
  }

 private:
  static torch::Tensor F_smooth(const torch::Tensor& x) {
    return torch::nn::functional::avg_pool2d(x, torch::nn::functional::AvgPool2dFuncOptions(3).stride(1).padding(1));
  }
};

PRETEXT_TEST_AREA(TestMethodsVideo, "methods_video")
#include "test_methods_video.moc"
