// MoCo v2: the InfoNCE loss against values worked out by hand, the queue (ring buffer with a
// wrapping pointer), the momentum encoder (exact copy, exact update, no gradient), the symmetric
// loss recomputed from its parts, and the checkpoint round trip of queue, pointer and key network.
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "core/methods/moco.h"
#include "core/methods/registry.h"
#include "core/models/backbone.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;

namespace {

std::shared_ptr<Method> makeMoco(const nlohmann::json& params) {
  MethodSetup s;
  s.channels = 1;
  s.imageSize = 16;
  s.backbone.width(4);
  s.params = params;
  return makeMethod("moco", s);
}

torch::Tensor buffer(Method& m, const std::string& name) { return m.named_buffers()[name]; }

torch::Tensor mocoForwardChild(Method& m, const std::string& encoder, const std::string& projector,
                           const torch::Tensor& x) {
  auto enc = std::dynamic_pointer_cast<Encoder>(m.named_children()[encoder]);
  auto proj = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(m.named_children()[projector]);
  return proj->forward(enc->forward(x));
}

torch::Tensor unit(const torch::Tensor& z) { return z / z.norm(2, 1, true); }

struct Stepper {
  AugmentOptions aug = augmentPreset("weak");
  StepResult step(Method& m, const torch::Tensor& images, uint64_t seed, int64_t step = 0) {
    auto gen = at::detail::createCPUGenerator(seed);
    StepContext ctx{step, 0, 0.0, &gen, &aug};
    Batch b;
    b.images = images;
    return m.step(b, ctx);
  }
  void after(Method& m) {
    auto gen = at::detail::createCPUGenerator(0);
    StepContext ctx{0, 0, 0.0, &gen, &aug};
    m.afterStep(ctx);
  }
};

}  // namespace

