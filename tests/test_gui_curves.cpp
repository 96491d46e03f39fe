// The training-curves panel: series fed as the controller feeds them, smoothing, x units,
// log scale, overlays of earlier run folders, exports, and the cost of 50k points.
#include "test_main.h"
#include <QSignalSpy>
#include <QtTest>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/config/experiment.h"
#include "core/util/error.h"
#include "test_support.h"
#include "core/train/events.h"
#include "ui/curves/curves_panel.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

namespace {

constexpr int kStepsPerEpoch = 50;

// A decaying noisy loss with two method metrics; wall time 0.1 s per step.
QVector<StepPoint> fakeSteps(int from, int count, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.15);
  QVector<StepPoint> out;
  for (int i = from; i < from + count; ++i) {
    StepPoint p;
    p.step = i;
    p.totalSteps = 5000;
    p.epoch = double(i) / kStepsPerEpoch;
    p.wallSeconds = 0.1 * i;
    p.loss = 0.3 + 4.0 * std::exp(-i / 400.0) + noise(rng) * std::exp(-i / 1500.0);
    p.lr = 1e-3 * std::min(1.0, i / 100.0);
    p.imgPerSec = 800 + noise(rng) * 50;
    p.metrics = {{"contrastive_acc", std::min(0.98, i / 2000.0) + noise(rng) * 0.05},
                 {"pos_sim", 0.2 + 0.5 * (1 - std::exp(-i / 700.0))}};
    out << p;
  }
  return out;
}

QVector<EvalPoint> fakeEvals(int epochs) {
  QVector<EvalPoint> out;
  for (int e = 0; e < epochs; ++e)
    out << EvalPoint{(e + 1) * kStepsPerEpoch, e, QStringLiteral("knn"),
                     40.0 + 30.0 * (1 - std::exp(-e / 3.0))};
  return out;
}

// Entries of a legend (itemCount() counts the grid's empty cells too).
int legendEntries(QCPLegend* legend) {
  int n = 0;
  for (int i = 0; i < legend->itemCount(); ++i) n += legend->item(i) ? 1 : 0;
  return n;
}

std::vector<double> keysOf(const QCPGraph* g) {
  std::vector<double> out;
  for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) out.push_back(it->key);
  return out;
}
std::vector<double> valuesOf(const QCPGraph* g) {
  std::vector<double> out;
  for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
    out.push_back(it->value);
  return out;
}

// A run folder as core/train/run_dir.cpp leaves it: experiment.json, metrics.csv with the kNN
// value carried forward, and (optionally) metrics.jsonl with the exact evaluation steps.
void writeRun(const QString& dir, int steps, double lossScale, bool jsonl,
              const std::string& tail = {}) {
  fs::create_directories(dir.toStdString());
  test::writeText(
      dir.toStdString() + "/experiment.json",
      R"({"name": "old", "method": {"name": "rotation"}, "backbone": {"name": "convnet"},
                      "data": {"source": "fashion-mnist"}, "schedule": {"epochs": 3}})");
  std::string csv = "step,epoch,loss,lr,img_per_s,wall_s,knn_top1,rotation_acc\n";
  std::string events;
  double knn = -1;
  for (int s = 1; s <= steps; ++s) {
    csv += std::to_string(s) + "," + std::to_string(double(s) / 10) + "," +
           std::to_string(lossScale * (1.0 + 1.0 / s)) + ",0.001,500," + std::to_string(0.5 * s) +
           ",";
    if (knn >= 0) csv += std::to_string(knn);
    csv += "," + std::to_string(0.25 + s * 0.01) + "\n";
    if (s % 10 == 0) {
      knn = 50.0;  // the same score twice: only metrics.jsonl tells the two evaluations apart
      events += "{\"type\":\"eval\",\"step\":" + std::to_string(s) +
                ",\"epoch\":" + std::to_string(s / 10 - 1) + ",\"kind\":\"knn\",\"top1\":50.0}\n";
    }
  }
  test::writeText(dir.toStdString() + "/metrics.csv", csv + tail);
  if (jsonl) test::writeText(dir.toStdString() + "/metrics.jsonl", events);
}

}  // namespace

