// The Compare panel and its heat map: the matrix view's cells and hit testing, and the panel
// comparing an opened run with its random init, itself and another run through the session
// controller (engine thread), including a run of another image shape (a clear error). Set
// PRETEXT_SCREENSHOTS=DIR to save a picture of the panel.
#include "test_main.h"
#include <torch/torch.h>

#include <QSignalSpy>
#include <QtTest>
#include <filesystem>

#include "core/config/experiment.h"
#include "core/eval/compare_encoders.h"
#include "core/train/trainer.h"
#include "test_support.h"
#include "ui/inspect/compare_panel.h"
#include "ui/widgets/matrix_heatmap_view.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

class TestGuiCompare : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_, other_;

  std::string trainTiny(const std::string& method, const std::string& data, int64_t seed) {
    auto j = test::tinyExperimentJson(data, method, 1);
    j["run"]["seed"] = seed;
    TrainOptions o;
    o.outDir = dir_.filePath("runs").toStdString();
    return Trainer(experimentFromJson(j), o).run();
  }

 private slots:
  void initTestCase() {
    at::set_num_threads(2);
    data_ = dir_.filePath("mnist").toStdString();
    other_ = dir_.filePath("mnist16").toStdString();
    fs::create_directories(data_);
    fs::create_directories(other_);
    test::writeTinyMnist(data_, 96, 40);
    test::writeTinyMnist(other_, 96, 40, 16);  // 16 px images: another shape
  }

  void heatmapCellsAndHitTesting() {
    MatrixHeatmapView view;
    view.resize(400, 300);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.setMatrix({1.0, 0.5, 0.25, 0.0, 0.75, 1.0}, {"a", "b"}, {"x", "y", "z"});
    QCOMPARE(view.rows(), 2);
    QCOMPARE(view.columns(), 3);
    QCOMPARE(view.value(1, 2), 1.0);
    // Sweep across the widget: every cell is found somewhere, and only inside the grid.
    QSet<QPair<int, int>> seen;
    for (int y = 0; y < view.height(); y += 3)
      for (int x = 0; x < view.width(); x += 3) {
        const QPoint c = view.cellAt({x, y});
        if (c.x() >= 0) seen.insert({c.y(), c.x()});
      }
    QCOMPARE(seen.size(), 6);
    QCOMPARE(view.cellAt({0, 0}), QPoint(-1, -1));
    // A size that does not match is refused, not drawn out of bounds.
    view.setMatrix({1.0, 2.0}, {"a", "b"}, {"x", "y"});
    QCOMPARE(view.rows(), 0);
    QVERIFY(!view.grab().isNull());
  }

  void comparesAnOpenedRunWithInitItselfAndAnotherRun() {
    const QString run = QString::fromStdString(trainTiny("rotation", data_, 3));
    const QString second = QString::fromStdString(trainTiny("simclr", data_, 4));
    const QString otherShape = QString::fromStdString(trainTiny("rotation", other_, 5));
    SessionController c;
    c.setRunsFolder(dir_.filePath("runs"));
    c.setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "rotation", 1)));
    QSignalSpy opened(&c, &SessionController::runOpened);
    c.openRun(run);
    QVERIFY(opened.wait(20000));

    ComparePanel panel(&c);
    panel.resize(900, 620);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QSignalSpy computed(&panel, &ComparePanel::computed);
    QSignalSpy failed(&panel, &ComparePanel::computeFailed);
    panel.setImages(50);  // clamped to the 40 test images

    panel.setPartner(ComparePanel::Partner::Itself);
    panel.compute();
    QVERIFY(computed.wait(30000));
    const auto* map = panel.heatmap();
    QCOMPARE(map->rows(), 5);  // the ConvNet's 4 stages and the features
    QCOMPARE(map->columnName(4), QString("features"));
    for (int i = 0; i < map->rows(); ++i) QVERIFY(std::abs(map->value(i, i) - 1.0) < 1e-9);
    QVERIFY2(panel.status().contains("40 test images"), qPrintable(panel.status()));

    panel.setPartner(ComparePanel::Partner::RandomInit);
    panel.compute();
    QVERIFY(computed.wait(30000));
    // The same numbers as the core computes for the run loaded from disk.
    Session s = loadRunSession(run.toStdString());
    const auto expected = compareWithRandomInit(s, 40).cka;
    for (int i = 0; i < map->rows(); ++i)
      for (int j = 0; j < map->columns(); ++j)
        QVERIFY(std::abs(map->value(i, j) - expected[i][j].item<double>()) < 1e-6);
    QVERIFY2(panel.summary().contains("Training changed"), qPrintable(panel.summary()));
    saveShot(panel);

    panel.setPartnerRun(second);
    QCOMPARE(panel.partner(), ComparePanel::Partner::Run);
    panel.compute();
    QVERIFY(computed.wait(30000));
    QCOMPARE(map->columns(), 5);
    QVERIFY2(panel.status().contains(QFileInfo(second).fileName()), qPrintable(panel.status()));

    panel.setPartnerRun(otherShape);
    panel.compute();
    QVERIFY(failed.wait(30000));
    QVERIFY2(failed.first().first().toString().contains("16x16"), qPrintable(failed.first().first().toString()));
    QVERIFY2(panel.status().startsWith("Could not compare"), qPrintable(panel.status()));
    QCOMPARE(computed.count(), 3);
  }

 private:
  void saveShot(QWidget& w) {
    const QString dir = qEnvironmentVariable("PRETEXT_SCREENSHOTS");
    if (dir.isEmpty()) return;
    QTest::qWait(100);
    w.grab().save(dir + "/compare.png");
  }
};

PRETEXT_TEST_AREA(TestGuiCompare, "gui_compare")
#include "test_gui_compare.moc"
