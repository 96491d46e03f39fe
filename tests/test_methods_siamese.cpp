// BYOL and SimSiam: losses against values worked out by hand, the target network's EMA and
// schedule, where the gradient goes (and where it must not), checkpoints and previews.
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "core/augment/augment.h"
#include "core/methods/byol.h"
#include "core/models/backbone.h"
#include "core/methods/registry.h"
#include "core/methods/siamese_preview.h"
#include "core/models/batch_norm.h"
#include "core/methods/simsiam.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;

namespace {

MethodSetup siameseSetup(nlohmann::json params = nlohmann::json::object()) {
  MethodSetup s;
  s.params = std::move(params);
  s.channels = 1;
  s.imageSize = 16;
  s.backbone.width(4);
  return s;
}

// The tensors of `m` whose name starts with `prefix` (e.g. "target_encoder."), keyed by the
// rest of the name, so the online and the target network line up.
std::map<std::string, torch::Tensor> paramsUnder(torch::nn::Module& m, const std::string& prefix) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters())
    if (p.key().rfind(prefix, 0) == 0) out[p.key().substr(prefix.size())] = p.value();
  return out;
}

torch::Tensor siameseForwardChild(torch::nn::Module& m, const std::string& name, const torch::Tensor& x) {
  for (const auto& c : m.named_children())
    if (c.key() == name) {
      if (auto seq = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(c.value()))
        return seq->forward(x);
      if (auto enc = std::dynamic_pointer_cast<Encoder>(c.value())) return enc->forward(x);
    }
  throw Error("no child module " + name);
}

StepResult takeStep(Method& m, torch::Tensor images, uint64_t seed, double progress = 0) {
  Batch b;
  b.images = std::move(images);
  static AugmentOptions aug = augmentPreset("weak");
  auto gen = at::detail::createCPUGenerator(seed);
  StepContext ctx{0, 0, progress, &gen, &aug};
  return m.step(b, ctx);
}

double gradSum(const std::vector<torch::Tensor>& ps) {
  double g = 0;
  for (auto& p : ps)
    if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
  return g;
}

}  // namespace

class TestMethodsSiamese : public QObject {
  Q_OBJECT
 private slots:
  // SimSiam's loss taken apart: its total is simsiamLoss of the same views, computed here from
  // the networks directly.
  void simsiamLossAnatomyMatchesTheLoss() {
    auto m = makeMethod("simsiam", siameseSetup());
    m->eval();
    auto images = torch::rand({5, 1, 16, 16});
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(6);
    const auto list = m->lossAnatomy(images, aug, gen);
    QCOMPARE(list.size(), size_t(1));
    QCOMPARE(list[0].matrix.sizes(), (torch::IntArrayRef{5, 5}));
    auto gen2 = at::detail::createCPUGenerator(6);
    auto v1 = augmentBatch(images, aug, gen2), v2 = augmentBatch(images, aug, gen2);
    auto child = [&](const char* name) {
      return std::dynamic_pointer_cast<torch::nn::SequentialImpl>(m->named_children()[name]);
    };
    QVERIFY(child("predictor") && child("projector"));
    torch::NoGradGuard ng;
    auto z1 = child("projector")->forward(m->encoder()->forward(v1));
    auto z2 = child("projector")->forward(m->encoder()->forward(v2));
    const double loss = simsiamLoss(child("predictor")->forward(z1), child("predictor")->forward(z2), z1, z2).item<double>();
    QVERIFY2(std::abs(list[0].terms[0].second - loss) < 1e-4,
             qPrintable(QString("%1 vs %2").arg(list[0].terms[0].second).arg(loss)));
  }

