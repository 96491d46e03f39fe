// The workbench window end to end on a tiny data set: controls, panels, files, errors, pictures.
#include "test_main.h"
#include <torch/torch.h>

#include <QAction>
#include <QDockWidget>
#include <QMessageBox>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QtTest>

#include <filesystem>

#include "core/config/experiment.h"
#include "test_support.h"
#include "ui/experiment/augment_panel.h"
#include "ui/experiment/experiment_panel.h"
#include "ui/window/log_panel.h"
#include "ui/window/main_window.h"
#include "ui/inspect/method_views_panel.h"
#include "ui/window/screenshots.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

class TestGuiWindow : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  std::unique_ptr<MainWindow> window(int64_t epochs = 3, const std::string& method = "simclr") {
    MainWindowOptions options;
    options.useSettings = false;
    auto w = std::make_unique<MainWindow>(options);
    w->controller()->setRunsFolder(dir_.filePath("runs"));
    w->setExperiment(experimentFromJson(test::tinyExperimentJson(data_, method, epochs)));
    w->resize(1200, 800);
    w->show();
    return w;
  }
  static qint64 lastStep(const QSignalSpy& spy) {
    qint64 s = 0;
    for (const auto& args : spy)
      for (const StepPoint& p : args.first().value<QVector<StepPoint>>()) s = std::max(s, p.step);
    return s;
  }

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
  }

  void opensWithThePresetAndEveryPanel() {
    MainWindowOptions options;
    options.useSettings = false;
    MainWindow w(options);
    QCOMPARE(w.controller()->experiment().name, std::string("simclr-fashion"));
    for (const char* name : {"Start", "Curves", "Augmentations", "Neighbours", "Embedding", "Encoder",
                             "Evaluation", "Method views", "Loss", "Compare", "Runs", "Sweep"})
      QVERIFY2(w.panel(name) != nullptr, name);
    QCOMPARE(w.tabs()->count(), 12);
    QCOMPARE(w.tabs()->tabText(0), QString("Start"));
  }

  void startPauseStepStopFromTheToolbar() {
    auto w = window(50);
    SessionController* c = w->controller();
    QSignalSpy steps(c, &SessionController::stepsArrived);
    QSignalSpy finished(c, &SessionController::finished);
    w->action("start")->trigger();
    QVERIFY(steps.wait(30000));
    QVERIFY(!w->experimentPanel()->isEnabled() || c->state() != SessionState::Idle);
    QVERIFY(!w->action("start")->isEnabled());
    w->action("pause")->trigger();
    QCOMPARE(c->state(), SessionState::Paused);
    QCOMPARE(w->action("pause")->text(), QString("Resume"));
    QTest::qWait(500);
    const qint64 before = lastStep(steps);
    w->action("step")->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(lastStep(steps), before + 1, 10000);
    w->action("stop")->trigger();
    QVERIFY(finished.wait(30000));
    QCOMPARE(c->state(), SessionState::Idle);
    QVERIFY(w->action("start")->isEnabled());
    auto* log = qobject_cast<LogPanel*>(w->findChild<LogPanel*>());
    QVERIFY(log && log->text().contains("stopped at step"));
  }

  void augmentationsRedrawWhenSettingsChange() {
    auto w = window(2);
    w->showPanel("Augmentations");
    auto* panel = qobject_cast<AugmentPanel*>(w->panel("Augmentations"));
    QSignalSpy rendered(panel, &AugmentPanel::rendered);
    QVERIFY(rendered.wait(20000));
    const QImage first = panel->image();
    QVERIFY(!first.isNull());
    // Rotation shows five columns (the image and four turns) instead of SimCLR's three.
    w->setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "rotation", 2)));
    QCOMPARE(panel->viewColumns(), 3);
    // The edit may cause more than one redraw (experiment and session both changed): wait for
    // the last one, not just the first.
    QTRY_COMPARE_WITH_TIMEOUT(panel->viewColumns(), 5, 20000);
    QTest::qWait(1000);
    const QImage rotation = panel->image();
    panel->reroll();
    QTRY_VERIFY_WITH_TIMEOUT(panel->image() != rotation, 20000);
  }

  void methodViewsShowTheMethodsPictures() {
    auto w = window(2, "rotation");
    w->showPanel("Method views");
    auto* panel = qobject_cast<MethodViewsPanel*>(w->panel("Method views"));
    QTRY_VERIFY_WITH_TIMEOUT(!panel->previews().isEmpty(), 20000);
    QCOMPARE(panel->previews().first().name, QString("rotation predictions"));
    QVERIFY(!panel->previews().first().image.isNull());
    QVERIFY(panel->controlNames().isEmpty());  // rotation declares no sliders

    // Re-sample: the same images with new turns -> another picture.
    const QImage before = panel->previews().first().image;
    panel->resample();
    QTRY_VERIFY_WITH_TIMEOUT(panel->previews().first().image != before, 20000);

    // A picture of the user's own, converted to the data's 1x12x12: one row instead of 16 images.
    const QString path = dir_.filePath("own.png");
    QImage own(40, 30, QImage::Format_RGB32);
    own.fill(Qt::red);
    QVERIFY(own.save(path));
    const QSize full = panel->previews().first().image.size();
    QVERIFY(panel->loadImageFile(path));
    QVERIFY(panel->hasUserImage());
    QTRY_VERIFY_WITH_TIMEOUT(panel->previews().first().image.size() != full, 20000);
    QVERIFY(!panel->loadImageFile(dir_.filePath("missing.png")));
    panel->newImages();
    QVERIFY(!panel->hasUserImage());
    QTRY_COMPARE_WITH_TIMEOUT(panel->previews().first().image.size(), full, 20000);
  }

  void saveAndLoadRoundTrip() {
    auto w = window(2, "rotation");
    const QString path = dir_.filePath("saved.json");
    QVERIFY(w->saveExperimentFile(path));
    const nlohmann::json saved = experimentToJson(loadExperiment(path.toStdString()));
    w->loadPreset("simclr-fashion");
    QVERIFY(experimentToJson(w->controller()->experiment()) != saved);
    QVERIFY(w->openExperimentFile(path));
    QCOMPARE(experimentToJson(w->controller()->experiment()).dump(), saved.dump());
    QCOMPARE(experimentToJson(w->experimentPanel()->experiment()).dump(), saved.dump());
  }

  void badFilesAndDataShowErrorsAndTheWindowLives() {
    auto w = window(2);
    const QString broken = dir_.filePath("broken.json");
    test::writeText(broken.toStdString(), "{\"method\": {\"name\": \"no-such-method\"}");
    QVERIFY(!w->openExperimentFile(broken));
    QTRY_VERIFY_WITH_TIMEOUT(w->findChild<QMessageBox*>("errorBox") != nullptr, 5000);
    const QString msg = w->findChild<QMessageBox*>("errorBox")->text();
    QVERIFY2(msg.contains("broken.json"), qPrintable(msg));
    for (auto* box : w->findChildren<QMessageBox*>("errorBox")) box->close();
    QTRY_VERIFY_WITH_TIMEOUT(w->findChildren<QMessageBox*>("errorBox").isEmpty(), 5000);

    Experiment e = experimentFromJson(test::tinyExperimentJson(data_, "simclr", 2));
    e.data = "mnist:" + dir_.filePath("missing").toStdString();
    w->setExperiment(e);
    QSignalSpy failed(w->controller(), &SessionController::failed);
    w->start();
    QVERIFY(failed.wait(20000));
    QTRY_VERIFY_WITH_TIMEOUT(w->findChild<QMessageBox*>("errorBox") != nullptr, 5000);
    QVERIFY(w->findChild<QMessageBox*>("errorBox")->text().contains("missing"));
    QTRY_COMPARE_WITH_TIMEOUT(w->controller()->state(), SessionState::Idle, 5000);
    QVERIFY(w->action("start")->isEnabled());
  }

  void presentationModeHidesTheSettings() {
    auto w = window(2);
    auto* dock = w->findChild<QDockWidget*>("experimentDock");
    QVERIFY(dock->isVisible());
    const qreal size = w->font().pointSizeF();
    w->action("present")->trigger();
    QVERIFY(w->presentationMode());
    QVERIFY(!dock->isVisible());
    QVERIFY(w->font().pointSizeF() > size * 1.3);
    w->action("present")->trigger();
    QVERIFY(!w->presentationMode());
    QVERIFY(dock->isVisible());
    QCOMPARE(w->font().pointSizeF(), size);
  }

  void openARunToInspectIt() {
    auto w = window(1);
    QSignalSpy finished(w->controller(), &SessionController::finished);
    w->start();
    QVERIFY(finished.wait(60000));
    const QString run = finished.first().first().toString();
    auto w2 = window(1, "rotation");
    QSignalSpy opened(w2->controller(), &SessionController::runOpened);
    w2->openRun(run);
    QVERIFY(opened.wait(20000));
    QCOMPARE(w2->experimentPanel()->experiment().method, std::string("simclr"));
    QVERIFY(w2->windowTitle().contains(QDir(run).dirName()));
  }

  void screenshotTourSavesEveryPanel() {
    auto w = window(3);
    const QString shots = dir_.filePath("shots");
    auto* tour = new ScreenshotTour(w.get(), shots, 4, 600);
    QSignalSpy done(tour, &ScreenshotTour::done);
    tour->run();
    QVERIFY(done.wait(120000));
    QCOMPARE(done.first().first().toBool(), true);
    // Eleven panels (Start first; the Sweep tab without a sweep open is left out), and
    // presentation mode on the Augmentations and Method views.
    QCOMPARE(tour->saved().size(), 13);
    QVERIFY(tour->saved().first().endsWith("start.png"));
    QVERIFY(tour->saved().last().endsWith("presentation-method-views.png"));
    for (const QString& path : tour->saved()) {
      QImage image(path);
      QVERIFY2(!image.isNull() && image.width() >= 1000, qPrintable(path));
    }
  }
};

PRETEXT_TEST_AREA(TestGuiWindow, "gui_window")
#include "test_gui_window.moc"
