// The evaluation panel on a tiny model: kNN, linear probe, fine-tuning and the random-init
// baseline produce table rows with confusion matrices; results persist in the run folder.
#include "test_main.h"
#include <torch/torch.h>

#include <QSignalSpy>
#include <QTableWidget>
#include <QtTest>
#include <filesystem>

#include "core/eval/results.h"
#include "test_support.h"
#include "ui/evaluation/confusion_matrix_view.h"
#include "ui/evaluation/evaluation_panel.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

class TestGuiEvaluation : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;
  QString runDir_;  // a trained tiny run (made by trainedRunKeepsItsResults)

  void configure(SessionController& c, int64_t epochs = 1) {
    c.setRunsFolder(dir_.filePath("runs"));
    c.setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "simclr", epochs)));
  }
  static qint64 sum(const std::vector<int64_t>& v) {
    qint64 s = 0;
    for (auto x : v) s += x;
    return s;
  }
  static int tableRows(EvaluationPanel& p) { return p.findChild<QTableWidget*>()->rowCount(); }

 private slots:
  void initTestCase() {
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
  }

  void knnLinearFinetuneOnRandomInit() {
    SessionController c;
    configure(c);
    EvaluationPanel p(&c);
    p.resize(1100, 700);
    p.show();
    p.setKnn(5, 0.1);
    p.setFinetune(0.5, 1, 2);
    QSignalSpy done(&p, &EvaluationPanel::evaluationFinished);
    QSignalSpy failed(&p, &EvaluationPanel::evaluationFailed);
    p.runKnn();
    p.runLinear();  // queued behind the kNN
    QVERIFY(p.busy());
    QCOMPARE(p.queued(), 1);
    p.runFinetune();
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 3, 60000);
    QCOMPARE(failed.count(), 0);
    QVERIFY(!p.busy());
    QCOMPARE(p.records().size(), 3);
    QCOMPARE(tableRows(p), 3);
    const char* protocols[] = {"knn", "linear", "finetune"};
    for (int i = 0; i < 3; ++i) {
      const EvalRecord& r = p.records()[i];
      QCOMPARE(r.protocol, std::string(protocols[i]));
      QCOMPARE(sum(r.confusion), qint64(40));  // every test image once
      QCOMPARE(r.testImages, qint64(40));
      QVERIFY(r.top1 >= 0 && r.top1 <= 100);
      QVERIFY(r.run.empty());  // an untrained session has no run folder to save into
    }
    // The newest result is selected and its matrix shown, with the class names.
    QCOMPARE(p.selectedRow(), 2);
    QCOMPARE(p.confusionView()->classes(), 10);
    QCOMPARE(p.confusionView()->total(), qint64(40));
    p.selectRow(0);
    QCOMPARE(p.confusionView()->total(), qint64(40));
    QCOMPARE(p.confusionView()->count(0, 0), p.records()[0].confusion[0]);
    // The table exports as CSV: a header and one line per result.
    const QString csv = dir_.filePath("results.csv");
    QVERIFY(p.exportCsv(csv));
    QFile f(csv);
    QVERIFY(f.open(QIODevice::ReadOnly | QIODevice::Text));
    const QStringList lines = QString::fromUtf8(f.readAll()).trimmed().split('\n');
    QCOMPARE(lines.size(), 4);
    QVERIFY(lines[0].startsWith("run,method,data,protocol"));
    QVERIFY2(lines[1].contains("\"knn\"") && lines[1].contains("\"k=5 T=0.1\""),
             qPrintable(lines[1]));
    QVERIFY(lines[1].contains(QString::number(p.records()[0].top1, 'f', 4)));
    QVERIFY(!p.exportCsv(dir_.filePath("no/such/folder/x.csv")));
    p.grab().save(dir_.filePath("evaluation.png"));
  }

  void trainedRunKeepsItsResults() {
    {
      SessionController c;
      configure(c, 1);
      EvaluationPanel p(&c);
      p.show();
      p.setKnn(5, 0.1);
      QSignalSpy finished(&c, &SessionController::finished);
      QSignalSpy changed(&c, &SessionController::sessionChanged);
      c.start();
      QVERIFY(finished.wait(60000));
      runDir_ = finished.first().first().toString();
      QTRY_VERIFY_WITH_TIMEOUT(c.state() == SessionState::Idle && c.runDir() == runDir_, 10000);
      QSignalSpy done(&p, &EvaluationPanel::evaluationFinished);
      p.runKnn();
      p.runRandomInitBaseline();
      QTRY_COMPARE_WITH_TIMEOUT(done.count(), 3, 60000);
      const EvalRecord trained = p.records()[0];
      QCOMPARE(QString::fromStdString(trained.run), runDir_);
      QCOMPARE(trained.step, qint64(6));  // 96 images / 16 per batch, one epoch
      QVERIFY(!trained.randomInit);
      QVERIFY(p.records()[1].randomInit && p.records()[2].randomInit);
      QCOMPARE(p.records()[2].protocol, std::string("linear"));
      QCOMPARE(p.records()[1].step, qint64(0));
    }
    const auto saved = readEvalRecords(runDir_.toStdString());
    QCOMPARE(int(saved.size()), 3);
    QCOMPARE(sum(saved[0].confusion), qint64(40));

    // Opening the run again shows its past results.
    SessionController c;
    configure(c, 1);
    EvaluationPanel p(&c);
    QSignalSpy opened(&c, &SessionController::runOpened);
    c.openRun(runDir_);
    QVERIFY(opened.wait(30000));
    QTRY_COMPARE_WITH_TIMEOUT(p.records().size(), 3, 10000);
    QCOMPARE(tableRows(p), 3);
    // Scanning the runs folder finds the same three (no duplicates).
    p.scanRunsFolder();
    QCOMPARE(p.records().size(), 3);
  }

  // While training, an evaluation runs between steps and is saved in the live run's folder.
  void evaluateWhileTraining() {
    SessionController c;
    configure(c, 200);
    EvaluationPanel p(&c);
    p.setKnn(5, 0.1);
    QSignalSpy steps(&c, &SessionController::stepsArrived);
    QSignalSpy done(&p, &EvaluationPanel::evaluationFinished);
    c.start();
    QVERIFY(steps.wait(30000));
    QTRY_VERIFY_WITH_TIMEOUT(!c.runDir().isEmpty(), 10000);
    p.runKnn();
    QVERIFY(done.wait(30000));
    QVERIFY(c.training());
    const EvalRecord r = p.records().first();
    QCOMPARE(QString::fromStdString(r.run), c.runDir());
    QVERIFY(r.step > 0);
    QCOMPARE(sum(r.confusion), qint64(40));
    QSignalSpy finished(&c, &SessionController::finished);
    c.stop();
    QVERIFY(finished.wait(30000));
    QCOMPARE(int(readEvalRecords(c.runDir().toStdString()).size()), 1);
  }

  void cancelStopsTheQueue() {
    SessionController c;
    configure(c);
    EvaluationPanel p(&c);
    p.setFinetune(0.5, 0, 400);
    QSignalSpy done(&p, &EvaluationPanel::evaluationFinished);
    QSignalSpy busy(&p, &EvaluationPanel::busyChanged);
    p.runFinetune();
    p.runKnn();
    QCOMPARE(p.queued(), 1);
    QTest::qWait(200);
    p.cancel();
    QCOMPARE(p.queued(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(!p.busy(), 30000);
    QCOMPARE(done.count(), 0);
    QCOMPARE(p.records().size(), 0);
  }

  void scanOfAMissingFolder() {
    // A run folder scan of a folder that does not exist says so instead of failing silently.
    SessionController c;
    c.setRunsFolder(dir_.filePath("no-such-folder"));
    EvaluationPanel p(&c);
    p.scanRunsFolder();
    QCOMPARE(p.records().size(), 0);
  }
};

PRETEXT_TEST_AREA(TestGuiEvaluation, "gui_evaluation")
#include "test_gui_evaluation.moc"