  void byolLossAnatomyMatchesTheLoss() {
    auto m = makeMethod("byol", siameseSetup());
    m->eval();
    auto images = torch::rand({6, 1, 16, 16});
    AugmentOptions aug = augmentPreset("weak");
    auto gen = at::detail::createCPUGenerator(4);
    const auto list = m->lossAnatomy(images, aug, gen);
    QCOMPARE(list.size(), size_t(1));
    const LossAnatomy& a = list[0];
    QCOMPARE(a.matrix.sizes(), (torch::IntArrayRef{6, 6}));
    QVERIFY(a.positives.equal(torch::arange(6, torch::kLong)));
    auto gen2 = at::detail::createCPUGenerator(4);
    auto v1 = augmentBatch(images, aug, gen2), v2 = augmentBatch(images, aug, gen2);
    auto child = [&](const char* name) {
      return std::dynamic_pointer_cast<torch::nn::SequentialImpl>(m->named_children()[name]);
    };
    auto target = std::dynamic_pointer_cast<Encoder>(m->named_children()["target_encoder"]);
    QVERIFY(child("predictor") && child("projector") && child("target_projector") && target);
    torch::NoGradGuard ng;
    auto online = [&](const torch::Tensor& v) { return child("predictor")->forward(child("projector")->forward(m->encoder()->forward(v))); };
    auto tgt = [&](const torch::Tensor& v) { return child("target_projector")->forward(target->forward(v)); };
    const double loss = (byolLoss(online(v1), tgt(v2)) + byolLoss(online(v2), tgt(v1))).item<double>();
    QVERIFY2(std::abs(a.terms[0].second - loss) < 1e-4, qPrintable(QString("%1 vs %2").arg(a.terms[0].second).arg(loss)));
  }

  void initTestCase() { torch::manual_seed(0); }

  // l(p, z) = 2 - 2 cos(p, z), batch mean:
  //  p=(1,0), z=(0,1): cos 0 -> 2;  p=(1,0), z=(3,0): cos 1 -> 0 (scale is ignored);
  //  p=(1,1), z=(1,0): cos 1/sqrt2 -> 2 - sqrt2 = 0.585786;  p=(1,0), z=(-2,0): cos -1 -> 4;
  //  the batch {(1,0)->(0,1), (1,0)->(3,0)}: mean of 2 and 0 = 1.
  void byolLossHandWorked_data() {
    QTest::addColumn<QVector<float>>("p");
    QTest::addColumn<QVector<float>>("z");
    QTest::addColumn<double>("expected");
    QTest::newRow("orthogonal") << QVector<float>{1, 0} << QVector<float>{0, 1} << 2.0;
    QTest::newRow("aligned, scaled") << QVector<float>{1, 0} << QVector<float>{3, 0} << 0.0;
    QTest::newRow("45 degrees") << QVector<float>{1, 1} << QVector<float>{1, 0}
                                << 2 - std::sqrt(2.0);
    QTest::newRow("opposite") << QVector<float>{1, 0} << QVector<float>{-2, 0} << 4.0;
    QTest::newRow("batch mean") << QVector<float>{1, 0, 1, 0} << QVector<float>{0, 1, 3, 0} << 1.0;
  }
  void byolLossHandWorked() {
    QFETCH(QVector<float>, p);
    QFETCH(QVector<float>, z);
    QFETCH(double, expected);
    auto pt = torch::tensor(std::vector<float>(p.begin(), p.end())).reshape({-1, 2});
    auto zt = torch::tensor(std::vector<float>(z.begin(), z.end())).reshape({-1, 2});
    const double loss = byolLoss(pt, zt).item<double>();
    QVERIFY2(std::abs(loss - expected) < 1e-6, qPrintable(QString::number(loss, 'g', 10)));
  }

  // tau = 1 - (1 - tau_base)(cos(pi t) + 1)/2: t=0 -> tau_base; t=0.5 -> (1 + tau_base)/2;
  // t=1 -> 1; t=0.25 (tau_base 0.99) -> 1 - 0.01 (sqrt2/2 + 1)/2 = 0.991464466.
  void byolTauSchedule() {
    for (double base : {0.99, 0.996, 0.9}) {
      QVERIFY(std::abs(byolTau(base, 0.0) - base) < 1e-12);
      QVERIFY(std::abs(byolTau(base, 0.5) - (1 + base) / 2) < 1e-12);
      QVERIFY(std::abs(byolTau(base, 1.0) - 1.0) < 1e-12);
    }
    QVERIFY(std::abs(byolTau(0.99, 0.25) - 0.991464466) < 1e-9);
    QVERIFY(byolTau(0.99, 0.3) < byolTau(0.99, 0.7));
  }

