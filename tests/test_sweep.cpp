// Sweeps (core/train/sweep.h): the sweep file's parsing and validation, the points' expansion
// and names, the results files, and a tiny 2x2 sweep stopped in its second point and run again
// to the end, each point trained and evaluated once.
#include "test_main.h"
#include <torch/torch.h>

#include <QtTest>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/eval/results.h"
#include "core/train/control.h"
#include "core/train/events.h"
#include "core/train/run_dir.h"
#include "core/train/sweep.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;
namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

// Step records of a run's metrics.jsonl, in file order.
std::vector<int64_t> stepRecords(const std::string& run) {
  std::vector<int64_t> steps;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    if (j.value("type", std::string()) == "step") steps.push_back(j.value("step", int64_t(-1)));
  }
  return steps;
}

int countLinesStartingWith(const std::string& file, const std::string& prefix) {
  std::ifstream in(file);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.rfind(prefix, 0) == 0;
  return n;
}

// Stops the sweep at step `at` of the `point`-th point that starts (0-based).
class StopInPoint : public TrainerEvents {
 public:
  StopInPoint(TrainControl* control, int point, int64_t at)
      : control_(control), point_(point), at_(at) {}
  int started = 0;
  void onStart(const StartEvent&) override { ++started; }
  void onStep(const StepEvent& e) override {
    if (started == point_ + 1 && e.step >= at_) control_->stop();
  }

 private:
  TrainControl* control_;
  int point_;
  int64_t at_;
};

}  // namespace

