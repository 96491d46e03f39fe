// pretext-cli sweep end to end: the dry run's plan, a typo refused before anything trains, and
// a tiny 2x2 sweep interrupted with Ctrl+C (SIGINT) and run again to the end, each point
// trained once.
#include "test_main.h"
#include <signal.h>

#include <QElapsedTimer>
#include <QProcess>
#include <QThread>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

class TestCliSweep : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;

  struct Result {
    int code;
    QString out, err;
  };
  Result cli(const QStringList& args) {
    QProcess p;
    p.setWorkingDirectory(dir_.path());
    p.start(PRETEXT_CLI, args);
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
            QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
  }
  // A 2x2 grid of the tiny experiment: `epochs` of 6 steps per point.
  QString writeSweep(const QString& name, int epochs, const json& grid) {
    json e =
        pretext::test::tinyExperimentJson(dir_.filePath("mnist").toStdString(), "simclr", epochs);
    e["run"]["threads"] = 1;
    e["run"]["tensorboard"] = false;
    e["eval"]["knn_every"] = 0;
    const json sweep{{"experiment", e},
                     {"grid", grid},
                     {"probe", "linear"},
                     {"evaluate", {{"probes", {"knn", "linear"}}, {"k", 5}}}};
    const QString file = dir_.filePath(name + ".json");
    pretext::test::writeText(file.toStdString(), sweep.dump(2));
    return file;
  }
  static json readJson(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in);
  }

 private slots:
  void initTestCase() {
    fs::create_directories(dir_.filePath("mnist").toStdString());
    pretext::test::writeTinyMnist(dir_.filePath("mnist").toStdString());
  }

  void dryRunPrintsThePlanAndTrainsNothing() {
    const QString file = writeSweep(
        "plan", 2, {{"optimizer.lr", {0.001, 0.002}}, {"method.temperature", {0.1, 0.5}}});
    auto r = cli({"sweep", file, "--dry-run"});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.contains("sweep plan: 4 points") && r.out.contains("a grid 2 x 2"),
             qPrintable(r.out));
    QVERIFY2(r.out.contains("0_temperature=0.1_lr=0.001") &&
                 r.out.contains("3_temperature=0.5_lr=0.002"),
             qPrintable(r.out));  // nlohmann's objects sort their keys: method.params... first
    QVERIFY(r.out.contains("folder: runs/sweeps/plan"));
    QVERIFY(!fs::exists(dir_.filePath("runs/sweeps/plan").toStdString()));
  }

  void aTypoIsRefusedBeforeAnythingTrains() {
    const QString file = writeSweep("typo", 2, {{"optimizer.lrr", {0.001, 0.002}}});
    auto r = cli({"sweep", file, "--out", dir_.filePath("typo-out")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.startsWith("error: ") && r.err.contains("optimizer.lrr: unknown field"),
             qPrintable(r.err));
    QVERIFY(!fs::exists(dir_.filePath("typo-out").toStdString()));
    r = cli({"sweep", file, "--set", "optimizer.lr=-1", "--dry-run"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("experiment: optimizer.lr = -1"), qPrintable(r.err));
  }

  void ctrlCStopsTheSweepAndTheSameCommandFinishesIt() {
    // 6 epochs (36 steps) a point: long enough to be interrupted in the second point.
    const QString file = writeSweep(
        "tiny", 6, {{"optimizer.lr", {0.001, 0.002}}, {"method.temperature", {0.1, 0.5}}});
    const QString out = dir_.filePath("sweep-out");
    const std::string results = (out + "/sweep_results.json").toStdString();
    QProcess first;
    first.setProcessChannelMode(QProcess::MergedChannels);
    first.setWorkingDirectory(dir_.path());
    first.start(PRETEXT_CLI, {"sweep", file, "--out", out, "--quiet"});
    QVERIFY(first.waitForStarted());
    // Interrupt as soon as the first point is done.
    QElapsedTimer clock;
    clock.start();
    bool firstDone = false;
    while (!firstDone && clock.elapsed() < 120000 && first.state() == QProcess::Running) {
      QThread::msleep(10);
      try {
        firstDone = fs::exists(results) && readJson(results)["points"][0]["status"] == "finished";
      } catch (const json::exception&) {
      }
    }
    QVERIFY2(firstDone, qPrintable(first.readAll()));
    QCOMPARE(::kill(pid_t(first.processId()), SIGINT), 0);
    QVERIFY(first.waitForFinished(120000));
    const QString firstOut = QString::fromUtf8(first.readAll());
    QCOMPARE(first.exitCode(), 130);
    QVERIFY2(firstOut.contains("stopping: the point keeps its checkpoint") &&
                 firstOut.contains("continue with: pretext-cli sweep " + out),
             qPrintable(firstOut));
    json j = readJson(results);
    int finished = 0;
    for (const auto& p : j["points"]) finished += p["status"] == "finished";
    QVERIFY2(finished >= 1 && finished < 4, j.dump().c_str());

    // The command it printed continues the sweep folder to the end.
    auto r = cli({"sweep", out, "--quiet"});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.contains("4 of 4 points done"), qPrintable(r.out));
    QVERIFY2(r.out.contains("linear_top1*"), qPrintable(r.out));  // the table's order
    j = readJson(results);
    double previous = 101;
    std::vector<double> linear;
    for (const auto& p : j["points"]) {
      QCOMPARE(p["status"].get<std::string>(), std::string("finished"));
      linear.push_back(p["results"]["linear_top1"].get<double>());
      // Each step once in the point's metrics: nothing trained twice.
      std::ifstream in(out.toStdString() + "/" + p["name"].get<std::string>() + "/metrics.jsonl");
      std::vector<int64_t> steps;
      for (std::string line; std::getline(in, line);) {
        const json row = json::parse(line);
        if (row["type"] == "step") steps.push_back(row["step"].get<int64_t>());
      }
      QCOMPARE(int(steps.size()), 36);
      for (int s = 0; s < 36; ++s) QCOMPARE(steps[size_t(s)], int64_t(s + 1));
    }
    // The table lists the points best first by the linear probe: rank 1 holds the best.
    std::sort(linear.begin(), linear.end(), std::greater<double>());
    const QStringList lines = r.out.split('\n');
    int rank = 0;
    for (const QString& line : lines) {
      const QStringList cells = line.simplified().split(' ');
      if (cells.size() < 7 || cells[0] != QString::number(rank + 1)) continue;
      const double v = cells[5].toDouble();  // rank point lr temperature knn linear status
      QVERIFY2(v <= previous, qPrintable(r.out));
      QCOMPARE(QString::number(v, 'f', 2), QString::number(linear[size_t(rank)], 'f', 2));
      previous = v;
      ++rank;
    }
    QCOMPARE(rank, 4);
    QVERIFY(fs::exists((out + "/sweep_results.csv").toStdString()));
  }
};

PRETEXT_TEST_AREA(TestCliSweep, "cli_sweep")
#include "test_cli_sweep.moc"
