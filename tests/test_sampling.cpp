// Batches: the sampler (deterministic per (seed, epoch)) and the prefetcher, synchronous
// (depth 0, the CPU path) and with its worker thread (depth >= 1, the accelerator path).
#include "test_main.h"
#include <torch/torch.h>

#include <memory>

#include "core/data/dataset.h"
#include "core/data/prefetcher.h"
#include "core/data/sampler.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;

namespace {

Dataset tinySamplingDataset(int n, bool labelled = true) {
  Dataset d;
  d.name = "tiny/train";
  d.images = torch::arange(n * 1 * 2 * 2, torch::kLong)
                 .remainder(256)
                 .to(torch::kUInt8)
                 .reshape({n, 1, 2, 2});
  if (labelled) d.labels = torch::arange(n, torch::kLong).remainder(3);
  d.classNames = {"a", "b", "c"};
  return d;
}

bool sameBatch(const Batch& a, const Batch& b) {
  if (!torch::equal(a.images, b.images)) return false;
  if (a.labels.defined() != b.labels.defined()) return false;
  return !a.labels.defined() || torch::equal(a.labels, b.labels);
}

}  // namespace

class TestSampling : public QObject {
  Q_OBJECT

 private slots:
  // ---- sampler ----
  void samplerPermutation() {
    BatchSampler a(10, 3, 42), b(10, 3, 42), c(10, 3, 43);
    QCOMPARE(a.batchesPerEpoch(), int64_t(3));
    auto epoch = [](BatchSampler& s, int64_t e) {
      std::vector<torch::Tensor> parts;
      for (int64_t i = 0; i < s.batchesPerEpoch(); ++i) parts.push_back(s.indices(e, i));
      return torch::cat(parts);
    };
    auto e0 = epoch(a, 0);
    QCOMPARE(e0.numel(), int64_t(9));
    QCOMPARE(std::get<0>(torch::_unique(e0)).numel(), int64_t(9));  // no repeats
    QVERIFY(torch::equal(e0, epoch(b, 0)));                         // deterministic
    QVERIFY(!torch::equal(e0, epoch(a, 1)));                        // epochs differ
    QVERIFY(!torch::equal(e0, epoch(c, 0)));                        // seeds differ
    // a fresh sampler asked straight for epoch 1 (resume) agrees
    BatchSampler d(10, 3, 42);
    QVERIFY(torch::equal(d.indices(1, 2), a.indices(1, 2)));
    // every index exactly once per epoch when the last batch is kept
    BatchSampler full(10, 3, 1, true, false);
    QCOMPARE(full.batchesPerEpoch(), int64_t(4));
    QCOMPARE(full.indices(0, 3).numel(), int64_t(1));
    auto all = std::get<0>(torch::sort(epoch(full, 2)));
    QVERIFY(torch::equal(all, torch::arange(10, torch::kLong)));
    BatchSampler ordered(5, 2, 9, false);
    QVERIFY(torch::equal(ordered.indices(3, 1), torch::tensor({2, 3}, torch::kLong)));
    PRETEXT_VERIFY_THROWS_WITH(a.indices(0, 3), "out of range");
    PRETEXT_VERIFY_THROWS_WITH(BatchSampler(10, 0, 1), "batch size 0");
  }

  // ---- prefetcher ----
  void prefetcherMatchesGather_data() {
    QTest::addColumn<int64_t>("startBatch");
    QTest::addColumn<int>("depth");
    QTest::addColumn<bool>("labelled");
    QTest::newRow("synchronous (CPU)") << int64_t(0) << 0 << true;
    QTest::newRow("worker thread") << int64_t(0) << 2 << true;
    QTest::newRow("resume mid-epoch") << int64_t(5) << 1 << true;
    QTest::newRow("deep, unlabelled") << int64_t(7) << 4 << false;
  }
  void prefetcherMatchesGather() {
    QFETCH(int64_t, startBatch);
    QFETCH(int, depth);
    QFETCH(bool, labelled);
    Dataset d = tinySamplingDataset(11, labelled);
    BatchSampler reference(11, 4, 3);  // 2 batches per epoch
    Prefetcher p(d, BatchSampler(11, 4, 3), torch::kCPU, startBatch, depth);
    for (int64_t n = startBatch; n < startBatch + 6; ++n) {
      Batch b = p.next();
      QCOMPARE(b.epoch, n / 2);
      QCOMPARE(b.index, n % 2);
      Batch expected = gatherBatch(d, reference.indices(n / 2, n % 2), torch::kCPU);
      QVERIFY(sameBatch(b, expected));
      QCOMPARE(b.images.scalar_type(), torch::kFloat);
      QCOMPARE(b.images.sizes().vec(), (std::vector<int64_t>{4, 1, 2, 2}));
      QCOMPARE(b.labels.defined(), labelled);
      // Each image's row in the data set travels with it (NPID's memory bank is keyed by it).
      QVERIFY(b.indices.equal(reference.indices(n / 2, n % 2)));
    }
  }

  void gatherValues() {
    Dataset d = tinySamplingDataset(5);
    Batch b = gatherBatch(d, torch::tensor({4, 0}, torch::kLong), torch::kCPU);
    QCOMPARE(b.images[0][0][1][1].item<float>(), 19.0f / 255.0f);
    QCOMPARE(b.images[1][0][0][0].item<float>(), 0.0f);
    QCOMPARE(b.labels[0].item<int64_t>(), int64_t(1));
    QVERIFY(b.indices.equal(torch::tensor({4, 0}, torch::kLong)));
  }

  void prefetcherStopsEarly() {
    Dataset d = tinySamplingDataset(64);
    for (int depth : {1, 3}) {
      auto p = std::make_unique<Prefetcher>(d, BatchSampler(64, 8, 1), torch::kCPU, 3, depth);
      p->next();
      QTest::qWait(5);  // let the worker fill the queue and block
      p.reset();        // must join cleanly
    }
    { Prefetcher never(d, BatchSampler(64, 8, 1), torch::kCPU); }  // destroyed before any next()
  }

  void prefetcherRethrows() {
    Dataset d = tinySamplingDataset(8);
    d.labels = d.labels.narrow(0, 0, 2);  // too few labels: gathering fails in the worker
    Prefetcher p(d, BatchSampler(8, 4, 1, false), torch::kCPU);
    bool thrown = false;
    try {
      p.next();
    } catch (const std::exception&) {
      thrown = true;
    }
    QVERIFY(thrown);
    PRETEXT_VERIFY_THROWS_WITH(Prefetcher(d, BatchSampler(8, 16, 1), torch::kCPU),
                               "smaller than one batch");
    PRETEXT_VERIFY_THROWS_WITH(Prefetcher(d, BatchSampler(9, 4, 1), torch::kCPU),
                               "covers 9 images");
  }
};

PRETEXT_TEST_AREA(TestSampling, "sampling")
#include "test_sampling.moc"
