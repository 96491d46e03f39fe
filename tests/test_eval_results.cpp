// Evaluation records in run folders (evaluations.jsonl, pretext-cli's eval.json) and
// evaluateSession, the one evaluation both the window and the CLI run.
#include "test_main.h"
#include <torch/torch.h>

#include <QtTest>
#include <filesystem>
#include <fstream>

#include "core/eval/evaluate.h"
#include "core/eval/label_curve.h"
#include "core/eval/results.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;
namespace fs = std::filesystem;
using json = nlohmann::json;

class TestEvalResults : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  std::string mkdir(const std::string& name) {
    const std::string d = dir_.filePath(QString::fromStdString(name)).toStdString();
    fs::create_directories(d);
    return d;
  }
  static EvalRecord sample(const std::string& protocol, double top1, const std::string& time) {
    EvalRecord r;
    r.method = "simclr";
    r.data = "mnist:x";
    r.protocol = protocol;
    r.settings = "k=5 T=0.1";
    r.step = 120;
    r.top1 = top1;
    r.top5 = 99.5;
    r.trainImages = 96;
    r.testImages = 40;
    r.time = time;
    r.classNames = {"a", "b"};
    r.confusion = {3, 1, 2, 4};
    return r;
  }
  Session tinySession() {
    return makeSession(experimentFromJson(test::tinyExperimentJson(data_, "simclr", 1)));
  }

 private slots:
  void initTestCase() {
    data_ = mkdir("mnist");
    test::writeTinyMnist(data_);
  }

  void jsonRoundTrip() {
    EvalRecord r = sample("knn", 87.5, "2026-11-22T10:00:00Z");
    r.randomInit = true;
    const EvalRecord back = evalRecordFromJson(json::parse(evalRecordToJson(r).dump()));
    QCOMPARE(evalRecordToJson(back).dump(), evalRecordToJson(r).dump());
    QCOMPARE(back.protocolTitle(), std::string("kNN (random init)"));
    // A confusion matrix of the wrong size is dropped rather than shown wrongly.
    json j = evalRecordToJson(r);
    j["confusion"] = {1, 2, 3};
    QVERIFY(evalRecordFromJson(j).confusion.empty());
    PRETEXT_VERIFY_THROWS_WITH(evalRecordFromJson(json::array()), "JSON object");
    j["top1"] = "high";
    PRETEXT_VERIFY_THROWS_WITH(evalRecordFromJson(j), "top1");
  }

  void appendReadSkipsBrokenLines() {
    const std::string run = mkdir("runs/a-run");
    appendEvalRecord(run, sample("knn", 80, "2026-11-22T10:00:00Z"));
    {
      std::ofstream out(evalResultsPath(run), std::ios::app);
      out << "{\"protocol\": \"linear\", \"top1\": 9";  // cut short by a crash
      out << "\n";
    }
    appendEvalRecord(run, sample("linear", 90, "2026-11-22T10:05:00Z"));
    const auto records = readEvalRecords(run);
    QCOMPARE(int(records.size()), 2);
    QCOMPARE(records[0].top1, 80.0);
    QCOMPARE(records[1].protocol, std::string("linear"));
    QCOMPARE(records[1].run, run);
    QCOMPARE(int(records[1].confusion.size()), 4);
    PRETEXT_VERIFY_THROWS_WITH(appendEvalRecord(dir_.filePath("nope").toStdString(), records[0]),
                               "does not exist");
  }

  void readsCliResultsAndScans() {
    const std::string run = mkdir("runs/b-run");
    test::writeText(run + "/state.json", R"({"step": 345, "epoch": 2, "finished": true})");
    test::writeText(run + "/eval.json",
                    R"({"run": "x", "method": "rotation", "knn_top1": 71.25, "knn_k": 20,
                        "knn_temperature": 0.07, "linear_top1": 75.5, "train_images": 96,
                        "test_images": 40})");
    test::writeText(run + "/eval-random-init.json", R"({"method": "rotation", "knn_top1": 30})");
    // A transfer probe (eval --data): its data named on the record.
    test::writeText(run + "/eval-on-fashion-mnist.json",
                    R"({"method": "rotation", "knn_top1": 60.5, "probe_data": "fashion-mnist"})");
    const auto records = readEvalRecords(run);
    QCOMPARE(int(records.size()), 4);
    QCOMPARE(records[0].protocol, std::string("knn"));
    QCOMPARE(records[0].top1, 71.25);
    QCOMPARE(records[0].step, int64_t(345));
    QVERIFY(records[0].settings.find("k=20") != std::string::npos);
    QCOMPARE(records[1].protocol, std::string("linear"));
    QCOMPARE(records[2].top1, 60.5);
    QCOMPARE(records[2].data, std::string("fashion-mnist"));
    QVERIFY(!records[2].randomInit);
    QVERIFY(records[3].randomInit);
    QCOMPARE(records[3].step, int64_t(0));
    QVERIFY(!records[0].time.empty());

    mkdir("runs/c-empty");
    const auto all = scanEvalRecords(dir_.filePath("runs").toStdString());
    QCOMPARE(int(all.size()), 6);  // a-run's two, b-run's four, nothing from c-empty
    QVERIFY(all[0].run.find("a-run") != std::string::npos);
    QVERIFY(all[5].run.find("b-run") != std::string::npos);
    QVERIFY(scanEvalRecords(dir_.filePath("missing").toStdString()).empty());
  }

  void knnAndLinearOnATinySession() {
    Session s = tinySession();
    s.method->train();
    for (const char* protocol : {"knn", "linear"}) {
      EvalRequest req;
      req.protocol = protocol;
      req.knn.k(5);
      int calls = 0;
      double lastFraction = -1;
      bool monotone = true;
      const EvalRecord r = evaluateSession(s, req, [&](const std::string&, double f) {
        monotone &= f >= lastFraction;
        lastFraction = f;
        ++calls;
      });
      QVERIFY(monotone);
      QCOMPARE(lastFraction, 1.0);
      QVERIFY(calls >= 3);
      QCOMPARE(r.protocol, std::string(protocol));
      QCOMPARE(r.method, std::string("simclr"));
      QCOMPARE(r.testImages, int64_t(40));
      QCOMPARE(r.trainImages, int64_t(96));
      QCOMPARE(int(r.classNames.size()), 10);
      QCOMPARE(int(r.confusion.size()), 100);
      int64_t sum = 0, diagonal = 0;
      for (size_t i = 0; i < r.confusion.size(); ++i) {
        sum += r.confusion[i];
        if (i % 11 == 0) diagonal += r.confusion[i];
      }
      QCOMPARE(sum, int64_t(40));
      QCOMPARE(r.top1, 100.0 * double(diagonal) / 40.0);
      QVERIFY(!r.time.empty());
    }
    QVERIFY(s.method->is_training());  // the mode is restored
  }

  void limitsAndRandomInit() {
    Session s = tinySession();
    EvalRequest req;
    req.knn.k(3);
    req.trainLimit = 50;
    req.testLimit = 20;
    req.randomInit = true;
    const EvalRecord r = evaluateSession(s, req);
    QCOMPARE(r.trainImages, int64_t(50));
    QCOMPARE(r.testImages, int64_t(20));
    QVERIFY(r.randomInit);
    int64_t sum = 0;
    for (auto v : r.confusion) sum += v;
    QCOMPARE(sum, int64_t(20));
    QCOMPARE(describeEvalSettings(req), std::string("k=3 T=0.1"));
    req.protocol = "nope";
    PRETEXT_VERIFY_THROWS_WITH(evaluateSession(s, req), "knn, linear or finetune");
  }

  // Fine-tuning trains a copy: the session's model and the global random state are untouched.
  void finetuneLeavesTheModelAndRandomStateAlone() {
    Session s = tinySession();
    std::vector<torch::Tensor> before;
    for (const auto& p : s.method->parameters()) before.push_back(p.detach().clone());
    torch::manual_seed(123);
    const torch::Tensor expected = torch::rand({4});
    torch::manual_seed(123);
    EvalRequest req;
    req.protocol = "finetune";
    req.finetune.fraction(0.5).epochs(2).batchSize(16).freezeStages(1);
    int epochs = 0;
    const EvalRecord r = evaluateSession(s, req, [&](const std::string& stage, double) {
      epochs += stage.rfind("fine-tuning: epoch", 0) == 0;
    });
    QVERIFY(torch::equal(torch::rand({4}), expected));
    QCOMPARE(epochs, 2);
    QCOMPARE(r.trainImages, int64_t(50));  // 5 of each of the 10 classes
    QCOMPARE(r.settings, std::string("50% labels, 1 frozen, 2 ep"));
    size_t i = 0;
    for (const auto& p : s.method->parameters()) QVERIFY(torch::equal(p.detach(), before[i++]));
    int64_t sum = 0;
    for (auto v : r.confusion) sum += v;
    QCOMPARE(sum, int64_t(40));
  }

  // The label curve's points: a fixed number of labelled images per class and a step budget.
  void finetuneOnLabelsPerClassForSteps() {
    Session s = tinySession();
    EvalRequest req;
    req.protocol = "finetune";
    req.finetune.perClass(3).steps(5).batchSize(8);
    std::vector<std::string> stages;
    const EvalRecord r = evaluateSession(s, req, [&](const std::string& stage, double) {
      if (stage.rfind("fine-tuning: step", 0) == 0) stages.push_back(stage);
    });
    QCOMPARE(r.trainImages, int64_t(30));  // 3 of each of the 10 classes
    QCOMPARE(r.labelsPerClass, int64_t(3));
    QCOMPARE(r.settings, std::string("3 labels/class, 0 frozen, 5 steps"));
    QVERIFY(!stages.empty());
    QVERIFY2(stages.back().rfind("fine-tuning: step 5/5", 0) == 0, stages.back().c_str());
    // labels_per_class survives the run folder's JSON line (and is absent when unused).
    QCOMPARE(evalRecordFromJson(json::parse(evalRecordToJson(r).dump())).labelsPerClass, int64_t(3));
    QVERIFY(!evalRecordToJson(sample("knn", 50, "t")).contains("labels_per_class"));
    // A class with fewer images than asked gives all it has; nonsense is refused.
    const torch::Tensor labels = torch::tensor({0, 0, 1, 1, 1, 1}, torch::kLong);
    QCOMPARE(balancedSubsetPerClass(labels, 2, 3, 0).size(0), int64_t(5));
    PRETEXT_VERIFY_THROWS_WITH(balancedSubsetPerClass(labels, 2, 0, 0), "at least 1");
    req.finetune.steps(-1);
    PRETEXT_VERIFY_THROWS_WITH(evaluateSession(s, req), "-1 steps: expected at least 1");
  }

  void labelCurveRequestsAndPoints() {
    QCOMPARE(parseLabelCounts("10, 50,100"), (std::vector<int64_t>{10, 50, 100}));
    PRETEXT_VERIFY_THROWS_WITH(parseLabelCounts("10,5"), "5 comes after 10");
    PRETEXT_VERIFY_THROWS_WITH(parseLabelCounts("10,,50"), "'' is not a positive whole number");
    PRETEXT_VERIFY_THROWS_WITH(parseLabelCounts("0"), "'0' is not a positive whole number");
    PRETEXT_VERIFY_THROWS_WITH(parseLabelCounts("ten"), "'ten'");
    QCOMPARE(formatLabelCounts({10, 50}), std::string("10,50"));

    LabelCurveOptions o;
    o.labelsPerClass = {10, 50};
    o.steps = 7;
    o.freezeStages = 2;
    const auto requests = labelCurveRequests(o, 5);
    QCOMPARE(int(requests.size()), 4);  // each count: the trained encoder, then from scratch
    QVERIFY(!requests[0].randomInit && requests[1].randomInit);
    QCOMPARE(requests[2].finetune.perClass(), int64_t(50));
    QCOMPARE(requests[0].finetune.freezeStages(), int64_t(2));  // the trained encoder's stages
    QCOMPARE(requests[1].finetune.freezeStages(), int64_t(0));  // from scratch: every layer learns
    QCOMPARE(requests[3].finetune.steps(), int64_t(7));
    QCOMPARE(requests[3].finetune.seed(), uint64_t(5));
    o.fromScratch = false;
    QCOMPARE(int(labelCurveRequests(o, 5).size()), 2);
    o.steps = 0;
    PRETEXT_VERIFY_THROWS_WITH(labelCurveRequests(o, 5), "steps = 0");

    // The curve read back from records: the latest of each (count, init); other records ignored.
    auto point = [](int64_t perClass, bool randomInit, double top1) {
      EvalRecord r;
      r.protocol = "finetune";
      r.labelsPerClass = perClass;
      r.randomInit = randomInit;
      r.top1 = top1;
      r.step = randomInit ? 0 : 900;
      return r;
    };
    EvalRecord fraction = point(0, false, 99);  // a fine-tuning on a fraction of the labels
    const auto curve = labelCurveFromRecords({point(50, false, 80), point(10, false, 60),
                                              point(10, true, 50), fraction, sample("knn", 70, "t"),
                                              point(10, false, 62)});
    QCOMPARE(int(curve.size()), 2);
    QCOMPARE(curve[0].labelsPerClass, int64_t(10));
    QCOMPARE(curve[0].trained, 62.0);
    QCOMPARE(curve[0].scratch, 50.0);
    QCOMPARE(curve[0].trainedStep, int64_t(900));
    QCOMPARE(curve[1].trained, 80.0);
    QVERIFY(std::isnan(curve[1].scratch));
  }

  void cancelThroughProgress() {
    Session s = tinySession();
    EvalRequest req;
    struct Stop {};
    bool stopped = false;
    try {
      evaluateSession(s, req, [](const std::string&, double) { throw Stop{}; });
    } catch (const Stop&) {
      stopped = true;
    }
    QVERIFY(stopped);
  }

  void unlabelledDataIsRefused() {
    Session s = tinySession();
    s.data.test.labels = torch::Tensor();
    PRETEXT_VERIFY_THROWS_WITH(evaluateSession(s, EvalRequest()), "no labels");
  }
};

PRETEXT_TEST_AREA(TestEvalResults, "eval_results")
#include "test_eval_results.moc"
