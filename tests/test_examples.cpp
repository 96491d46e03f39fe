// Packed runs and the ready-trained examples: packing keeps what inspection needs in half
// precision and loads back as float32, a packed run refuses to resume, the examples are found,
// copied and named in errors, and the examples shipped in resources/examples load and carry
// their probe results.
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/config/experiment.h"
#include "core/train/checkpoint.h"
#include "core/train/examples.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "test_main.h"
#include "test_support.h"

using namespace pretext;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

torch::Tensor testFeatures(Session& s) {
  torch::NoGradGuard noGrad;
  s.method->eval();
  return s.method->features(s.data.test.images.slice(0, 0, 16).to(torch::kFloat) / 255.0);
}

}  // namespace

class TestExamples : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::string data_, run_;

 private slots:
  void initTestCase() {
    data_ = tmp_.filePath("data").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
    TrainOptions o;
    o.outDir = tmp_.filePath("runs").toStdString();
    run_ = Trainer(experimentFromJson(test::tinyExperimentJson(data_, "simclr", 1)), o).run();
  }

  void plannedStepsCountsFullBatches() {
    Experiment e = experimentFromJson(loadPresetJson("simclr-fashion"));
    QCOMPARE(plannedSteps(e, 60000), int64_t(2808));  // 12 epochs of 234 full batches of 256
    e.steps = 50;
    QCOMPARE(plannedSteps(e, 60000), int64_t(50));
  }

  void packedRunLoadsBackAsFloat32() {
    const std::string packed = tmp_.filePath("packed").toStdString();
    const PackSummary summary = packRun(run_, packed);
    QVERIFY(summary.halfTensors > 0);
    QVERIFY(summary.float32Tensors.empty());
    QVERIFY(isPackedRun(packed));
    QVERIFY(!isPackedRun(run_));
    // The model alone in half precision: well under half of the full checkpoint (which also
    // holds the optimiser's moments).
    const auto full = fs::file_size(run_ + "/checkpoint.pt");
    QVERIFY2(
        summary.checkpointBytes * 2 < full,
        qPrintable(QString("packed %1 bytes, full %2").arg(summary.checkpointBytes).arg(full)));
    for (const char* name : {"experiment.json", "metrics.csv", "metrics.jsonl", "state.json"})
      QVERIFY2(fs::exists(packed + "/" + name), name);
    // metrics.jsonl keeps the kNN evaluations, not the per-step lines.
    std::ifstream jsonl(packed + "/metrics.jsonl");
    std::string line;
    int evals = 0;
    while (std::getline(jsonl, line)) {
      const json row = json::parse(line);
      QVERIFY(row["type"] != "step");
      evals += row["type"] == "eval";
    }
    QVERIFY(evals > 0);

    Session original = loadRunSession(run_);
    Session loaded = loadRunSession(packed);
    for (const auto& p : loaded.method->parameters()) QCOMPARE(p.scalar_type(), torch::kFloat);
    for (const auto& b : loaded.method->buffers())
      if (b.is_floating_point()) QCOMPARE(b.scalar_type(), torch::kFloat);
    const auto a = testFeatures(original), b = testFeatures(loaded);
    // Half precision keeps about three significant digits of every weight.
    const double error = (a - b).abs().max().item<double>() / a.abs().max().item<double>();
    QVERIFY2(error < 0.02, qPrintable(QString("relative feature error %1").arg(error)));
    QVERIFY(error > 0);  // it did round
  }

  void packedRunRefusesToResume() {
    const std::string packed = tmp_.filePath("packed-resume").toStdString();
    packRun(run_, packed);
    TrainOptions o;
    o.resumeDir = packed;
    PRETEXT_VERIFY_THROWS_WITH(Trainer(RunDirectory::open(packed).experiment(), o).run(),
                               "cannot be resumed");
    PRETEXT_VERIFY_THROWS_WITH(packRun(packed, tmp_.filePath("twice").toStdString()),
                               "already packed");
    PRETEXT_VERIFY_THROWS_WITH(packRun(run_, packed), "not empty");
  }

  void examplesAreFoundAndCopied() {
    const QString resources = tmp_.filePath("resources");
    const std::string example = resources.toStdString() + "/examples/tiny-simclr";
    packRun(run_, example);
    test::writeText(example + "/example.json",
                    R"({"title": "Tiny SimCLR", "summary": "a test", "panel": "Neighbours"})");
    test::writeText(example + "/eval.json",
                    R"({"knn_top1": 81.5, "linear_top1": 85.25, "probe_data": "mnist"})");
    test::writeText(example + "/eval-random-init.json",
                    R"({"knn_top1": 70, "linear_top1": 75, "random_init": true})");
    fs::create_directories(resources.toStdString() + "/examples/not-a-run");
    qputenv("PRETEXT_RESOURCES", resources.toUtf8());
    const auto examples = exampleRuns();
    QCOMPARE(examples.size(), size_t(1));
    const ExampleRun& e = examples[0];
    QCOMPARE(e.name, std::string("tiny-simclr"));
    QCOMPARE(e.title, std::string("Tiny SimCLR"));
    QCOMPARE(e.panel, std::string("Neighbours"));
    QCOMPARE(e.method, std::string("simclr"));
    QVERIFY(e.steps > 0);
    QCOMPARE(e.knnTop1, 81.5);
    QCOMPARE(e.randomLinearTop1, 75.0);
    PRETEXT_VERIFY_THROWS_WITH(findExampleRun("nope"), "tiny-simclr");

    const std::string runs = tmp_.filePath("user-runs").toStdString();
    const std::string copy = copyExampleRun("tiny-simclr", runs);
    QCOMPARE(copy, runs + "/examples/tiny-simclr");
    QVERIFY(isPackedRun(copy));
    test::writeText(copy + "/evaluations.jsonl", "{}\n");  // something the user added
    QCOMPARE(copyExampleRun("tiny-simclr", runs), copy);
    QVERIFY(fs::exists(copy + "/evaluations.jsonl"));
    QVERIFY(loadRunSession(copy).method != nullptr);
    qunsetenv("PRETEXT_RESOURCES");
  }

  // The examples in the repository: each a packed run that loads, says which panel shows it,
  // and carries the probes of the trained model and of the untrained baseline, which it beats.
  void shippedExamplesLoadAndBeatTheirBaseline() {
    const auto examples = exampleRuns();
    if (examples.empty()) QSKIP("no examples in resources/examples");
    const QStringList panels{"Curves",  "Augmentations", "Neighbours",  "Embedding",
                             "Encoder", "Evaluation",    "Method views"};
    int64_t bytes = 0;
    for (const auto& e : examples) {
      const QString name = QString::fromStdString(e.name);
      QVERIFY2(panels.contains(QString::fromStdString(e.panel)), qPrintable(name));
      QVERIFY2(e.knnTop1 > e.randomKnnTop1 && e.randomKnnTop1 > 0, qPrintable(name));
      QVERIFY2(e.linearTop1 > e.randomLinearTop1 && e.randomLinearTop1 > 0, qPrintable(name));
      Session s = loadRunSession(e.path);
      QVERIFY(s.method != nullptr);
      for (const auto& entry : fs::directory_iterator(e.path)) bytes += int64_t(entry.file_size());
    }
    QVERIFY2(bytes < 20'000'000, qPrintable(QString("%1 bytes").arg(bytes)));  // the issue's budget
  }
};

PRETEXT_TEST_AREA(TestExamples, "examples")
#include "test_examples.moc"