  void byolEmaUpdateByHand() {
    auto t = torch::tensor({1.0f, 2.0f});
    auto o = torch::tensor({3.0f, -2.0f});
    byolEmaUpdate({t}, {o}, 0.75);  // 0.75 * 1 + 0.25 * 3 = 1.5; 0.75 * 2 + 0.25 * -2 = 1
    QVERIFY(t.allclose(torch::tensor({1.5f, 1.0f})));
    PRETEXT_VERIFY_THROWS_WITH(byolEmaUpdate({t}, {}, 0.5), "target network has 1 tensors");
    PRETEXT_VERIFY_THROWS_WITH(byolEmaUpdate({t}, {torch::zeros({3})}, 0.5), "differs in shape");
  }

  // The target starts as a copy of the online encoder + projector; afterStep moves every target
  // tensor to tau * old + (1 - tau) * online with tau from the schedule at ctx.progress.
  void byolTargetFollowsByEma() {
    auto m = makeMethod("byol", siameseSetup({{"tau_base", 0.9}}));
    for (const char* part : {"encoder.", "projector."}) {
      auto online = paramsUnder(*m, part), target = paramsUnder(*m, std::string("target_") + part);
      QCOMPARE(online.size(), target.size());
      QVERIFY(!online.empty());
      for (auto& [name, t] : target) QVERIFY2(t.equal(online.at(name)), name.c_str());
    }
    // Move the online network away from the target, then one EMA step at progress 0.5:
    // tau = (1 + 0.9) / 2 = 0.95.
    {
      torch::NoGradGuard ng;
      for (auto& p : m->trainableParameters()) p.add_(torch::randn_like(p));
    }
    std::map<std::string, torch::Tensor> before, onlineNow;
    for (const char* part : {"encoder.", "projector."}) {
      for (auto& [n, t] : paramsUnder(*m, std::string("target_") + part))
        before[part + n] = t.clone();
      for (auto& [n, t] : paramsUnder(*m, part)) onlineNow[part + n] = t.clone();
    }
    auto gen = at::detail::createCPUGenerator(1);
    StepContext ctx{0, 0, 0.5, &gen, nullptr};
    m->afterStep(ctx);
    int checked = 0;
    for (const char* part : {"encoder.", "projector."})
      for (auto& [n, t] : paramsUnder(*m, std::string("target_") + part)) {
        auto want = 0.95 * before.at(part + n) + 0.05 * onlineNow.at(part + n);
        QVERIFY2(t.allclose(want, 1e-6, 1e-6), (part + n).c_str());
        QVERIFY(!t.equal(before.at(part + n)));
        ++checked;
      }
    QVERIFY(checked > 10);
    // The online network is left as it was.
    for (const char* part : {"encoder.", "projector."})
      for (auto& [n, t] : paramsUnder(*m, part)) QVERIFY(t.equal(onlineNow.at(part + n)));
  }

  // The optimiser trains encoder + projector + predictor; the target is neither trained nor
  // reached by the gradient.
  void byolTargetGetsNoGradient() {
    auto m = makeMethod("byol", siameseSetup());
    auto trainable = m->trainableParameters();
    auto target = paramsUnder(*m, "target_");
    QCOMPARE(trainable.size() + target.size(), m->parameters().size());
    QCOMPARE(trainable.size(), paramsUnder(*m, "encoder.").size() +
                                   paramsUnder(*m, "projector.").size() +
                                   paramsUnder(*m, "predictor.").size());
    for (auto& [n, t] : target) {
      QVERIFY2(!t.requires_grad(), n.c_str());
      for (auto& p : trainable) QVERIFY(!p.is_same(t));
    }
    auto r = takeStep(*m, torch::rand({8, 1, 16, 16}), 3);
    r.loss.backward();
    for (auto& [n, t] : target) QVERIFY2(!t.grad().defined(), n.c_str());
    QVERIFY(gradSum(m->encoder()->parameters()) > 0);
    std::vector<torch::Tensor> pred;
    for (auto& [n, t] : paramsUnder(*m, "predictor.")) pred.push_back(t);
    QVERIFY(gradSum(pred) > 0);
  }

