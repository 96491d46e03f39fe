// The first hour in the window: the Start tab (examples, presets by family, last runs), opening
// an example on its panel, the planned steps in the status bar before a start, and the method
// views' pictures growing in presentation mode.
#include <torch/torch.h>

#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QtTest>
#include <filesystem>

#include "core/config/experiment.h"
#include "core/train/checkpoint.h"
#include "core/train/trainer.h"
#include "test_main.h"
#include "test_support.h"
#include "ui/inspect/method_views_panel.h"
#include "ui/widgets/fit_image_view.h"
#include "ui/window/main_window.h"
#include "ui/window/session_controller.h"
#include "ui/window/start_page.h"

using namespace pretext;
namespace fs = std::filesystem;

class TestGuiStart : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  std::unique_ptr<MainWindow> window() {
    MainWindowOptions options;
    options.useSettings = false;
    auto w = std::make_unique<MainWindow>(options);
    w->controller()->setRunsFolder(dir_.filePath("runs"));
    w->resize(1200, 800);
    w->show();
    return w;
  }

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
    // One example, packed from a tiny rotation run, in resources of our own.
    TrainOptions o;
    o.outDir = dir_.filePath("made").toStdString();
    const std::string run =
        Trainer(experimentFromJson(test::tinyExperimentJson(data_, "rotation", 1)), o).run();
    const std::string example = dir_.filePath("resources/examples/tiny-rotation").toStdString();
    packRun(run, example);
    test::writeText(example + "/example.json",
                    R"({"title": "Tiny rotation", "summary": "turns", "panel": "Method views"})");
    test::writeText(example + "/eval.json", R"({"knn_top1": 50, "linear_top1": 60})");
    // The presets stay the repository's: PRETEXT_RESOURCES moves both, so link them in.
    fs::create_directory_symlink(fs::path(PRETEXT_RESOURCE_DIR) / "presets",
                                 dir_.filePath("resources/presets").toStdString());
    qputenv("PRETEXT_RESOURCES", dir_.filePath("resources").toUtf8());
  }

  void cleanupTestCase() { qunsetenv("PRETEXT_RESOURCES"); }

  void startPageOffersExamplesPresetsAndRuns() {
    StartPage page;
    page.refresh(dir_.filePath("made"));
    QSignalSpy example(&page, &StartPage::exampleRequested);
    QSignalSpy preset(&page, &StartPage::presetRequested);
    QSignalSpy run(&page, &StartPage::runRequested);
    auto* open = page.findChild<QPushButton*>("openExample_tiny-rotation");
    QVERIFY(open);
    open->click();
    QCOMPARE(example.count(), 1);
    QCOMPARE(example.first().first().toString(), QString("tiny-rotation"));
    // Every preset is offered, grouped under its method's family.
    int presets = 0;
    for (auto* b : page.findChildren<QPushButton*>())
      if (b->objectName().startsWith("preset_")) ++presets;
    QCOMPARE(presets, int(presetNames().size()));
    page.findChild<QPushButton*>("preset_rotation-fashion")->click();
    QCOMPARE(preset.first().first().toString(), QString("rotation-fashion"));
    // The last runs: the tiny run made above.
    for (auto* b : page.findChildren<QPushButton*>())
      if (b->text() == "Open") b->click();
    QCOMPARE(run.count(), 1);
    QVERIFY(run.first().first().toString().contains("tiny-rotation"));
  }

  void openingAnExampleShowsItsPanelAndStep() {
    auto w = window();
    QCOMPARE(w->tabs()->currentWidget(), w->panel("Start"));
    QSignalSpy opened(w->controller(), &SessionController::runOpened);
    w->openExample("tiny-rotation");
    QVERIFY(opened.wait(30000));
    QCOMPARE(opened.first().first().toString(), dir_.filePath("runs/examples/tiny-rotation"));
    QVERIFY(isPackedRun(dir_.filePath("runs/examples/tiny-rotation").toStdString()));
    QCOMPARE(w->tabs()->currentWidget(), w->panel("Method views"));
    // The status bar shows the example's step out of its budget, not "0 / 1".
    auto* bar = w->statusBar()->findChild<QProgressBar*>();
    QTRY_VERIFY_WITH_TIMEOUT(bar->format().contains(" / ") && !bar->format().startsWith("0 /"),
                             20000);
  }

  void statusBarKnowsTheBudgetBeforeTheFirstStart() {
    auto w = window();
    const Experiment e = experimentFromJson(test::tinyExperimentJson(data_, "simclr", 3));
    w->setExperiment(e);
    auto* bar = w->statusBar()->findChild<QProgressBar*>();
    // 96 training images in batches of 16: 6 steps an epoch, 3 epochs.
    QTRY_COMPARE_WITH_TIMEOUT(bar->format(), QString("0 / 18 steps"), 20000);
  }

  void methodViewsGrowInPresentationMode() {
    auto w = window();
    w->setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "rotation", 1)));
    w->showPanel("Method views");
    auto* panel = qobject_cast<MethodViewsPanel*>(w->panel("Method views"));
    QTRY_VERIFY_WITH_TIMEOUT(!panel->previews().isEmpty(), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->findChildren<FitImageView*>().isEmpty(), 5000);
    auto picture = [&] { return panel->findChildren<FitImageView*>().first(); };
    QTest::qWait(200);
    const double normal = picture()->imageRect().width();
    QVERIFY(normal > picture()->image().width());  // small pictures are enlarged already
    w->setPresentationMode(true);
    w->resize(1900, 1050);
    QTRY_VERIFY_WITH_TIMEOUT(picture()->imageRect().width() > 1.5 * normal, 5000);
    w->setPresentationMode(false);
  }
};

PRETEXT_TEST_AREA(TestGuiStart, "gui_start")
#include "test_gui_start.moc"
