// The window under a long session and under abuse (issue 19): cycles of start / pause / step /
// resume / stop / open run / reset / switch method / switch data with every panel visited, the
// resident memory after each cycle and the event loop's lateness all along; then the window
// closed while it trains, evaluates and runs t-SNE (the run stays resumable), bad files dropped
// onto the panels that take pictures, Start pressed twice, and settings changed while training.
// PRETEXT_SOAK_CYCLES (default 4) sets the cycles; RELIABILITY.md records a run of 100.
#include "test_main.h"
#include <torch/torch.h>

#include <QAction>
#include <QBuffer>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QFile>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTimer>
#include <QUrl>
#include <QtTest>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "core/config/experiment.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "test_support.h"
#include "ui/evaluation/evaluation_panel.h"
#include "ui/inspect/embedding_panel.h"
#include "ui/inspect/method_views_panel.h"
#include "ui/inspect/neighbours_panel.h"
#include "ui/window/main_window.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

namespace {

// Resident memory of this process, in MiB (/proc/self/status, VmRSS).
double residentMiB() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// How late a 10 ms timer fires, sample by sample, while it lives.
class LatenessProbe : public QObject {
 public:
  LatenessProbe() {
    timer_.setInterval(10);
    connect(&timer_, &QTimer::timeout, this, [this] {
      const qint64 now = clock_.nsecsElapsed();
      if (last_ > 0) lateMs_.push_back(std::max(0.0, (now - last_) / 1e6 - 10.0));
      last_ = now;
    });
    clock_.start();
    timer_.start();
  }
  double percentile(double p) const {
    if (lateMs_.empty()) return 0;
    std::vector<double> v = lateMs_;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())))];
  }
  size_t samples() const { return lateMs_.size(); }

 private:
  QTimer timer_;
  QElapsedTimer clock_;
  qint64 last_ = 0;
  std::vector<double> lateMs_;
};

void dropFileOnto(QWidget* target, const QString& path) {
  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(path)});
  QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(target, &enter);  // Qt delivers a drop only to the drag's target
  QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(target, &drop);
}

// Answers the next modal question box with Yes (the window asks before it closes a training).
void answerYesSoon() {
  QTimer::singleShot(300, [] {
    for (QWidget* w : QApplication::topLevelWidgets())
      if (auto* box = qobject_cast<QMessageBox*>(w); box && box->isVisible()) {
        box->button(QMessageBox::Yes)->click();
        return;
      }
    answerYesSoon();
  });
}

}  // namespace