  // The step's loss is the symmetric one: prediction of view 1 against the target projection of
  // view 2 and the other way round. At the first step the target equals the online network, so
  // the target projections are the online ones (same weights, same batch statistics).
  void byolStepIsSymmetric() {
    auto m = makeMethod("byol", siameseSetup());
    auto x = torch::rand({6, 1, 16, 16});
    auto r = takeStep(*m, x, 11, 0.0);
    auto gen = at::detail::createCPUGenerator(11);
    AugmentOptions aug = augmentPreset("weak");
    auto v1 = augmentBatch(x, aug, gen), v2 = augmentBatch(x, aug, gen);
    torch::NoGradGuard ng;
    auto z = siameseForwardChild(*m, "projector", siameseForwardChild(*m, "encoder", torch::cat({v1, v2}, 0)));
    auto p = siameseForwardChild(*m, "predictor", z);
    auto zz = z.split(6, 0), pp = p.split(6, 0);
    const double want = (byolLoss(pp[0], zz[1]) + byolLoss(pp[1], zz[0])).item<double>();
    const double wrongPairing = (byolLoss(pp[0], zz[0]) + byolLoss(pp[1], zz[1])).item<double>();
    QVERIFY2(std::abs(r.loss.item<double>() - want) < 1e-5,
             qPrintable(QString("%1 vs %2").arg(r.loss.item<double>()).arg(want)));
    QVERIFY(std::abs(want - wrongPairing) > 1e-4);
    // Metrics: tau at progress 0 is tau_base, and the collapse metrics are reported.
    std::map<std::string, double> metrics;
    for (auto& [n, v] : r.metrics) metrics[n] = v.item<double>();
    QVERIFY(std::abs(metrics.at("tau") - 0.99) < 1e-6);
    QVERIFY(metrics.count("emb_std") && metrics.count("eff_rank"));
    QCOMPARE(m->embeddingDim(), int64_t(128));
  }

  // A checkpoint carries the target network (exact resume).
  void byolCheckpointKeepsTheTarget() {
    auto a = makeMethod("byol", siameseSetup());
    {
      torch::NoGradGuard ng;
      for (auto& p : a->trainableParameters()) p.add_(1);
    }
    auto gen = at::detail::createCPUGenerator(1);
    StepContext ctx{0, 0, 0.0, &gen, nullptr};
    a->afterStep(ctx);
    std::stringstream buf;
    {
      torch::serialize::OutputArchive out;
      a->save(out);
      out.save_to(buf);
    }
    auto b = makeMethod("byol", siameseSetup());
    torch::serialize::InputArchive in;
    in.load_from(buf);
    b->load(in);
    auto ta = paramsUnder(*a, "target_"), tb = paramsUnder(*b, "target_");
    QCOMPARE(ta.size(), tb.size());
    for (auto& [n, t] : ta) QVERIFY2(t.equal(tb.at(n)), n.c_str());
    for (auto& [n, t] : tb) QVERIFY(!t.requires_grad());
  }

