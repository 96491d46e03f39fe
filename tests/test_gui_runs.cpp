// The Runs panel: the results table of a folder of hand-made run folders (results first, then
// the settings that differ), numeric sorting with gaps last, double-click to open, the scatter of
// a setting against a result (numbers and categories), a damaged run marked, and an empty folder.
#include "test_main.h"

#include <QSignalSpy>
#include <QTableWidget>
#include <QtTest>
#include <filesystem>
#include <fstream>

#include "core/eval/results.h"
#include "test_support.h"
#include "ui/evaluation/runs_panel.h"

using namespace pretext;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void writeGuiRun(const std::string& dir, const std::string& method, double temperature, double linear) {
  fs::create_directories(dir);
  test::writeText(dir + "/experiment.json",
                  json{{"method", {{"name", method}, {"params", {{"temperature", temperature}}}}}, {"run", {{"seed", 1}}}}.dump());
  test::writeText(dir + "/state.json", json{{"step", 100}, {"finished", true}}.dump());
  if (linear >= 0) {
    EvalRecord r;
    r.protocol = "linear";
    r.top1 = linear;
    appendEvalRecord(dir, r);
  }
}

int columnOf(const QTableWidget* t, const QString& name) {
  for (int c = 0; c < t->columnCount(); ++c)
    if (t->horizontalHeaderItem(c)->text() == name) return c;
  return -1;
}

}  // namespace

class TestGuiRuns : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;

 private slots:
  void tableSortingOpeningAndScatter() {
    const std::string root = dir_.filePath("runs").toStdString();
    writeGuiRun(root + "/t01", "simclr", 0.1, 85.5);
    writeGuiRun(root + "/t05", "simclr", 0.5, 88.25);
    writeGuiRun(root + "/t02", "moco", 0.2, 87.0);
    writeGuiRun(root + "/unprobed", "moco", 0.3, -1);
    fs::create_directories(root + "/broken");
    test::writeText(root + "/broken/experiment.json", "[1,");

    RunsPanel panel(nullptr);
    panel.resize(1000, 700);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QSignalSpy refreshed(&panel, &RunsPanel::refreshed);
    panel.setFolder(dir_.filePath("runs"));
    QVERIFY(panel.scanning());  // read on a worker thread
    QVERIFY(refreshed.wait(20000));
    QVERIFY(!panel.scanning());
    const QTableWidget* t = panel.table();
    QCOMPARE(t->rowCount(), 5);
    // Results first, then the two settings that differ (the seed does not).
    QCOMPARE(t->horizontalHeaderItem(2)->text(), QString("linear probe"));
    QVERIFY(columnOf(t, "method.name") > 2 && columnOf(t, "method.params.temperature") > 2);
    QCOMPARE(columnOf(t, "run.seed"), -1);
    // Sorted by the probe, best first; the runs without one last.
    QCOMPARE(t->item(0, 0)->text(), QString("t05"));
    QCOMPARE(t->item(1, 0)->text(), QString("t02"));
    QCOMPARE(t->item(2, 0)->text(), QString("t01"));
    QVERIFY(t->item(3, 2)->text().isEmpty() && t->item(4, 2)->text().isEmpty());
    // Ascending: numbers still come before the gaps.
    const_cast<QTableWidget*>(t)->sortByColumn(2, Qt::AscendingOrder);
    QCOMPARE(t->item(0, 0)->text(), QString("t01"));
    QVERIFY(t->item(3, 2)->text().isEmpty());
    // The temperature column sorts as numbers.
    const int temp = columnOf(t, "method.params.temperature");
    const_cast<QTableWidget*>(t)->sortByColumn(temp, Qt::DescendingOrder);
    QCOMPARE(t->item(0, temp)->text(), QString("0.5"));
    // The damaged run is listed, in red, with the reason in its tooltip.
    bool brokenSeen = false;
    for (int r = 0; r < t->rowCount(); ++r)
      if (t->item(r, 0)->text() == "broken") {
        brokenSeen = true;
        QVERIFY2(t->item(r, 0)->toolTip().contains("experiment.json"), qPrintable(t->item(r, 0)->toolTip()));
      }
    QVERIFY(brokenSeen);
    QVERIFY2(panel.status().contains("could not be read"), qPrintable(panel.status()));

    // Double-click opens.
    QSignalSpy opened(&panel, &RunsPanel::runActivated);
    emit const_cast<QTableWidget*>(t)->cellDoubleClicked(0, 3);
    QCOMPARE(opened.count(), 1);
    QVERIFY(opened.first().first().toString().endsWith("t05"));

    // Scatter: the method (categories) by default, then the temperature; 3 runs have a probe.
    QCOMPARE(panel.scatterAxes(), qMakePair(QString("method.name"), QString("linear probe")));
    QCOMPARE(panel.plottedPoints(), 3);
    panel.setScatterAxes("method.params.temperature", "linear probe");
    QCOMPARE(panel.plottedPoints(), 3);
    panel.setScatterAxes("method.params.temperature", "steps");
    QCOMPARE(panel.plottedPoints(), 4);
    panel.setAllSettings(true);
    QVERIFY(columnOf(t, "run.seed") > 0);
    if (const QString shots = qEnvironmentVariable("PRETEXT_SCREENSHOTS"); !shots.isEmpty())
      panel.grab().save(shots + "/runs-panel.png");
  }

  void anEmptyOrMissingFolderSaysSo() {
    RunsPanel panel(nullptr);
    QSignalSpy refreshed(&panel, &RunsPanel::refreshed);
    panel.setFolder(dir_.filePath("empty"));
    QVERIFY(refreshed.wait(20000));
    QVERIFY2(panel.status().contains("empty"), qPrintable(panel.status()));
    fs::create_directories(dir_.filePath("empty").toStdString());
    panel.refresh();
    QVERIFY(refreshed.wait(20000));
    QVERIFY2(panel.status().startsWith("No runs in this folder yet"), qPrintable(panel.status()));
    QCOMPARE(panel.table()->rowCount(), 0);
  }
};

PRETEXT_TEST_AREA(TestGuiRuns, "gui_runs")
#include "test_gui_runs.moc"