class TestGuiSoak : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_, data2_;

  std::unique_ptr<MainWindow> window(const nlohmann::json& experiment) {
    MainWindowOptions options;
    options.useSettings = false;
    auto w = std::make_unique<MainWindow>(options);
    w->controller()->setRunsFolder(dir_.filePath("runs"));
    w->setExperiment(experimentFromJson(experiment));
    w->resize(1200, 800);
    w->show();
    return w;
  }
  // The only run folder that `finished` reported last.
  static QString lastRun(const QSignalSpy& finished) { return finished.last().first().toString(); }

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    data_ = dir_.filePath("mnist").toStdString();
    data2_ = dir_.filePath("mnist16").toStdString();
    fs::create_directories(data_);
    fs::create_directories(data2_);
    test::writeTinyMnist(data_);
    test::writeTinyMnist(data2_, 96, 40, 16, 5);  // other data: 16x16 images
  }

  void cyclesThroughEverything() {
    const int cycles = qEnvironmentVariableIsSet("PRETEXT_SOAK_CYCLES") ? qEnvironmentVariableIntValue("PRETEXT_SOAK_CYCLES") : 4;
    const char* methods[] = {"simclr", "rotation", "byol", "barlow", "moco", "npid"};
    auto w = window(test::tinyExperimentJson(data_, "simclr", 20));
    SessionController* c = w->controller();
    LatenessProbe lateness;
    QSignalSpy steps(c, &SessionController::stepsArrived);
    QSignalSpy finished(c, &SessionController::finished);
    QSignalSpy failed(c, &SessionController::failed);
    std::vector<double> resident;
    QElapsedTimer clock;
    clock.start();
    // The longest each kind of call held the GUI thread (where the event loop's stalls come from).
    std::map<QString, double> longestMs;
    auto timed = [&](const QString& what, const std::function<void()>& call) {
      QElapsedTimer t;
      t.start();
      call();
      longestMs[what] = std::max(longestMs[what], t.nsecsElapsed() / 1e6);
    };
    for (int cycle = 0; cycle < cycles; ++cycle) {
      // Switch method and data (idle).
      const std::string& data = cycle % 2 ? data2_ : data_;
      timed("setExperiment", [&] { w->setExperiment(experimentFromJson(test::tinyExperimentJson(data, methods[cycle % 6], 20))); });
      steps.clear();
      timed("start", [&] { w->action("start")->trigger(); });
      if (!steps.wait(60000)) {
        auto* box = w->findChild<QMessageBox*>("errorBox");
        QFAIL(qPrintable(QString("%1 did not train: %2").arg(methods[cycle % 6], box ? box->text() : "no message")));
      }
      w->action("pause")->trigger();
      QTRY_COMPARE_WITH_TIMEOUT(c->state(), SessionState::Paused, 10000);
      w->action("step")->trigger();
      w->action("pause")->trigger();  // "Resume"
      for (int i = 0; i < w->tabs()->count(); ++i) {
        timed("show " + w->tabs()->tabText(i), [&] { w->tabs()->setCurrentIndex(i); });
        QTest::qWait(60);
      }
      timed("stop", [&] { w->action("stop")->trigger(); });
      QVERIFY(finished.wait(60000));
      QCOMPARE(c->state(), SessionState::Idle);
      timed("openRun", [&] { w->openRun(lastRun(finished)); });
      for (int i = 0; i < w->tabs()->count(); ++i) {
        timed("show " + w->tabs()->tabText(i), [&] { w->tabs()->setCurrentIndex(i); });
        QTest::qWait(30);
      }
      timed("reset", [&] { w->action("reset")->trigger(); });
      QTest::qWait(100);
      QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().first().toString()));
      resident.push_back(residentMiB());
    }
    QString memory;
    for (int i : {0, 9, 49, cycles - 1})
      if (i < cycles) memory += QString(" after cycle %1: %2 MiB;").arg(i + 1).arg(resident[i], 0, 'f', 1);
    std::vector<std::pair<double, QString>> slowest;
    for (const auto& [what, ms] : longestMs) slowest.push_back({ms, what});
    std::sort(slowest.rbegin(), slowest.rend());
    QString calls;
    for (size_t i = 0; i < std::min<size_t>(5, slowest.size()); ++i)
      calls += QString(" %1 %2 ms;").arg(slowest[i].second).arg(slowest[i].first, 0, 'f', 0);
    qInfo().noquote() << "the longest GUI-thread calls:" << calls;
    qInfo().noquote() << QString("%1 cycles in %2 s; resident memory%3 event-loop lateness over %4 ticks: p50 %5 ms, p99 %6 ms, max %7 ms")
                             .arg(cycles).arg(clock.elapsed() / 1000.0, 0, 'f', 1).arg(memory).arg(lateness.samples())
                             .arg(lateness.percentile(50), 0, 'f', 2).arg(lateness.percentile(99), 0, 'f', 2)
                             .arg(lateness.percentile(100), 0, 'f', 1);
  }

  // Files that are not images, or claim to be too large, dropped on the panels that take a
  // picture: a message naming the file; the window lives and its memory stays bounded.
  void badImagesDroppedOnThePanels_data() {
    QTest::addColumn<QByteArray>("bytes");
    QByteArray png;
    {
      QImage img(8, 8, QImage::Format_RGB32);
      img.fill(Qt::blue);
      QBuffer buffer(&png);
      buffer.open(QIODevice::WriteOnly);
      img.save(&buffer, "PNG");
    }
    // A PNG signature and an IHDR chunk claiming 30,000 x 30,000 RGBA pixels (3.6 GB decoded).
    QByteArray huge = png.left(16);
    huge += QByteArray::fromHex("00007530" "00007530" "08060000");
    huge += png.mid(29);
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("text") << QByteArray("this is not a picture\n");
    QTest::newRow("truncated png") << png.left(png.size() / 2);
    QTest::newRow("30000x30000 header") << huge;
  }
  void badImagesDroppedOnThePanels() {
    QFETCH(QByteArray, bytes);
    const QString path = dir_.filePath(QString("dropped-%1.png").arg(QTest::currentDataTag()).replace(' ', '-'));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
    f.close();
    auto w = window(test::tinyExperimentJson(data_, "rotation", 1));
    const double before = residentMiB();
    auto* neighbours = qobject_cast<NeighboursPanel*>(w->panel("Neighbours"));
    QSignalSpy shown(neighbours, &NeighboursPanel::neighboursUpdated);
    w->showPanel("Neighbours");
    QVERIFY(shown.wait(30000));  // as a user would: the panel has its first picture
    dropFileOnto(neighbours, path);
    QTRY_VERIFY2_WITH_TIMEOUT(neighbours->errorText().contains(path) && neighbours->errorText().contains("cannot read this image"),
             qPrintable(neighbours->errorText() + " / visible " + QString::number(neighbours->isVisible())), 5000);
    w->showPanel("Method views");
    auto* views = qobject_cast<MethodViewsPanel*>(w->panel("Method views"));
    dropFileOnto(views, path);
    QVERIFY(!views->hasUserImage());
    QVERIFY2(residentMiB() - before < 256, qPrintable(QString("%1 MiB more").arg(residentMiB() - before)));
  }

  // Start pressed twice in a row starts one run; settings changed while training wait for the
  // next run (the running one keeps its experiment).
  void doubleStartAndSettingsWhileTraining() {
    auto w = window(test::tinyExperimentJson(data_, "simclr", 20));
    SessionController* c = w->controller();
    QSignalSpy started(c, &SessionController::started);
    QSignalSpy finished(c, &SessionController::finished);
    w->action("start")->trigger();
    w->action("start")->trigger();
    w->start();
    QVERIFY(started.wait(30000));
    QTest::qWait(300);
    QCOMPARE(started.size(), 1);
    w->setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "rotation", 1)));
    QCOMPARE(c->state() == SessionState::Idle, false);
    w->action("stop")->trigger();
    QVERIFY(finished.wait(60000));
    const Experiment ran = RunDirectory::open(lastRun(finished).toStdString()).experiment();
    QCOMPARE(ran.method, std::string("simclr"));
    QCOMPARE(started.size(), 1);
  }

  // The window closed while it trains, while an evaluation runs and while t-SNE animates: no
  // crash, and the run it trained resumes from its checkpoint.
  void closingWhileBusyKeepsTheRunResumable_data() {
    QTest::addColumn<QString>("busy");
    QTest::newRow("training") << "training";
    QTest::newRow("evaluation") << "evaluation";
    QTest::newRow("t-SNE") << "tsne";
  }
  void closingWhileBusyKeepsTheRunResumable() {
    QFETCH(QString, busy);
    auto w = window(test::tinyExperimentJson(data_, "simclr", 30));
    SessionController* c = w->controller();
    QSignalSpy started(c, &SessionController::started);
    QSignalSpy steps(c, &SessionController::stepsArrived);
    w->action("start")->trigger();
    QVERIFY(started.wait(30000));
    QVERIFY(steps.wait(30000));
    const QString run = started.first().first().value<RunInfo>().runDir;
    if (busy == "evaluation") {
      w->showPanel("Evaluation");
      auto* eval = qobject_cast<EvaluationPanel*>(w->panel("Evaluation"));
      eval->runLinear();
      QTRY_VERIFY_WITH_TIMEOUT(eval->busy(), 10000);
    } else if (busy == "tsne") {
      w->showPanel("Embedding");
      auto* embedding = qobject_cast<EmbeddingPanel*>(w->panel("Embedding"));
      embedding->setProjection(EmbeddingPanel::Projection::Tsne);
      QTRY_VERIFY_WITH_TIMEOUT(embedding->busy(), 20000);
    }
    answerYesSoon();
    QVERIFY(w->close());
    w.reset();  // the window and its engine thread go
    QVERIFY(RunDirectory::open(run.toStdString()).hasCheckpoint());
    TrainOptions resume;
    resume.resumeDir = run.toStdString();
    resume.stepsOverride = 1;  // resuming starts, loads the checkpoint and trains on
    QVERIFY(!Trainer(Experiment{}, resume).run().empty());
  }
};

PRETEXT_TEST_AREA(TestGuiSoak, "gui_soak")
#include "test_gui_soak.moc"
