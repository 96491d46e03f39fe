// File > Follow run...: the window watches a run that another process (a real pretext-cli) is
// writing; its curves grow with the writer's rows and its panels reload at each checkpoint.
#include "test_main.h"
#include <torch/torch.h>

#include <QDir>
#include <QLabel>
#include <QMessageBox>
#include <QProcess>
#include <QProgressBar>
#include <QSignalSpy>
#include <QtTest>

#include <signal.h>

#include <filesystem>

#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "test_support.h"
#include "ui/curves/curves_data.h"
#include "ui/curves/curves_panel.h"
#include "ui/inspect/neighbours_panel.h"
#include "ui/window/main_window.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

namespace {

// The run folder that appears under `runs` once it holds `file` (an empty string on timeout).
QString waitForRunFile(const QString& runs, const QString& file, int timeoutMs) {
  QElapsedTimer clock;
  clock.start();
  while (clock.elapsed() < timeoutMs) {
    for (const QFileInfo& fi : QDir(runs).entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot))
      if (QFileInfo::exists(QDir(fi.absoluteFilePath()).filePath(file))) return fi.absoluteFilePath();
    QThread::msleep(2);
  }
  return {};
}

double parameterSum(torch::nn::Module& m) {
  double sum = 0;
  for (const auto& p : m.parameters()) sum += p.detach().to(torch::kDouble).abs().sum().item<double>();
  return sum;
}

}  // namespace

class TestGuiFollow : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

 private slots:
  void initTestCase() {
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
  }

  void windowFollowsARunAnotherProcessWrites() {
    // 96 images / 16 per batch = 6 steps an epoch; 40 epochs; a checkpoint every 24 steps.
    nlohmann::json e = test::tinyExperimentJson(data_, "simclr", 40);
    e["run"]["checkpoint_every"] = 24;
    e["eval"]["knn_every"] = 4;
    const QString experiment = dir_.filePath("follow.json");
    test::writeText(experiment.toStdString(), e.dump(2));
    const QString runs = dir_.filePath("follow-runs");
    QProcess writer;
    writer.setProcessChannelMode(QProcess::MergedChannels);
    writer.start(PRETEXT_CLI, {"train", experiment, "--out", runs});
    QVERIFY(writer.waitForStarted());
    // Freeze the writer as soon as its first checkpoint is announced, so the window starts on a
    // run in the middle of training whatever this machine's speed.
    const QString run = waitForRunFile(runs, "state.json", 120000);
    QVERIFY2(!run.isEmpty(), qPrintable(writer.readAll()));
    QCOMPARE(::kill(pid_t(writer.processId()), SIGSTOP), 0);
    const int64_t frozenAt = RunDirectory::open(run.toStdString()).state().value("step", int64_t(-1));
    QVERIFY(frozenAt >= 24 && frozenAt < 240);

    MainWindowOptions options;
    options.useSettings = false;
    MainWindow window(options);
    window.resize(1200, 800);
    window.show();
    window.showPanel("Neighbours");
    auto* neighbours = qobject_cast<NeighboursPanel*>(window.panel("Neighbours"));
    auto* curves = qobject_cast<CurvesPanel*>(window.panel("Curves"));
    QVERIFY(neighbours && curves);
    neighbours->setGalleryLimit(64);
    SessionController* c = window.controller();
    QSignalSpy opened(c, &SessionController::runOpened);
    QSignalSpy ended(c, &SessionController::followEnded);
    QSignalSpy changed(c, &SessionController::sessionChanged);
    c->followRun(run, 50);
    QVERIFY(c->following());
    QCOMPARE(c->followedRun(), run);
    QVERIFY(opened.wait(60000));
    neighbours->setQueryTestIndex(0);
    // The opened model is the frozen writer's checkpoint, and the panels say so.
    QTRY_COMPARE_WITH_TIMEOUT(neighbours->galleryStep(), qint64(frozenAt), 60000);
    QCOMPARE(c->modelStep(), qint64(frozenAt));
    QTRY_VERIFY_WITH_TIMEOUT(curves->liveCurves().lastStep() >= frozenAt, 10000);
    const qint64 seenWhileFrozen = curves->liveCurves().lastStep();
    QVERIFY(ended.isEmpty());
    QLabel* state = window.findChild<QLabel*>("stateLabel");
    QVERIFY(state);
    QCOMPARE(state->text(), QStringLiteral("Following"));

    // Thaw it: the curves grow, each checkpoint reloads the model, and the end is announced.
    const int changesBefore = changed.count();
    QCOMPARE(::kill(pid_t(writer.processId()), SIGCONT), 0);
    QVERIFY(ended.wait(180000));
    QVERIFY(writer.waitForFinished(60000));
    QCOMPARE(writer.exitCode(), 0);
    QCOMPARE(ended.first().at(1).toLongLong(), qint64(240));
    QVERIFY(!c->following());
    QCOMPARE(curves->liveCurves().lastStep(), qint64(240));
    QVERIFY(curves->liveCurves().lastStep() > seenWhileFrozen);
    QVERIFY(!curves->liveCurves().knn().raw.empty());
    // At least one reload happened after the thaw (checkpoints at 48..240 were written; reloads
    // of checkpoints that land while one is loading are coalesced).
    QTRY_VERIFY_WITH_TIMEOUT(changed.count() > changesBefore, 30000);
    QTRY_COMPARE_WITH_TIMEOUT(c->modelStep(), qint64(240), 30000);
    QTRY_COMPARE_WITH_TIMEOUT(neighbours->galleryStep(), qint64(240), 60000);
    QTRY_COMPARE_WITH_TIMEOUT(window.findChild<QProgressBar*>("stepProgress")->value(), 240, 10000);

    // The inspected model is the writer's last checkpoint, weight for weight.
    Session last = loadRunSession(run.toStdString());
    const double expected = parameterSum(*last.method);
    double inspected = -1;
    c->inspect<double>(
        &window, [](Session& s) { return parameterSum(*s.method); }, [&](double v) { inspected = v; });
    QTRY_VERIFY_WITH_TIMEOUT(inspected >= 0, 30000);
    QCOMPARE(inspected, expected);
  }

  void followRefusesAFolderThatIsNotARun() {
    MainWindowOptions options;
    options.useSettings = false;
    MainWindow window(options);
    window.followRun(dir_.filePath("mnist"));
    QVERIFY(!window.controller()->following());
    auto* box = window.findChild<QMessageBox*>("errorBox");
    QVERIFY(box);
    QVERIFY2(box->text().contains("experiment.json"), qPrintable(box->text()));
  }
};

PRETEXT_TEST_AREA(TestGuiFollow, "gui_follow")
#include "test_gui_follow.moc"