class TestGuiCurves : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;

 private slots:
  void stepsFillTheGraphs() {
    CurvesPanel panel(nullptr);
    QCOMPARE(panel.lossGraph(false)->data()->size(), 0);
    panel.addSteps(fakeSteps(1, 300));
    panel.updatePlot();
    QCOMPARE(panel.lossGraph(false)->data()->size(), 300);
    QCOMPARE(panel.lossGraph(true)->data()->size(), 300);
    QCOMPARE(panel.lrGraph()->data()->size(), 300);
    QCOMPARE(panel.metricNames(), QStringList({"contrastive_acc", "pos_sim"}));
    QVERIFY(panel.metricGraph("contrastive_acc"));
    QCOMPARE(panel.metricGraph("contrastive_acc")->data()->size(), 300);
    QVERIFY(panel.plot()->rowVisible(CurvesPlot::MetricsRow));
    QVERIFY(panel.plot()->rowVisible(CurvesPlot::LrRow));
    QVERIFY(!panel.plot()->rowVisible(CurvesPlot::KnnRow));  // nothing evaluated yet
    QCOMPARE(panel.knnGraph()->data()->size(), 0);

    panel.addEvaluations(fakeEvals(4));
    panel.updatePlot();
    QCOMPARE(panel.knnGraph()->data()->size(), 4);
    QVERIFY(panel.plot()->rowVisible(CurvesPlot::KnnRow));
    QCOMPARE(keysOf(panel.knnGraph()).front(), double(kStepsPerEpoch));

    // A replayed or duplicated step keeps the keys ascending (nothing is added).
    panel.addSteps(fakeSteps(250, 10));
    panel.updatePlot();
    QCOMPARE(panel.lossGraph(false)->data()->size(), 300);

    // Unchecking a metric hides it; the others stay.
    panel.setMetricShown("pos_sim", false);
    QVERIFY(!panel.metricGraph("pos_sim")->visible());
    QVERIFY(panel.metricGraph("contrastive_acc")->visible());
    panel.setMetricShown("contrastive_acc", false);
    QVERIFY(!panel.plot()->rowVisible(CurvesPlot::MetricsRow));

    panel.clear();
    QCOMPARE(panel.lossGraph(false)->data()->size(), 0);
    QVERIFY(panel.metricNames().isEmpty());
    QVERIFY(!panel.metricGraph("pos_sim"));
  }

  // Collapse monitoring: emb_std and eff_rank get their own row (rank on the right scale) with the
  // healthy 1/sqrt(D) reference; the alarm comes on below 0.2/sqrt(D) and goes off above 0.4/sqrt(D).
  void collapseRowAndAlarm() {
    CurvesPanel panel(nullptr);
    panel.resize(900, 700);
    auto steps = [](int from, int count, double std, double rank) {
      QVector<StepPoint> out;
      for (int i = 0; i < count; ++i) {
        StepPoint p;
        p.step = from + i;
        p.loss = 1;
        p.metrics = {{"contrastive_acc", 0.5}, {"emb_std", std}, {"eff_rank", rank}};
        p.embeddingDim = 64;
        out << p;
      }
      return out;
    };
    panel.addSteps(steps(1, 20, 0.12, 40));  // 0.12 * 8 = 0.96: healthy
    panel.updatePlot();
    QVERIFY(panel.plot()->rowVisible(CurvesPlot::CollapseRow));
    QVERIFY(panel.plot()->rowVisible(CurvesPlot::MetricsRow));  // contrastive_acc stays there
    QCOMPARE(panel.metricGraph("emb_std")->valueAxis(),
             panel.plot()->rect(CurvesPlot::CollapseRow)->axis(QCPAxis::atLeft));
    QCOMPARE(panel.metricGraph("eff_rank")->valueAxis(),
             panel.plot()->rect(CurvesPlot::CollapseRow)->axis(QCPAxis::atRight));
    QVERIFY(panel.healthyGraph()->visible());
    QCOMPARE(panel.healthyGraph()->data()->at(0)->value, 0.125);
    QVERIFY(panel.collapseAlarm().isEmpty());

    panel.addSteps(steps(21, 5, 0.02, 1.5));  // 0.16 < 0.2: collapsed
    panel.updatePlot();
    QVERIFY(panel.collapseAlarm().contains("Collapse detected"));
    QVERIFY(panel.collapseAlarm().contains("1.5"));
    panel.addSteps(steps(26, 5, 0.04, 3));  // 0.32: inside the hysteresis band, still on
    panel.updatePlot();
    QVERIFY(!panel.collapseAlarm().isEmpty());
    panel.addSteps(steps(31, 5, 0.06, 10));  // 0.48 > 0.4: off
    panel.updatePlot();
    QVERIFY(panel.collapseAlarm().isEmpty());
    panel.addSteps(steps(36, 5, 0.001, 1));
    panel.updatePlot();
    QVERIFY(!panel.collapseAlarm().isEmpty());
    panel.clear();
    QVERIFY(panel.collapseAlarm().isEmpty());
    QVERIFY(!panel.plot()->rowVisible(CurvesPlot::CollapseRow));

    // A fresh network that starts bunched (never healthy yet) gets kCollapseGraceSteps to spread
    // out before a low spread counts; then it does.
    panel.addSteps(steps(1, 60, 0.01, 2));  // 0.08, steps 1..60
    panel.updatePlot();
    QVERIFY(panel.collapseAlarm().isEmpty());
    panel.addSteps(steps(61, 60, 0.01, 2));  // still 0.08 at step 120 >= 100
    panel.updatePlot();
    QVERIFY(panel.collapseAlarm().contains("Collapse detected"));
  }

  // The rule itself (the trainer's log uses it too).
  void collapseWatchRule() {
    using C = CollapseWatch::Change;
    CollapseWatch w;
    QCOMPARE(w.update(0, 0.1), C::None);     // bunched at the start: grace
    QCOMPARE(w.update(50, -1), C::None);     // no emb_std
    QCOMPARE(w.update(60, 0.5), C::None);    // healthy now
    QCOMPARE(w.update(70, 0.19), C::Collapsed);
    QCOMPARE(w.update(80, 0.39), C::None);   // hysteresis
    QCOMPARE(w.update(90, 0.41), C::Recovered);
    CollapseWatch late;
    QCOMPARE(late.update(99, 0.1), C::None);
    QCOMPARE(late.update(kCollapseGraceSteps, 0.1), C::Collapsed);
  }

  void smoothingChangesOnlyTheSmoothedCurve() {
    CurvesPanel panel(nullptr);
    panel.addSteps(fakeSteps(1, 300));  // few enough that the graphs hold every point
    panel.setSmoothing(0.0);
    panel.updatePlot();
    const auto raw0 = valuesOf(panel.lossGraph(false));
    QCOMPARE(valuesOf(panel.lossGraph(true)), raw0);  // no smoothing: the raw values
    QVERIFY(!panel.lossGraph(false)->visible());      // and no duplicate faint line

    panel.setSmoothing(0.9);
    QCOMPARE(panel.smoothing(), 0.9);
    QVERIFY(panel.lossGraph(false)->visible());
    QCOMPARE(valuesOf(panel.lossGraph(false)), raw0);
    const auto smooth = valuesOf(panel.lossGraph(true));
    QCOMPARE(smooth.size(), raw0.size());
    QCOMPARE(smooth.front(), raw0.front());  // debiased: starts at the first value
    double rough = 0, roughRaw = 0;          // total variation: smoothing must reduce it a lot
    for (size_t i = 1; i < smooth.size(); ++i) {
      rough += std::abs(smooth[i] - smooth[i - 1]);
      roughRaw += std::abs(raw0[i] - raw0[i - 1]);
    }
    QVERIFY2(rough < roughRaw / 3, qPrintable(QString("%1 vs %2").arg(rough).arg(roughRaw)));
    // The same as MetricSeries::smoothed on the whole series (incremental = batch).
    const MetricSeries batch = panel.liveCurves().loss().raw.smoothed(0.9);
    QVERIFY(std::abs(batch.y(batch.size() - 1) - smooth.back()) < 1e-9);

    // Points arriving after the change continue the same average.
    panel.addSteps(fakeSteps(301, 20));
    panel.updatePlot();
    const MetricSeries again = panel.liveCurves().loss().raw.smoothed(0.9);
    QCOMPARE(valuesOf(panel.lossGraph(true)).size(), size_t(320));
    QVERIFY(std::abs(again.y(again.size() - 1) - valuesOf(panel.lossGraph(true)).back()) < 1e-9);
    // Method metrics are smoothed too.
    QVERIFY(valuesOf(panel.metricGraph("contrastive_acc", true)) !=
            valuesOf(panel.metricGraph("contrastive_acc", false)));
  }

  void xAxisModeChangesKeys() {
    CurvesPanel panel(nullptr);
    panel.addSteps(fakeSteps(1, 200));
    panel.addEvaluations(fakeEvals(2));
    panel.updatePlot();
    QCOMPARE(keysOf(panel.lossGraph(false)).back(), 200.0);

    panel.setXMode(CurveX::Epochs);
    QCOMPARE(panel.xMode(), CurveX::Epochs);
    auto keys = keysOf(panel.lossGraph(false));
    QCOMPARE(keys.size(), size_t(200));
    QVERIFY(std::abs(keys.back() - 200.0 / kStepsPerEpoch) < 1e-9);
    QVERIFY(std::abs(keysOf(panel.knnGraph()).front() - 1.0) < 1e-9);  // end of epoch 0
    QVERIFY(panel.plot()->xRange().upper < 10);  // the view fitted the new unit

    panel.setXMode(CurveX::WallTime);
    keys = keysOf(panel.lossGraph(false));
    QVERIFY(std::abs(keys.back() - 20.0) < 1e-9);
    QVERIFY(qSharedPointerDynamicCast<QCPAxisTickerTime>(
        panel.plot()->rect(CurvesPlot::LossRow)->axis(QCPAxis::atBottom)->ticker()));
    QCOMPARE(panel.plot()->formatX(3725), QString("1:02:05"));

    panel.setXMode(CurveX::Steps);
    QCOMPARE(keysOf(panel.lossGraph(false)).back(), 200.0);
  }

  void wallTimeStaysMonotonicAcrossResume() {
    RunCurves c;
    auto pts = fakeSteps(1, 100);
    for (int i = 50; i < 100; ++i) pts[i].wallSeconds = 0.1 * (i - 50);  // resumed at step 51
    for (const auto& p : pts) c.addStep(p);
    double last = -1;
    for (int s = 1; s <= 100; ++s) {
      const double x = c.toX(s, CurveX::WallTime);
      QVERIFY2(x >= last, qPrintable(QString("step %1: %2 < %3").arg(s).arg(x).arg(last)));
      last = x;
    }
    QVERIFY(std::abs(c.toStep(c.toX(70, CurveX::WallTime), CurveX::WallTime) - 70) < 1e-6);
    QVERIFY(std::abs(c.toStep(c.toX(37, CurveX::Epochs), CurveX::Epochs) - 37) < 1e-6);
  }

  void logToggleSetsScaleType() {
    CurvesPanel panel(nullptr);
    panel.addSteps(fakeSteps(1, 100));
    panel.updatePlot();
    QCPAxis* y = panel.plot()->rect(CurvesPlot::LossRow)->axis(QCPAxis::atLeft);
    QCOMPARE(y->scaleType(), QCPAxis::stLinear);
    panel.setLogScale(true);
    QVERIFY(panel.logScale());
    QCOMPARE(y->scaleType(), QCPAxis::stLogarithmic);
    QVERIFY(y->range().lower > 0);
    QVERIFY(qSharedPointerDynamicCast<QCPAxisTickerLog>(y->ticker()));
    panel.setLogScale(false);
    QCOMPARE(y->scaleType(), QCPAxis::stLinear);
    // The other rows stay linear throughout.
    QCOMPARE(panel.plot()->rect(CurvesPlot::LrRow)->axis(QCPAxis::atLeft)->scaleType(),
             QCPAxis::stLinear);
  }

  void runsFolderOverlaysAddGraphs() {
    const QString runs = dir_.filePath("runs-overlay");
    writeRun(runs + "/a-run", 40, 1.0, true);
    writeRun(runs + "/b-run", 30, 2.0, false);
    fs::create_directories((runs + "/not-a-run").toStdString());  // no experiment.json
    SessionController controller;
    controller.setRunsFolder(runs);
    CurvesPanel panel(&controller);
    panel.addSteps(fakeSteps(1, 50));
    panel.updatePlot();
    QCOMPARE(panel.listedRuns().size(), 2);
    const int before = panel.plot()->graphCount();

    panel.setOverlay(runs + "/a-run", true);
    QCOMPARE(panel.plot()->graphCount(), before + 2);
    const auto graphs = panel.overlayGraphs(runs + "/a-run");
    QCOMPARE(graphs.size(), 2);
    QCOMPARE(graphs[0]->data()->size(), 40);                             // loss
    QCOMPARE(keysOf(graphs[1]), std::vector<double>({10, 20, 30, 40}));  // exact kNN steps
    QVERIFY(graphs[0]->pen().color() != panel.lossGraph(true)->pen().color());
    // Legends name both runs once there is something to compare.
    QCOMPARE(legendEntries(panel.plot()->rowLegend(CurvesPlot::LossRow)), 2);
    QVERIFY(panel.plot()->rowLegend(CurvesPlot::LossRow)->hasItemWithPlottable(graphs[0]));

    // Without metrics.jsonl the carried-forward CSV column still gives the first evaluation.
    panel.setOverlay(runs + "/b-run", true);
    const auto b = panel.overlayGraphs(runs + "/b-run");
    QCOMPARE(b[0]->data()->size(), 30);
    QCOMPARE(keysOf(b[1]), std::vector<double>({11}));
    QVERIFY(b[0]->pen().color() != graphs[0]->pen().color());
    QCOMPARE(legendEntries(panel.plot()->rowLegend(CurvesPlot::LossRow)), 3);

    panel.setOverlay(runs + "/a-run", false);
    QCOMPARE(panel.plot()->graphCount(), before + 2);
    QVERIFY(panel.overlayGraphs(runs + "/a-run").isEmpty());

    // A folder whose metrics cannot be read: a message, no graphs, no crash.
    panel.setOverlay(runs + "/not-a-run", true);
    QVERIFY(panel.overlayGraphs(runs + "/not-a-run").isEmpty());
    QVERIFY(panel.message().contains("not-a-run"));

    // A run that appears later shows up on refresh.
    writeRun(runs + "/c-run", 5, 1.0, false);
    panel.refreshRuns();
    QCOMPARE(panel.listedRuns().size(), 3);
  }

  void loadRunShowsItsHistory() {
    const QString run = dir_.filePath("runs-load/torn");
    // A killed run: the last line was cut mid-write.
    writeRun(run, 25, 1.0, true, "26,2.6,1.0");
    CurvesPanel panel(nullptr);
    panel.loadRun(run);
    panel.updatePlot();
    QVERIFY2(panel.message().isEmpty(), qPrintable(panel.message()));
    QCOMPARE(panel.lossGraph(false)->data()->size(), 25);
    QCOMPARE(panel.knnGraph()->data()->size(), 2);
    QCOMPARE(panel.metricNames(), QStringList({"rotation_acc"}));
    QCOMPARE(panel.liveRunDir(), run);

    panel.loadRun(dir_.filePath("runs-load/missing"));
    QVERIFY(panel.message().contains("missing"));
    QCOMPARE(panel.lossGraph(false)->data()->size(), 25);  // the shown run stays
  }

  void exportsWriteFiles() {
    const QString runs = dir_.filePath("runs-export");
    writeRun(runs + "/old", 30, 1.0, true);
    CurvesPanel panel(nullptr);
    panel.resize(900, 600);
    panel.addSteps(fakeSteps(1, 120));
    panel.addEvaluations(fakeEvals(2));
    panel.setOverlay(runs + "/old", true);
    panel.setMetricShown("pos_sim", false);
    panel.updatePlot();

    const QString png = dir_.filePath("curves.png"), pdf = dir_.filePath("curves.pdf"),
                  csv = dir_.filePath("curves.csv");
    panel.exportPng(png, 600, 400);
    panel.exportPdf(pdf, 600, 400);
    panel.exportCsv(csv);
    QVERIFY(QFileInfo(png).size() > 1000);
    QVERIFY(QFileInfo(pdf).size() > 1000);
    QImage image(png);
    QCOMPARE(image.size(), QSize(1200, 800));  // twice the pixels
    QFile pdfFile(pdf);
    QVERIFY(pdfFile.open(QIODevice::ReadOnly));
    QVERIFY(pdfFile.read(5) == "%PDF-");

    // The CSV re-reads: one row per point of every shown series.
    QFile f(csv);
    QVERIFY(f.open(QIODevice::ReadOnly | QIODevice::Text));
    QTextStream in(&f);
    QCOMPARE(in.readLine(), QString("run,series,step,epoch,wall_s,value"));
    QMap<QString, int> counts;
    QString line;
    while (in.readLineInto(&line)) {
      const QStringList cells = line.split(',');
      QCOMPARE(cells.size(), 6);
      for (int i = 2; i < 6; ++i) {
        bool ok = false;
        cells[i].toDouble(&ok);
        QVERIFY2(ok, qPrintable(line));
      }
      counts[cells[0] + "/" + cells[1]]++;
      if (cells[1] == "knn_top1" && cells[0] == "current run") {
        QCOMPARE(cells[3].toDouble(), cells[2].toDouble() / kStepsPerEpoch);
      }
    }
    QCOMPARE(counts.value("current run/loss"), 120);
    QCOMPARE(counts.value("current run/loss_smoothed"), 120);
    QCOMPARE(counts.value("current run/lr"), 120);
    QCOMPARE(counts.value("current run/knn_top1"), 2);
    QCOMPARE(counts.value("current run/contrastive_acc"), 120);
    QCOMPARE(counts.value("current run/pos_sim"), 0);  // unchecked: not shown, not exported
    QCOMPARE(counts.value("old/loss"), 30);
    QCOMPARE(counts.value("old/knn_top1"), 3);

    PRETEXT_VERIFY_THROWS_WITH(panel.exportCsv(dir_.filePath("no/such/dir/x.csv")), "x.csv");
  }

  void fiftyThousandPointsAreDecimated() {
    CurvesPanel panel(nullptr);
    panel.resize(1000, 700);
    QElapsedTimer timer;
    timer.start();
    // As the controller would deliver them: 500 drains of 100 points, one rebuild each.
    for (int chunk = 0; chunk < 500; ++chunk) {
      panel.addSteps(fakeSteps(1 + chunk * 100, 100, chunk));
      panel.updatePlot();
    }
    const qint64 ms = timer.elapsed();
    qInfo("50k points in 500 drains: %lld ms (%.2f ms per drain)", ms, ms / 500.0);
    QCOMPARE(panel.liveCurves().loss().raw.size(), size_t(50000));
    const int shown = panel.lossGraph(false)->data()->size();
    const int width = panel.plot()->rect(CurvesPlot::LossRow)->width();
    QVERIFY2(shown <= std::max(400, 2 * width) + 2,
             qPrintable(QString("%1 points for %2 px").arg(shown).arg(width)));
    QVERIFY(shown >= 200);
    // Decimation keeps the spikes: the plotted max equals the true max.
    const auto v = valuesOf(panel.lossGraph(false));
    const auto& raw = panel.liveCurves().loss().raw;
    double trueMax = raw.y(0);
    for (size_t i = 0; i < raw.size(); ++i) trueMax = std::max(trueMax, raw.y(i));
    QCOMPARE(*std::max_element(v.begin(), v.end()), trueMax);

    // Zoomed in, the window is decimated on its own: every point of it, at full resolution.
    QSignalSpy viewChanged(panel.plot(), &CurvesPlot::userChangedView);
    panel.plot()->rect(CurvesPlot::LossRow)->axis(QCPAxis::atBottom)->setRange(20000, 20100);
    QVERIFY(!viewChanged.isEmpty());
    QVERIFY(!panel.followsData());
    panel.updatePlot();
    const auto keys = keysOf(panel.lossGraph(false));
    QCOMPARE(keys.size(), size_t(103));  // 101 inside plus one neighbour each side
    QCOMPARE(keys.front(), 19999.0);
    QCOMPARE(keys.back(), 20101.0);
    // New points do not move a view the user chose; reset follows again.
    panel.addSteps(fakeSteps(50001, 100));
    panel.updatePlot();
    QCOMPARE(panel.plot()->xRange().lower, 20000.0);
    panel.resetView();
    QVERIFY(panel.followsData());
    QVERIFY(panel.plot()->xRange().upper >= 50100);
  }

  void largeRunFolderLoads() {
    // 50k rows with a method metric: linear time (a quadratic load would take minutes).
    const QString run = dir_.filePath("runs-large/big");
    fs::create_directories(run.toStdString());
    std::string csv = "step,epoch,loss,lr,img_per_s,wall_s,knn_top1,rotation_acc\n";
    csv.reserve(50000 * 48);
    for (int s = 1; s <= 50000; ++s)
      csv += std::to_string(s) + "," + std::to_string(s / 500.0) + ",1.5,0.001,900," +
             std::to_string(s * 0.01) + "," + (s > 500 ? "61.5" : "") + ",0.8\n";
    test::writeText(run.toStdString() + "/metrics.csv", csv);
    test::writeText(run.toStdString() + "/experiment.json", "{}");
    QElapsedTimer timer;
    timer.start();
    RunCurves c;
    c.load(run, 0.6);
    qInfo("50k-row metrics.csv loaded in %lld ms", timer.elapsed());
    QVERIFY(timer.elapsed() < 10000);
    QCOMPARE(c.loss().raw.size(), size_t(50000));
    QCOMPARE(c.metric("rotation_acc")->raw.size(), size_t(50000));
    QCOMPARE(c.knn().raw.size(), size_t(1));
    QCOMPARE(c.lastStep(), qint64(50000));
    QVERIFY(std::abs(c.toX(25000, CurveX::Epochs) - 50.0) < 1e-9);
  }

  void hiddenPanelDefersWork() {
    CurvesPanel panel(nullptr);
    panel.addSteps(fakeSteps(1, 50));
    QCoreApplication::processEvents();
    QCOMPARE(panel.lossGraph(false)->data()->size(), 0);  // hidden: nothing plotted yet
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QTRY_COMPARE(panel.lossGraph(false)->data()->size(), 50);
    panel.addSteps(fakeSteps(51, 10));
    QTRY_COMPARE(panel.lossGraph(false)->data()->size(), 60);  // shown: the next pass plots
  }

  void hoverShowsValues() {
    CurvesPanel panel(nullptr);
    panel.resize(900, 600);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.addSteps(fakeSteps(1, 200));
    panel.addEvaluations(fakeEvals(2));
    QTRY_COMPARE(panel.lossGraph(false)->data()->size(), 200);
    QCoreApplication::processEvents();
    QCPAxisRect* loss = panel.plot()->rect(CurvesPlot::LossRow);
    const QPoint at(static_cast<int>(loss->axis(QCPAxis::atBottom)->coordToPixel(100)),
                    loss->rect().center().y());
    QTest::mouseMove(panel.plot(), at);
    QTRY_VERIFY(QToolTip::isVisible());
    QVERIFY2(QToolTip::text().contains("step 100"), qPrintable(QToolTip::text()));
    QVERIFY(QToolTip::text().contains("raw"));  // smoothed value with its raw one
    // The kNN row names where its sparse point is.
    QCPAxisRect* knn = panel.plot()->rect(CurvesPlot::KnnRow);
    const int between = static_cast<int>(knn->axis(QCPAxis::atBottom)->coordToPixel(70));
    QTest::mouseMove(panel.plot(), QPoint(between, knn->rect().center().y()));
    QTRY_VERIFY2(QToolTip::text().contains("@ step 50"), qPrintable(QToolTip::text()));
  }

  void controllerSignalsFeedThePanel() {
    SessionController controller;
    controller.setRunsFolder(dir_.filePath("runs-signals"));
    CurvesPanel panel(&controller);
    panel.addSteps(fakeSteps(1, 10));
    RunInfo info;
    info.runDir = dir_.filePath("runs-signals/live");
    info.totalSteps = 100;
    emit controller.started(info);  // a new run: the old points go
    QCOMPARE(panel.liveCurves().loss().raw.size(), size_t(0));
    QCOMPARE(panel.liveRunDir(), info.runDir);
    emit controller.stepsArrived(fakeSteps(1, 30));
    emit controller.evaluationsArrived(fakeEvals(1));
    panel.updatePlot();
    QCOMPARE(panel.lossGraph(false)->data()->size(), 30);
    QCOMPARE(panel.knnGraph()->data()->size(), 1);
    QCOMPARE(panel.lossGraph(true)->name(), QString("live"));

    writeRun(dir_.filePath("runs-signals/opened"), 12, 1.0, false);
    emit controller.runOpened(dir_.filePath("runs-signals/opened"));
    panel.updatePlot();
    QCOMPARE(panel.lossGraph(false)->data()->size(), 12);
  }

  void trainingRunDrawsCurves() {
    // End to end: a tiny real run through the controller.
    const std::string data = dir_.filePath("mnist").toStdString();
    fs::create_directories(data);
    test::writeTinyMnist(data);
    SessionController controller;
    controller.setRunsFolder(dir_.filePath("runs-train"));
    controller.setExperiment(experimentFromJson(test::tinyExperimentJson(data, "rotation", 2)));
    CurvesPanel panel(&controller);
    panel.resize(800, 600);
    panel.show();
    QSignalSpy finished(&controller, &SessionController::finished);
    controller.start();
    QVERIFY(finished.wait(60000));
    QTRY_VERIFY(panel.lossGraph(false)->data()->size() >= 12);
    QVERIFY(panel.knnGraph()->data()->size() >= 1);
    QVERIFY(!panel.metricNames().isEmpty());
    // The finished run re-reads from its folder the same way.
    panel.loadRun(controller.runDir());
    panel.updatePlot();
    QVERIFY2(panel.message().isEmpty(), qPrintable(panel.message()));
    QVERIFY(panel.lossGraph(false)->data()->size() >= 12);
    QVERIFY(panel.knnGraph()->data()->size() >= 1);
  }

  // PRETEXT_SCREENSHOTS=DIR: renders the panel as a user would see it (for looking, not a check).
  void screenshot() {
    const QString out = qEnvironmentVariable("PRETEXT_SCREENSHOTS");
    if (out.isEmpty()) QSKIP("set PRETEXT_SCREENSHOTS=DIR to render the panel");
    const QString runs = dir_.filePath("runs-shot");
    fs::create_directories((runs + "/simclr-fashion-20261121-1802").toStdString());
    {
      // An earlier, slower-converging run to compare against.
      std::string csv = "step,epoch,loss,lr,img_per_s,wall_s,knn_top1,contrastive_acc\n";
      std::string events;
      std::mt19937 rng(7);
      std::normal_distribution<double> noise(0.0, 0.12);
      double knn = -1;
      for (int s = 1; s <= 1600; ++s) {
        const double loss = 0.5 + 4.0 * std::exp(-s / 600.0) + noise(rng) * std::exp(-s / 1500.0);
        csv += std::to_string(s) + "," + std::to_string(s / 250.0) + "," + std::to_string(loss) +
               ",0.001,700," + std::to_string(0.12 * s) + "," +
               (knn >= 0 ? std::to_string(knn) : "") + ",0.5\n";
        if (s % 250 == 0) {
          knn = 35 + 28 * (1 - std::exp(-s / 900.0));
          events += "{\"type\":\"eval\",\"step\":" + std::to_string(s) +
                    ",\"kind\":\"knn\",\"top1\":" + std::to_string(knn) + "}\n";
        }
      }
      const std::string dir = runs.toStdString() + "/simclr-fashion-20261121-1802";
      test::writeText(dir + "/metrics.csv", csv);
      test::writeText(dir + "/metrics.jsonl", events);
      test::writeText(dir + "/experiment.json", R"({"method": {"name": "simclr"}})");
    }
    SessionController controller;
    controller.setRunsFolder(runs);
    {
      CurvesPanel empty(&controller);
      empty.resize(900, 560);
      empty.show();
      QVERIFY(QTest::qWaitForWindowExposed(&empty));
      QCoreApplication::processEvents();
      empty.plot()->replot();
      empty.grab().save(QDir(out).filePath("curves_empty.png"));
    }
    for (QSize size : {QSize(1100, 760), QSize(800, 600)}) {
      CurvesPanel panel(&controller);
      panel.resize(size);
      panel.show();
      QVERIFY(QTest::qWaitForWindowExposed(&panel));
      RunInfo info;
      info.runDir = runs + "/simclr-fashion-20261122-0955";
      emit controller.started(info);
      auto steps = fakeSteps(1, 2000);
      for (auto& p : steps) p.epoch = p.step / 250.0;
      emit controller.stepsArrived(steps);
      QVector<EvalPoint> evals;
      for (int e = 0; e < 8; ++e)
        evals << EvalPoint{(e + 1) * 250, e, "knn", 40 + 35 * (1 - std::exp(-e / 2.5))};
      emit controller.evaluationsArrived(evals);
      panel.setOverlay(runs + "/simclr-fashion-20261121-1802", true);
      QCoreApplication::processEvents();
      panel.plot()->replot();
      panel.grab().save(
          QDir(out).filePath(QString("curves_%1x%2.png").arg(size.width()).arg(size.height())));
      if (size.width() == 1100) {
        panel.setXMode(CurveX::Epochs);
        panel.setLogScale(true);
        panel.setSmoothing(0.95);
        QCoreApplication::processEvents();
        panel.plot()->replot();
        panel.grab().save(QDir(out).filePath("curves_epochs_log.png"));
        panel.exportPng(QDir(out).filePath("curves_export.png"));
      }
    }
  }

  // viz::MetricSeries additions used by the panel.
  void seriesSliceInterpolateAndTable() {
    MetricSeries s;
    for (int i = 0; i < 10; ++i) s.append(i * 10, i);
    const MetricSeries w = s.slice(25, 55);
    QCOMPARE(w.size(), size_t(5));  // 20 | 30 40 50 | 60
    QCOMPARE(w.x(0), 20.0);
    QCOMPARE(w.x(4), 60.0);
    QCOMPARE(s.slice(1000, 2000).size(), size_t(1));  // only the left neighbour
    QCOMPARE(s.interpolate(15), 1.5);
    QCOMPARE(s.interpolate(-5), 0.0);
    QCOMPARE(s.invertMonotonic(2.5), 25.0);

    EmaSmoother ema(0.5);
    const MetricSeries batch = s.smoothed(0.5);
    for (size_t i = 0; i < s.size(); ++i) QVERIFY(std::abs(ema.push(s.y(i)) - batch.y(i)) < 1e-12);
    PRETEXT_VERIFY_THROWS_WITH(EmaSmoother(1.0), "weight");

    const QString csv = dir_.filePath("table.csv");
    test::writeText(csv.toStdString(), "step,loss,knn_top1\n1,2.0,\n2,1.5,40\n3,1.0,40\n4,0.");
    const MetricsTable t = loadMetricsCsv(csv);
    QCOMPARE(t.columns, QStringList({"loss", "knn_top1"}));
    QCOMPARE(t.column("loss").size(), size_t(3));  // the torn 4th row is dropped
    QCOMPARE(t.column("knn_top1").size(), size_t(2));
    test::writeText(csv.toStdString(), "step,loss\n1,abc\n2,1.0\n");
    PRETEXT_VERIFY_THROWS_WITH(loadMetricsCsv(csv), ":2:");
    test::writeText(csv.toStdString(), "epoch,loss\n1,2\n");
    PRETEXT_VERIFY_THROWS_WITH(loadMetricsCsv(csv), "no 'step' column");
  }
};

PRETEXT_TEST_AREA(TestGuiCurves, "gui_curves")
#include "test_gui_curves.moc"
