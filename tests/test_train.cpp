// Training: exact resume, the NaN guard keeping the last good checkpoint, pause/step/stop from
// another thread, atomic files, the run folder's contents.
#include "test_main.h"
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/config/experiment.h"
#include "core/methods/registry.h"
#include "core/train/checkpoint.h"
#include "core/train/optim.h"
#include "core/train/run_dir.h"
#include "core/train/run_tail.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Recorder : TrainerEvents {
  std::vector<double> losses;
  std::vector<EvalEvent> evals;
  std::atomic<int> steps{0};
  FinishEvent finish;
  std::string failure;
  void onStep(const StepEvent& e) override {
    losses.push_back(e.loss);
    steps = static_cast<int>(e.step);
  }
  void onEvaluation(const EvalEvent& e) override { evals.push_back(e); }
  void onFinished(const FinishEvent& e) override { finish = e; }
  void onFailed(const std::string& m) override { failure = m; }
};

// A method that injects a NaN or an infinity from a given step on (to test the guards):
// what 0: the loss is NaN; 1: the loss is +inf; 2: the loss is finite, its gradient NaN (as a
// backward pass through a norm at 0 gives); 3: only a reported metric is NaN.
class NanAtStep : public Method {
 public:
  explicit NanAtStep(const MethodSetup& s)
      : Method(s), at_(s.params["at"].get<int64_t>()), what_(s.params.value("what", int64_t(0))) {}
  StepResult step(const Batch& b, StepContext& ctx) override {
    auto features = encoder_->forward(b.images);
    const bool now = ctx.step + 1 >= at_;
    if (now && what_ == 2)
      features.register_hook([](torch::Tensor g) { return g * std::numeric_limits<float>::quiet_NaN(); });
    auto loss = features.pow(2).mean();
    if (now && what_ == 0) loss = loss * std::numeric_limits<float>::quiet_NaN();
    if (now && what_ == 1) loss = loss * std::numeric_limits<float>::infinity();
    auto metric = torch::tensor(now && what_ == 3 ? std::numeric_limits<float>::quiet_NaN() : 1.0f);
    return {loss, {{"injected", metric}}};
  }

 private:
  int64_t at_, what_;
};

// Counts the steps that ran under CPU autocast and those whose features came out in bf16.
std::atomic<int> precisionSteps{0}, autocastSteps{0}, bf16Features{0};
class RecordsPrecision : public Method {
 public:
  explicit RecordsPrecision(const MethodSetup& s) : Method(s) {}
  StepResult step(const Batch& b, StepContext&) override {
    ++precisionSteps;
    if (at::autocast::is_cpu_enabled()) ++autocastSteps;
    auto f = encoder_->forward(b.images);
    if (f.scalar_type() == torch::kBFloat16) ++bf16Features;
    return {f.to(torch::kFloat).pow(2).mean(), {}};
  }
};

}  // namespace