class TestMethodsmoco : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // q = (1,0) scaled by 2, k+ = (1,0) scaled by 3 (the loss normalises q and k), queue rows
  // (0,1) and (-1,0). Logits [q.k+, q.n1, q.n2] / T = [1, 0, -1] / T.
  //   T = 1:   -log(e^1 / (e^1 + e^0 + e^-1)) = log(1 + e^-1 + e^-2) = 0.407606, positive first.
  //   T = 0.5: logits [2, 0, -2]: log(1 + e^-2 + e^-4) = 0.142932.
  // q = (0,1) instead: logits [0, 1, 0]: -log(e^0 / (e^0 + e^1 + e^0)) = log(2 + e) = 1.551445,
  // and the first queue key beats the positive (accuracy 0).
  void mocoLossHandWorked_data() {
    QTest::addColumn<float>("qx");
    QTest::addColumn<float>("qy");
    QTest::addColumn<double>("temperature");
    QTest::addColumn<double>("expected");
    QTest::addColumn<float>("accuracy");
    QTest::newRow("T=1") << 2.f << 0.f << 1.0 << 0.407606 << 1.f;
    QTest::newRow("T=0.5") << 2.f << 0.f << 0.5 << 0.142932 << 1.f;
    QTest::newRow("wrong") << 0.f << 2.f << 1.0 << 1.551445 << 0.f;
  }
  void mocoLossHandWorked() {
    QFETCH(float, qx);
    QFETCH(float, qy);
    QFETCH(double, temperature);
    QFETCH(double, expected);
    QFETCH(float, accuracy);
    auto q = torch::tensor({{qx, qy}});
    auto k = torch::tensor({{3.f, 0.f}});
    auto queue = torch::tensor({{0.f, 1.f}, {-1.f, 0.f}});
    torch::Tensor acc;
    const double loss = mocoLoss(q, k, queue, temperature, &acc).item<double>();
    QVERIFY2(std::abs(loss - expected) < 1e-5, qPrintable(QString::number(loss, 'f', 7)));
    QCOMPARE(acc.item<float>(), accuracy);
  }

  // Both queries together: the mean of the two losses, (0.407606 + 1.551445) / 2 = 0.979525, and
  // half of them right.
  void mocoLossAveragesOverQueries() {
    auto q = torch::tensor({{1.f, 0.f}, {0.f, 1.f}});
    auto k = torch::tensor({{1.f, 0.f}, {1.f, 0.f}});
    auto queue = torch::tensor({{0.f, 1.f}, {-1.f, 0.f}});
    torch::Tensor acc;
    const double loss = mocoLoss(q, k, queue, 1.0, &acc).item<double>();
    QVERIFY2(std::abs(loss - 0.979525) < 1e-5, qPrintable(QString::number(loss, 'f', 7)));
    QCOMPARE(acc.item<float>(), 0.5f);
  }

  // A general case against a direct transcription of the formula with loops.
  void mocoLossMatchesLoops() {
    auto q = torch::randn({4, 3});
    auto k = torch::randn({4, 3});
    auto queue = unit(torch::randn({6, 3}));
    const double T = 0.3;
    auto qn = unit(q), kn = unit(k);
    double total = 0;
    for (int64_t i = 0; i < 4; ++i) {
      const double pos = std::exp(qn[i].dot(kn[i]).item<double>() / T);
      double denom = pos;
      for (int64_t j = 0; j < 6; ++j) denom += std::exp(qn[i].dot(queue[j]).item<double>() / T);
      total += -std::log(pos / denom);
    }
    const double loss = mocoLoss(q, k, queue, T).item<double>();
    QVERIFY2(std::abs(loss - total / 4) < 1e-5, qPrintable(QString::number(loss - total / 4)));
  }

  // Only the query is trained: no gradient reaches the keys or the queue.
  void mocoLossGradientOnlyToQueries() {
    auto q = torch::randn({3, 4}, torch::requires_grad());
    auto k = torch::randn({3, 4}, torch::requires_grad());
    auto queue = torch::randn({5, 4}, torch::requires_grad());
    mocoLoss(q, k, queue, 0.2).backward();
    QVERIFY(q.grad().abs().sum().item<double>() > 0);
    QVERIFY(!k.grad().defined());
    QVERIFY(!queue.grad().defined());
  }

  // K = 5, batches of 2 keys whose rows carry their step and index (step s, row r: 10s + r):
  //   step 1 -> rows 0,1, ptr 2;  step 2 -> rows 2,3, ptr 4;  step 3 -> rows 4 and 0 (wraps), ptr 1.
  // Final queue rows: [31, 11, 20, 21, 30]. Then a batch of exactly K keys from ptr 1 fills rows
  // 1,2,3,4,0 and leaves ptr at 1.
  void enqueueWrapsExactly() {
    auto queue = torch::zeros({5, 2});
    auto ptr = torch::zeros({}, torch::kLong);
    const int64_t expectedPtr[3] = {2, 4, 1};
    for (int s = 1; s <= 3; ++s) {
      auto keys = torch::tensor({10.f * s, 10.f * s + 1}).unsqueeze(1).repeat({1, 2});
      mocoEnqueue(queue, ptr, keys);
      QCOMPARE(ptr.item<int64_t>(), expectedPtr[s - 1]);
    }
    QVERIFY(queue.equal(torch::tensor({31.f, 11.f, 20.f, 21.f, 30.f}).unsqueeze(1).repeat({1, 2})));
    mocoEnqueue(queue, ptr, torch::arange(5, torch::kFloat).unsqueeze(1).repeat({1, 2}));
    QCOMPARE(ptr.item<int64_t>(), int64_t(1));
    QVERIFY(queue.equal(torch::tensor({4.f, 0.f, 1.f, 2.f, 3.f}).unsqueeze(1).repeat({1, 2})));
  }

  // The method's own queue: K = 5, batches of 2 images. Asymmetric: 2 keys per step, the pointer
  // goes 2, 4, 1 and each step replaces exactly its rows with unit keys. Symmetric: 4 keys per
  // step, the pointer goes 4, 3 (= 8 mod 5), 2 (= 12 mod 5).
  void methodQueueAdvances_data() {
    QTest::addColumn<bool>("symmetric");
    QTest::addColumn<QVector<int>>("pointers");
    QTest::newRow("asymmetric") << false << QVector<int>{2, 4, 1};
    QTest::newRow("symmetric") << true << QVector<int>{4, 3, 2};
  }
  void methodQueueAdvances() {
    QFETCH(bool, symmetric);
    QFETCH(QVector<int>, pointers);
    auto m = makeMoco({{"queue_size", 5}, {"symmetric", symmetric}, {"proj_hidden", 16}, {"proj_dim", 8}});
    QCOMPARE(buffer(*m, "queue").sizes().vec(), (std::vector<int64_t>{5, 8}));
    QCOMPARE(buffer(*m, "queue_ptr").item<int64_t>(), int64_t(0));
    Stepper st;
    auto images = torch::rand({2, 1, 16, 16});
    int64_t ptr = 0;
    const int64_t perStep = symmetric ? 4 : 2;
    for (int s = 0; s < 3; ++s) {
      auto before = buffer(*m, "queue").clone();
      st.step(*m, images, 10 + s, s);
      // The step itself leaves the queue alone (autograd holds it for the backward pass).
      QVERIFY(buffer(*m, "queue").equal(before));
      st.after(*m);
      auto after = buffer(*m, "queue");
      for (int64_t r = 0; r < 5; ++r) {
        const bool written = (r - ptr + 5) % 5 < perStep;
        QCOMPARE(!after[r].equal(before[r]), written);
        QVERIFY(std::abs(after[r].norm().item<double>() - 1.0) < 1e-5);
      }
      ptr = buffer(*m, "queue_ptr").item<int64_t>();
      QCOMPARE(ptr, int64_t(pointers[s]));
    }
  }

  // A queue that cannot take one step's keys is refused with the setting's name. Exactly as many
  // keys as the queue holds is fine.
  void queueSmallerThanAStepRefused() {
    Stepper st;
    auto images = torch::rand({2, 1, 16, 16});
    auto m = makeMoco({{"queue_size", 3}, {"symmetric", true}, {"proj_hidden", 16}, {"proj_dim", 8}});
    PRETEXT_VERIFY_THROWS_WITH(st.step(*m, images, 1), "method.params.queue_size = 3: smaller than the 4 keys");
    auto ok = makeMoco({{"queue_size", 2}, {"symmetric", false}, {"proj_hidden", 16}, {"proj_dim", 8}});
    QVERIFY(std::isfinite(st.step(*ok, images, 1).loss.item<double>()));
  }

  // The key network starts as an exact copy of the weights, is not trained, and the optimiser only
  // sees the query network. (Its BN statistics are equal too, but fresh ones are equal anyway, so
  // this cannot tell whether the constructor copies them.)
  void keyNetworkStartsAsFrozenCopy() {
    auto m = makeMoco({{"proj_hidden", 16}, {"proj_dim", 8}, {"queue_size", 32}});
    auto params = m->named_parameters();
    auto buffers = m->named_buffers();
    int64_t keyParams = 0;
    const std::vector<std::pair<std::string, std::string>> pairs{{"encoder.", "key_encoder."},
                                                                 {"projector.", "key_projector."}};
    for (const auto& [query, key] : pairs) {
      for (const auto& item : params) {
        if (item.key().rfind(query, 0) != 0) continue;
        const auto& k = params[key + item.key().substr(query.size())];
        QVERIFY2(k.equal(item.value()), item.key().c_str());
        QVERIFY(!k.requires_grad());
        QVERIFY(item.value().requires_grad());
        ++keyParams;
      }
      for (const auto& item : buffers)
        if (item.key().rfind(query, 0) == 0)
          QVERIFY2(buffers[key + item.key().substr(query.size())].equal(item.value()), item.key().c_str());
    }
    QVERIFY(keyParams > 4);
    auto trainable = m->trainableParameters();
    QCOMPARE(int64_t(trainable.size()), keyParams);
    QCOMPARE(int64_t(params.size()), 2 * keyParams);
    for (const auto& t : trainable)
      for (const auto& item : params)
        if (item.value().is_same(t)) QVERIFY2(item.key().rfind("key_", 0) != 0, item.key().c_str());
  }

  // After a step and its backward, the key network has no gradient; the query encoder has one.
  void keyNetworkGetsNoGradient() {
    auto m = makeMoco({{"proj_hidden", 16}, {"proj_dim", 8}, {"queue_size", 32}});
    Stepper st;
    st.step(*m, torch::rand({4, 1, 16, 16}), 3).loss.backward();
    double g = 0;
    for (const auto& item : m->named_parameters()) {
      if (item.key().rfind("key_", 0) == 0)
        QVERIFY2(!item.value().grad().defined(), item.key().c_str());
      else if (item.value().grad().defined())
        g += item.value().grad().abs().sum().item<double>();
    }
    QVERIFY(g > 0);
  }

  // One afterStep: key = m * old key + (1 - m) * query, for every parameter; the query network is
  // untouched; BN statistics of the key network are its own (moved by its forward passes, not by
  // the update). m = 0 copies the query, m = 1 freezes the key network.
  void momentumUpdateExact_data() {
    QTest::addColumn<double>("momentum");
    QTest::newRow("0.9") << 0.9;
    QTest::newRow("0.99") << 0.99;
    QTest::newRow("0") << 0.0;
    QTest::newRow("1") << 1.0;
  }
  void momentumUpdateExact() {
    QFETCH(double, momentum);
    auto m = makeMoco({{"momentum", momentum}, {"proj_hidden", 16}, {"proj_dim", 8}, {"queue_size", 32}});
    {
      torch::NoGradGuard ng;
      for (auto& p : m->trainableParameters()) p.add_(torch::randn_like(p));
    }
    std::map<std::string, torch::Tensor> old;
    for (const auto& item : m->named_parameters()) old[item.key()] = item.value().clone();
    for (const auto& item : m->named_buffers()) old[item.key()] = item.value().clone();
    Stepper().after(*m);
    auto params = m->named_parameters();
    int64_t checked = 0;
    for (const auto& item : params) {
      const auto& name = item.key();
      if (name.rfind("key_", 0) != 0) {
        QVERIFY2(item.value().equal(old[name]), name.c_str());
        continue;
      }
      const std::string query = name.substr(4);  // key_encoder.x -> encoder.x
      auto expected = old[name] * momentum + old[query] * (1.0 - momentum);
      QVERIFY2(torch::allclose(item.value(), expected, 1e-6, 1e-6), name.c_str());
      if (momentum == 0.0) QVERIFY(torch::allclose(item.value(), params[query], 0, 1e-6));
      if (momentum == 1.0) QVERIFY(item.value().equal(old[name]));
      ++checked;
    }
    QVERIFY(checked > 4);
    for (const auto& item : m->named_buffers())
      if (item.key().rfind("key_", 0) == 0) QVERIFY2(item.value().equal(old[item.key()]), item.key().c_str());
  }

  // The step's loss recomputed from its parts with the same augmentations: symmetric is the mean
  // of mocoLoss(q1, k2) and mocoLoss(q2, k1); asymmetric is mocoLoss(q1, k2). afterStep enqueues
  // exactly those keys (k2 then k1), computed before the momentum update.
  void lossFromItsParts_data() {
    QTest::addColumn<bool>("symmetric");
    QTest::newRow("symmetric") << true;
    QTest::newRow("asymmetric") << false;
  }
  void lossFromItsParts() {
    QFETCH(bool, symmetric);
    const double T = 0.3;
    auto m = makeMoco({{"symmetric", symmetric}, {"temperature", T}, {"momentum", 0.5},
                       {"proj_hidden", 16}, {"proj_dim", 8}, {"queue_size", 16}});
    m->train();
    Stepper st;
    auto images = torch::rand({4, 1, 16, 16});
    auto queue = buffer(*m, "queue").clone();
    auto r = st.step(*m, images, 7);
    auto gen = at::detail::createCPUGenerator(7);
    auto v1 = augmentBatch(images, st.aug, gen);
    auto v2 = augmentBatch(images, st.aug, gen);
    torch::Tensor k1, k2, z1, z2, expected;
    {
      torch::NoGradGuard ng;
      k1 = unit(mocoForwardChild(*m, "key_encoder", "key_projector", v1));
      k2 = unit(mocoForwardChild(*m, "key_encoder", "key_projector", v2));
      z1 = mocoForwardChild(*m, "encoder", "projector", v1);
      z2 = mocoForwardChild(*m, "encoder", "projector", v2);
      expected = symmetric ? 0.5 * (mocoLoss(z1, k2, queue, T) + mocoLoss(z2, k1, queue, T))
                           : mocoLoss(z1, k2, queue, T);
    }
    QVERIFY2(std::abs(r.loss.item<double>() - expected.item<double>()) < 1e-5,
             qPrintable(QString("%1 vs %2").arg(r.loss.item<double>()).arg(expected.item<double>())));
    st.after(*m);
    auto after = buffer(*m, "queue");
    auto keys = symmetric ? torch::cat({k2, k1}, 0) : k2;
    QVERIFY(torch::allclose(after.slice(0, 0, keys.size(0)), keys, 1e-5, 1e-6));
    QVERIFY(after.slice(0, keys.size(0)).equal(queue.slice(0, keys.size(0))));
    // Metrics: the contrastive accuracy and the collapse metrics of the first view's projection.
    std::vector<std::string> names;
    for (auto& [n, v] : r.metrics) {
      names.push_back(n);
      QCOMPARE(v.dim(), int64_t(0));
    }
    QCOMPARE(names, (std::vector<std::string>{"contrastive_acc", "emb_std", "eff_rank"}));
    QCOMPARE(m->embeddingDim(), int64_t(8));
  }

  // Saving and loading the module's state restores the queue, its pointer and the key network,
  // so a resumed run continues exactly: the next step's loss is the same.
  void checkpointRoundTrip() {
    const nlohmann::json p{{"proj_hidden", 16}, {"proj_dim", 8}, {"queue_size", 11}, {"momentum", 0.9}};
    auto a = makeMoco(p);
    Stepper st;
    auto images = torch::rand({2, 1, 16, 16});
    for (int s = 0; s < 2; ++s) {
      st.step(*a, images, 20 + s, s);
      {
        torch::NoGradGuard ng;  // stands in for the optimiser: the key network must follow
        for (auto& t : a->trainableParameters()) t.add_(0.01);
      }
      st.after(*a);
    }
    QCOMPARE(buffer(*a, "queue_ptr").item<int64_t>(), int64_t(8));
    std::stringstream bytes;
    {
      torch::serialize::OutputArchive out;
      a->save(out);
      out.save_to(bytes);
    }
    auto b = makeMoco(p);
    QVERIFY(!buffer(*b, "queue").equal(buffer(*a, "queue")));
    {
      torch::serialize::InputArchive in;
      in.load_from(bytes);
      b->load(in);
    }
    auto pa = a->named_parameters(), pb = b->named_parameters();
    for (const auto& item : pa) QVERIFY2(pb[item.key()].equal(item.value()), item.key().c_str());
    auto ba = a->named_buffers(), bb = b->named_buffers();
    for (const auto& item : ba) QVERIFY2(bb[item.key()].equal(item.value()), item.key().c_str());
    QVERIFY(buffer(*b, "queue").equal(buffer(*a, "queue")));
    QCOMPARE(buffer(*b, "queue_ptr").item<int64_t>(), int64_t(8));
    QVERIFY(!pb["key_encoder.stage1.0.weight"].requires_grad());
    a->train();
    b->train();
    QCOMPARE(st.step(*a, images, 99).loss.item<double>(), st.step(*b, images, 99).loss.item<double>());
  }

  // The window's pictures: query | best key | own key for each image; image | query view | key view.
  void previewsAndInputViews() {
    auto m = makeMoco({{"proj_hidden", 16}, {"proj_dim", 8}, {"queue_size", 32}});
    m->eval();
    auto gen = at::detail::createCPUGenerator(5);
    for (int64_t n : {int64_t(5), int64_t(1)}) {
      auto images = torch::rand({n, 1, 16, 16});
      auto previews = m->previews(images, gen, {});
      QCOMPARE(int64_t(previews.size()), int64_t(1));
      const auto& p = previews[0];
      QCOMPARE(p.images.sizes().vec(), (std::vector<int64_t>{3 * n, 1, 16, 16}));
      QCOMPARE(int64_t(p.labels.size()), 3 * n);
      QCOMPARE(p.labels[0], std::string("query"));
      QCOMPARE(p.labels[2], std::string("its key"));
      QVERIFY(p.caption.find("of the queue's 32 keys") != std::string::npos);
      QVERIFY(p.images.min().item<float>() >= 0 && p.images.max().item<float>() <= 1);
      if (n == 1) QVERIFY(p.labels[1].rfind("x ", 0) != 0);  // one image: its own key is the only one
      auto v = m->inputViews(images, augmentPreset("weak"), gen);
      QCOMPARE(v.images.sizes().vec(), (std::vector<int64_t>{3 * n, 1, 16, 16}));
      QVERIFY(v.images[0].equal(images[0]));
      QCOMPARE(v.columns, int64_t(3));
    }
  }

  // The Loss panel's anatomy: at init the key network is an exact copy of the query network, so
  // without augmentation each query's positive is itself (cosine 1); the negatives are the queue's
  // newest keys, and each row's loss is InfoNCE over the whole queue.
  void lossAnatomyIsInfoNceOverTheQueue() {
    auto m = makeMoco({{"proj_hidden", 16}, {"proj_dim", 8}, {"queue_size", 80}, {"temperature", 0.2}});
    m->eval();
    auto none = augmentPreset("none");
    auto gen = at::detail::createCPUGenerator(3);
    auto images = torch::rand({5, 1, 16, 16});
    const auto list = m->lossAnatomy(images, none, gen);
    QCOMPARE(list.size(), size_t(1));
    const LossAnatomy& a = list[0];
    QCOMPARE(a.matrix.sizes().vec(), (std::vector<int64_t>{5, 64}));  // its key + 63 of the 80
    QVERIFY(torch::allclose(a.matrix.select(1, 0), torch::ones({5}), 1e-5, 1e-5));
    QVERIFY(a.positives.equal(torch::zeros({5}, torch::kLong)));
    auto q = unit(mocoForwardChild(*m, "encoder", "projector", images));
    auto queue = buffer(*m, "queue");
    // queue_ptr is 0: the newest key is the last row, then the one before it.
    QVERIFY(torch::allclose(a.matrix.select(1, 1), torch::matmul(q, queue[79]), 1e-5, 1e-5));
    QVERIFY(torch::allclose(a.matrix.select(1, 2), torch::matmul(q, queue[78]), 1e-5, 1e-5));
    auto logits = torch::cat({torch::ones({5, 1}), torch::matmul(q, queue.t())}, 1) / 0.2;
    auto expected = -torch::log_softmax(logits, 1).select(1, 0);
    QVERIFY(torch::allclose(a.perRow, expected, 1e-4, 1e-5));
    QCOMPARE(a.terms[0].first, std::string("loss"));
    QVERIFY(std::abs(a.terms[0].second - mocoLoss(q, q, queue, 0.2).item<double>()) < 1e-5);
    QVERIFY(a.images.equal(images));
  }
};

PRETEXT_TEST_AREA(TestMethodsmoco, "methods_moco")
#include "test_methods_moco.moc"