  // D(p, z) = -cos(p, z); L = D(p1, z2)/2 + D(p2, z1)/2.
  //  p1=(1,0), z2=(0,1): D = 0;  p2=(1,1), z1=(2,0): D = -1/sqrt2  ->  L = -1/(2 sqrt2) =
  //  -0.353553. p1=z2=(1,2), p2=(3,0), z1=(-1,0): D = -1 and +1  ->  L = 0. Everything aligned: L =
  //  -1 (the minimum).
  void simsiamLossHandWorked_data() {
    QTest::addColumn<QVector<float>>("v");  // p1, p2, z1, z2 (2-d each, batch of one)
    QTest::addColumn<double>("expected");
    QTest::newRow("orthogonal + 45 deg")
        << QVector<float>{1, 0, 1, 1, 2, 0, 0, 1} << -1 / (2 * std::sqrt(2.0));
    QTest::newRow("aligned + opposite") << QVector<float>{1, 2, 3, 0, -1, 0, 1, 2} << 0.0;
    QTest::newRow("all aligned") << QVector<float>{1, 1, 2, 2, 3, 3, 0.5, 0.5} << -1.0;
  }
  void simsiamLossHandWorked() {
    QFETCH(QVector<float>, v);
    QFETCH(double, expected);
    auto t = [&](int i) { return torch::tensor({v[2 * i], v[2 * i + 1]}).reshape({1, 2}); };
    for (bool sg : {true, false}) {
      const double loss = simsiamLoss(t(0), t(1), t(2), t(3), sg).item<double>();
      QVERIFY2(std::abs(loss - expected) < 1e-6, qPrintable(QString::number(loss, 'g', 10)));
    }
  }

  // With the stop-gradient the projections z are constants: no gradient reaches them. Without
  // it they get one; by hand, for p1=(1,0), z2=(0,1) (batch of one):
  // d cos(p, z)/dz = p/(|p||z|) - cos(p,z) z/|z|^2 = (1,0), so dL/dz2 = -1/2 (1,0).
  void simsiamStopGradient() {
    for (bool sg : {true, false}) {
      auto p1 = torch::tensor({{1.0f, 0.0f}}, torch::requires_grad());
      auto p2 = torch::tensor({{1.0f, 1.0f}}, torch::requires_grad());
      auto z1 = torch::tensor({{2.0f, 0.0f}}, torch::requires_grad());
      auto z2 = torch::tensor({{0.0f, 1.0f}}, torch::requires_grad());
      simsiamLoss(p1, p2, z1, z2, sg).backward();
      QVERIFY(p1.grad().defined() && p2.grad().abs().sum().item<double>() > 0);
      if (sg) {
        QVERIFY(!z1.grad().defined() || z1.grad().abs().sum().item<double>() == 0);
        QVERIFY(!z2.grad().defined() || z2.grad().abs().sum().item<double>() == 0);
      } else {
        QVERIFY(z2.grad().allclose(torch::tensor({{-0.5f, 0.0f}})));
        QVERIFY(z1.grad().abs().sum().item<double>() > 0);
      }
      // dL/dp1 = -1/2 (z2/(|p1||z2|) - cos p1/|p1|^2) = -1/2 (0,1), either way.
      QVERIFY(p1.grad().allclose(torch::tensor({{0.0f, -0.5f}})));
    }
  }

  // The stop_gradient parameter reaches the step: the same weights and views give the same loss
  // but a different gradient in the encoder.
  void simsiamParameterIsWired() {
    auto x = torch::rand({8, 1, 16, 16});
    std::vector<double> losses;
    std::vector<torch::Tensor> grads;
    for (bool sg : {true, false}) {
      torch::manual_seed(5);
      auto m = makeMethod("simsiam", siameseSetup({{"stop_gradient", sg}}));
      auto r = takeStep(*m, x, 7);
      r.loss.backward();
      losses.push_back(r.loss.item<double>());
      std::vector<torch::Tensor> g;
      for (auto& p : m->encoder()->parameters()) g.push_back(p.grad().flatten());
      grads.push_back(torch::cat(g));
      QVERIFY(losses.back() >= -1 && losses.back() <= 1);
    }
    QVERIFY(std::abs(losses[0] - losses[1]) < 1e-6);
    QVERIFY(!grads[0].allclose(grads[1], 1e-4, 1e-7));
  }