class TestSweep : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  ojson tinyExperiment() const {
    ojson e = ojson::parse(test::tinyExperimentJson(data_, "simclr", 2).dump());
    e["run"]["threads"] = 1;
    e["eval"]["knn_every"] = 0;
    e["run"]["tensorboard"] = false;
    return e;
  }
  ojson tinyGrid() const {
    ojson grid = ojson::object();
    grid["optimizer.lr"] = {0.001, 0.002};
    grid["method.temperature"] = {0.1, 0.5};
    ojson s = ojson::object();
    s["name"] = "tiny";
    s["experiment"] = tinyExperiment();
    s["grid"] = grid;
    s["evaluate"] = {{"probes", {"knn", "linear"}}, {"k", 5}};
    return s;
  }

 private slots:
  void initTestCase() {
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
  }

  void gridExpandsInTheFilesOrderWithNamedPoints() {
    const SweepPlan plan = parseSweep(tinyGrid());
    QCOMPARE(plan.name, std::string("tiny"));
    QVERIFY(!plan.random());
    QCOMPARE(plan.axes.size(), size_t(2));
    // The file's order, not the alphabet's; method.X is method.params.X.
    QCOMPARE(plan.axes[0].key, std::string("optimizer.lr"));
    QCOMPARE(plan.axes[1].key, std::string("method.params.temperature"));
    QCOMPARE(plan.points.size(), size_t(4));
    const std::vector<std::string> names{"0_lr=0.001_temperature=0.1", "1_lr=0.001_temperature=0.5",
                                         "2_lr=0.002_temperature=0.1",
                                         "3_lr=0.002_temperature=0.5"};
    for (size_t i = 0; i < 4; ++i) {
      QCOMPARE(plan.points[i].name, names[i]);
      QCOMPARE(plan.points[i].index, int(i));
      QCOMPARE(plan.points[i].cell, (std::vector<int>{int(i / 2), int(i % 2)}));
    }
    QCOMPARE(plan.points[3].experiment.lr, 0.002);
    QCOMPARE(plan.points[3].experiment.methodParams["temperature"].get<double>(), 0.5);
    QCOMPARE(plan.points[0].experiment.batchSize, int64_t(16));  // the base experiment's
    QCOMPARE(plan.probe, std::string("knn"));                    // the first probe by default
  }

  void namesStayShortUnlessTheyClash() {
    ojson s = tinyGrid();
    s["grid"] = ojson::object();
    s["grid"]["optimizer.lr"] = {0.001};
    s["grid"]["schedule.lr_schedule"] = {"cosine", "constant"};
    SweepPlan plan = parseSweep(s);
    QCOMPARE(plan.points[1].name, std::string("1_lr=0.001_lr_schedule=constant"));
    // Two keys ending alike keep their whole paths.
    s["grid"] = ojson::object();
    s["grid"]["optimizer.name"] = {"sgd"};
    s["grid"]["backbone.name"] = {"convnet"};
    plan = parseSweep(s);
    QCOMPARE(plan.points[0].name, std::string("0_optimizer.name=sgd_backbone.name=convnet"));
    // Ten points or more: the indices are padded, so the folders sort in plan order.
    s["grid"] = ojson::object();
    s["grid"]["run.seed"] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    plan = parseSweep(s);
    QCOMPARE(plan.points[0].name, std::string("00_seed=0"));
    QCOMPARE(plan.points[10].name, std::string("10_seed=10"));
  }

  void presetsAndSetsMakeTheBase() {
    ojson s = ojson::object();
    s["preset"] = "rotation-fashion";
    s["experiment"] = {{"schedule", {{"steps", 20}}}};
    s["grid"] = {{"optimizer.lr", {0.01, 0.02}}};
    const SweepPlan plan = parseSweep(s, {"run.threads=1"}, "from-preset");
    QCOMPARE(plan.name, std::string("from-preset"));
    QCOMPARE(plan.points[0].experiment.method, std::string("rotation"));
    QCOMPARE(plan.points[0].experiment.steps, int64_t(20));
    QCOMPARE(plan.points[1].experiment.threads, int64_t(1));
    QCOMPARE(plan.points[1].experiment.lr, 0.02);
    // "experiment": {"preset": NAME} says the same.
    ojson t = ojson::object();
    t["experiment"] = {{"preset", "rotation-fashion"}};
    t["grid"] = {{"optimizer.lr", {0.01}}};
    QCOMPARE(parseSweep(t).points[0].experiment.method, std::string("rotation"));
  }

  void randomSearchIsDeterministicAndInRange() {
    ojson s = tinyGrid();
    s.erase("grid");
    ojson space = ojson::object();
    space["optimizer.lr"] = {{"log_uniform", {1e-4, 1e-2}}};
    space["method.temperature"] = {{"uniform", {0.05, 0.5}}};
    space["schedule.batch_size"] = {{"uniform", {8, 32}}};
    space["optimizer.name"] = {{"choice", {"adam", "sgd"}}};
    s["random"] = {{"budget", 12}, {"seed", 7}, {"space", space}};
    const SweepPlan a = parseSweep(s), b = parseSweep(s);
    QVERIFY(a.random());
    QCOMPARE(a.points.size(), size_t(12));
    std::set<std::string> optimizers;
    for (size_t i = 0; i < a.points.size(); ++i) {
      QCOMPARE(a.points[i].name, b.points[i].name);
      QVERIFY(a.points[i].cell.empty());
      const Experiment& e = a.points[i].experiment;
      QVERIFY(e.lr >= 1e-4 && e.lr <= 1e-2);
      const double t = e.methodParams["temperature"].get<double>();
      QVERIFY(t >= 0.05 && t <= 0.5);
      QVERIFY(e.batchSize >= 8 && e.batchSize <= 32);  // whole numbers: both bounds are
      QVERIFY(a.points[i].settings[2].second.is_number_integer());
      optimizers.insert(e.optimizer);
    }
    QCOMPARE(optimizers.size(), size_t(2));
    // log_uniform spreads over the decades: some draws below 1e-3, some above.
    int below = 0;
    for (const auto& p : a.points) below += p.experiment.lr < 1e-3;
    QVERIFY(below > 0 && below < 12);
    // A point's values do not depend on the budget; another seed draws others.
    s["random"]["budget"] = 3;
    QCOMPARE(parseSweep(s).points[2].settings, a.points[2].settings);
    QCOMPARE(parseSweep(s).points[2].name.substr(0, 2), std::string("2_"));  // 3 points: one digit
    s["random"]["seed"] = 8;
    QVERIFY(parseSweep(s).points[2].settings != a.points[2].settings);
  }

  void planRoundTripsThroughSweepJson() {
    const SweepPlan plan = parseSweep(tinyGrid());
    const SweepPlan again = parseSweep(sweepPlanToJson(plan));
    QCOMPARE(again.points.size(), plan.points.size());
    for (size_t i = 0; i < plan.points.size(); ++i) {
      QCOMPARE(again.points[i].name, plan.points[i].name);
      QCOMPARE(again.points[i].cell, plan.points[i].cell);
    }
    QCOMPARE(again.evaluation.k, int64_t(5));
    ojson r = tinyGrid();
    r.erase("grid");
    r["random"] = {{"budget", 3}, {"space", {{"optimizer.lr", {{"log_uniform", {1e-4, 1e-2}}}}}}};
    const SweepPlan random = parseSweep(r);
    QCOMPARE(parseSweep(sweepPlanToJson(random)).points[2].settings, random.points[2].settings);
  }

  void badSweepsAreRefusedNamingTheKey_data() {
    QTest::addColumn<QString>("patch");  // JSON merged into the tiny grid's sweep
    QTest::addColumn<QString>("message");
    QTest::newRow("typo in a key") << "{\"grid\": {\"optimizer.lrr\": [0.1]}}"
                                   << "optimizer.lrr";
    QTest::newRow("bad value") << "{\"grid\": {\"optimizer.lr\": [0.001, -1]}}"
                               << "optimizer.lr = -1";
    QTest::newRow("bad point named") << "{\"grid\": {\"optimizer.lr\": [0.001, -1]}}"
                                     << "point 1 (optimizer.lr=-1";
    QTest::newRow("unknown parameter") << "{\"grid\": {\"method.temprature\": [0.1]}}"
                                       << "temprature";
    QTest::newRow("three axes")
        << "{\"grid\": {\"run.seed\": [1], \"optimizer.lr\": [0.1], \"schedule.epochs\": [1]}}"
        << "one or two settings";
    QTest::newRow("empty list") << "{\"grid\": {\"optimizer.lr\": []}}"
                                << "grid.optimizer.lr: expected a non-empty list";
    QTest::newRow("twice") << "{\"grid\": {\"optimizer.lr\": [0.1, 0.1]}}"
                           << "listed twice";
    QTest::newRow("nested value") << "{\"grid\": {\"optimizer.lr\": [[0.1]]}}"
                                  << "expected a number, a string";
    QTest::newRow("both") << "{\"random\": {\"budget\": 2}}"
                          << "either \"grid\" or \"random\"";
    QTest::newRow("neither") << "{\"grid\": null}"
                             << "no settings to vary";
    QTest::newRow("unknown key") << "{\"grids\": 1}"
                                 << "grids: unknown key";
    QTest::newRow("experiment") << "{\"experiment\": {\"optimizer\": {\"lr\": 0}}}"
                                << "experiment: optimizer.lr = 0";
    QTest::newRow("probe") << "{\"probe\": \"finetune\"}"
                           << "probe = \"finetune\"";
    QTest::newRow("probes") << "{\"evaluate\": {\"probes\": [\"knn\", \"svm\"]}}"
                            << "evaluate.probes: \"svm\"";
    QTest::newRow("limit") << "{\"evaluate\": {\"test_limit\": -3}}"
                           << "evaluate.test_limit = -3";
    QTest::newRow("name") << "{\"name\": \"a/b\"}"
                          << "name = \"a/b\"";
    QTest::newRow("no budget") << "{\"grid\": null, \"random\": {\"space\": {}}}"
                               << "random.budget";
    QTest::newRow("range order") << "{\"grid\": null, \"random\": {\"budget\": 2, \"space\": "
                                    "{\"optimizer.lr\": {\"uniform\": [0.1, 0.01]}}}}"
                                 << "expected low < high";
    QTest::newRow("log of zero") << "{\"grid\": null, \"random\": {\"budget\": 2, \"space\": "
                                    "{\"optimizer.lr\": {\"log_uniform\": [0, 0.01]}}}}"
                                 << "expected low > 0";
    QTest::newRow("range end")
        << "{\"grid\": null, \"random\": {\"budget\": 1, \"space\": {\"optimizer.lr\": "
           "{\"log_uniform\": [0.001, 500]}}}}"
        << "random.space.optimizer.lr: the value 500.0 is refused: optimizer.lr = 500";
    QTest::newRow("distribution") << "{\"grid\": null, \"random\": {\"budget\": 2, \"space\": "
                                     "{\"optimizer.lr\": {\"normal\": [0, 1]}}}}"
                                  << "unknown distribution \"normal\"";
  }
  void badSweepsAreRefusedNamingTheKey() {
    QFETCH(QString, patch);
    QFETCH(QString, message);
    ojson s = tinyGrid();
    const ojson p = ojson::parse(patch.toStdString());
    if (p.contains("grid") && !p["grid"].is_null()) s.erase("grid");  // the patch's grid alone
    s.merge_patch(p);
    PRETEXT_VERIFY_THROWS_WITH(parseSweep(s), message.toStdString());
  }

  void sweepFilesAndFoldersLoad() {
    const std::string file = dir_.filePath("my-sweep.json").toStdString();
    ojson s = tinyGrid();
    s.erase("name");
    test::writeText(file, s.dump(2));
    const SweepPlan plan = loadSweep(file);
    QCOMPARE(plan.name, std::string("my-sweep"));  // the file's name
    QCOMPARE(defaultSweepFolder(plan, "runs"), std::string("runs/sweeps/my-sweep"));
    test::writeText(file, "{\"grid\": ");
    PRETEXT_VERIFY_THROWS_WITH(loadSweep(file), "my-sweep.json: not valid JSON");
    PRETEXT_VERIFY_THROWS_WITH(loadSweep(dir_.path().toStdString()), "not a sweep folder");
    s["grid"] = {{"optimizer.lr", {-2}}};
    test::writeText(file, s.dump());
    PRETEXT_VERIFY_THROWS_WITH(loadSweep(file),
                               "my-sweep.json: point 0 (optimizer.lr=-2): optimizer.lr = -2");
  }

  void tableSortsByTheProbeUnfinishedLast() {
    SweepResults r;
    r.probe = "linear";
    r.keys = {"optimizer.lr"};
    for (int i = 0; i < 4; ++i) {
      SweepPointResult p;
      p.index = i;
      p.name = "p" + std::to_string(i);
      p.settings = {{"optimizer.lr", json(0.1 * (i + 1))}};
      if (i != 1) p.results = {{"linear_top1", 50.0 + (i * 7) % 5}, {"knn_top1", 90.0 - i}};
      p.status = i == 1 ? "pending" : "finished";
      r.points.push_back(p);
    }
    std::vector<std::string> order;
    for (const auto& p : sweepTable(r)) order.push_back(p.name);
    QCOMPARE(order, (std::vector<std::string>{"p2", "p3", "p0", "p1"}));  // 54, 51, 50, none
    order.clear();
    for (const auto& p : sweepTable(r, "knn")) order.push_back(p.name);
    QCOMPARE(order, (std::vector<std::string>{"p0", "p2", "p3", "p1"}));
    QCOMPARE(r.finishedCount(), 3);
    const SweepResults back = sweepResultsFromJson(sweepResultsToJson(r));
    QCOMPARE(back.points.size(), size_t(4));
    QCOMPARE(back.points[2].settings, r.points[2].settings);
    QCOMPARE(back.value(back.points[3]), 51.0);
    QVERIFY(std::isnan(back.value(back.points[1])));
    json bad = sweepResultsToJson(r);
    bad["points"][0]["cell"] = {4};
    PRETEXT_VERIFY_THROWS_WITH(sweepResultsFromJson(bad), "outside the grid");
  }

  void tinySweepStopsAndContinuesRunningEachPointOnce() {
    const SweepPlan plan = parseSweep(tinyGrid());
    const std::string folder = dir_.filePath("sweeps/tiny").toStdString();
    TrainControl control;
    StopInPoint stopper(&control, 1, 5);  // the second point, at step 5 of its 12
    SweepRunOptions options;
    options.folder = folder;
    options.control = &control;
    options.events = &stopper;
    std::vector<std::string> lines;
    options.log = [&](const std::string& l) { lines.push_back(l); };
    int writes = 0;
    options.onResults = [&](const SweepResults&) { ++writes; };
    SweepOutcome first = runSweep(plan, options);
    QVERIFY(first.stopped);
    QVERIFY(writes >= 3);
    SweepResults r = readSweepResults(folder);
    QCOMPARE(r.points.size(), size_t(4));
    QCOMPARE(r.points[0].status, std::string("finished"));
    QCOMPARE(r.points[0].step, int64_t(12));
    QVERIFY(r.value(r.points[0], "knn") >= 0 && r.value(r.points[0], "linear") <= 100);
    QCOMPARE(r.points[1].status, std::string("stopped"));
    QCOMPARE(r.points[1].step, int64_t(5));
    QCOMPARE(r.points[2].status, std::string("pending"));
    QVERIFY(!fs::exists(folder + "/" + plan.points[2].name));
    QVERIFY(fs::exists(folder + "/sweep.json") && fs::exists(folder + "/sweep_results.csv"));

    // The same plan again (a fresh control, as a new process has): it continues.
    TrainControl fresh;
    options.control = &fresh;
    options.events = nullptr;
    lines.clear();
    SweepOutcome second = runSweep(plan, options);
    QVERIFY(!second.stopped);
    QVERIFY(second.lastSession != nullptr);
    r = readSweepResults(folder);
    QCOMPARE(r.finishedCount(), 4);
    bool resumedLine = false;
    for (const auto& l : lines)
      resumedLine |= l.find(plan.points[1].name + ": resuming at step 5") != std::string::npos;
    QVERIFY(resumedLine);
    std::vector<int64_t> expected;
    for (int64_t s = 1; s <= 12; ++s) expected.push_back(s);
    for (const auto& p : plan.points) {
      const std::string run = folder + "/" + p.name;
      QCOMPARE(stepRecords(run), expected);  // each step once: nothing trained twice
      QCOMPARE(countLinesStartingWith(run + "/log.txt", "run "), p.index == 1 ? 2 : 1);
      const auto records = readEvalRecords(run);
      QCOMPARE(records.size(), size_t(2));  // kNN and linear, once each
      QCOMPARE(records[0].step, int64_t(12));
      const SweepPointResult& pr = r.points[size_t(p.index)];
      QCOMPARE(pr.status, std::string("finished"));
      QCOMPARE(pr.results.at("knn_top1"),
               records[0].protocol == "knn" ? records[0].top1 : records[1].top1);
      QCOMPARE(RunDirectory::open(run).experiment().lr, p.experiment.lr);
    }
    std::ifstream csv(folder + "/sweep_results.csv");
    std::string header;
    std::getline(csv, header);
    QCOMPARE(
        header,
        std::string(
            "index,name,optimizer.lr,method.params.temperature,status,step,knn_top1,linear_top1"));

    // A third time: nothing left to do, nothing retrained.
    const auto before = fs::last_write_time(folder + "/" + plan.points[0].name + "/checkpoint.pt");
    SweepOutcome third = runSweep(plan, options);
    QCOMPARE(third.results.finishedCount(), 4);
    QCOMPARE(fs::last_write_time(folder + "/" + plan.points[0].name + "/checkpoint.pt"), before);

    // Another plan is refused in this folder.
    ojson other = tinyGrid();
    other["grid"]["optimizer.lr"] = {0.003, 0.002};
    PRETEXT_VERIFY_THROWS_WITH(runSweep(parseSweep(other), options), "holds another sweep");
  }

  void aFailingPointIsRecordedAndTheSweepGoesOn() {
    // A batch larger than the 96 training images fails in the trainer, after its run folder
    // exists (as a diverging loss does, later).
    ojson s = tinyGrid();
    s["grid"] = {{"schedule.batch_size", {512, 16}}};
    s["evaluate"] = {{"probes", {"knn"}}, {"k", 5}};
    const SweepPlan plan = parseSweep(s);
    SweepRunOptions options;
    options.folder = dir_.filePath("sweeps/failing").toStdString();
    const SweepOutcome out = runSweep(plan, options);
    QCOMPARE(out.results.points[0].status, std::string("failed"));
    QVERIFY2(
        out.results.points[0].error.find("larger than the 96 training images") != std::string::npos,
        out.results.points[0].error.c_str());
    QCOMPARE(out.results.points[1].status, std::string("finished"));
    // Run again: the failed point is not retried (it would diverge again).
    const SweepOutcome again = runSweep(plan, options);
    QCOMPARE(again.results.points[0].status, std::string("failed"));
    QCOMPARE(again.results.points[0].error, out.results.points[0].error);
  }
};

PRETEXT_TEST_AREA(TestSweep, "sweep")
#include "test_sweep.moc"