class TestTrain : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  Experiment tiny(const std::string& method, int64_t epochs = 2) {
    json j{{"name", "tiny-" + method},
           {"data", {{"source", "mnist:" + data_}}},
           {"method", {{"name", method}}},
           {"backbone", {{"width", 4}}},
           {"schedule", {{"epochs", epochs}, {"batch_size", 16}, {"warmup_epochs", 1}}},
           {"eval", {{"knn_every", 1}, {"knn_k", 5}}},
           {"run", {{"seed", 3}, {"log_every", 1}, {"threads", 2}}}};
    return experimentFromJson(j);
  }
  std::string out() const { return dir_.filePath("runs").toStdString(); }

 private slots:
  void initTestCase() {
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
    MethodInfo nan;
    nan.name = "test-nan";
    nan.title = nan.summary = nan.formula = "test";
    nan.params = {{"at", ParamSpec::Type::Int, 3, 1, 1000, {}, "step at which the loss turns NaN"},
                  {"what", ParamSpec::Type::Int, 0, 0, 3, {}, "0 NaN loss, 1 inf loss, 2 NaN gradient, 3 NaN metric"}};
    nan.make = [](const MethodSetup& s) { return std::make_shared<NanAtStep>(s); };
    MethodRegistry::instance().add(nan);
    MethodInfo precision;
    precision.name = "test-precision";
    precision.title = precision.summary = precision.formula = "test";
    precision.make = [](const MethodSetup& s) { return std::make_shared<RecordsPrecision>(s); };
    MethodRegistry::instance().add(precision);
  }

  void runFolderContents() {
    Recorder rec;
    const std::string run = Trainer(tiny("rotation"), {out()}, &rec).run();
    for (const char* f : {"experiment.json", "metrics.csv", "metrics.jsonl", "checkpoint.pt", "state.json", "log.txt"})
      QVERIFY2(fs::exists(run + "/" + f), f);
    std::ifstream csv(run + "/metrics.csv");
    std::string header;
    std::getline(csv, header);
    QVERIFY2(header.rfind("step,epoch,loss,lr,img_per_s", 0) == 0, header.c_str());
    QVERIFY(header.find("rotation_acc") != std::string::npos);
    QCOMPARE(int(rec.losses.size()), 12);  // 96 images / 16 = 6 steps per epoch, 2 epochs
    QCOMPARE(int(rec.evals.size()), 2);    // online kNN after each epoch
    QVERIFY(rec.evals[0].top1 >= 0 && rec.evals[0].top1 <= 100);
    QVERIFY(!rec.finish.stopped);
    json state = json::parse(std::ifstream(run + "/state.json"));
    QCOMPARE(state["step"].get<int>(), 12);
    QVERIFY(state["finished"].get<bool>());
    // The resolved experiment reloads to the same thing.
    QCOMPARE(experimentToJson(loadExperiment(run + "/experiment.json")).dump(),
             experimentToJson(tiny("rotation")).dump());
  }

  // N steps straight == N/2 steps, stop, resume to N: the same losses.
  void resumeIsExact_data() {
    QTest::addColumn<QString>("method");
    QTest::newRow("simclr") << "simclr";
    QTest::newRow("rotation") << "rotation";
    // Its clustering runs at each epoch's start; the stop at step 7 falls mid-epoch, so the
    // resumed run must take the pseudo-labels from the checkpoint.
    QTest::newRow("deepcluster") << "deepcluster";
    QTest::newRow("drlim") << "drlim";
    // Its neighbour table from the first epoch's start, its training images attached again on the resume.
    QTest::newRow("drlim-dataset") << "drlim-dataset";
    QTest::newRow("npid") << "npid";  // its memory bank travels with the checkpoint
    // Its bank too, filled by the untrained network at the first epoch's start (not again on the
    // resume), and negatives drawn from the step's generator.
    QTest::newRow("pirl") << "pirl";
  }
  void resumeIsExact() {
    QFETCH(QString, method);
    Experiment e = tiny(method == "drlim-dataset" ? "drlim" : method.toStdString(), 3);  // 18 steps
    if (method == "drlim-dataset") e.methodParams = {{"pairs", "dataset-neighbours"}};
    if (method == "deepcluster") e.methodParams = {{"clusters", 8}, {"pca_dim", 16}, {"kmeans_iterations", 5}};
    if (method == "pirl") e.methodParams = {{"bank_init", "encoder"}, {"negatives", 8}};
    Recorder straight;
    Trainer(e, {out()}, &straight).run();

    Recorder first, second;
    TrainOptions half{out()};
    half.stepsOverride = 7;
    const std::string run = Trainer(e, half, &first).run();
    QVERIFY(first.finish.stopped);
    TrainOptions resume{out()};
    resume.resumeDir = run;
    Trainer(Experiment{}, resume, &second).run();

    std::vector<double> joined = first.losses;
    joined.insert(joined.end(), second.losses.begin(), second.losses.end());
    QCOMPARE(joined.size(), straight.losses.size());
    for (size_t i = 0; i < joined.size(); ++i)
      QVERIFY2(std::abs(joined[i] - straight.losses[i]) <= 1e-6 * std::max(1.0, std::abs(straight.losses[i])),
               qPrintable(QString("step %1: %2 vs %3").arg(i + 1).arg(joined[i]).arg(straight.losses[i])));
    // The metrics file has one row per step, with no duplicates from the resume.
    std::ifstream csv(run + "/metrics.csv");
    int rows = -1;
    for (std::string line; std::getline(csv, line);) ++rows;
    QCOMPARE(rows, 18);
  }

  // lossReadEvery 1: the CPU default, the NaN caught before its backward pass. 4 (as on CUDA,
  // where reading the loss waits for the GPU): steps 7-9 are read before step 9's checkpoint,
  // so the NaN of step 8 is named and that checkpoint is not written; step 6's is kept.
  void nanLossStopsAndKeepsLastCheckpoint_data() {
    QTest::addColumn<int>("readEvery");
    QTest::addColumn<int>("nanAt");
    QTest::addColumn<int>("checkpointEvery");
    QTest::addColumn<int>("lastGood");
    QTest::newRow("every step") << 1 << 5 << 2 << 4;
    QTest::newRow("every 4 steps") << 4 << 8 << 3 << 6;
  }
  void nanLossStopsAndKeepsLastCheckpoint() {
    QFETCH(int, readEvery);
    QFETCH(int, nanAt);
    QFETCH(int, checkpointEvery);
    QFETCH(int, lastGood);
    json j = experimentToJson(tiny("test-nan"));
    j["method"]["params"] = {{"at", nanAt}};
    j["run"]["checkpoint_every"] = checkpointEvery;
    j["run"]["log_every"] = 100;
    Recorder rec;
    std::string message;
    try {
      TrainOptions o{out()};
      o.lossReadEvery = readEvery;
      Trainer(experimentFromJson(j), o, &rec).run();
    } catch (const Error& e) {
      message = e.what();
    }
    const std::string step = "step " + std::to_string(nanAt) + ": the loss is nan";
    const std::string kept = "last good checkpoint (step " + std::to_string(lastGood) + ")";
    QVERIFY2(message.find(step) != std::string::npos, message.c_str());
    QVERIFY2(message.find(kept) != std::string::npos, message.c_str());
    QCOMPARE(rec.failure, message);
    // The last good checkpoint is intact and loads.
    const std::string ckpt = message.substr(message.find(" kept in ") + 9);
    const std::string run = fs::path(ckpt.substr(0, ckpt.find(".pt") + 3)).parent_path().string();
    QCOMPARE(RunDirectory::open(run).state()["step"].get<int>(), lastGood);
    Session s = loadRunSession(run);
    QVERIFY(s.method != nullptr);
  }

  // Beyond a NaN loss: an infinite loss, and a finite loss whose gradient is NaN, stop the run
  // at that step naming what was not finite, before the weights change; the last good
  // checkpoint stays (and holds no NaN). A NaN metric alone is reported once and training goes on.
  void nonFiniteValuesStopTheRunAtTheirStep_data() {
    QTest::addColumn<int>("what");
    QTest::addColumn<QString>("expected");
    QTest::newRow("inf loss") << 1 << "step 5: the loss is inf";
    QTest::newRow("nan gradient") << 2 << "step 5: the gradient of encoder.";
  }
  void nonFiniteValuesStopTheRunAtTheirStep() {
    QFETCH(int, what);
    QFETCH(QString, expected);
    json j = experimentToJson(tiny("test-nan"));
    j["method"]["params"] = {{"at", 5}, {"what", what}};
    j["run"]["checkpoint_every"] = 2;
    Recorder rec;
    std::string message;
    try {
      Trainer(experimentFromJson(j), {out()}, &rec).run();
    } catch (const Error& e) {
      message = e.what();
    }
    QVERIFY2(message.find(expected.toStdString()) != std::string::npos, message.c_str());
    QVERIFY2(message.find("last good checkpoint (step 4)") != std::string::npos, message.c_str());
    if (what == 2) QVERIFY2(message.find("(nan) is not finite, while the loss is") != std::string::npos, message.c_str());
    const std::string ckpt = message.substr(message.find(" kept in ") + 9);
    const std::string run = fs::path(ckpt.substr(0, ckpt.find(".pt") + 3)).parent_path().string();
    QCOMPARE(RunDirectory::open(run).state()["step"].get<int>(), 4);
    Session s = loadRunSession(run);
    for (const auto& p : s.method->parameters()) QVERIFY(torch::isfinite(p).all().item<bool>());
  }
  void nanMetricIsReportedOnceAndTrainingGoesOn() {
    json j = experimentToJson(tiny("test-nan", 1));
    j["method"]["params"] = {{"at", 3}, {"what", 3}};
    Recorder rec;
    const std::string run = Trainer(experimentFromJson(j), {out()}, &rec).run();
    QVERIFY(!rec.finish.stopped);
    std::ifstream log(run + "/log.txt");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    const std::string warning = "warning: step 3: the metric injected is nan";
    QVERIFY2(text.find(warning) != std::string::npos, text.c_str());
    QVERIFY2(text.find(warning, text.find(warning) + 1) == std::string::npos, "reported once");
  }

  // Reading the losses back in batches (as on CUDA) gives the same epoch means as every step.
  void batchedLossReadsKeepEpochMeans() {
    std::vector<std::vector<double>> means;
    for (int readEvery : {1, 5}) {
      json j = experimentToJson(tiny("rotation"));
      j["run"]["log_every"] = 100;
      TrainOptions o{out()};
      o.lossReadEvery = readEvery;
      const std::string run = Trainer(experimentFromJson(j), o).run();
      std::vector<double> m;
      std::ifstream in(run + "/metrics.jsonl");
      for (std::string line; std::getline(in, line);) {
        const json row = json::parse(line);
        if (row["type"] == "epoch") m.push_back(row["loss"].get<double>());
      }
      means.push_back(m);
    }
    QCOMPARE(int(means[0].size()), 2);
    QCOMPARE(means[1].size(), means[0].size());
    for (size_t i = 0; i < means[0].size(); ++i) {
      QVERIFY(std::isfinite(means[0][i]));
      QVERIFY2(std::abs(means[0][i] - means[1][i]) <= 1e-9 * std::abs(means[0][i]),
               qPrintable(QString("%1 vs %2").arg(means[0][i]).arg(means[1][i])));
    }
  }

  // run.precision bf16 runs the steps under CPU autocast (convolutions in bf16, the weights
  // fp32); auto and fp32 stay fp32 on the CPU; the scope ends with the step.
  void cpuPrecision_data() {
    QTest::addColumn<QString>("precision");
    QTest::addColumn<bool>("bf16");
    QTest::newRow("bf16") << "bf16" << true;
    QTest::newRow("auto") << "auto" << false;
    QTest::newRow("fp32") << "fp32" << false;
  }
  void cpuPrecision() {
    QFETCH(QString, precision);
    QFETCH(bool, bf16);
    json j = experimentToJson(tiny("test-precision", 1));
    j["run"]["precision"] = precision.toStdString();
    precisionSteps = autocastSteps = bf16Features = 0;
    const std::string run = Trainer(experimentFromJson(j), {out()}).run();
    QCOMPARE(precisionSteps.load(), 6);
    QCOMPARE(autocastSteps.load(), bf16 ? 6 : 0);
    QCOMPARE(bf16Features.load(), bf16 ? 6 : 0);
    QVERIFY(!at::autocast::is_cpu_enabled());
    Session s = loadRunSession(run);
    for (const auto& p : s.method->parameters()) QCOMPARE(p.scalar_type(), torch::kFloat);
  }

  void pauseStepStopFromAnotherThread() {
    TrainControl control;
    Recorder rec;
    control.pause();
    std::string run;
    std::thread worker([&] { run = Trainer(tiny("simclr", 5), {out()}, &rec, &control).run(); });
    control.step(2);
    for (int i = 0; i < 500 && rec.steps < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    QCOMPARE(rec.steps.load(), 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    QCOMPARE(rec.steps.load(), 2);  // paused: no more steps
    std::atomic<bool> served{false};  // written on the training thread, polled here
    control.post([&] { served = true; });  // an inspection request runs while paused
    for (int i = 0; i < 100 && !served; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    QVERIFY(served);
    control.resume();
    for (int i = 0; i < 500 && rec.steps < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    control.stop();
    worker.join();
    QVERIFY(rec.finish.stopped);
    QVERIFY(rec.finish.steps >= 5 && rec.finish.steps < 30);
    // Stopping leaves a consistent, resumable run.
    QCOMPARE(RunDirectory::open(run).state()["step"].get<int64_t>(), rec.finish.steps);
  }

  void atomicWriteKeepsOldFileOnFailure() {
    const std::string path = dir_.filePath("atomic.txt").toStdString();
    test::writeText(path, "old");
    try {
      writeFileAtomically(path, [](const std::string& tmp) {
        std::ofstream(tmp) << "half";
        throw Error("killed mid-write");
      });
      QFAIL("expected an error");
    } catch (const Error&) {
    }
    std::ifstream in(path);
    std::string text;
    in >> text;
    QCOMPARE(text, std::string("old"));
    QVERIFY(!fs::exists(path + ".tmp"));
  }

  // Following a run another process writes: only whole lines, each row once, in order.
  void runTailReadsWholeLinesOnce() {
    QTemporaryDir dir;
    const std::string run = dir.path().toStdString();
    RunTail tail(run);
    QVERIFY(tail.poll().steps.empty());  // nothing written yet is not an error
    // (moc cannot read raw string literals: the rows are built as JSON.)
    const std::string first =
        json{{"type", "step"}, {"step", 1}, {"epoch", 0.5}, {"loss", 2.5}, {"lr", 0.1},
             {"img_per_s", 100}, {"wall_s", 1}, {"emb_std", 0.3}}.dump();
    const std::string second = json{{"type", "step"}, {"step", 2}, {"loss", 2.0}, {"wall_s", 2}}.dump();
    const size_t cut = second.size() / 2;  // the writer is half-way through the second row
    {
      std::ofstream out(run + "/metrics.jsonl");
      out << first << "\n" << second.substr(0, cut);
    }
    RunTailUpdate u = tail.poll();
    QCOMPARE(u.steps.size(), size_t(1));
    QCOMPARE(u.steps[0].step, int64_t(1));
    QCOMPARE(u.steps[0].loss, 2.5);
    QCOMPARE(u.steps[0].imgPerSec, 100.0);
    QCOMPARE(u.steps[0].metrics.size(), size_t(1));
    QCOMPARE(u.steps[0].metrics[0].first, std::string("emb_std"));
    {
      std::ofstream out(run + "/metrics.jsonl", std::ios::app);
      out << second.substr(cut) << "\n"
          << json{{"type", "eval"}, {"step", 2}, {"epoch", 0}, {"kind", "knn"}, {"top1", 61.5}}.dump() << "\n"
          << "not json at all\n"
          << json{{"type", "epoch"}, {"step", 2}, {"epoch", 0}, {"loss", 2.2}}.dump() << "\n";
    }
    u = tail.poll();
    QCOMPARE(u.steps.size(), size_t(1));
    QCOMPARE(u.steps[0].step, int64_t(2));
    QCOMPARE(u.steps[0].loss, 2.0);
    QCOMPARE(u.evals.size(), size_t(1));
    QCOMPARE(u.evals[0].kind, std::string("knn"));
    QCOMPARE(u.evals[0].top1, 61.5);
    QCOMPARE(u.skippedLines, int64_t(1));
    QVERIFY(!u.rewound);
    QCOMPARE(tail.stepsPerSecond(), 1.0);  // steps 1 -> 2 in one second
    u = tail.poll();
    QVERIFY(u.steps.empty() && u.evals.empty());
  }

  void runTailAnnouncesCheckpointsRewindsAndSlices() {
    QTemporaryDir dir;
    const std::string run = dir.path().toStdString();
    test::writeText(run + "/experiment.json", "{}\n");
    const RunDirectory rd = RunDirectory::open(run);
    auto row = [](int step) {
      return json{{"type", "step"}, {"step", step}, {"loss", 1.0}, {"wall_s", step * 0.1}}.dump() + "\n";
    };
    std::string history;
    for (int s = 1; s <= 100; ++s) history += row(s);
    test::writeText(run + "/metrics.jsonl", history);
    rd.writeState({{"step", 40}, {"finished", false}});
    // A slice smaller than the history: the rows come over several polls, in order, once.
    RunTail tail(run, 512);
    RunTailUpdate u = tail.poll();
    QCOMPARE(u.checkpointStep, int64_t(40));
    QVERIFY(tail.behind());
    std::vector<int64_t> steps;
    for (const auto& s : u.steps) steps.push_back(s.step);
    for (int i = 0; i < 100 && tail.behind(); ++i) {
      u = tail.poll();
      QCOMPARE(u.checkpointStep, int64_t(-1));  // state.json did not change
      for (const auto& s : u.steps) steps.push_back(s.step);
    }
    QCOMPARE(steps.size(), size_t(100));
    for (size_t i = 0; i < steps.size(); ++i) QCOMPARE(steps[i], int64_t(i + 1));
    QVERIFY(std::abs(tail.stepsPerSecond() - 10.0) < 1e-6);
    rd.writeState({{"step", 80}, {"finished", true}});
    u = tail.poll();
    QCOMPARE(u.checkpointStep, int64_t(80));
    QVERIFY(u.finished);
    // A resume cuts the metrics back to its checkpoint (a new file): read from the start again.
    rd.truncateMetrics(80);
    u = tail.poll();
    QVERIFY(u.rewound);
    size_t reread = u.steps.size();
    while (tail.behind()) reread += tail.poll().steps.size();
    QCOMPARE(reread, size_t(80));
    QCOMPARE(tail.lastStep(), int64_t(80));
  }

  void damagedCheckpointIsNamed() {
    const std::string run = Trainer(tiny("rotation", 1), {out()}).run();
    // A state.json that is not an object, or whose "packed" is not a boolean: json::value() threw
    // nlohmann's type_error (found by fuzz/checkpoint_fuzz.cpp); such a run is simply not packed.
    for (const char* state : {"3", "{\"packed\": \"yes\"}"}) {
      test::writeText(run + "/state.json", state);
      QVERIFY(!isPackedRun(run));
      QVERIFY(loadRunSession(run).method);
    }
    test::writeText(run + "/state.json", "{\"step\": 1e999}");
    PRETEXT_VERIFY_THROWS_WITH(loadRunSession(run), "state.json: damaged");
    test::writeText(run + "/state.json", "{}");
    // Damaged archives are refused before LibTorch reads them (verifyArchiveIntegrity): one whose
    // TorchScript (code/) does not compile (torch::jit::ErrorReport went past loadCheckpoint's
    // catch), one that crashed LibTorch's TorchScript parser (a segmentation fault), both the
    // fuzzer's (their first byte off), a checkpoint cut in half, one with a byte changed, garbage.
    const std::string whole = [&] {
      std::ifstream in(run + "/checkpoint.pt", std::ios::binary);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }();
    for (const char* name : {"crash-torchscript-error-report", "crash-segv-in-libtorch-script-type-parser"}) {
      std::ifstream in(std::string(PRETEXT_RESOURCE_DIR "/../tests/fuzz_corpus/checkpoint/") + name, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      QVERIFY2(bytes.size() > 1000, name);
      test::writeText(run + "/checkpoint.pt", bytes.substr(1));
      PRETEXT_VERIFY_THROWS_WITH(loadRunSession(run), "does not match its CRC-32");
    }
    test::writeText(run + "/checkpoint.pt", whole.substr(0, whole.size() / 2));
    PRETEXT_VERIFY_THROWS_WITH(loadRunSession(run), "checkpoint.pt: damaged, it cannot be loaded");
    std::string changed = whole;
    changed[changed.size() / 2] ^= 0x10;
    test::writeText(run + "/checkpoint.pt", changed);
    PRETEXT_VERIFY_THROWS_WITH(loadRunSession(run), "does not match its CRC-32");
    test::writeText(run + "/checkpoint.pt", "garbage");
    PRETEXT_VERIFY_THROWS_WITH(loadRunSession(run), "checkpoint.pt: damaged, it cannot be loaded (shorter than any zip");
    test::writeText(run + "/checkpoint.pt", whole);
    QVERIFY(loadRunSession(run).method);  // the check passes what LibTorch wrote
    PRETEXT_VERIFY_THROWS_WITH(RunDirectory::open(dir_.filePath("nope").toStdString()), "no such run folder");
  }

  void badDataIsReportedBeforeTraining() {
    json j = experimentToJson(tiny("simclr"));
    j["data"]["source"] = "mnist:" + dir_.filePath("empty").toStdString();
    PRETEXT_VERIFY_THROWS_WITH(Trainer(experimentFromJson(j), {out()}).run(), "empty");
    j = experimentToJson(tiny("simclr"));
    j["schedule"]["batch_size"] = 4096;
    PRETEXT_VERIFY_THROWS_WITH(Trainer(experimentFromJson(j), {out()}).run(), "larger than the 96 training images");
  }

  void scheduleWarmupAndCosine() {
    QCOMPARE(scheduledLr(1.0, 0, 100, 10, true), 0.1);
    QCOMPARE(scheduledLr(1.0, 9, 100, 10, true), 1.0);
    QVERIFY(std::abs(scheduledLr(1.0, 55, 100, 10, true) - 0.5) < 1e-12);
    QVERIFY(scheduledLr(1.0, 100, 100, 10, true) < 1e-12);
    QCOMPARE(scheduledLr(0.3, 50, 100, 0, false), 0.3);
  }

  void optimizersStepAndExcludeBiasNorm_data() {
    QTest::addColumn<QString>("name");
    for (const char* n : {"sgd", "adam", "adamw", "lars", "rmsprop"}) QTest::newRow(n) << n;
  }
  void optimizersStepAndExcludeBiasNorm() {
    QFETCH(QString, name);
    json j{{"optimizer", {{"name", name.toStdString()}, {"lr", 0.1}, {"weight_decay", 0.5}}}};
    Experiment e = experimentFromJson(j);
    auto w = torch::ones({3, 3}, torch::requires_grad());
    auto b = torch::ones({3}, torch::requires_grad());
    Optimizer opt({w, b}, e);
    opt.zeroGrad();
    (w.sum() * 0 + b.sum() * 0).backward();  // zero gradients: only weight decay moves things
    opt.step();
    QVERIFY2(w.lt(1).all().item<bool>(), "weights decay");
    QVERIFY2(b.eq(1).all().item<bool>(), "biases are excluded from weight decay");
  }
  // optimizer.beta1/beta2 reach Adam and AdamW (every parameter group); the defaults are
  // PyTorch's (0.9, 0.999), so runs that do not set them are unchanged; experiment.json keeps them.
  void adamBetasAreSettings() {
    auto betasOf = [](const json& j) {
      Experiment e = experimentFromJson(j);
      auto w = torch::ones({3, 3}, torch::requires_grad());
      auto b = torch::ones({3}, torch::requires_grad());
      Optimizer opt({w, b}, e);
      std::vector<std::tuple<double, double>> out;
      for (auto& g : opt.torchOptimizer().param_groups()) {
        if (auto* a = dynamic_cast<torch::optim::AdamOptions*>(&g.options())) out.push_back(a->betas());
        if (auto* a = dynamic_cast<torch::optim::AdamWOptions*>(&g.options())) out.push_back(a->betas());
      }
      return out;
    };
    auto d = betasOf(json{{"optimizer", {{"name", "adam"}}}});
    QCOMPARE(d.size(), size_t(2));  // weights and biases/norms
    for (auto& [b1, b2] : d) QVERIFY(b1 == 0.9 && b2 == 0.999);
    for (const char* name : {"adam", "adamw"}) {
      auto g = betasOf(json{{"optimizer", {{"name", name}, {"beta1", 0.0}, {"beta2", 0.9}}}});
      QCOMPARE(g.size(), size_t(2));
      for (auto& [b1, b2] : g) QVERIFY(b1 == 0.0 && b2 == 0.9);
    }
    Experiment e = experimentFromJson(json{{"optimizer", {{"beta1", 0.5}}}});
    QCOMPARE(experimentToJson(e)["optimizer"]["beta1"].get<double>(), 0.5);
    QCOMPARE(experimentToJson(e)["optimizer"]["beta2"].get<double>(), 0.999);
  }
  // One RMSprop step from a zero state with PyTorch's alpha 0.99, eps 1e-8: v = 0.01 g^2, so the
  // step is lr * g / (sqrt(0.01) |g| + eps) = 10 lr sign(g): w = 1 - 10 * 0.001 = 0.99.
  void rmspropStepHandWorked() {
    Experiment e = experimentFromJson(
        json{{"optimizer", {{"name", "rmsprop"}, {"lr", 0.001}, {"weight_decay", 0}}}});
    auto w = torch::ones({2}, torch::requires_grad());
    Optimizer opt({w}, e);
    opt.zeroGrad();
    (w * torch::tensor({3.f, -5.f})).sum().backward();
    opt.step();
    QVERIFY(std::abs(w[0].item<double>() - 0.99) < 1e-6);
    QVERIFY(std::abs(w[1].item<double>() - 1.01) < 1e-6);
  }
};

PRETEXT_TEST_AREA(TestTrain, "train")
#include "test_train.moc"