  void simsiamArchitecture() {
    auto m = makeMethod("simsiam",
                        siameseSetup({{"proj_layers", 3}, {"proj_dim", 16}, {"pred_hidden", 4}}));
    // Projector: Linear-BN-ReLU, Linear-BN-ReLU, Linear-BN(no affine); predictor:
    // Linear-BN-ReLU-Linear.
    int bns = 0, linears = 0;
    for (const auto& c : m->named_modules()) {
      if (c.key().rfind("projector.", 0) == 0) {
        bns += c.value()->as<SyncableBatchNormImpl>() != nullptr;
        linears += c.value()->name() == "torch::nn::LinearImpl";
      }
    }
    QCOMPARE(linears, 3);
    QCOMPARE(bns, 3);
    auto r = takeStep(*m, torch::rand({6, 1, 16, 16}), 2);
    QCOMPARE(m->embeddingDim(), int64_t(16));
    auto pred = paramsUnder(*m, "predictor.");
    QCOMPARE(pred.at("0.weight").sizes(), (torch::IntArrayRef{4, 16}));
    QCOMPARE(pred.at("3.weight").sizes(), (torch::IntArrayRef{16, 4}));
    QCOMPARE(m->trainableParameters().size(), m->parameters().size());
  }

  // The shared picture: p1 = [(1,0), (1,0)] against z2 = [(1,0), (0,1)]: image 0 finds its own
  // view 2 (cosine 1); image 1's own cosine is 0 and its closest target is image 0's (red).
  void pairPredictionPreviewByHand() {
    auto v1 = torch::zeros({2, 1, 4, 4}), v2 = torch::ones({2, 1, 4, 4});
    v2[1].fill_(0.5);
    auto p = pairPredictionPreview(v1, v2, torch::tensor({{1.f, 0.f}, {1.f, 0.f}}),
                                   torch::tensor({{1.f, 0.f}, {0.f, 3.f}}), "n", "target");
    QCOMPARE(p.images.size(0), int64_t(6));
    QCOMPARE(p.labels, (std::vector<std::string>{"view 1", "own 1.00", "best 1.00", "view 1",
                                                 "own 0.00", "x best 1.00"}));
    QVERIFY(p.images[5].equal(v2[0]));  // the wrongly chosen one is image 0's view 2
    QVERIFY(p.images[4].equal(v2[1]));
    QVERIFY(QString::fromStdString(p.caption).contains("closest for 1 of 2"));
  }

  void previewsAndInputViews_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("byol") << "byol";
    QTest::newRow("simsiam") << "simsiam";
  }
  void previewsAndInputViews() {
    QFETCH(QString, name);
    auto m = makeMethod(name.toStdString(), siameseSetup());
    m->eval();
    auto x = torch::rand({20, 1, 16, 16});
    auto gen = at::detail::createCPUGenerator(4);
    auto previews = m->previews(x, gen, {});
    QCOMPARE(previews.size(), size_t(1));
    QCOMPARE(previews[0].images.size(0), int64_t(48));  // 16 images x 3
    QCOMPARE(previews[0].labels.size(), size_t(48));
    QVERIFY(previews[0].images.min().item<float>() >= 0 &&
            previews[0].images.max().item<float>() <= 1);
    auto views = m->inputViews(x.slice(0, 0, 5), augmentPreset("weak"), gen);
    QCOMPARE(views.images.size(0), int64_t(15));
    QCOMPARE(views.columns, int64_t(3));
    QVERIFY(views.images[0].equal(x[0]));
  }

  void registryEntries() {
    for (const char* n : {"byol", "simsiam"}) {
      const auto& info = MethodRegistry::instance().get(n);
      QCOMPARE(QString::fromStdString(info.family), QString("siamese"));
    }
    const auto& byol = MethodRegistry::instance().get("byol");
    QCOMPARE(resolveParams(byol, nullptr)["tau_base"].get<double>(), 0.99);
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(byol, {{"tau_base", 1.5}}),
                               "method.params.tau_base = 1.5: expected a value in [0, 1]");
    const auto& simsiam = MethodRegistry::instance().get("simsiam");
    QCOMPARE(resolveParams(simsiam, nullptr)["stop_gradient"].get<bool>(), true);
    PRETEXT_VERIFY_THROWS_WITH(resolveParams(simsiam, {{"stop_gradient", 0}}),
                               "expected true or false");
  }
};

PRETEXT_TEST_AREA(TestMethodsSiamese, "methods_siamese")
#include "test_methods_siamese.moc"
