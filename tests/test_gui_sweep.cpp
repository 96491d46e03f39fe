// The Sweep tab: a finished tiny sweep opened from its folder shows each point's probe result
// in its heat-map cell; a sweep run from the window trains on the engine thread and fills the
// cells as its points finish; a random search shows a scatter of a setting against the probe.
#include "test_main.h"
#include <QComboBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/train/run_dir.h"
#include "core/train/sweep.h"
#include "test_support.h"
#include "ui/sweep/sweep_panel.h"
#include "ui/sweep/sweep_plot.h"
#include "ui/window/main_window.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

class TestGuiSweep : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  ojson tinySweep(const ojson& grid) const {
    ojson e = ojson::parse(test::tinyExperimentJson(data_, "simclr", 1).dump());
    e["run"]["threads"] = 1;
    e["run"]["tensorboard"] = false;
    e["eval"]["knn_every"] = 0;
    ojson s = ojson::object();
    s["name"] = "gui";
    s["experiment"] = e;
    s["grid"] = grid;
    s["evaluate"] = {{"probes", {"knn", "linear"}}, {"k", 5}};
    return s;
  }

  static void verifyCells(const SweepPanel& panel, const SweepResults& r,
                          const std::string& probe) {
    for (const auto& p : r.points) {
      const int i = p.cell[0], j = p.cell.size() > 1 ? p.cell[1] : 0;
      const double want = r.value(p, probe);
      QVERIFY2(!std::isnan(want), p.name.c_str());
      QCOMPARE(panel.plot()->cellValue(i, j), want);
      QCOMPARE(panel.plot()->cellText(i, j), QString::number(want, 'f', 2));
    }
  }

 private slots:
  void initTestCase() {
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
  }

  void heatMapHoldsAFinishedSweepsResults() {
    ojson grid = ojson::object();
    grid["optimizer.lr"] = {0.001, 0.003};
    grid["method.temperature"] = {0.1, 0.5};
    SweepRunOptions options;
    options.folder = dir_.filePath("finished").toStdString();
    const SweepOutcome made = runSweep(parseSweep(tinySweep(grid)), options);
    QCOMPARE(made.results.finishedCount(), 4);

    MainWindowOptions windowOptions;
    windowOptions.useSettings = false;
    MainWindow window(windowOptions);
    window.resize(1200, 800);
    window.show();
    auto* panel = qobject_cast<SweepPanel*>(window.panel("Sweep"));
    QVERIFY(panel);
    QVERIFY(!panel->hasSweep());
    QVERIFY(panel->openSweep(QString::fromStdString(options.folder)));
    window.showPanel("Sweep");
    QVERIFY(panel->plot()->showsHeatMap());
    const SweepResults r = readSweepResults(options.folder);
    QCOMPARE(panel->probe(), QStringLiteral("knn"));  // the sweep's probe
    verifyCells(*panel, r, "knn");
    panel->setProbe("linear");
    QCOMPARE(panel->probe(), QStringLiteral("linear"));
    verifyCells(*panel, r, "linear");
    // The table ranks the points by the chosen probe, best first.
    QTableWidget* table = panel->table();
    QCOMPARE(table->rowCount(), 4);
    const auto ranked = sweepTable(r, "linear");
    for (int row = 0; row < 4; ++row) {
      QCOMPARE(table->item(row, 0)->text(), QString::number(row + 1));
      QCOMPARE(table->item(row, 1)->text(), QString::fromStdString(ranked[size_t(row)].name));
    }
    // Double-clicking a point opens its run.
    QSignalSpy opened(window.controller(), &SessionController::runOpened);
    emit table->cellDoubleClicked(0, 1);
    QVERIFY(opened.wait(60000));
    QCOMPARE(opened.first().at(0).toString(),
             QString::fromStdString(options.folder + "/" + ranked[0].name));
    // A folder without results says so.
    QVERIFY(!panel->openSweep(dir_.filePath("nowhere")));
  }

  void aSweepRunInTheWindowFillsItsCellsAsPointsFinish() {
    ojson grid = ojson::object();
    grid["optimizer.lr"] = {0.001, 0.003};
    const QString file = dir_.filePath("window-sweep.json");
    ojson s = tinySweep(grid);
    s["name"] = "window";
    s["experiment"]["schedule"]["epochs"] = 4;  // 24 steps a point
    test::writeText(file.toStdString(), s.dump(2));

    MainWindowOptions windowOptions;
    windowOptions.useSettings = false;
    MainWindow window(windowOptions);
    window.resize(1200, 800);
    window.show();
    window.controller()->setRunsFolder(dir_.filePath("window-runs"));
    auto* panel = qobject_cast<SweepPanel*>(window.panel("Sweep"));
    panel->setPollInterval(20);
    QSignalSpy ended(window.controller(), &SessionController::sweepEnded);
    panel->runSweep(file);
    const QString folder = dir_.filePath("window-runs/sweeps/window");
    QCOMPARE(window.controller()->sweepFolder(), folder);
    QCOMPARE(panel->folder(), folder);
    QCOMPARE(window.tabs()->currentWidget(), window.panel("Sweep"));
    QCOMPARE(window.controller()->state(), SessionState::Running);
    // The GUI thread goes on while the points train: it sees the first cell filled, the second not.
    bool sawOneOfTwo = false;
    QElapsedTimer clock;
    clock.start();
    while (ended.isEmpty() && clock.elapsed() < 180000) {
      QTest::qWait(10);
      if (panel->plot()->showsHeatMap() && !std::isnan(panel->plot()->cellValue(0, 0)) &&
          std::isnan(panel->plot()->cellValue(1, 0)))
        sawOneOfTwo = true;
    }
    QCOMPARE(ended.count(), 1);
    QVERIFY(!ended.first().at(1).toBool());  // not stopped
    QVERIFY(sawOneOfTwo);
    QTRY_VERIFY_WITH_TIMEOUT(panel->results().finishedCount() == 2, 5000);
    verifyCells(*panel, readSweepResults(folder.toStdString()), "knn");
    QCOMPARE(window.controller()->state(), SessionState::Idle);
    // The last point's model stays for the other panels.
    QCOMPARE(window.controller()->runDir(), folder + "/1_lr=0.003");
  }

  void aRandomSearchIsAScatterOfASettingAgainstTheProbe() {
    SweepResults r;
    r.name = "random";
    r.probe = "knn";
    r.random = true;
    r.keys = {"optimizer.lr", "optimizer.name"};
    const double lrs[] = {1e-4, 1e-3, 3e-3, 1e-2};
    for (int i = 0; i < 4; ++i) {
      SweepPointResult p;
      p.index = i;
      p.name = "p" + std::to_string(i);
      p.settings = {{"optimizer.lr", lrs[i]}, {"optimizer.name", i % 2 ? "sgd" : "adam"}};
      p.status = i == 3 ? "running" : "finished";
      if (i != 3) p.results = {{"knn_top1", 60.0 + i}};
      r.points.push_back(p);
    }
    const std::string folder = dir_.filePath("random").toStdString();
    fs::create_directories(folder);
    test::writeText(folder + "/sweep_results.json", sweepResultsToJson(r).dump());
    SessionController controller;
    SweepPanel panel(&controller);
    panel.resize(900, 600);
    panel.show();
    QVERIFY(panel.openSweep(QString::fromStdString(folder)));
    QVERIFY(!panel.plot()->showsHeatMap());
    QVector<QPointF> points = panel.plot()->scatterPoints();
    QCOMPARE(points.size(), 3);  // the running point has no result yet
    for (int i = 0; i < 3; ++i) QCOMPARE(points[i], QPointF(lrs[i], 60.0 + i));
    auto* across = panel.findChild<QComboBox*>("sweepAcross");
    QVERIFY(across && across->isVisible());
    across->setCurrentText("optimizer.name");
    points = panel.plot()->scatterPoints();
    std::sort(points.begin(), points.end(), [](const QPointF& a, const QPointF& b) {
      return std::make_pair(a.x(), a.y()) < std::make_pair(b.x(), b.y());
    });
    QCOMPARE(points.size(), 3);
    QCOMPARE(points[0], QPointF(0, 60.0));  // adam: the first choice seen
    QCOMPARE(points[1], QPointF(0, 62.0));
    QCOMPARE(points[2], QPointF(1, 61.0));  // sgd
  }
};

PRETEXT_TEST_AREA(TestGuiSweep, "gui_sweep")
#include "test_gui_sweep.moc"
